"""The HTML evidence reports: built from a scenario lake with hostile extras, checked as files and in Chromium.

One module-scoped lake (the scenario generator at scale 0.05, plus a few WAF records and CloudFront lines
whose URI, user agent, rule id and matched data are script payloads). Both reports are built once; the
static tests read the HTML (no external URL, CSP hashes match the inline scripts, embedded JSON cannot
close its block, the AWS WAF JSON validates against botocore's wafv2 model, numbers equal the named
queries'); the browser tests open each report in headless Chromium, with and without the CSP, and
assert that nothing from the data ran, the plots drew their marks, the console is clean, no request
left the file, and the payloads read verbatim as text. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from browser import BrowserMissing, chromium_path, open_page
from helpers import CF_FIELDS_33, EDGELAKE, ROOT, aws_encode, cf_record, gz, w3c_text

from pipeline.analyses import run
from pipeline.ingest import IngestOptions, ingest
from pipeline.readers.realtime import load_fields
from pipeline.reports import assets, incident_document, waf_rollout_document
from pipeline.reports.html import Document, script_json
from pipeline.scenario import generate

ARTIFACTS = ROOT / "tests" / "artifacts"
START, END = "2025-03-14T19:45:00Z", "2025-03-14T20:45:00Z"
HOSTILE_URI = "/comments/<script>document.title='pwned-uri'</script>"
HOSTILE_UA = '"><img src=x onerror="document.title=\'pwned-ua\';alert(4)">'
HOSTILE_RULE = "Watch<img src=x onerror=alert(3)>"
HOSTILE_DATA = "</script><script>document.title='pwned-json'</script><!--\u2028"
SCENARIO_PAYLOADS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(2)>')


def _hostile_waf(template: dict[str, Any], n: int) -> str:
    lines = []
    for i in range(n):
        rec = json.loads(json.dumps(template))
        rec["timestamp"] = 1741983000000 + i * 7000  # 2025-03-14T20:10:00Z onwards
        rec["nonTerminatingMatchingRules"] = [
            {
                "ruleId": HOSTILE_RULE,
                "action": "COUNT",
                "ruleMatchDetails": [{"conditionType": "XSS", "location": "BODY", "matchedData": [HOSTILE_DATA]}],
            }
        ]
        req = rec["httpRequest"]
        req.update(
            uri=HOSTILE_URI,
            args="q=<svg/onload=alert(5)>",
            clientIp=f"198.51.100.{i % 7 + 1}",
            requestId=f"HOSTILE{i:04d}wafreq",
            headers=[{"name": "user-agent", "value": HOSTILE_UA}],
        )
        lines.append(json.dumps(rec))
    return "\n".join(lines) + "\n"


def _hostile_cloudfront(n: int) -> str:
    records = [
        cf_record(
            date="2025-03-14",
            time=f"20:1{i % 10}:{i:02d}",
            c_ip="198.51.100.9",
            cs_host="d1scenario.cloudfront.net",
            cs_uri_stem=aws_encode(HOSTILE_URI),
            cs_user_agent=aws_encode(HOSTILE_UA),
            x_host_header="www.streamhaul.example",
            x_edge_request_id=f"HOSTILEcf{i:04d}",
            sc_status="403" if i % 3 else "200",
        )
        for i in range(n)
    ]
    return w3c_text(CF_FIELDS_33, records)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("reports")
    scen = generate(root / "logs", seed=7, scale=0.05)
    out = str(root / "lake")
    main = ingest([str(scen.cloudfront_dir), str(scen.waf_dir), str(scen.distribution_config), str(scen.web_acl)], out)
    assert main.rejects == 0, main.problems
    ingest(
        [str(scen.realtime_dir)],
        out,
        IngestOptions(
            source="realtime",
            realtime_fields=load_fields(str(scen.realtime_config)),
            distribution_id=scen.distribution_id,
        ),
    )
    template = None
    for path in sorted(scen.waf_dir.rglob("*.gz")):
        for line in gzip.decompress(path.read_bytes()).decode().splitlines():
            if '"BlockedCountriesWatch"' in line:
                template = json.loads(line)
                break
        if template:
            break
    assert template is not None
    extra = root / "extra"
    (extra / "waf").mkdir(parents=True)
    (extra / "waf" / "hostile.log.gz").write_bytes(gz(_hostile_waf(template, 24).encode()))
    (extra / "cf").mkdir()
    (extra / "cf" / "E2SCENARIO01.2025-03-14-20.HOSTILE1.gz").write_bytes(gz(_hostile_cloudfront(40).encode()))
    got = ingest([str(extra / "waf")], out, IngestOptions(source="waf"))
    assert got.rows["waf"] == 24 and got.rejects == 0, got.problems
    got = ingest([str(extra / "cf")], out)
    assert got.rows["cloudfront"] == 40 and got.rejects == 0, got.problems
    return out


@dataclass
class Built:
    waf: Document
    incident: Document


@pytest.fixture(scope="module")
def built(lake: str) -> Built:
    return Built(waf_rollout_document(lake), incident_document(lake, start=START, end=END))


# ---- static checks on the HTML ------------------------------------------------------------------------


class _Scan(HTMLParser):
    """Scripts (attrs, text), <pre><code> texts, tables (rows of cell texts), every attribute value."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.codes: list[str] = []
        self.tables: list[list[list[str]]] = []
        self.attrs: list[tuple[str, str, str | None]] = []
        self._stack: list[str] = []
        self._text: list[str] = []
        self._script: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attrs += [(tag, k, v) for k, v in attrs]
        if tag == "script":
            self._script, self._text = dict(attrs), []
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th", "code"):
            self._text = []
        self._stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._text)))
            self._script = None
        elif tag in ("td", "th") and self.tables and self.tables[-1]:
            self.tables[-1][-1].append("".join(self._text).strip())
        elif tag == "code" and "pre" in self._stack:
            self.codes.append("".join(self._text))
        if self._stack and self._stack[-1] == tag:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        self._text.append(data)


