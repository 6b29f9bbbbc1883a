"""edgelake: CloudFront standard / real-time and AWS WAF logs into a typed Delta Lake, and the analyses on it.

Data flows top to bottom through the package: ``inputs`` (listing, decompression) -> ``readers``
(raw bytes to typed frames and rejects) -> ``lake`` (Delta tables) and ``ingest`` (the coordinator)
-> ``catalog`` (DuckDB views) -> ``cli``. Import the submodules you need; nothing heavy is imported here.
"""

__version__ = "0.1.0"
