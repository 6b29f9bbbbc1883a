"""Plotly figure specifications (plain dicts) for the reports; plotly.js draws them in the page.

Owns how each picture looks. Every string placed in a figure is HTML-escaped by :func:`finish`,
because plotly.js reads trace names, category labels and annotations as a small HTML subset: an
escaped ``&lt;script&gt;`` is shown as the text ``<script>`` and never becomes markup. Only
``hovertemplate`` values, which are constants written here, are left as they are.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

CATEGORY_COLORS = {
    "eligible": "#2e8b57",
    "gap_status": "#d64541",
    "gap_method": "#f28c28",
    "no_group": "#7b3fa0",
    "no_config": "#8c8c8c",
}
VERDICT_COLORS = {
    "likely_false_positive": "#b42318",
    "review": "#c98a00",
    "likely_true_positive": "#1e7a3a",
    "already_blocking": "#6b7280",
}
_TRUSTED_KEYS = {"hovertemplate"}


def _escaped(obj: Any, key: str = "") -> Any:
    if isinstance(obj, str):
        return obj if key in _TRUSTED_KEYS else html.escape(obj, quote=True)
    if isinstance(obj, Mapping):
        return {k: _escaped(v, str(k)) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_escaped(v, key) for v in obj]
    if isinstance(obj, datetime):
        return obj.strftime("%Y-%m-%d %H:%M:%S")
    return obj


def figure(data: list[dict[str, Any]], layout: dict[str, Any]) -> dict[str, Any]:
    """A figure with the house layout and every string escaped for plotly.js's text renderer."""
    base: dict[str, Any] = {
        "font": {"family": "system-ui, DejaVu Sans, sans-serif", "size": 12, "color": "#1d2430"},
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        "hovermode": "closest",
    }
    base.update(layout)
    return {"data": _escaped(data), "layout": _escaped(base)}


def _t(text: str) -> str:
    """Data text placed inside a hovertemplate (which :func:`finish` leaves alone): escaped here."""
    return html.escape(text, quote=True)


def _axis(title: str, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title}, "gridcolor": "#e6e9ef", "zerolinecolor": "#c9ced8", **extra}


def status_minutes(rows: Sequence[Mapping[str, Any]], origins: Sequence[str]) -> dict[str, Any]:
    """Stacked requests per minute by status code, one panel per origin (shared time axis)."""
    statuses = sorted({int(r["status"]) for r in rows})
    colors = _status_colors(statuses)
    n = max(1, len(origins))
    gap = 0.06 if n > 1 else 0.0
    height = (1.0 - gap * (n - 1)) / n
    data: list[dict[str, Any]] = []
    layout: dict[str, Any] = {
        "barmode": "stack",
        "bargap": 0.05,
        "height": max(380, 190 * n),
        "legend": {"orientation": "v", "x": 1.01, "y": 1, "title": {"text": "status"}},
        "margin": {"l": 70, "r": 110, "t": 30, "b": 40},
        "annotations": [],
    }
    shown: set[int] = set()
    for i, origin in enumerate(origins):
        axis = "" if i == 0 else str(i + 1)
        top = 1.0 - i * (height + gap)
        layout[f"yaxis{axis}"] = _axis("requests/min", domain=[max(0.0, top - height), top])
        layout[f"xaxis{axis}"] = _axis(
            "", type="date", anchor=f"y{axis}", **({"matches": "x"} if i else {}), showticklabels=i == n - 1
        )
        layout["annotations"].append(
            {
                "text": f"origin {origin}",
                "xref": "paper",
                "yref": "paper",
                "x": 0,
                "y": top,
                "yanchor": "bottom",
                "xanchor": "left",
                "showarrow": False,
                "font": {"size": 13},
            }
        )
        mine = [r for r in rows if r["origin"] == origin]
        for status in statuses:
            pts = [r for r in mine if int(r["status"]) == status]
            if not pts:
                continue
            data.append(
                {
                    "type": "bar",
                    "x": [r["minute"] for r in pts],
                    "y": [r["requests"] for r in pts],
                    "name": str(status),
                    "legendgroup": str(status),
                    "showlegend": status not in shown,
                    "marker": {"color": colors[status]},
                    "legendrank": status,
                    "xaxis": f"x{axis}",
                    "yaxis": f"y{axis}",
                    "hovertemplate": "%{x}<br>" + str(status) + ": %{y} requests<extra></extra>",
                }
            )
            shown.add(status)
    return figure(data, layout)


