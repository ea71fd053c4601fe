"""Optimizers that no maintained library provides correctly or fast enough."""
