"""In a real browser: names holding script and Markdown payloads run nothing, inject nothing and fetch nothing.

The real ``explorer run`` server (127.0.0.1) serves detection and segmentation projects whose class names and file
names are payloads (``payloads.py``); Debian's Chromium opens every page of each. Asserted per page: no JavaScript
dialog opened, no element the payloads would create (an ``iframe``, an ``img`` with ``src=x`` or an outside URL, a
``javascript:`` link, a ``<strong>``/``<em>`` made of a name), no request to anything but the app's own server,
and the payload text itself is on the page (shown as typed). Without Chromium the test skips (fails under CI=true).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from explorer import tasks

from ..browser.server import CHROMIUM, CHROMIUM_ARGS, require_chromium, serving
from .payloads import PAYLOADS, build_payload_projects

pytestmark = pytest.mark.browser

TIMEOUT = 90_000  # ms


@pytest.fixture(scope="module")
def server(tmp_path_factory, explorer_home):
    require_chromium()
    tmp = tmp_path_factory.mktemp("browser_payloads")
    projects = build_payload_projects(tmp)
    with serving([projects["detection"], projects["segmentation"]], tmp / "server.log") as url:
        yield url, projects


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
