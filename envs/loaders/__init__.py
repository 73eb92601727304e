"""Loaders: one module per on-disk scene format, each returning an envs.scene.Scene."""
