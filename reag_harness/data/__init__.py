"""Data: knowledge bases (store, build), FAISS indexes and retrieval helpers, task loaders' checks, ``data get``.

Imports the core, the contracts and models (an index is built with an encoder); never the
pipeline, results, leaderboard or CLI. Plugins and tasks build on it.
"""