def _scan(text: str) -> _Scan:
    scan = _Scan()
    scan.feed(text)
    return scan


@pytest.mark.parametrize("which", ["waf", "incident"])
def test_no_external_reference_and_csp_lists_the_inline_scripts(built: Built, which: str) -> None:
    doc = getattr(built, which)
    text = doc.render()
    plotly_js = assets.plotly_js()
    assert text.count(plotly_js) == 1  # plotly.js inlined verbatim, once
    ours = text.replace(plotly_js, "")
    assert not re.search(r"https?:|//[a-z0-9.-]+\.[a-z]{2,}/|url\(", ours, re.I), "an external reference"
    scan = _scan(text)
    for tag, name, value in scan.attrs:  # links are in-page anchors only; no src anywhere
        assert name not in ("src", "srcset", "action", "formaction"), (tag, name, value)
        if name == "href":
            assert value is not None and value.startswith("#"), value
    code = [body for attrs, body in scan.scripts if attrs.get("type") != "application/json"]
    assert code == [plotly_js, assets.APP_JS]
    csp = next(v for t, k, v in scan.attrs if t == "meta" and k == "content" and v and "default-src" in v)
    assert "default-src 'none'" in csp and "unsafe-eval" not in csp
    script_src = re.search(r"script-src ([^;]+);", csp)
    assert script_src is not None and "unsafe-inline" not in script_src.group(1)
    for body in code:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in script_src.group(1)
    assert "Content-Security-Policy" not in doc.render(with_csp=False)


