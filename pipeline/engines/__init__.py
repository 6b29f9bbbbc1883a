"""The lake for the engines that scale queries: Athena/Glue, Trino and Spark.

:mod:`.preflight` checks that every table still meets the floor all three read (Delta protocol, types,
names, Parquet footers); :mod:`.ddl` renders the statements that register the tables; :mod:`.quoting`
holds the one quoting helper per SQL dialect and the checks on user-supplied names and locations.

Must not: write to the lake or talk to any engine (none runs here; the DDL is printed for a person or a
deployment script to run).
"""

from __future__ import annotations

from pipeline.engines.ddl import ENGINES, Registration, registration, render
from pipeline.engines.preflight import Finding, Report, preflight
from pipeline.engines.quoting import ATHENA, SPARK, TRINO, Dialect, S3Location

__all__ = [
    "ATHENA",
    "ENGINES",
    "SPARK",
    "TRINO",
    "Dialect",
    "Finding",
    "Registration",
    "Report",
    "S3Location",
    "preflight",
    "registration",
    "render",
]
