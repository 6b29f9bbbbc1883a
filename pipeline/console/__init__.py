"""The analyst console: an interactive, read-only SQL prompt over the lake's views (:mod:`~pipeline.console.app`)."""
