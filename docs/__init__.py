"""Package data: the user documentation (docs/*.md), shipped so that error messages can point at it."""
