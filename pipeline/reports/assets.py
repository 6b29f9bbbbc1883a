"""What every report inlines: the stylesheet, the small report script, and plotly.js itself.

The report script does two things and reads no data but the JSON blocks: it makes tables sortable
(click or Enter on a heading; numbers sort numerically by the cell's ``data-v``) and it draws each
``div.plot`` from the JSON block named by its ``data-spec``. It uses no ``eval``, no inline event
handlers and no ``innerHTML``, so the page's CSP can list it by hash. plotly.js comes from the
installed ``plotly`` package, verbatim; it must not contain anything that would end an inline
``<script>`` early, which :func:`plotly_js` checks. The bundle holds URL strings (map tile servers,
plotly.com links) used only by map traces and the logo link, which the reports do not use; nothing
is ever fetched: the CSP forbids it, and the browser tests assert that no request leaves the file.
"""

from __future__ import annotations

import functools
import re

from pipeline.errors import EdgelakeError

CSS = """
:root{--fg:#1d2430;--muted:#5b6575;--line:#d9dee7;--bg:#fff;--soft:#f4f6fa;--accent:#1f5fbf;
--fp:#b42318;--fpbg:#fde8e7;--tp:#1e7a3a;--tpbg:#e3f4e8;--rv:#8a5a00;--rvbg:#fff3d6;--bk:#4b5563;--bkbg:#eceff3}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);
background:var(--bg)}
main{max-width:1240px;margin:0 auto;padding:24px 28px 64px}
header.top{border-bottom:3px solid var(--accent);margin-bottom:18px;padding-bottom:10px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:34px 0 8px;padding-top:8px;border-top:1px solid var(--line)}
h3{font-size:16px;margin:22px 0 6px}h4{font-size:14px;margin:14px 0 4px}
p{margin:6px 0}.muted,.empty{color:var(--muted)}
.meta{color:var(--muted);font-size:13px}
.summary{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.card{border:1px solid var(--line);border-radius:8px;padding:8px 12px;min-width:150px;background:var(--soft)}
.card b{display:block;font-size:20px}.card span{color:var(--muted);font-size:12px}
table{border-collapse:collapse;width:100%;margin:8px 0 4px;font-size:13px}
caption{text-align:left;color:var(--muted);padding:2px 0 4px}
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
td.wide{overflow-wrap:anywhere;min-width:14em}.scroll{overflow-x:auto}
details.sql{margin:4px 0}details.sql summary{cursor:pointer;color:var(--muted);font-size:12.5px}
th{background:var(--soft);position:sticky;top:0;white-space:nowrap}
th button{all:unset;cursor:pointer;font-weight:600}th button:focus-visible{outline:2px solid var(--accent)}
th[aria-sort=ascending] button::after{content:" \\25B2"}th[aria-sort=descending] button::after{content:" \\25BC"}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tbody tr:nth-child(even){background:#fafbfd}
.badge{display:inline-block;border-radius:10px;padding:1px 8px;font-size:12px;font-weight:600;white-space:nowrap}
.likely_false_positive{background:var(--fpbg);color:var(--fp)}.likely_true_positive{background:var(--tpbg);color:var(--tp)}
.review{background:var(--rvbg);color:var(--rv)}.already_blocking{background:var(--bkbg);color:var(--bk)}
.state-done{color:var(--tp);font-weight:600}.state-now{color:var(--fp);font-weight:600}.state-next{color:var(--muted)}
p.command{background:#0f172a;color:#e2e8f0;border-radius:6px;padding:6px 10px;font-size:12.5px;overflow-x:auto;
white-space:pre-wrap;overflow-wrap:anywhere}
p.command .label{color:#94a3b8}p.command code{font-family:ui-monospace,"DejaVu Sans Mono",monospace}
figure.code{margin:8px 0}figure.code figcaption{font-size:12px;color:var(--muted);margin-bottom:2px}
pre{background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:8px 10px;overflow-x:auto;
margin:0;font:12.5px/1.4 ui-monospace,"DejaVu Sans Mono",monospace;white-space:pre-wrap;overflow-wrap:anywhere}
.rule{border:1px solid var(--line);border-radius:8px;padding:4px 16px 12px;margin:16px 0}
.rule h3{display:flex;gap:10px;align-items:center;flex-wrap:wrap}
.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:6px 0}
.kv dt{color:var(--muted)}.kv dd{margin:0}
ul.samples{margin:4px 0;padding-left:18px}ul.samples li{font-family:ui-monospace,"DejaVu Sans Mono",monospace;
font-size:12.5px;overflow-wrap:anywhere}
div.plot{width:100%;height:380px;border:1px solid var(--line);border-radius:8px;margin:8px 0}
div.plot.tall{height:560px}
nav.toc{font-size:13px;margin:6px 0 0}nav.toc a{color:var(--accent);margin-right:14px}
@media print{div.plot{break-inside:avoid}th{position:static}}
"""

APP_JS = """
(function () {
  "use strict";
  function key(cell) {
    var v = cell.getAttribute("data-v");
    if (v === null) { v = cell.textContent; }
    var n = Number(v);
    return { empty: v === "", num: v !== "" && isFinite(n), n: n, s: v };
  }
  function compare(a, b) {
    if (a.empty || b.empty) { return a.empty === b.empty ? 0 : (a.empty ? 1 : -1); }
    if (a.num && b.num) { return a.n - b.n; }
    return a.s.localeCompare(b.s);
  }
  function sortBy(table, th, index) {
    var body = table.tBodies[0];
    var descending = th.getAttribute("aria-sort") !== "descending";
    if (th.getAttribute("aria-sort") === null) { descending = th.classList.contains("num"); }
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r1, r2) {
      var c = compare(key(r1.cells[index]), key(r2.cells[index]));
      return descending ? -c : c;
    });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      var button = th.querySelector("button");
      (button || th).addEventListener("click", function () { sortBy(table, th, index); });
    });
  });
  var drawn = 0;
  document.querySelectorAll("div.plot[data-spec]").forEach(function (div) {
    var block = document.getElementById(div.getAttribute("data-spec"));
    if (!block || typeof Plotly === "undefined") { div.textContent = "plot unavailable"; return; }
    var spec = JSON.parse(block.textContent);
    if (spec.layout && spec.layout.height) { div.style.height = spec.layout.height + "px"; }
    Plotly.newPlot(div, spec.data, spec.layout, {
      displaylogo: false, responsive: true, showEditInChartStudio: false,
      modeBarButtonsToRemove: ["select2d", "lasso2d"]
    });
    drawn += 1;
  });
  document.documentElement.setAttribute("data-plots-drawn", String(drawn));
})();
"""

_INJECTED_STYLE = re.compile(r'getElementById\("([0-9A-Za-z_-]{8,})"\)\)\{var \w+=document\.createElement\("style"\)')


@functools.cache
def plotly_js() -> str:
    """The plotly.js bundle shipped with the installed ``plotly`` package."""
    try:
        from plotly.offline import get_plotlyjs
    except ImportError as exc:  # pragma: no cover - plotly is a dependency
        raise EdgelakeError("the reports need the plotly package: pip install plotly") from exc
    js: str = get_plotlyjs()
    lowered = js.lower()
    if "</script" in lowered or "<!--" in js:
        raise EdgelakeError(
            "this plotly.js bundle contains '</script' or '<!--' and cannot be inlined safely; "
            "install another plotly version"
        )
    return js


def plotly_injected_style_ids(js: str) -> list[str]:
    """Ids under which plotly.js injects fixed stylesheets (map-trace CSS) when no such element exists."""
    return sorted(set(_INJECTED_STYLE.findall(js)))
