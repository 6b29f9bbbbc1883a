"""Ground-truth scenario: one day of Streamhaul's CloudFront, real-time and WAF logs with planted facts.

:func:`generate` writes, under one directory, everything an analyst would pull from AWS for
distribution ``E2SCENARIO01`` on one day, plus ``truth.json``: the facts planted in the logs,
counted by the generator itself while it wrote them. Analyses are tested by ingesting the logs and
comparing their answers with the truth.

Planted: a 5xx storm on the API group's primary (10:00-10:20) with failing writes (routed, as
CloudFront requires, through the single-origin ``/api/*``, so they never fail over); the 20:03-20:25
429 storm of the Streamhaul incident on a group that does not fail over on 429 (and a smaller one on
``/video/*``, whose group does); a single-origin upload outage (15:00-15:30); a cache-key regression
after the 14:00 deploy (``/static/*`` hit ratio ~94% -> ~71%); WAF Count-mode false positives (large
uploads, rich-text comments, a geo watch rule) next to true positives (SQLi probes, bots) and rules
already blocking (scanners); a credential-stuffing burst (17:10-17:25) and a busy but legitimate
office NAT; errors the edge makes itself, which are not origin failures.

The package imports nothing from the pipeline but :mod:`pipeline.errors`. Layout of the output::

    distribution/E2SCENARIO01.get-distribution.json   webacl/streamhaul-acl.get-web-acl.json
    cloudfront/E2SCENARIO01.YYYY-MM-DD-HH.<id>.gz     realtime-config.json
    realtime/YYYY/MM/dd/HH/streamhaul-rt-1-...gz      waf/AWSLogs/<account>/WAFLogs/cloudfront/...
    truth.json
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pipeline.errors import UsageError

__all__ = ["DEFAULT_DAY", "Scenario", "generate"]

DEFAULT_DAY = date(2025, 3, 14)
GENERATOR_VERSION = 2  # bump when the output for a given seed and scale changes
_OWNED = (
    "cloudfront",
    "realtime",
    "waf",
    "distribution",
    "webacl",
    "realtime-config.json",
    "truth.json",
    "twin",
    "drafts",
    "cache-policies",
)


@dataclass(frozen=True)
class Scenario:
    """Where a generated scenario's files are, and its truth (also in ``root / "truth.json"``)."""

    root: Path
    day: date
    distribution_id: str
    truth: dict[str, Any]
    cloudfront_dir: Path
    realtime_dir: Path
    realtime_config: Path
    waf_dir: Path
    distribution_config: Path
    web_acl: Path
    twin_dir: Path  # the clean twin: cloudfront/, waf/, distribution/, webacl/
    cache_policy_dir: Path
    draft_config: Path  # get-distribution-config output: ingest with draft_distribution_id
    draft_distribution_id: str

    def doctor_inputs(self) -> list[str]:
        """Everything the doctor reads but the draft: both distributions' logs and configs, the cache policies."""
        return [
            str(p)
            for p in (
                self.cloudfront_dir,
                self.waf_dir,
                self.distribution_config,
                self.web_acl,
                self.twin_dir,
                self.cache_policy_dir,
            )
        ]


