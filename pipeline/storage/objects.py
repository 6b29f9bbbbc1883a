"""What the inputs are: files, directories (recursive), globs and ``s3://`` prefixes as :class:`InputObject` values.

Owns: expanding the command line's inputs into objects with their identity (ETag, or size and
modification time), skipping hidden and ``_``-prefixed entries (Delta logs, markers), and reading an
object's first bytes for source detection.

Must not: decompress, parse or know about log formats or the lake.
"""

from __future__ import annotations

import glob as _glob
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import fsspec

from pipeline.errors import InputError
from pipeline.storage.fs import filesystem

_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class InputObject:
    """One input object: a local file or an S3 object."""

    uri: str
    size: int | None = None
    etag: str | None = None
    mtime: float | None = None

    @property
    def name(self) -> str:
        return self.uri.rstrip("/").rsplit("/", 1)[-1]


def _is_data_file(path: str) -> bool:
    """Directory walks skip hidden files, `_`-prefixed files (Delta logs, markers) and Markdown notes."""
    name = path.rsplit("/", 1)[-1]
    return not name.startswith((".", "_")) and not name.lower().endswith(".md")


def expand(inputs: Sequence[str]) -> list[InputObject]:
    """Every object named by ``inputs`` (files, recursive directories, globs, s3 prefixes), deduplicated."""
    seen: dict[str, InputObject] = {}
    for spec in inputs:
        found = _expand_one(spec)
        if not found:
            raise InputError(f"{spec}: no such file, directory or prefix (or it holds no files)")
        for obj in found:
            seen.setdefault(obj.uri, obj)
    return list(seen.values())


def _expand_one(spec: str) -> list[InputObject]:
    fs, path = filesystem(spec)
    is_s3 = spec.startswith("s3")
    prefix = "s3://" if is_s3 else ""
    try:
        if _GLOB_CHARS & set(path):
            paths = sorted(fs.glob(path)) if is_s3 else sorted(_glob.glob(path, recursive=True))
            out: list[InputObject] = []
            for p in paths:
                if fs.isdir(p):
                    out.extend(_walk(fs, p, prefix))
                else:
                    out.append(_object(fs, p, prefix))
            return out
        if fs.isdir(path):
            return _walk(fs, path, prefix)
        if fs.exists(path):
            return [_object(fs, path, prefix)]
        return []
    except (OSError, ValueError) as exc:
        raise InputError(f"{spec}: cannot list it: {exc}") from exc


def _walk(fs: fsspec.AbstractFileSystem, path: str, prefix: str) -> list[InputObject]:
    found = fs.find(path, detail=True)
    out = []
    for p, info in sorted(found.items()):
        rel = p[len(path.rstrip("/")) + 1 :]
        if info.get("type") == "directory" or not all(_is_data_file(part) for part in rel.split("/")):
            continue
        out.append(_from_info(p, info, prefix))
    return out


def _object(fs: fsspec.AbstractFileSystem, path: str, prefix: str) -> InputObject:
    return _from_info(path, fs.info(path), prefix)


def _from_info(path: str, info: dict[str, Any], prefix: str) -> InputObject:
    etag = info.get("ETag") or info.get("etag")
    mtime = info.get("mtime") or info.get("LastModified")
    if mtime is not None and not isinstance(mtime, int | float):
        mtime = mtime.timestamp()
    return InputObject(uri=prefix + path, size=info.get("size"), etag=etag.strip('"') if etag else None, mtime=mtime)
