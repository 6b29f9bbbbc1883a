"""Storage: where log bytes come from (local files and S3), listed, opened and decompressed.

:mod:`~pipeline.storage.fs` holds the filesystems and the S3 settings both clients (s3fs and delta-rs)
use; :mod:`~pipeline.storage.objects` lists inputs; :mod:`~pipeline.storage.chunks` streams them.
"""
