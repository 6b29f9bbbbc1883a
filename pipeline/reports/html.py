"""Safe HTML for the evidence reports: every value from the data is escaped on the way in.

Owns the markup layer and nothing about AWS: :class:`Html` marks a string as trusted markup (built
here from constants and escaped values), :func:`esc` escapes anything else, :func:`el` builds an
element whose text children are escaped and whose attribute values are quoted and escaped,
:func:`table` a sortable table from rows of values, :func:`script_json` data for a
``<script type="application/json">`` block that cannot end the block early, and :func:`page` the
whole self-contained document with its Content-Security-Policy. Log values (URIs, user agents, WAF
matched data) are attacker-controlled: nothing in this module ever puts one into markup unescaped.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pipeline.reports import assets


class Html(str):
    """Markup that is safe to emit as is (built by this module from escaped parts)."""

    __slots__ = ()


def esc(value: object) -> Html:
    """``value`` as text that HTML shows verbatim (already-trusted :class:`Html` passes through)."""
    if isinstance(value, Html):
        return value
    return Html(html.escape(plain(value), quote=True))


def plain(value: object) -> str:
    """The text a person should read for a value (numbers grouped, times in UTC, lists joined)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return f"{int(value):,}"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S") + ("Z" if value.utcoffset() is not None else "")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value)
    return str(value)


def join(parts: Iterable[object]) -> Html:
    return Html("".join(esc(p) for p in parts))


_ATTR_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
_VOID = {"meta", "br", "hr", "img", "input", "link", "col", "wbr"}


def el(tag: str, *children: object, **attrs: object) -> Html:
    """``<tag attrs>children</tag>``; ``class_`` stands for ``class``; None/False attributes are left out."""
    parts = [tag]
    for key, value in attrs.items():
        name = key.rstrip("_").replace("_", "-")
        if not _ATTR_NAME.match(name):  # attribute names are ours, never data; refuse anything odd
            raise ValueError(f"bad attribute name {key!r}")
        if value is None or value is False:
            continue
        parts.append(name if value is True else f'{name}="{html.escape(plain(value), quote=True)}"')
    if tag in _VOID:
        return Html(f"<{' '.join(parts)}>")
    return Html(f"<{' '.join(parts)}>{join(children)}</{tag}>")


def pct(value: object) -> str:
    return "" if value is None else f"{float(str(value)) * 100:.1f}%"


@dataclass(frozen=True)
class Col:
    """One table column: the row key, its heading, and how to show (and sort) the value."""

    key: str
    label: str
    fmt: Callable[[Any], object] | None = None
    numeric: bool = False
    title: str | None = None  # a tooltip explaining the column
    wide: bool = False  # long free text (URIs, user agents): may wrap anywhere


def _sort_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return repr(float(value))
    return plain(value)


def table(
    cols: Sequence[Col],
    rows: Sequence[Mapping[str, Any]],
    *,
    caption: str | None = None,
    empty: str = "No rows.",
    class_: str = "",
) -> Html:
    """A table whose headers sort it (numbers numerically); every cell escaped."""
    if not rows:
        return el("p", empty, class_="empty")
    head = el(
        "tr",
        *(
            el("th", el("button", c.label, type="button"), title=c.title, class_="num" if c.numeric else None)
            for c in cols
        ),
    )
    body = []
    for row in rows:
        cells = []
        for c in cols:
            value = row.get(c.key)
            shown = c.fmt(value) if c.fmt else value
            css = "num" if c.numeric else ("wide" if c.wide else None)
            cells.append(el("td", shown, data_v=_sort_value(value), class_=css))
        body.append(el("tr", *cells))
    return el(
        "div",
        el(
            "table",
            el("caption", caption) if caption else Html(""),
            el("thead", head),
            el("tbody", *body),
            class_=f"sortable {class_}".strip(),
        ),
        class_="scroll",
    )


def code(text: str, *, label: str | None = None) -> Html:
    """A preformatted block (JSON snippets, commands), escaped."""
    return el("figure", el("figcaption", label) if label else Html(""), el("pre", el("code", text)), class_="code")


