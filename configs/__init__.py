"""Hydra configs, shipped as a package so the CLI finds them installed or from the repo."""
