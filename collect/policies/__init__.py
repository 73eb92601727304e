"""Camera policies: where the collector puts its cameras."""
