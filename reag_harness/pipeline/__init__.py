"""The pipeline: the runner and its stages (placeholder docstring, finalised with the package move)."""
