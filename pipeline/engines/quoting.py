"""Quoting for the three SQL dialects the registration DDL is written in, and the checks on user text.

Every identifier and string literal that reaches a printed statement goes through :meth:`Dialect.ident`
or :meth:`Dialect.literal` of the statement's dialect; nothing is formatted into DDL any other way.
The two texts a user supplies (``--database`` and ``--location``, plus Trino's catalog name) are
checked first by :func:`check_name` and :meth:`S3Location.parse`, which refuse what the engines'
catalogs would fold, mangle or reject, so the quoting is a second line of defence, not the only one.

The dialects differ in how a quote inside a literal is written: Athena runs DDL through Hive's
parser and Spark SQL through its own, and both read backslash escapes (``'it\\'s'``); Trino follows
standard SQL, where a quote is doubled (``'it''s'``) and a backslash is an ordinary character.
Writing a literal for the wrong dialect therefore ends it early, which is why one helper per dialect
exists and nothing else quotes.

Must not: read the lake or know which tables exist (that is :mod:`pipeline.engines.ddl`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from pipeline.errors import UsageError

# Glue, Hive metastores and Athena keep lower-case letters, digits and underscores only; Spark asks for
# lower case too. 255 is Glue's limit for database names.
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,254}")
# S3 bucket names: 3-63 lower-case letters, digits, dots and hyphens, a letter or digit at each end.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# Characters a lake prefix may use. Narrower than what S3 accepts on purpose: Hadoop's Path (Spark),
# Trino's and Athena's location parsers disagree on ':', '+', '%', spaces and quotes, so a prefix made of
# these reads the same in every engine.
_SEGMENT = re.compile(r"[A-Za-z0-9._=~@,-]+")
_SCHEMES = ("s3://", "s3a://")


def _printable(text: str, what: str) -> None:
    """Refuse control, format and unassigned characters: no dialect has a portable escape for them."""
    for ch in text:
        if unicodedata.category(ch).startswith("C"):
            raise UsageError(f"{what} {text!r} contains the control character {ch!r}: it cannot go into SQL")


@dataclass(frozen=True)
class Dialect:
    """How one engine's SQL quotes identifiers and string literals."""

    name: str
    ident_quote: str  # ` (Hive DDL, Spark) or " (Trino)
    backslash_escapes: bool  # string literals read \ as an escape character

    def ident(self, name: str) -> str:
        """``name`` as a quoted identifier: the quote character doubled inside, as each dialect reads it."""
        _printable(name, "identifier")
        q = self.ident_quote
        return q + name.replace(q, q + q) + q

    def literal(self, text: str) -> str:
        """``text`` as a string literal that this dialect reads back as exactly ``text``."""
        _printable(text, "string")
        if self.backslash_escapes:
            return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return "'" + text.replace("'", "''") + "'"


ATHENA = Dialect("athena", "`", backslash_escapes=True)  # Athena DDL is parsed by Hive
TRINO = Dialect("trino", '"', backslash_escapes=False)
SPARK = Dialect("spark", "`", backslash_escapes=True)


def check_name(value: str, option: str) -> str:
    """A database, schema or catalog name every engine's catalog keeps as written; else a usage error."""
    if not _NAME.fullmatch(value):
        raise UsageError(
            f"{option} {value!r} is not a portable name: use lower-case letters, digits and underscores, "
            "starting with a letter or underscore (Glue, Hive metastores and Spark fold or refuse anything else)"
        )
    return value


@dataclass(frozen=True)
class S3Location:
    """The lake's root on S3: a bucket and a key prefix without leading or trailing slash."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, text: str, option: str) -> S3Location:
        _printable(text, option)
        scheme = next((s for s in _SCHEMES if text.startswith(s)), None)
        if scheme is None:
            raise UsageError(f"{option} {text!r} is not an S3 location: write s3://bucket/prefix")
        rest = text[len(scheme) :].rstrip("/")
        bucket, _, prefix = rest.partition("/")
        if not _BUCKET.fullmatch(bucket) or ".." in bucket:
            raise UsageError(
                f"{option} {text!r}: {bucket!r} is not an S3 bucket name (3-63 lower-case letters, digits, "
                "dots and hyphens)"
            )
        segments = prefix.split("/") if prefix else []
        for seg in segments:
            if not _SEGMENT.fullmatch(seg) or seg in (".", ".."):
                raise UsageError(
                    f"{option} {text!r}: the prefix part {seg!r} is not portable: use letters, digits and "
                    ". _ - = ~ @ , between single slashes (engines parse quotes, spaces, ':', '+' and '%' "
                    "in locations differently); copy the lake to such a prefix"
                )
        return cls(bucket, "/".join(segments))

    def table(self, table: str, scheme: str = "s3") -> str:
        """The table's location under this root, with ``scheme`` (s3 or s3a)."""
        root = f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket
        return f"{scheme}://{root}/{table}"

    def __str__(self) -> str:
        return self.table("").rstrip("/")
