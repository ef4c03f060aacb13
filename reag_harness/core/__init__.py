"""The core: what every layer may use, importing nothing of the harness above it.

Errors, the run configuration, the component registry and plugin manager, paths and atomic
writes, JSON and row checks, versions, terminal text, progress, pre-flight reporting and the
critic's selection rule. With the public contract modules beside this package
(``reag_harness.records``, ``.interfaces``, ``.hookspecs``) it is the bottom layer; it imports
only those and the standard library (see docs/architecture.md and the import-linter contract
in pyproject.toml). ``moved`` keeps the module paths of the flat layout importable.
"""
