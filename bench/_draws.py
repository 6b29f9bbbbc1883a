"""Seeded, vectorised random draws for the log generator.

Owns turning one `random.Random` stream into Polars Series (uniform integers, floats, weighted choices,
normal deviates, request ids) without a Python loop per value. Randomness comes from
`Random.randbytes`, so a given seed yields the same bytes on every platform and Polars version;
everything after that is plain integer arithmetic. It knows nothing about CloudFront.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence

import polars as pl
import pyarrow as pa

_TWO_53 = float(1 << 53)


class Weights:
    """Cumulative integer weights for `Draws.choice`; build once for a vocabulary, reuse per file."""

    def __init__(self, cumulative: pl.Series, total: int) -> None:
        self.cumulative, self.total = cumulative, total

    @classmethod
    def of(cls, weights: Sequence[float]) -> Weights:
        scaled = [max(0, round(w * 1_000_000)) for w in weights]
        cumulative = list(itertools.accumulate(scaled))
        if not cumulative or cumulative[-1] == 0:
            raise ValueError("choice() needs at least one positive weight")
        return cls(pl.Series(cumulative, dtype=pl.UInt64), cumulative[-1])


class Draws:
    """A deterministic source of random Series, one stream per seed."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def u64(self, n: int) -> pl.Series:
        """`n` uniform unsigned 64-bit integers."""
        buf = pa.py_buffer(self._rng.randbytes(8 * n))
        return pl.Series(pl.from_arrow(pa.Array.from_buffers(pa.uint64(), n, [None, buf])))

    def integers(self, n: int, low: int, high: int) -> pl.Series:
        """`n` integers uniform in `[low, high)` as Int64 (modulo bias is below 2**-40)."""
        span = high - low
        return (self.u64(n) % span).cast(pl.Int64) + low

    def uniform(self, n: int) -> pl.Series:
        """`n` floats uniform in `[0, 1)` with 53 random bits each."""
        return (self.u64(n) // 2048).cast(pl.Float64) / _TWO_53  # top 53 bits

    def normal(self, n: int) -> pl.Series:
        """`n` standard normal deviates (Box-Muller on two uniform streams)."""
        u1 = 1.0 - self.uniform(n)  # (0, 1]: log() stays finite
        u2 = self.uniform(n)
        return (-2.0 * u1.log()).sqrt() * (2.0 * math.pi * u2).cos()

    def choice(self, n: int, weights: Weights | Sequence[float]) -> pl.Series:
        """`n` indices into `weights`, each drawn with probability proportional to its weight."""
        table = weights if isinstance(weights, Weights) else Weights.of(weights)
        picks = self.u64(n) % table.total
        return table.cumulative.search_sorted(picks, side="right").cast(pl.UInt32)

    def request_ids(self, n: int) -> pl.Series:
        """`n` CloudFront-shaped request ids: 40 random bytes as base64url, 56 chars ending `==`."""
        buf = pa.py_buffer(self._rng.randbytes(40 * n))
        raw = pl.Series(pl.from_arrow(pa.Array.from_buffers(pa.binary(40), n, [None, buf])))
        b64 = raw.cast(pl.Binary).bin.encode("base64")
        return b64.str.replace_all("+", "-", literal=True).str.replace_all("/", "_", literal=True)

    def python(self) -> random.Random:
        """The underlying generator, for building small vocabularies with ordinary Python."""
        return self._rng


def zipf_weights(count: int, exponent: float = 1.0) -> list[float]:
    """Popularity weights `1 / rank**exponent` for `count` items (rank 1 first)."""
    return [1.0 / (rank**exponent) for rank in range(1, count + 1)]
