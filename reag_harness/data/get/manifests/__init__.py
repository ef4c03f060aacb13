"""The shipped data manifests, one JSON file per task (package data)."""
