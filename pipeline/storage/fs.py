"""Filesystems and S3 settings, in one place for both clients: s3fs (inputs, data files) and delta-rs (the log).

Owns: choosing the fsspec filesystem for a local path or an ``s3://`` URI (s3fs with the endpoint from the
standard AWS environment variables), the retry and timeout settings both clients take from that
environment, and opening an object for reading.

Must not: list inputs, parse anything or know about the lake's tables.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, BinaryIO

import fsspec

from pipeline.errors import InputError, LakeError, UsageError


def storage_options() -> dict[str, Any]:
    """s3fs options from the standard AWS environment (endpoint override for S3-compatible servers)."""
    opts: dict[str, Any] = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        opts["endpoint_url"] = endpoint
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        opts.setdefault("client_kwargs", {})["region_name"] = region
    # Listings must never be served from a stale cache: a nightly run has to see late objects.
    opts["use_listings_cache"] = False

    # Throttling (503 SlowDown), 500s, resets and timeouts are retried by botocore with jittered
    # exponential backoff; adaptive mode also slows this client down once S3 starts throttling it.
    # Values given in our own config would hide botocore's environment variables, so they are read
    # here with the same names and meaning: AWS_MAX_ATTEMPTS counts the first attempt too, which is
    # Config's ``total_max_attempts`` (its ``max_attempts`` would count retries only). Lake.py takes
    # delta-rs' timeouts from these, so both clients follow the same settings.
    def number(name: str, default: float, low: float) -> float:
        text = os.environ.get(name, "").strip()
        try:
            value = float(text) if text else default
        except ValueError:
            value = low - 1
        if not value >= low:
            raise UsageError(f"environment variable {name}={text!r} must be a number of at least {low:g}")
        return value

    mode = (os.environ.get("AWS_RETRY_MODE") or "adaptive").strip().lower()
    if mode not in ("legacy", "standard", "adaptive"):
        raise UsageError(f"environment variable AWS_RETRY_MODE={mode!r} must be legacy, standard or adaptive")
    opts["config_kwargs"] = {
        "retries": {"total_max_attempts": int(number("AWS_MAX_ATTEMPTS", 8, 1)), "mode": mode},
        "connect_timeout": number("EDGELAKE_S3_CONNECT_TIMEOUT", 5, 0.1),  # seconds to open a connection
        "read_timeout": number("EDGELAKE_S3_READ_TIMEOUT", 30, 0.1),  # seconds without a byte from S3
    }
    return opts


@functools.lru_cache(maxsize=8)
def _s3(endpoint: str | None, region: str | None, key_id: str | None) -> fsspec.AbstractFileSystem:
    """One s3fs instance per endpoint and credentials (creating one costs a third of a second)."""
    import s3fs

    opts = storage_options()
    return s3fs.S3FileSystem(skip_instance_cache=True, **opts)


def require_lake(uri: str) -> None:
    """Refuse a local lake directory that does not exist: read as a lake, a mistyped --lake would answer
    every question with empty tables. (An S3 prefix cannot be told apart from an empty one.)"""
    if not uri.startswith("s3://") and not os.path.isdir(uri):
        raise LakeError(f"no lake at {uri}: the directory does not exist")


def filesystem(uri: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The fsspec filesystem and in-filesystem path for a local path or ``s3://`` URI."""
    if uri.startswith("s3://") or uri.startswith("s3a://"):
        opts = storage_options()
        fs = _s3(opts.get("endpoint_url"), os.environ.get("AWS_REGION"), os.environ.get("AWS_ACCESS_KEY_ID"))
        return fs, uri.split("://", 1)[1]
    if "://" in uri and not uri.startswith("file://"):
        raise InputError(f"{uri}: only local paths and s3:// URIs are supported")
    return fsspec.filesystem("file"), str(Path(uri.removeprefix("file://")).resolve())


def open_binary(uri: str) -> BinaryIO:
    fs, path = filesystem(uri)
    try:
        return fs.open(path, "rb")  # type: ignore[no-any-return]
    except (OSError, ValueError) as exc:
        raise InputError(f"{uri}: cannot open it: {exc}") from exc


def delta_storage_options(uri: str) -> dict[str, str] | None:
    if not uri.startswith("s3"):
        return None
    opts: dict[str, str] = {}
    s3 = storage_options()
    endpoint = s3.get("endpoint_url")
    if endpoint:
        opts["AWS_ENDPOINT_URL"] = endpoint
        if endpoint.startswith("http://"):
            opts["AWS_ALLOW_HTTP"] = "true"
    opts["AWS_REGION"] = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        if os.environ.get(key):
            opts[key] = os.environ[key]
    # No locking option: delta-rs commits to S3 with conditional puts (If-None-Match: *), which is safe
    # with any number of writers on a store that honours them (Lake.check_writable makes sure of that).
    # delta-rs (object_store) retries 5xx, throttling, resets and timeouts itself, with exponential
    # backoff, up to 10 retries within ``retry_timeout``. Its ``max_retries`` key is left at that
    # default on purpose: Polars' scan_delta reuses these options and insists on an int for that
    # key, while delta-rs insists on strings. ``timeout`` bounds a whole request, body included, so
    # it is longer than botocore's read timeout (an idle-socket limit): a 128 MiB compacted file
    # must fit in it on a slow link. Keys verified against deltalake 1.6 (bad values are refused).
    config = s3["config_kwargs"]
    retry_window = os.environ.get("EDGELAKE_S3_RETRY_TIMEOUT", "").strip() or "180"
    if not retry_window.isdigit():
        raise LakeError(f"environment variable EDGELAKE_S3_RETRY_TIMEOUT={retry_window!r} must be whole seconds")
    opts["retry_timeout"] = f"{retry_window}s"  # no new attempt after this long since the first
    opts["connect_timeout"] = f"{round(float(config['connect_timeout']) * 1000)}ms"
    opts["timeout"] = f"{round(max(float(config['read_timeout']), 120.0) * 1000)}ms"
    opts["backoff_config.init_backoff"] = "100ms"
    opts["backoff_config.max_backoff"] = "10s"
    return opts