_SHADES = {
    "2": ("#2f6fb0", "#5a95cf", "#8dbbe6", "#1f4e80"),
    "3": ("#9cc3e4", "#b9d6ee", "#7fb0d8"),
    "4": ("#f2b134", "#e0962a", "#f6c96b", "#c77f12"),
    "5": ("#d64541", "#a8322f", "#ef7b77", "#7f1d1d"),
}


def _status_colors(statuses: Sequence[int]) -> dict[int, str]:
    """Colour by class (429 apart, in purple), a different shade per code within the class."""
    out: dict[int, str] = {}
    used: dict[str, int] = {}
    for status in sorted(statuses):
        if status == 429:
            out[status] = "#8e44ad"
            continue
        cls = str(status)[0]
        shades = _SHADES.get(cls, ("#999999",))
        out[status] = shades[used.get(cls, 0) % len(shades)]
        used[cls] = used.get(cls, 0) + 1
    return out


def failure_minutes(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Failures per minute by failover category: eligible (a group would retry) vs the gaps."""
    data = []
    for category in CATEGORY_COLORS:
        pts = [r for r in rows if r["category"] == category]
        if pts:
            data.append(
                {
                    "type": "bar",
                    "x": [r["minute"] for r in pts],
                    "y": [r["requests"] for r in pts],
                    "name": category,
                    "marker": {"color": CATEGORY_COLORS[category]},
                    "hovertemplate": "%{x}<br>%{y} failures<extra>" + _t(category) + "</extra>",
                }
            )
    return figure(
        data, {"barmode": "stack", "xaxis": _axis("minute (UTC)", type="date"), "yaxis": _axis("failed requests/min")}
    )


def hit_ratio_lines(
    rows: Sequence[Mapping[str, Any]], regressions: Sequence[Mapping[str, Any]], window: tuple[datetime, datetime]
) -> dict[str, Any]:
    """Hourly hit ratio per behavior; detected regressions and the incident window shaded."""
    behaviors = sorted({str(r["behavior"]) for r in rows})
    data = []
    for b in behaviors:
        pts = sorted(
            (r for r in rows if r["behavior"] == b and r["hit_ratio"] is not None), key=lambda r: r["bucket_start"]
        )
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": b,
                "x": [r["bucket_start"] for r in pts],
                "y": [r["hit_ratio"] for r in pts],
                "hovertemplate": "%{x}<br>hit ratio %{y:.1%}<extra>" + _t(b) + "</extra>",
            }
        )
    shapes: list[dict[str, Any]] = [
        {
            "type": "rect",
            "xref": "x",
            "yref": "paper",
            "x0": window[0],
            "x1": window[1],
            "y0": 0,
            "y1": 1,
            "fillcolor": "#94a3b8",
            "opacity": 0.18,
            "line": {"width": 0},
            "layer": "below",
        }
    ]
    notes: list[dict[str, Any]] = [
        {
            "text": "incident window",
            "x": window[0],
            "xref": "x",
            "y": 1.0,
            "yref": "paper",
            "xanchor": "left",
            "yanchor": "bottom",
            "showarrow": False,
            "font": {"color": "#475569"},
        }
    ]
    for reg in regressions:
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": reg["started_at"],
                "x1": reg["ended_at"],
                "y0": 0,
                "y1": 1,
                "fillcolor": "#d64541",
                "opacity": 0.12,
                "line": {"width": 0},
                "layer": "below",
            }
        )
        notes.append(
            {
                "text": (f"regression {reg['behavior']}: {reg['baseline_ratio']:.0%} → {reg['ratio_during']:.0%}"),
                "x": reg["started_at"],
                "xref": "x",
                "y": 0.02,
                "yref": "paper",
                "xanchor": "left",
                "showarrow": False,
                "font": {"color": "#b42318"},
            }
        )
    return figure(
        data,
        {
            "xaxis": _axis("hour (UTC)", type="date"),
            "yaxis": _axis("hit ratio", range=[0, 1.05], tickformat=".0%"),
            "shapes": shapes,
            "annotations": notes,
        },
    )


def rate_peaks(
    peaks: Sequence[Mapping[str, Any]],
    recommended: Sequence[Mapping[str, Any]],
    candidates: Sequence[int],
    configured: Sequence[tuple[str, int, int]],
) -> dict[str, Any]:
    """Peak requests per key and window (legit vs suspect) against candidate and recommended limits."""
    windows = sorted({int(r["window_s"]) for r in peaks} | {int(r["window_s"]) for r in recommended})
    label = {w: f"{w} s window" for w in windows}
    data: list[dict[str, Any]] = []
    for cls, color, symbol in (("legit", "#3b82c4", "circle"), ("suspect", "#d64541", "x")):
        pts = [r for r in peaks if r["classification"] == cls]
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": f"{cls} keys",
                "offsetgroup": cls,
                "x": [label[int(r["window_s"])] for r in pts],
                "y": [r["peak_requests"] for r in pts],
                "text": [str(r["key"]) for r in pts],
                "marker": {"color": color, "symbol": symbol, "size": 9, "opacity": 0.8},
                "hovertemplate": "%{text}<br>peak %{y} requests<extra>" + _t(cls) + "</extra>",
            }
        )
    data.append(
        {
            "type": "scatter",
            "mode": "markers+text",
            "name": "recommended limit",
            "x": [label[int(r["window_s"])] for r in recommended],
            "y": [r["recommended_limit"] for r in recommended],
            "text": [f"{int(r['recommended_limit']):,}" for r in recommended],
            "textposition": "middle right",
            "marker": {
                "symbol": "line-ew-open",
                "size": 70,
                "color": "#111827",
                "line": {"width": 3, "color": "#111827"},
            },
            "hovertemplate": "recommended limit %{y}<extra></extra>",
        }
    )
    for name, limit, window in configured:
        if window in label:
            data.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "name": f"configured: {name}",
                    "x": [label[window]],
                    "y": [limit],
                    "marker": {"symbol": "diamond-open", "size": 14, "line": {"width": 2, "color": "#7b3fa0"}},
                    "hovertemplate": "configured limit %{y}<extra></extra>",
                }
            )
    # on a log axis plotly.js places shapes by value but annotations by log10 of the value
    shapes = [
        {
            "type": "line",
            "xref": "paper",
            "x0": 0,
            "x1": 1,
            "yref": "y",
            "y0": c,
            "y1": c,
            "line": {"color": "#9aa3b2", "width": 1, "dash": "dot"},
        }
        for c in candidates
    ]
    notes = [
        {
            "text": f"limit {c:,}",
            "xref": "paper",
            "x": 1,
            "xanchor": "right",
            "y": math.log10(c),
            "yref": "y",
            "yanchor": "bottom",
            "showarrow": False,
            "font": {"size": 10, "color": "#6b7280"},
        }
        for c in candidates
    ]
    return figure(
        data,
        {
            "scattermode": "group",
            "xaxis": _axis("evaluation window", type="category", categoryarray=[label[w] for w in windows]),
            "yaxis": _axis("peak requests in the window (log)", type="log"),
            "shapes": shapes,
            "annotations": notes,
            "height": 440,
        },
    )


def fp_scores(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """fp_score per rule, coloured by verdict, with the verdict thresholds."""
    ordered = sorted(rows, key=lambda r: float(r["fp_score"]))
    data = []
    for verdict, color in VERDICT_COLORS.items():
        pts = [r for r in ordered if r["verdict"] == verdict]
        if pts:
            data.append(
                {
                    "type": "bar",
                    "orientation": "h",
                    "name": verdict.replace("_", " "),
                    "y": [f"{r['rule_group']} / {r['rule_id']} ({r['match_kind']})" for r in pts],
                    "x": [r["fp_score"] for r in pts],
                    "marker": {"color": color},
                    "hovertemplate": "%{y}<br>fp_score %{x:.2f}<extra></extra>",
                }
            )
    shapes = [
        {
            "type": "line",
            "xref": "x",
            "x0": t,
            "x1": t,
            "yref": "paper",
            "y0": 0,
            "y1": 1,
            "line": {"color": "#475569", "dash": "dash", "width": 1},
        }
        for t in (0.35, 0.6)
    ]
    labels = [f"{r['rule_group']} / {r['rule_id']} ({r['match_kind']})" for r in ordered]
    return figure(
        data,
        {
            "barmode": "overlay",
            "height": max(300, 70 + 26 * len(ordered)),
            "margin": {"l": 420, "r": 20, "t": 20, "b": 60},
            "xaxis": _axis("fp_score (higher = more likely legitimate traffic)", range=[0, 1]),
            "yaxis": _axis("", type="category", categoryarray=labels, automargin=True),
            "shapes": shapes,
        },
    )
