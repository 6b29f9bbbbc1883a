"""Querying the lake: DuckDB views over its tables, the named queries in ``sql/``, and rendering results.

:mod:`~pipeline.query.views` (the connection and its views: the only place where the lake's locations
meet SQL), :mod:`~pipeline.query.named` (named queries and their declared parameters),
:mod:`~pipeline.query.render` (table, csv, json, markdown).
"""