@pytest.mark.parametrize("which", ["waf", "incident"])
def test_embedded_json_cannot_close_its_block(built: Built, which: str) -> None:
    text = getattr(built, which).render()
    scan = _scan(text)
    data = [(a, body) for a, body in scan.scripts if a.get("type") == "application/json"]
    assert data and all(a["id"] and a["id"].endswith("-data") for a, _ in data)
    assert text.count("</script>") == len(scan.scripts)  # none closes early: the parser saw every block whole
    for _, body in data:
        assert not re.search("[<>&\u2028\u2029]", body)
        json.loads(body)
    assert script_json({"x": HOSTILE_DATA}) == (
        '{"x":"\\u003c/script\\u003e\\u003cscript\\u003edocument.title=\'pwned-json\'\\u003c/script\\u003e'
        '\\u003c!--\\u2028"}'
    )


def test_waf_json_snippets_are_valid_aws_waf_rules(built: Built) -> None:
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model("wafv2")
    validator = ParamValidator()
    snippets = [json.loads(c) for c in _scan(built.waf.render()).codes]
    rules = [s for s in snippets if "Priority" in s]
    overrides = [s for s in snippets if "ActionToUse" in s]
    actions = [s["Action"] for s in snippets if list(s) == ["Action"]]  # for a rule whose statement is unknown
    assert rules and overrides and actions == [{"Count": {}}]  # the hostile watch rule: a false positive
    assert len(rules) + len(overrides) + len(actions) == len(snippets)
    for action in actions:
        assert not validator.validate(action, model.shape_for("RuleAction")).has_errors()
    for rule in rules:
        wire = json.loads(json.dumps(rule))
        for stmt in _walk(wire):  # the CLI decodes base64 blobs before the API sees them
            if "SearchString" in stmt:
                stmt["SearchString"] = base64.b64decode(stmt["SearchString"])
        report = validator.validate(wire, model.shape_for("Rule"))
        assert not report.has_errors(), report.generate_report()
    for entry in overrides:
        assert not validator.validate(entry, model.shape_for("RuleActionOverride")).has_errors()
    assert {"Name": "CrossSiteScripting_BODY", "ActionToUse": {"Count": {}}} in overrides
    common = next(
        r
        for r in rules
        if r["Name"] == "AWS-AWSManagedRulesCommonRuleSet"
        and "ScopeDownStatement" not in r["Statement"]["ManagedRuleGroupStatement"]
    )
    kept = [o["Name"] for o in common["Statement"]["ManagedRuleGroupStatement"]["RuleActionOverrides"]]
    assert kept == ["CrossSiteScripting_BODY", "SizeRestrictions_BODY"] and common["OverrideAction"] == {"None": {}}
    sqli = next(r for r in rules if r["Name"] == "AWS-AWSManagedRulesSQLiRuleSet")
    assert "RuleActionOverrides" not in sqli["Statement"]["ManagedRuleGroupStatement"]  # a true positive: enforce
    scoped = [
        r["Statement"]["ManagedRuleGroupStatement"]["ScopeDownStatement"]
        for r in rules
        if "ScopeDownStatement" in r["Statement"].get("ManagedRuleGroupStatement", {})
        and r["Name"] == "AWS-AWSManagedRulesCommonRuleSet"
    ]
    paths = {
        base64.b64decode(s["NotStatement"]["Statement"]["ByteMatchStatement"]["SearchString"]).decode() for s in scoped
    }
    assert paths == {"/api/comments", "/upload/"}  # rich-text comments; large uploads under several /upload/ paths


