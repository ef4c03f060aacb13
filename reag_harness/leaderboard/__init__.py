"""The leaderboard: its schema, the published rows' settings, the views (terminal, Markdown, JSON, HTML page)
and the file runs are appended to (``board``).

Imports results, plugins' task metrics (confidence intervals) and the core; the API and the CLI import it.
"""
