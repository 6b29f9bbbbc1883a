"""Percent-decoding of URL-encoded log fields, exactly once, over distinct values.

CloudFront percent-encodes user agents, referers, query strings, cookies and paths. Decoding happens
once: a client-encoded query arrives double-encoded (``%253A``) and decoding it once restores what the
client sent. Polars has no percent-decoding and DuckDB's ``url_decode`` aborts a whole query on a bad
escape, so values are decoded here, in Python, but only the *distinct* values that contain ``%``
(user agents repeat enormously), with a bounded cache shared across chunks. A value whose decoded
bytes are not UTF-8 (``%FF``) or that has no valid escapes (``%G1``) is left exactly as it was.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

import polars as pl

_CACHE: dict[str, str] = {}
# The cache is emptied once the text it holds passes this many characters (~16-32 MiB). It is bounded by
# size, not by entries: on nearly unique values (cache-busting queries) 500k entries held ~200 MiB per
# process, and an ingest's peak memory then grew with the number of objects it read.
_CACHE_CHARS = 8 << 20
_cached_chars = 0


def decode_value(value: str) -> str:
    """Decode one value once; on an escape that does not form UTF-8, return it unchanged."""
    try:
        return unquote_to_bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        return value


def _decoded(value: str) -> str:
    global _cached_chars
    hit = _CACHE.get(value)
    if hit is None:
        hit = decode_value(value)
        if _cached_chars >= _CACHE_CHARS:
            _CACHE.clear()
            _cached_chars = 0
        _CACHE[value] = hit
        _cached_chars += len(value) + len(hit)
    return hit


def url_decode(series: pl.Series) -> pl.Series:
    """Percent-decode a string series once, looking only at distinct values that contain ``%``.

    Rows without a ``%`` (most paths, most referers) are set aside first, so the hashing that finds
    distinct values runs over the rows that may change, not the whole column. Those rows are hashed
    once: cast to a categorical with its own, fresh category list, whose codes number the distinct
    values in order; each distinct value is decoded (through the cache) and the rows take theirs by
    code. That is one hashing pass where ``unique`` followed by ``replace`` made two.
    """
    has = series.str.contains("%", literal=True)
    found = int(has.sum())
    if found == 0:
        return series
    every = found == series.len() - series.null_count()
    encoded = series if every else series.filter(has)
    coded = encoded.cast(pl.Categorical(pl.Categories.random()))
    distinct = coded.unique().drop_nulls()
    codes = distinct.to_physical().to_list()
    lookup: list[str | None] = [None] * (max(codes) + 1)
    changed = False
    for code, value in zip(codes, distinct.cast(pl.String).to_list(), strict=True):
        hit = _decoded(value)
        lookup[code] = hit
        changed = changed or hit != value  # invalid escapes decode to themselves
    if not changed:
        return series
    decoded = pl.Series(series.name, lookup, dtype=pl.String).gather(coded.to_physical())
    return decoded if every else series.clone().scatter(has.arg_true(), decoded)
