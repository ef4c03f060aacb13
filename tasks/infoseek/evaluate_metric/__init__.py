"""The metric as a Hugging Face ``evaluate`` module (``evaluate.load(path)``)."""
