"""The command line: ``reag-eval`` (``app``) and one module per subcommand (``commands/``); nothing imports it.

It may import every layer below: the API, pipeline, results, leaderboard, data and the core.
"""

from .app import main

__all__ = ["main"]
