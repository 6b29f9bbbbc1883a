"""Walking the JSON of AWS config exports, shared by the config readers (distributions, web ACLs, cache policies).

Owns :class:`JsonNode` (a value with its JSON path, and typed accessors whose errors name the file, the
path and what was expected), :func:`parse_json_object` (bytes to the top-level object, with a message
for a document of another kind) and :func:`config_frame` (rows to a frame of a config table's schema).

Must not: know any one config's layout (each reader does) or touch the lake.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import polars as pl
import pyarrow as pa

from pipeline import schemas
from pipeline.errors import ConfigError

_INT_BOUNDS = {bits: (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) for bits in (16, 32, 64)}


def describe_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "…"
        return f"the string {shown!r}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return "an object"


@dataclass(frozen=True)
class JsonNode:
    """A JSON object plus where it sits, so every type error names file, JSON path and expectation."""

    value: Mapping[str, Any]
    path: str
    uri: str
    expected: str

    def fail(self, key: str | None, problem: str) -> NoReturn:
        """The JSON has the wrong shape here: say where, and which CLI output was expected."""
        raise ConfigError(f"{self.uri}: {self._where(key)} {problem}; expected {self.expected}.")

    def reject(self, key: str | None, problem: str) -> NoReturn:
        """The JSON is well formed but describes a config AWS would refuse (edited by hand, or truncated)."""
        raise ConfigError(
            f"{self.uri}: {self._where(key)} {problem}; AWS would not accept this "
            f"configuration, so the file was probably edited: "
            f"export it again with the AWS CLI."
        )

    def _where(self, key: str | None) -> str:
        where = self.path if key is None else f"{self.path}.{key}" if self.path else key
        return where or "the top level"

    def has(self, key: str) -> bool:
        return self.value.get(key) is not None

    def string(self, key: str, *, required: bool = False, blank_is_null: bool = False) -> str | None:
        value = self.value.get(key)
        if value is None:
            if required:
                self.fail(key, "is missing")
            return None
        if not isinstance(value, str):
            self.fail(key, f"should be a string, not {describe_value(value)}")
        if required and not value:
            self.fail(key, "is empty")
        return None if blank_is_null and not value else value

    def required_string(self, key: str) -> str:
        value = self.string(key, required=True)
        assert value is not None
        return value

    def boolean(self, key: str) -> bool | None:
        value = self.value.get(key)
        if value is None or isinstance(value, bool):
            return value
        self.fail(key, f"should be true or false, not {describe_value(value)}")

    def integer(self, key: str, *, bits: int = 32) -> int | None:
        return _as_int(self, key, self.value.get(key), bits)

    def child(self, key: str, *, required: bool = False) -> JsonNode | None:
        value = self.value.get(key)
        if value is None:
            if required:
                self.fail(key, "is missing")
            return None
        if not isinstance(value, dict):
            self.fail(key, f"should be an object, not {describe_value(value)}")
        return JsonNode(value, f"{self.path}.{key}" if self.path else key, self.uri, self.expected)

    def required_child(self, key: str) -> JsonNode:
        node = self.child(key, required=True)
        assert node is not None
        return node

    def array(self, key: str) -> list[Any] | None:
        """A plain JSON list (as WAF writes lists); None when absent."""
        value = self.value.get(key)
        if value is None:
            return None
        if not isinstance(value, list):
            self.fail(key, f"should be a list, not {describe_value(value)}")
        return value

    def nodes(self, key: str) -> list[JsonNode]:
        """A plain JSON list of objects; empty when absent."""
        out = []
        for i, item in enumerate(self.array(key) or []):
            if not isinstance(item, dict):
                self.fail(f"{key}[{i}]", f"should be an object, not {describe_value(item)}")
            out.append(
                JsonNode(item, f"{self.path}.{key}[{i}]" if self.path else f"{key}[{i}]", self.uri, self.expected)
            )
        return out

    def wrapped(self, key: str) -> list[Any] | None:
        """CloudFront's ``{"Quantity": n, "Items": [...]}`` list; None when absent, [] for ``Quantity: 0``."""
        node = self.child(key)
        if node is None:
            return None
        items = node.array("Items")
        quantity = node.integer("Quantity")
        if items is None:
            if quantity:
                node.fail("Items", f"is missing although Quantity is {quantity}")
            return []
        if quantity is not None and quantity != len(items):
            node.reject("Quantity", f"is {quantity} but Items has {len(items)} entries")
        return items

    def wrapped_strings(self, key: str) -> list[str] | None:
        items = self.wrapped(key)
        if items is None:
            return None
        for i, item in enumerate(items):
            if not isinstance(item, str):
                self.fail(f"{key}.Items[{i}]", f"should be a string, not {describe_value(item)}")
        return items

    def wrapped_ints(self, key: str, *, bits: int) -> list[int] | None:
        items = self.wrapped(key)
        if items is None:
            return None
        out = []
        for i, item in enumerate(items):
            number = _as_int(self, f"{key}.Items[{i}]", item, bits)
            if number is None:
                self.fail(f"{key}.Items[{i}]", "should be a whole number, not null")
            out.append(number)
        return out

    def wrapped_nodes(self, key: str) -> list[JsonNode]:
        out = []
        for i, item in enumerate(self.wrapped(key) or []):
            where = f"{key}.Items[{i}]"
            if not isinstance(item, dict):
                self.fail(where, f"should be an object, not {describe_value(item)}")
            path = f"{self.path}.{where}" if self.path else where
            out.append(JsonNode(item, path, self.uri, self.expected))
        return out


def _as_int(node: JsonNode, key: str, value: Any, bits: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        node.fail(key, f"should be a whole number, not {describe_value(value)}")
    lo, hi = _INT_BOUNDS[bits]
    if not lo <= value <= hi:
        node.fail(key, f"is {value}, out of range for a {bits}-bit integer")
    return value


def parse_json_object(data: bytes, *, uri: str, expected: str) -> JsonNode:
    """Decode ``data`` as one UTF-8 JSON object; every failure is a ConfigError naming ``uri``."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{uri}: not UTF-8 text (invalid byte at offset {exc.start}); expected {expected}.") from exc
    if not text.strip():
        raise ConfigError(f"{uri}: the file is empty; expected {expected}.")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{uri}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); expected {expected}."
        ) from exc
    except RecursionError as exc:
        raise ConfigError(f"{uri}: JSON nested too deeply to read; expected {expected}.") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"{uri}: the JSON document is {describe_value(doc)}, not an object; expected {expected}.")
    return JsonNode(doc, "", uri, expected)


def config_frame(table: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Rows (dicts keyed by column name) as a frame typed and ordered exactly as ``schemas/<table>.toml``."""
    arrow = pa.Table.from_pylist(rows, schema=schemas.load(table).arrow_schema())
    frame = pl.from_arrow(arrow)
    assert isinstance(frame, pl.DataFrame)
    return frame
