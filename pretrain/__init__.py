"""Pretrain: self-supervised multimodal masked pretraining (MultiMAE-style)."""
