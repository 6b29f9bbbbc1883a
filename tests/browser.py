"""Drive Debian's headless Chromium over the Chrome DevTools protocol, for tests that look at a page.

:func:`open_page` starts a fresh Chromium (its own empty profile, no background networking, as the
machine notes require), opens one file, waits until the page's own scripts are done, and returns a
:class:`PageReport`: the title, console messages, uncaught exceptions, JavaScript dialogs that tried
to open (dismissed at once), every network request the page made, and screenshots. ``evaluate``
runs an expression in the page while it is open. The protocol client is ``websocket-client``: one
connection, commands answered by id, events collected as they arrive.

If Chromium is missing the caller should fail with the message of :class:`BrowserMissing`
("run make browser"), never skip.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--mute-audio",
)


class BrowserMissing(RuntimeError):
    pass


def chromium_path() -> str:
    """The Chromium binary, or :class:`BrowserMissing` saying how to install it."""
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    raise BrowserMissing("Chromium is not installed: run make browser (apt-get install chromium)")


@dataclass
class PageReport:
    url: str
    title: str = ""
    console: list[dict[str, Any]] = field(default_factory=list)  # {level, text, source}
    exceptions: list[str] = field(default_factory=list)
    dialogs: list[dict[str, Any]] = field(default_factory=list)  # {type, message}
    requests: list[str] = field(default_factory=list)

    def errors(self) -> list[str]:
        """Console errors and uncaught exceptions, as text."""
        out = [f"{m['source']}: {m['text']}" for m in self.console if m["level"] == "error"]
        return out + self.exceptions


class _Cdp:
    """One DevTools websocket: send a command, wait for its answer, keep every event seen meanwhile."""

    def __init__(self, ws_url: str) -> None:
        import websocket  # websocket-client, from the test extras

        self._ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self._next = 0
        self.events: list[dict[str, Any]] = []

    def close(self) -> None:
        self._ws.close()

    def _receive(self) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(self._ws.recv())
        if "method" in message:
            self.events.append(message)
            if message["method"] == "Page.javascriptDialogOpening":
                # answer the dialog at once, or the page (and this client) would hang on it
                self.send_nowait("Page.handleJavaScriptDialog", {"accept": False})
        return message

    def send_nowait(self, method: str, params: dict[str, Any] | None = None) -> int:
        self._next += 1
        self._ws.send(json.dumps({"id": self._next, "method": method, "params": params or {}}))
        return self._next

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        wanted = self.send_nowait(method, params)
        while True:
            message = self._receive()
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    def wait_for(self, method: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(e["method"] == method for e in self.events):
                return next(e for e in self.events if e["method"] == method)
            self._receive()
        raise TimeoutError(f"no {method} within {timeout}s")


class Page:
    """An open page: evaluate expressions, take screenshots; the report is filled on close."""

    def __init__(self, cdp: _Cdp, report: PageReport) -> None:
        self._cdp = cdp
        self.report = report

    def evaluate(self, expression: str) -> Any:
        result = self._cdp.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_until(self, expression: str, timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise TimeoutError(f"{expression!r} still false after {timeout}s")

    def screenshot(self, path: Path, *, full_page: bool = False) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self._cdp.send("Page.getLayoutMetrics")["cssContentSize"]
            params.update(
                captureBeyondViewport=True,
                clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
            )
        data = self._cdp.send("Page.captureScreenshot", params)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def collect(self) -> PageReport:
        """Fill the report from every event seen so far (safe to call more than once)."""
        rep = self.report
        rep.console, rep.exceptions, rep.dialogs, rep.requests = [], [], [], []
        for event in self._cdp.events:
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                self.report.console.append(
                    {
                        "level": "error" if params["type"] in ("error", "assert") else params["type"],
                        "text": text,
                        "source": "console",
                    }
                )
            elif method == "Log.entryAdded":
                entry = params["entry"]
                self.report.console.append(
                    {"level": entry["level"], "text": entry["text"], "source": entry.get("source", "log")}
                )
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                self.report.exceptions.append(
                    details.get("exception", {}).get("description") or details.get("text", "exception")
                )
            elif method == "Page.javascriptDialogOpening":
                self.report.dialogs.append({"type": params["type"], "message": params["message"]})
            elif method == "Network.requestWillBeSent":
                self.report.requests.append(params["request"]["url"])
        self.report.title = str(self.evaluate("document.title"))
        return self.report


def _start(user_data: str, width: int, height: int) -> tuple[subprocess.Popen[bytes], str, threading.Thread]:
    """Start Chromium; once more if it exits before it listens (seen once in ~1000 launches here)."""
    try:
        return _start_once(user_data, width, height)
    except RuntimeError as first:
        try:
            return _start_once(user_data, width, height)
        except RuntimeError as second:
            raise RuntimeError(f"{second}\n(first attempt: {first})") from None


def _start_once(user_data: str, width: int, height: int) -> tuple[subprocess.Popen[bytes], str, threading.Thread]:
    proc = subprocess.Popen(
        [
            chromium_path(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={user_data}",
            "--remote-debugging-port=0",
            f"--window-size={width},{height}",
            "about:blank",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    seen = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline().decode("utf-8", "replace")
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        found = re.search(r"DevTools listening on (ws://[^\s]+)", line)
        if found:
            # keep draining stderr so Chromium never blocks on a full pipe
            drain = threading.Thread(target=proc.stderr.read, daemon=True)
            drain.start()
            return proc, found.group(1), drain
    proc.kill()
    proc.wait()
    proc.stderr.close()
    raise RuntimeError("Chromium did not start its DevTools endpoint:\n" + "".join(seen[-20:]))


@contextlib.contextmanager
def open_page(path: Path, *, width: int = 1280, height: int = 900, settle_s: float = 0.5) -> Iterator[Page]:
    """Open ``path`` in a fresh headless Chromium; yield the page once loaded; collect on exit."""
    with tempfile.TemporaryDirectory(prefix="edgelake-chromium-") as user_data:
        proc, browser_ws, drain = _start(user_data, width, height)
        try:
            port = browser_ws.split("//", 1)[1].split("/", 1)[0]
            with urllib.request.urlopen(f"http://{port}/json/list", timeout=10) as resp:
                targets = json.loads(resp.read())
            page_ws = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
            cdp = _Cdp(page_ws)
            try:
                for domain in ("Page", "Runtime", "Log", "Network"):
                    cdp.send(f"{domain}.enable")
                cdp.send(
                    "Emulation.setDeviceMetricsOverride",
                    {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                )
                url = path.resolve().as_uri()
                cdp.events.clear()
                cdp.send("Page.navigate", {"url": url})
                cdp.wait_for("Page.loadEventFired", timeout=60)
                page = Page(cdp, PageReport(url=url))
                page.wait_until("document.readyState === 'complete'")
                time.sleep(settle_s)
                yield page
                page.collect()
            finally:
                cdp.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            drain.join(timeout=5)
            if proc.stderr is not None:
                proc.stderr.close()
