"""Renderers: Open3D ray casting by default, optional habitat-sim backend."""
