"""Masked multimodal pretraining (MultiMAE-style) of the shared ViT on the test space: ``tst pretrain``."""