def _walk(obj: Any) -> Iterator[dict[str, Any]]:
    if isinstance(obj, dict):
        yield obj
        for v in obj.values():
            yield from _walk(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk(v)


def test_numbers_are_the_named_queries(built: Built, lake: str) -> None:
    scan = _scan(built.waf.render())
    evidence = next(t for t in scan.tables if t and t[0][:3] == ["Rule group", "Rule", "Match kind"])
    rows = run("waf-fp-candidates", lake, {"top": 20})
    assert len(evidence) - 1 == rows.height
    shown = {(r[1], r[2]): int(r[4].replace(",", "")) for r in evidence[1:]}
    assert shown == {(r["rule_id"], r["match_kind"]): r["matches"] for r in rows.to_dicts()}
    assert shown[(HOSTILE_RULE, "webacl_count")] == 24
    # the per-minute status plot adds up to status-mix over the window, origin by origin and code by code
    fig = built.incident.plots["status-minutes"]
    per_minute: dict[tuple[str, str], int] = {}
    for trace in fig["data"]:
        panel = 0 if trace["yaxis"] == "y" else int(trace["yaxis"][1:]) - 1  # one y axis per origin panel
        origin = fig["layout"]["annotations"][panel]["text"]
        key = (html.unescape(origin).removeprefix("origin "), trace["name"])
        per_minute[key] = per_minute.get(key, 0) + sum(trace["y"])
    mix = run("status-mix", lake, {"start": START, "end": END})
    assert per_minute == {(r["origin"], str(r["sc_status"])): r["requests"] for r in mix.to_dicts()}
    failover = run("failover", lake, {"start": START, "end": END})
    fails = sum(sum(t["y"]) for t in built.incident.plots["failure-minutes"]["data"])
    assert fails == failover.get_column("requests").sum() > 0


def test_cli_writes_the_incident_report_without_csp_on_request(lake: str, tmp_path: Path) -> None:
    out = tmp_path / "incident.html"
    done = subprocess.run(
        [
            str(EDGELAKE),
            "report",
            "incident",
            "--lake",
            lake,
            "--out",
            str(out),
            "--start",
            START,
            "--end",
            END,
            "--no-csp",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out)
    text = out.read_text()
    assert "Content-Security-Policy" not in text and html.escape(HOSTILE_URI) in text
    bad = subprocess.run(
        [str(EDGELAKE), "report", "incident", "--lake", lake, "--out", str(out), "--start", END, "--end", START],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "is not after --start" in bad.stderr


# ---- in the browser -----------------------------------------------------------------------------------


def _need_chromium() -> None:
    try:
        chromium_path()
    except BrowserMissing as exc:
        pytest.fail(f"{exc}", pytrace=False)


_MARKS = (
    "Array.from(document.querySelectorAll('div.plot')).map(d => [d.id, "
    "d.querySelectorAll('svg.main-svg').length, "
    "d.querySelectorAll('g.point path, path.point, path.js-line').length])"
)
# click the first numeric heading of the first sortable table with several rows, twice
_SORT_CHECK = """(() => {
  const t = Array.from(document.querySelectorAll('table.sortable')).find(t => t.tBodies[0].rows.length > 2
      && t.querySelector('th.num'));
  const th = t.querySelector('th.num'); const i = Array.from(th.parentNode.cells).indexOf(th);
  const col = () => Array.from(t.tBodies[0].rows).map(r => Number(r.cells[i].getAttribute('data-v') || 'NaN'))
      .filter(v => !Number.isNaN(v));
  const ordered = (v, dir) => v.every((x, k) => k === 0 || dir * (x - v[k - 1]) >= 0);
  th.querySelector('button').click(); const down = ordered(col(), -1);
  th.querySelector('button').click(); const up = ordered(col(), 1);
  return [down, up];
})()"""
_PLANTED = {  # text each plot must show: the planted fact it is there to make visible
    "waf": {
        "fp-scores": ["CrossSiteScripting_BODY", HOSTILE_RULE],
        "rate-peaks": ["suspect keys", "limit 1,000"],
        "rate-rule-1": ["configured: LoginRateLimit"],
    },
    "incident": {
        "status-minutes": ["origin web-group", "429"],
        "failure-minutes": ["gap_status", "eligible"],
        "hit-ratio": ["regression /static/*", "incident window"],
    },
}


@pytest.mark.browser
@pytest.mark.parametrize("which", ["waf", "incident"])
@pytest.mark.parametrize("csp", [True, False], ids=["csp", "no-csp"])
def test_report_in_chromium(built: Built, which: str, csp: bool, tmp_path: Path) -> None:
    _need_chromium()
    doc: Document = getattr(built, which)
    path = tmp_path / f"{which}.html"
    path.write_text(doc.render(with_csp=csp), encoding="utf-8")
    with open_page(path, width=1280, height=1000) as page:
        drawn = page.wait_until("document.documentElement.getAttribute('data-plots-drawn')")
        assert int(drawn) == len(doc.plots)
        page.wait_until("Array.from(document.querySelectorAll('div.plot')).every(d => d.querySelector('svg.main-svg'))")
        marks = page.evaluate(_MARKS)
        plot_text = {pid: page.evaluate(f"document.getElementById('{pid}').textContent") for pid in doc.plots}
        body = page.evaluate("document.body.textContent")
        counts = page.evaluate(
            "[document.querySelectorAll('img,iframe,object,embed,svg script').length, "
            "document.querySelectorAll('script:not([type=\"application/json\"])').length]"
        )
        page.screenshot(ARTIFACTS / f"report-{which}-{'csp' if csp else 'no-csp'}.png")
        if csp:
            page.screenshot(ARTIFACTS / f"report-{which}-full.png", full_page=True)
        sorted_ok = page.evaluate(_SORT_CHECK)
        report = page.collect()
    assert sorted_ok == [True, True], "clicking a numeric heading sorts descending, again ascending"
    assert report.title == doc.title  # no payload rewrote it
    assert report.dialogs == []  # no alert() ran
    assert report.errors() == []
    assert report.requests == [report.url]  # nothing fetched: the file opens offline
    assert counts == [0, 2]  # no element made from data: no img/iframe, only our two scripts
    assert {pid for pid, svgs, n in marks if svgs and n > 0} == set(doc.plots), marks
    for pid, wanted in _PLANTED[which].items():
        for text in wanted:
            assert text in plot_text[pid], (pid, text)
    payloads = [HOSTILE_URI, HOSTILE_UA] + ([HOSTILE_RULE, HOSTILE_DATA, *SCENARIO_PAYLOADS] if which == "waf" else [])
    for payload in payloads:
        assert payload in body, payload


# ---- small pieces ---------------------------------------------------------------------------------------


def test_reports_open_with_the_doctors_findings(built: Built) -> None:
    for doc, first in ((built.incident, "timeline"), (built.waf, "phases")):
        text = doc.render()
        assert 'id="findings"' in text and text.index('id="findings"') < text.index(f'id="{first}"')
    incident = built.incident.render()
    assert "failover.gap-429" in incident and "failover.silently-off" in incident
    waf = built.waf.render()
    assert "waf.fp-blocking" in waf and "SizeRestrictions_QUERYSTRING" in waf and "failover.gap-429" not in waf


def test_markup_helpers_escape_text_and_attributes() -> None:
    from pipeline.reports.html import Col, el, table

    assert el("td", "<b>&", title='"x"') == '<td title="&quot;x&quot;">&lt;b&gt;&amp;</td>'
    with pytest.raises(ValueError):
        el("td", "x", **{"onclick=alert(1) x": "y"})
    out = table([Col("u", "URI", wide=True)], [{"u": HOSTILE_URI}])
    assert "<script>" not in out and html.escape(HOSTILE_URI) in out


@pytest.mark.parametrize(
    ("uris", "prefix"),
    [
        (["/api/comments"], "/api/comments"),
        (["/upload/a/1", "/upload/b/2"], "/upload/"),
        (["/api", "/api/x"], "/api"),
        (["/a", "/b"], None),
        (["/"], None),
        ([], None),
    ],
)
def test_scope_down_prefix(uris: list[str], prefix: str | None) -> None:
    from pipeline.reports.exclusions import common_prefix

    assert common_prefix(uris) == prefix


def test_unknown_web_acl_is_a_usage_error(lake: str) -> None:
    from pipeline.errors import UsageError

    with pytest.raises(UsageError, match=r"no web ACL 'nope'.*streamhaul-acl"):
        waf_rollout_document(lake, web_acl="nope")
