"""Data metrics engine: parallel, cached computation of every registered metric into Parquet tables.

Modules: ``engine`` (plans and runs a computation), ``pool`` (worker processes), ``worker`` (per-image work,
pandas-free), ``cache`` (content-addressed per-image cache), ``fingerprints`` (content hashes), ``tables``
(loading the computed tables and joining frame metrics to labels/predictions). Kept import-free so worker
processes stay light.
"""
