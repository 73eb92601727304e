"""Task objects (head, loss, postprocess, evaluator) for the shared finetuning loop."""
