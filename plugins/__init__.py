"""Built-in components (installed as ``reag_harness.plugins``): one file per component."""
