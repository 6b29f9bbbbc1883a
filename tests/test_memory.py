"""The process-wide allocator setting that keeps an ingest's resident size flat (pipeline/memory.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_ingest_pins_the_mmap_threshold(tmp_path):
    # A fresh interpreter, as a nightly job starts: nothing is pinned until ingest() runs, and glibc
    # accepts the setting afterwards (mallopt answered 1).
    sample = sorted(p for p in (SAMPLES / "cloudfront").rglob("*") if p.is_file())[0]
    code = (
        "from pipeline import memory\n"
        "from pipeline.ingest import ingest\n"
        "assert not memory._pinned\n"
        f"ingest([{str(sample)!r}], {str(tmp_path / 'lake')!r})\n"
        "print(memory._pinned)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
