"""Run one command as a child process and measure its wall time and peak resident memory.

Owns the measurement, nothing else. Two memory figures are taken:

* `wait4_peak_kib`: the kernel's high-water RSS (`ru_maxrss`) returned by `os.wait4` for exactly this
  child. It is exact for a single process (and its reaped children are folded in as a *max*, not a sum).
  Caveat: on exec the kernel carries over the high-water mark of the memory the child was forked from,
  i.e. *this* harness. The harness therefore imports nothing heavy (no Polars, no pyarrow) and reports
  its own peak so a reader can see it is far below every contender's.
* `tree_peak_kib`: the largest *sum* of RSS over the child and all its descendants seen by polling
  `/proc` every `poll_seconds`. It catches contenders that fan out into worker processes, which
  `ru_maxrss` would under-report; being sampled, it can miss a short spike.

The reported peak is the larger of the two. Stdout/stderr go to files, so a chatty child cannot block on a
full pipe.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

_PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass(frozen=True)
class Measurement:
    exit_code: int
    seconds: float
    cpu_seconds: float  # user + system time of the child and its reaped descendants
    wait4_peak_kib: int
    tree_peak_kib: int
    timed_out: bool
    stdout: str
    stderr: str

    @property
    def peak_kib(self) -> int:
        return max(self.wait4_peak_kib, self.tree_peak_kib)


def _parents() -> dict[int, int]:
    """pid -> parent pid for every process visible in /proc."""
    table: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue  # the process exited while we looked
        # The command name is in parentheses and may contain spaces: split after the last ')'.
        fields = stat[stat.rfind(b")") + 2 :].split()
        table[int(entry.name)] = int(fields[1])
    return table


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE_KIB
    except (OSError, IndexError, ValueError):
        return 0


def _tree_rss_kib(root: int) -> int:
    children: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss_kib(pid)
        stack.extend(children.get(pid, ()))
    return total


class _TreePoller(threading.Thread):
    def __init__(self, pid: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak_kib = pid, interval, 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak_kib = max(self.peak_kib, _tree_rss_kib(self.pid))
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _tail(path: Path, limit: int = 20_000) -> str:
    data = path.read_bytes()
    return data[-limit:].decode("utf-8", errors="replace")


def measure(command: list[str], *, cwd: Path, log_dir: Path, timeout: float, poll_seconds: float = 0.1) -> Measurement:
    """Run `command` to completion (or kill its process group after `timeout` seconds) and measure it."""
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / "stdout.txt", log_dir / "stderr.txt"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        # A new session lets a timeout kill the child's whole process tree.
        proc = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=err, start_new_session=True)
        poller = _TreePoller(proc.pid, poll_seconds)
        poller.start()
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
            poller.stop()
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # so Popen does not try to reap it again
    return Measurement(
        exit_code=proc.returncode,
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        wait4_peak_kib=int(usage.ru_maxrss),  # KiB on Linux
        tree_peak_kib=poller.peak_kib,
        timed_out=timed_out.is_set(),
        stdout=_tail(out_path),
        stderr=_tail(err_path),
    )


def own_peak_kib() -> int:
    """This process's high-water RSS (VmHWM), to show the harness stays small."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0
