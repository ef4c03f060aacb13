"""Package data: the reported leaderboard rows (published.json), read with importlib.resources."""
