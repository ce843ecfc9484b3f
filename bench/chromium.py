"""Headless Chromium for the tests (tests/test_js_host.py) and the
benchmark (bench/browser.py): Debian's chromium driven by Playwright's
Python package (Playwright cannot download its own browsers here), pages
served from a local http.server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import functools
import http.server
import shutil
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if chromium_path() is None:
        return "chromium is not installed (apt-get install -y chromium; .ci/run does)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright's Python package is not installed (pip install playwright)"
    return None


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm"}

    def end_headers(self) -> None:
        # cross-origin isolation: performance.now() then has 5 µs resolution, not 100 µs
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()

    def log_message(self, *args) -> None:     # quiet
        pass


@contextlib.contextmanager
def serve(directory: Path):
    """An http.server for `directory` on 127.0.0.1 (a free port); yields the base URL."""
    handler = functools.partial(_Handler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def browser():
    """A fresh headless Chromium (its own user-data dir); yields a Playwright
    BrowserContext."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="asyncpy-chromium-") as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(profile, executable_path=chromium_path(), headless=True,
                                                   args=FLAGS)
        try:
            yield ctx
        finally:
            ctx.close()


def in_browser(fn: Callable[[Any], Any]) -> Any:
    """fn(context) with a fresh headless Chromium, run in a thread of its own:
    Playwright's sync API keeps an event loop running in the thread that
    uses it, and asyncio.run() in that thread would then fail (the Python
    host's tests run in the same process)."""
    def run():
        with browser() as ctx:
            return fn(ctx)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()
