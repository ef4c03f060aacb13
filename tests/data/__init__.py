"""Data the tests check against, copied by hand from its named source (never written by the harness)."""
