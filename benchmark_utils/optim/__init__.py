"""Optimizers that no maintained library computes as a published entry does."""
