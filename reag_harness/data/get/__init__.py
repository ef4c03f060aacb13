"""``reag-eval data get``: fetch, verify, unpack and build a task's data so that a run needs no paths."""
