"""The lake: Delta tables on local disk or S3, their data files, and commits that hold with many writers.

:mod:`~pipeline.lake.table` (the :class:`Lake` and its commits), :mod:`~pipeline.lake.files` (data files
and their statistics), :mod:`~pipeline.lake.concurrency` (lost races, retries, the S3 store check).
"""

from pipeline.lake.files import FileSet
from pipeline.lake.table import Lake

__all__ = ["FileSet", "Lake"]