def generate(out_dir: Path | str, *, seed: int = 7, scale: float = 1.0, day: date = DEFAULT_DAY) -> Scenario:
    """Write one day of logs, the configs and ``truth.json`` under ``out_dir``.

    Parameters
    ----------
    out_dir
        Directory to write into (created if needed). Files of an earlier scenario there are replaced;
        nothing else in it is touched.
    seed
        Same seed, scale and day give the same bytes.
    scale
        Volume relative to the default day of about 250,000 CloudFront requests (0.2 gives ~50,000).
    day
        The UTC day of the logs.

    Returns
    -------
    Scenario
        Paths of what was written and the truth dictionary.
    """
    from pipeline.scenario import (
        attacks,
        configs,
        doctor_truth,
        incidents,
        logs,
        plants,
        policies,
        sessions,
        truth,
        waf,
    )
    from pipeline.scenario.traffic import Traffic
    from pipeline.scenario.world import DISTRIBUTION_ID, DRAFT_ID, TWIN, WEB_ACL_NAME, ClientFactory, ScenarioRandom

    if not 0.005 <= scale <= 20:
        raise UsageError(f"scenario scale {scale} is out of range; use 0.005 to 20 (1.0 is ~250,000 requests)")
    root = Path(out_dir)
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} exists and is not a directory; pick another output directory")
    for name in _OWNED:
        old = root / name
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
    root.mkdir(parents=True, exist_ok=True)

    rng = ScenarioRandom(seed)
    day_start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
    tr = Traffic(rng, day_start)
    clients = ClientFactory(rng)
    suspects = {
        "credential_stuffing": attacks.credential_stuffing(tr, clients, scale),
        "sqli_probes": attacks.sqli_probes(tr, clients, scale),
        "scanners": attacks.scanners(tr, clients, scale),
    }
    # An office's headcount does not shrink with the site's volume: keep it the busiest legitimate key
    sessions.office(tr, clients, round(14_000 * scale**0.5))
    sessions.background(tr, clients, round(250_000 * scale) - len(tr.requests), scale)
    plants.add_traffic(tr, clients, scale, seed)

    verdicts = waf.decide(tr.requests)
    incidents.plant(tr)
    incidents.background_errors(tr, scale)
    incidents.edge_errors(tr, scale)
    plants.after_incidents(tr, seed)
    incidents.finish(tr)
    waf.apply_rate_rule(tr.requests, verdicts)

    cf_files, late = logs.write_cloudfront(root / "cloudfront", tr.requests, rng, day_start)
    rt_files = logs.write_realtime(root / "realtime", tr.requests, rng, day_start)
    waf_files = logs.write_waf(root / "waf", tr.requests, verdicts, rng, day_start)
    dist_path = configs.write(
        root / "distribution" / f"{DISTRIBUTION_ID}.get-distribution.json", configs.distribution(day)
    )
    acl_path = configs.write(root / "webacl" / f"{WEB_ACL_NAME}.get-web-acl.json", configs.web_acl())
    rt_config = configs.write(root / "realtime-config.json", configs.realtime_config())
    # the clean twin, the cache policies both use, and the draft nobody applied (edgelake doctor's inputs)
    twin, twin_verdicts = plants.twin_traffic(seed, scale, day_start)
    twin_root = root / "twin"
    twin_cf, _ = logs.write_cloudfront(twin_root / "cloudfront", twin.requests, twin.rng, day_start, TWIN)
    twin_waf = logs.write_waf(twin_root / "waf", twin.requests, twin_verdicts, twin.rng, day_start, TWIN)
    configs.write(
        twin_root / "distribution" / f"{TWIN.distribution_id}.get-distribution.json", configs.distribution(day, TWIN)
    )
    configs.write(twin_root / "webacl" / f"{TWIN.web_acl_name}.get-web-acl.json", configs.web_acl(TWIN))
    for name, doc in policies.cache_policies(day).items():
        configs.write(root / "cache-policies" / name, doc)
    draft_path = configs.write(root / "drafts" / f"{DRAFT_ID}.get-distribution-config.json", policies.draft())

    scenario = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "scale": scale,
        "day": day.isoformat(),
        "distribution_id": DISTRIBUTION_ID,
        "web_acl": WEB_ACL_NAME,
    }
    facts = truth.compute(
        tr,
        verdicts,
        scenario=scenario,
        suspects=suspects,
        late_lines=late,
        files={"cloudfront": cf_files, "realtime": rt_files, "waf": waf_files},
    )
    facts["doctor"] = doctor_truth.compute(
        tr, verdicts, twin, {"cloudfront": twin_cf, "waf": twin_waf}, day, facts["hit_ratio"]
    )
    (root / "truth.json").write_text(json.dumps(facts, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return Scenario(
        root=root,
        day=day,
        distribution_id=DISTRIBUTION_ID,
        truth=facts,
        cloudfront_dir=root / "cloudfront",
        realtime_dir=root / "realtime",
        realtime_config=rt_config,
        waf_dir=root / "waf",
        distribution_config=dist_path,
        web_acl=acl_path,
        twin_dir=twin_root,
        cache_policy_dir=root / "cache-policies",
        draft_config=draft_path,
        draft_distribution_id=DRAFT_ID,
    )
