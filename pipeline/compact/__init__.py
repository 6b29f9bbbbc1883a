"""Lake maintenance: compaction (:mod:`~pipeline.compact.compaction`) and the time order it writes
(:mod:`~pipeline.compact.order`)."""

from pipeline.compact.compaction import CompactSummary, TableCompaction, compact

__all__ = ["CompactSummary", "TableCompaction", "compact"]
