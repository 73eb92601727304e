"""Collect: walk cameras through a space and write multimodal shards."""
