"""CloudFront real-time log records: tab-separated, no header, fields from the real-time log config.

The field list comes from a ``GetRealtimeLogConfig`` JSON document or a comma (or newline) separated
list. CloudFront writes records in its canonical field order whatever order the config lists them in,
so the configured fields are sorted into that order (the order of ``schemas/realtime.toml``) before
mapping; a list already in delivery order is unchanged. A field the schema does not know yet cannot
be placed, so it goes last (AWS has only ever appended fields) and is kept as text.

Records do not carry the distribution id; it comes from ``--distribution-id``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl

from pipeline import schemas
from pipeline.errors import ConfigError
from pipeline.readers._base import Batch, ReadContext, rejects_from_frame
from pipeline.readers._finish import typed_rows
from pipeline.readers._tsv import parse_block
from pipeline.readers._typing import native_types
from pipeline.storage.chunks import ChunkStream

TABLE = "realtime"


def canonical_order() -> list[str]:
    return [c.field for c in schemas.load(TABLE).columns if c.field is not None]


def delivery_order(fields: Sequence[str]) -> tuple[str, ...]:
    """Sort configured field names into CloudFront's canonical delivery order (unknown ones last)."""
    order = {f: i for i, f in enumerate(canonical_order())}
    cleaned = [f.strip() for f in fields if f.strip()]
    dupes = sorted({f for f in cleaned if cleaned.count(f) > 1})
    if dupes:
        raise ConfigError(f"real-time field list names {', '.join(dupes)} more than once")
    known = sorted((f for f in cleaned if f in order), key=order.__getitem__)
    unknown = [f for f in cleaned if f not in order]
    return tuple(known + unknown)


def load_fields(spec: str) -> tuple[str, ...]:
    """Fields from ``spec``: a path to GetRealtimeLogConfig JSON or to a list, or an inline comma list."""
    text = spec
    path = Path(spec)
    where = "the --realtime-fields list"
    if "," not in spec and path.exists():
        where = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the real-time field list: {exc}") from exc
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            doc = json.loads(stripped)
        except ValueError as exc:
            raise ConfigError(f"{where}: not valid JSON ({exc}); expected GetRealtimeLogConfig output") from exc
        conf = doc.get("RealtimeLogConfig", doc) if isinstance(doc, dict) else None
        fields = conf.get("Fields") if isinstance(conf, dict) else None
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise ConfigError(f"{where}: no RealtimeLogConfig.Fields list of names in this JSON")
        names: list[str] = fields
    else:
        names = [f for part in stripped.splitlines() for f in part.split(",")]
    result = delivery_order(names)
    if not result:
        raise ConfigError(f"{where}: the real-time field list is empty")
    if "timestamp" not in result:
        raise ConfigError(f"{where}: the real-time field list lacks `timestamp`, which every row needs")
    return result


def read_realtime(stream: ChunkStream, ctx: ReadContext) -> Iterator[Batch]:
    if not ctx.realtime_fields:
        raise ConfigError(
            f"{ctx.uri}: real-time logs have no header; pass --realtime-fields "
            "(a GetRealtimeLogConfig JSON file or a comma list of field names)"
        )
    schema = schemas.load(TABLE)
    fields = list(ctx.realtime_fields)
    names = [schema.column_for_field(f).name for f in fields]
    what = f"the real-time field list ({len(fields)} fields)"
    typed = native_types(schema, names)
    for chunk in stream:
        parsed = parse_block(chunk.data, chunk.first_line, names, what=what, types=typed)
        rejects = [rejects_from_frame(ctx, parsed.rejects)]
        rows = pl.DataFrame()
        if parsed.frame.height:
            rows, rej = typed_rows(parsed.frame, schema, ctx, distribution_id=ctx.distribution_id, dashes=parsed.dashes)
            rejects.append(rej)
        yield Batch(TABLE, rows, pl.concat(rejects), parsed.lines, parsed.meta_lines)
