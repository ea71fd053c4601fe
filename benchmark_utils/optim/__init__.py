"""Optimizers that no maintained library provides correctly (each file says why)."""
