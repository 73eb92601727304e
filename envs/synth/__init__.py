"""Procedural apartments: the zero-download default test space."""
