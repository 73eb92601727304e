"""Spaces: scene model, loaders, the procedural generator, renderers, free-space queries."""
