"""In a real browser: names holding script and Markdown payloads run nothing, inject nothing and fetch nothing.

The real ``explorer run`` server (127.0.0.1) serves detection and segmentation projects whose class names and file
names are payloads (``payloads.py``); Debian's Chromium opens every page of each. Asserted per page: no JavaScript
dialog opened, no element the payloads would create (an ``iframe``, an ``img`` with ``src=x`` or an outside URL, a
``javascript:`` link, a ``<strong>``/``<em>`` made of a name), no request to anything but the app's own server,
and the payload text itself is on the page (shown as typed). Without Chromium the test skips (fails under CI=true).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from explorer import tasks

from .payloads import PAYLOADS, build_payload_projects

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
TIMEOUT = 90_000  # ms


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, explorer_home):
    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {CHROMIUM} not found")
        pytest.skip(f"{CHROMIUM} not found (python3 scripts/ensure_chromium.py)")
    tmp = tmp_path_factory.mktemp("browser_payloads")
    projects = build_payload_projects(tmp)
    port = _free_port()
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "explorer", "run", str(projects["detection"]),
                             str(projects["segmentation"]), "--no-samples", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited: {(tmp / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("server not healthy after 120 s")
            time.sleep(0.5)
        yield url, projects
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
        except ProcessLookupError:
            pass
        log.close()


INJECTED = ("iframe, img[src='x'], img[src^='http://127.0.0.1:9'], a[href^='javascript'], "
            "strong:text-is('bold'), em:text-is('run'), em:text-is('u')")


def _wait_idle(page) -> None:
    page.wait_for_function(
        "() => { const app = document.querySelector('[data-testid=\"stApp\"]');"
        " return app && app.getAttribute('data-test-script-state') === 'notRunning'; }", timeout=TIMEOUT)


def test_no_payload_runs_injects_or_fetches_on_any_page(server):
    from playwright.sync_api import sync_playwright

    url, projects = server
    host = url.split("//", 1)[1]
    visited = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            dialogs, outside = [], []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("request", lambda r: outside.append(r.url) if host not in r.url and not r.url.startswith(
                ("data:", "blob:", "about:")) else None)
            for index, task in enumerate(["detection", "segmentation"]):
                page.goto(url, wait_until="domcontentloaded")
                page.locator('[data-testid="stSidebar"]').wait_for(timeout=TIMEOUT)
                _wait_idle(page)
                if index:  # the second project: choose it in the sidebar's project selectbox
                    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
                    page.get_by_role("option").nth(1).click()
                    _wait_idle(page)
                for k, p in enumerate(tasks.get(task).pages):
                    path = p.url_path or Path(p.file).stem
                    page.locator('[data-testid="stSidebarNav"] a').filter(has_text=p.title).first.click()
                    if k:  # the first page is the default one, served at the app's root URL
                        page.wait_for_url(f"**/{path}**", timeout=TIMEOUT)  # the URL carries the controls (?project=…)
                    page.wait_for_timeout(300)
                    _wait_idle(page)
                    page.wait_for_timeout(500)  # components (charts, images) settle
                    injected = page.locator(INJECTED).count()
                    assert injected == 0, (task, p.title, page.locator(INJECTED).first.evaluate("e => e.outerHTML"))
                    visited.append((task, p.title, page.inner_text("body")))
            assert not dialogs, dialogs
            assert not outside, outside
        finally:
            browser.close()
    text = "\n".join(body for _, _, body in visited)
    shown = [p for p in PAYLOADS if p in text]
    assert len(shown) >= 3, f"the payload class names are shown as typed somewhere: {shown}"
    assert len(visited) == sum(len(tasks.get(t).pages) for t in ("detection", "segmentation"))
