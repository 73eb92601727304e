"""Metrics and evaluators shared by transfer and deploy."""
