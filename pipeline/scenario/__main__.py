"""``python -m pipeline.scenario OUT_DIR [--seed N] [--scale X] [--day YYYY-MM-DD]``: write a scenario.

Prints where each part went, a few headline facts from ``truth.json``, and the commands that ingest it.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date

from pipeline.errors import EdgelakeError
from pipeline.scenario import DEFAULT_DAY, generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.scenario", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", help="directory to write the scenario into")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 is about 250,000 CloudFront requests")
    parser.add_argument("--day", type=date.fromisoformat, default=DEFAULT_DAY, help="UTC day (YYYY-MM-DD)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        sc = generate(args.out_dir, seed=args.seed, scale=args.scale, day=args.day)
    except EdgelakeError as exc:
        print(f"scenario: error: {exc}", file=sys.stderr)
        return exc.exit_code
    totals = sc.truth["totals"]
    print(
        f"scenario {sc.distribution_id} {sc.day} (seed {args.seed}, scale {args.scale}) written to {sc.root} "
        f"in {time.perf_counter() - started:.1f} s"
    )
    for label, path in (
        ("CloudFront standard logs", sc.cloudfront_dir),
        ("real-time logs", sc.realtime_dir),
        ("real-time log config", sc.realtime_config),
        ("WAF logs", sc.waf_dir),
        ("distribution config", sc.distribution_config),
        ("web ACL", sc.web_acl),
        ("truth", sc.root / "truth.json"),
    ):
        print(f"  {label:26} {path}")
    print(
        f"  {totals['cloudfront_requests']} CloudFront requests ({totals['late_lines']} delivered late), "
        f"{totals['waf_records']} WAF records, {totals['realtime_records']} real-time records"
    )
    print("ingest with:")
    print(f"  edgelake ingest {sc.cloudfront_dir} {sc.waf_dir} {sc.distribution_config} {sc.web_acl} --lake LAKE")
    print(
        f"  edgelake ingest {sc.realtime_dir} --source realtime --realtime-fields {sc.realtime_config} "
        f"--distribution-id {sc.distribution_id} --lake LAKE"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