def command(text: str) -> Html:
    """The command an analyst runs to get a section's numbers (long SQL folded away)."""
    line = el("p", el("span", "Re-run: ", class_="label"), el("code", text), class_="command")
    if len(text) <= 240:
        return line
    return el("details", el("summary", "Re-run with SQL (the query behind this section)"), line, class_="sql")


_SCRIPT_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if isinstance(obj, datetime):
        return obj.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(obj, Decimal):
        return float(obj)
    return obj


def script_json(obj: Any) -> str:
    """JSON for a ``<script type="application/json">`` block: no ``</script>``, ``<!--``, U+2028/2029."""
    text = json.dumps(_finite(obj), ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return re.sub("[<>&\u2028\u2029]", lambda m: _SCRIPT_UNSAFE[m.group(0)], text)


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def csp(scripts: Sequence[str], styles: Sequence[str]) -> str:
    """The policy: nothing from anywhere, inline scripts and style blocks only by their SHA-256.

    ``style-src-attr 'unsafe-inline'``: plotly.js styles some hover and legend elements through the
    ``style`` attribute. A style attribute cannot run script, and with ``default-src 'none'`` a style
    cannot fetch anything either, so this is the one relaxation. No ``'unsafe-eval'``: the SVG traces
    used here never reach plotly.js's code generation (the WebGL traces do; they are not used).
    ``img-src data: blob:`` lets the plot toolbar's "download as PNG" work offline.
    """
    script_src = " ".join(_sha256(s) for s in scripts)
    style_src = " ".join(_sha256(s) for s in [*styles, ""])  # "": plotly.js adds an empty <style> it fills via CSSOM
    return (
        f"default-src 'none'; script-src {script_src}; style-src-elem {style_src}; "
        "style-src-attr 'unsafe-inline'; img-src data: blob:; font-src 'none'; connect-src 'none'; "
        "base-uri 'none'; form-action 'none'; object-src 'none'"
    )


@dataclass(frozen=True)
class Document:
    """A report before it becomes a file: its title, body markup and plot specs."""

    title: str
    body: Html
    plots: Mapping[str, Any]
    generated: str = ""

    def render(self, *, with_csp: bool = True) -> str:
        return page(self.title, self.body, self.plots, with_csp=with_csp, generated=self.generated)


def page(title: str, body: Html, plots: Mapping[str, Any], *, with_csp: bool = True, generated: str = "") -> str:
    """The complete self-contained document: styles, data blocks, plotly.js and the report script inline."""
    plotly_js = assets.plotly_js()
    app_js = assets.APP_JS
    meta_csp = (
        el("meta", http_equiv="Content-Security-Policy", content=csp([plotly_js, app_js], [assets.CSS]))
        if with_csp
        else Html("")
    )
    # plotly.js injects map-trace CSS under fixed element ids unless an element with that id exists;
    # an inert placeholder keeps that (unused, and not hash-listed) style block out of the page.
    placeholders = join(el("template", id=i) for i in assets.plotly_injected_style_ids(plotly_js))
    data_blocks = join(
        Html(f'<script type="application/json" id="{esc(pid)}-data">{script_json(fig)}</script>')
        for pid, fig in plots.items()
    )
    head = Html(
        f'<meta charset="utf-8">{meta_csp}<meta name="viewport" content="width=device-width, '
        f'initial-scale=1"><meta name="generator" content="edgelake {esc(generated)}">'
        f"<title>{esc(title)}</title><style>{assets.CSS}</style>"
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head>{head}</head><body>{placeholders}{body}{data_blocks}'
        f"<script>{plotly_js}</script><script>{app_js}</script></body></html>\n"
    )


def masthead(
    title: str, meta: str, sections: Sequence[tuple[str, str]], cards: Sequence[tuple[str, str]]
) -> list[Html]:
    """The top of a report: title, a line about the data, the section links and the summary cards."""
    return [
        el(
            "header",
            el("h1", title),
            el("p", meta, class_="meta"),
            el("nav", *(el("a", text, href=f"#{anchor}") for anchor, text in sections), class_="toc"),
            class_="top",
        ),
        el("div", *(el("div", el("b", n), el("span", t), class_="card") for n, t in cards), class_="summary"),
    ]
