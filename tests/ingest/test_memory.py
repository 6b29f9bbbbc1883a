"""The process-wide allocator settings that keep an ingest's resident size flat (pipeline/memory.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers import SAMPLES


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_ingest_uses_a_single_arena(tmp_path):
    # A fresh interpreter, as a nightly job starts: nothing is set until ingest() runs, and glibc
    # accepts the setting afterwards (mallopt answered 1).
    sample = sorted(p for p in (SAMPLES / "cloudfront").rglob("*") if p.is_file())[0]
    code = (
        "from pipeline import memory\n"
        "from pipeline.ingest import ingest\n"
        "assert not memory._single\n"
        f"ingest([{str(sample)!r}], {str(tmp_path / 'lake')!r})\n"
        "print(memory._single)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_pool_workers_get_the_setting_from_their_environment():
    # glibc reads MALLOC_ARENA_MAX when the process starts, before any thread: the worker's
    # environment carries it, and this process's environment is left as it was.
    code = (
        "import os\n"
        "from pipeline.ingest import pool\n"
        "if __name__ == '__main__':\n"
        "    before = os.environ.get('MALLOC_ARENA_MAX')\n"
        "    p = pool.new_pool(1)\n"
        "    print(p.submit(os.getenv, 'MALLOC_ARENA_MAX').result(), before == os.environ.get('MALLOC_ARENA_MAX'))\n"
        "    p.shutdown()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "True"]


def test_batch_settings_reach_polars_jemalloc_and_keep_the_users_choice():
    # Polars appends _RJEM_MALLOC_CONF to its own jemalloc options when it is imported: ours must be
    # there, after Polars' 500 ms default, and a user's own value must come after ours (so it wins).
    code = (
        "import os\n"
        "from pipeline import memory\n"
        "memory.batch_settings()\n"
        "import polars\n"
        "print(os.environ['_RJEM_MALLOC_CONF'])\n"
        "print(memory.worker_env()['_RJEM_MALLOC_CONF'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    conf, worker = out.stdout.split()
    assert conf.split(",")[-1] == "dirty_decay_ms:5000"
    assert conf.index("dirty_decay_ms:500,") < conf.index("dirty_decay_ms:5000")
    assert worker.split(",")[-1] == "dirty_decay_ms:5000"
    env["_RJEM_MALLOC_CONF"] = "dirty_decay_ms:0"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    conf, worker = out.stdout.split()
    assert conf.endswith("dirty_decay_ms:5000,dirty_decay_ms:0")
    assert worker.split(",")[-1] == "dirty_decay_ms:0"
