"""Maps the top-level folders ``tasks/`` and ``plugins/`` into the ``reag_harness`` namespace.

Everything else is in pyproject.toml; this only computes the package list so that a new
task folder or plugin subfolder needs no packaging edit.
"""

from setuptools import find_packages, setup


def mapped(folder: str) -> list[str]:
    found = find_packages(include=[folder, f"{folder}.*"])
    return [f"reag_harness.{name}" for name in found]


# leaderboard/ ships as reag_harness.leaderboard_data (the reported rows, published.json) and docs/ as
# reag_harness.docs (the pages error messages point to), both as package data.
setup(packages=find_packages(include=["reag_harness", "reag_harness.*"]) + mapped("tasks") + mapped("plugins")
      + ["reag_harness.leaderboard_data", "reag_harness.docs"])
