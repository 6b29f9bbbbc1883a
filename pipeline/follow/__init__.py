"""Streaming ingest: sources followed into the lake in micro-batches, each committed exactly once.

:mod:`~pipeline.follow.loop` (the micro-batch loop and its commits), :mod:`~pipeline.follow.sources`
(pieces, checkpoints, S3 prefixes and stdin), :mod:`~pipeline.follow.files` (tailed local files),
:mod:`~pipeline.follow.dedupe` (stdin's re-sent records), :mod:`~pipeline.follow.rollup` (the
per-minute summary).
"""

from pipeline.follow.loop import FlushReport, FollowOptions, FollowSummary, follow

__all__ = ["FlushReport", "FollowOptions", "FollowSummary", "follow"]
