"""Per-stage option folders (debug/) that each stage adds to its Hydra search path."""
