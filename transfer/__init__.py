"""Transfer: task heads finetuned on an external labelled set, evaluated in the test space."""
