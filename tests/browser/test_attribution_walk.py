"""Issue 14's walk in a real browser, on the bundled classification sample (which ships its model's attribution
maps): Classification page → click a confusion cell → that cell's gallery, whose thumbnails are the overlaid
pictures (the bytes the server sends equal the expected heat-map blend) → View → the viewer shows the image with
the attribution overlay (its pixels are the overlaid image's, not the plain one's) → opacity 0 → plain thumbnails.

Same server and Chromium setup as ``test_e2e_browser.py``; screenshots go to ``artifacts/browser/``.
"""
from __future__ import annotations

import base64
import time
import urllib.request

import cv2
import numpy as np
import pytest

from explorer.project.folder import Project

from ..app.test_attribution_pages import _thumbnails
from .server import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, serving
from .server import require_chromium as _require_chromium
from .test_e2e_browser import RERUN_TIMEOUT, _slider_value, _wait_idle

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def classification_project(explorer_home):
    from explorer.samples import build_sample, list_samples

    (spec,) = [s for s in list_samples() if s["name"] == "classification"]
    return build_sample(spec, progress=False)


@pytest.fixture()
def cls_url(classification_project):
    """``explorer run PROJECT --no-samples`` on a free port; its process group is stopped at teardown."""
    with serving([classification_project], ARTIFACTS / "server_attribution.log") as url:
        yield url


def _error_cell(project: Project) -> tuple[str, str, int]:
    """(true name, predicted name, count) of the sample's largest confusion (off-diagonal) cell."""
    rows = project.labels[["image_id", "category_id"]].merge(project.predictions[["image_id", "category_id"]],
                                                           on="image_id", suffixes=("_true", "_pred"))
    wrong = rows[rows["category_id_true"] != rows["category_id_pred"]]
    (t, p), n = wrong.groupby(["category_id_true", "category_id_pred"]).size().sort_values(
        ascending=False, kind="stable").index[0], int(wrong.groupby(["category_id_true", "category_id_pred"]).size().max())
    names = project.category_names
    return names[int(t)], names[int(p)], n


_AFTER = """([caption, selector, n]) => {
    const anchor = [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
        .find(e => e.innerText.includes(caption));
    if (!anchor) return [];
    return [...document.querySelectorAll(selector)]
        .filter(e => anchor.compareDocumentPosition(e) & Node.DOCUMENT_POSITION_FOLLOWING).slice(0, n)
        .map(e => e.getAttribute('src') || '');
}"""


def _served_ids(page, base: str, caption: str, n: int) -> list[str]:
    """Media ids of the ``n`` thumbnails following ``caption`` (the cell gallery's own), fetched from the server:
    the id of the bytes actually served (Streamlit names a media file by the hash of its bytes; recomputed here
    from the download)."""
    from streamlit.runtime.memory_media_file_storage import _calculate_file_id

    srcs = page.evaluate(_AFTER, [caption, '[data-testid="stImage"] img', n])
    assert len(srcs) == n, f"{len(srcs)} thumbnails after the cell caption, expected {n}"
    out = []
    for src in srcs:
        with urllib.request.urlopen(src if src.startswith("http") else base + src, timeout=30) as r:
            out.append(_calculate_file_id(r.read(), "image/jpeg"))
    return out


def _viewer_pixels(dialog) -> np.ndarray:
    """The RGB pixels of the image in the viewer's figure (a JPEG data URI in plotly's SVG)."""
    image = dialog.locator('[data-testid="stPlotlyChart"] svg image').first
    image.wait_for(state="attached", timeout=RERUN_TIMEOUT)
    href = image.get_attribute("href") or image.get_attribute("xlink:href")
    assert href and href.startswith("data:image/jpeg;base64,"), href
    bgr = cv2.imdecode(np.frombuffer(base64.b64decode(href.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def test_confusion_cell_to_gallery_to_viewer_with_the_attribution_overlay(cls_url, classification_project):
    _require_chromium()
    from playwright.sync_api import sync_playwright

    from explorer.datametrics.worker import read_image_file
    from explorer.drawing.attribution import overlay
    from explorer.io.attributions import load_map
    from metrics.image import decode_full

    project = Project.load(classification_project)
    true_name, pred_name, count = _error_cell(project)
    names = list(project.category_names.values())  # the matrix's axes, category id order
    overlaid, plain = _thumbnails(project, 0.5), _thumbnails(project, 0.0)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.goto(f"{cls_url}/classification", wait_until="domcontentloaded")
            page.get_by_text("Click a cell", exact=False).first.wait_for(timeout=RERUN_TIMEOUT)
            _wait_idle(page)
            # the confusion matrix carries an invisible marker per cell (x = predicted, y = true, row-major by y)
            chart = page.locator('[data-testid="stPlotlyChart"]').filter(
                has=page.locator("g.heatmaplayer")).first
            k = names.index(true_name) * len(names) + names.index(pred_name)
            cell = chart.locator("g.scatterlayer path.point").nth(k)
            cell.wait_for(state="attached", timeout=RERUN_TIMEOUT)
            cell.click(force=True, timeout=RERUN_TIMEOUT)
            caption = f"{count} image(s) of true class {true_name} predicted as {pred_name}"
            page.get_by_text(caption, exact=False).first.wait_for(timeout=RERUN_TIMEOUT)
            _wait_idle(page)
            page.screenshot(path=str(ARTIFACTS / "attribution_1_cell_gallery.png"), full_page=True)

            # the cell gallery: the first page of thumbnails after its caption
            served = _served_ids(page, cls_url, caption, min(count, 8))
            assert all(s in overlaid for s in served), "a cell-gallery thumbnail is not the overlaid picture"
            first_image = overlaid[served[0]]

            # the viewer on the first tile shows the same image with its heat-map
            views = page.get_by_role("button", name="View")
            first_after = next(i for i in range(views.count()) if views.nth(i).evaluate(
                "(b, caption) => { const a = [...document.querySelectorAll('[data-testid=\"stCaptionContainer\"]')]"
                ".find(e => e.innerText.includes(caption));"
                " return !!a && !!(a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING); }", caption))
            views.nth(first_after).click()
            dialog = page.get_by_role("dialog")
            dialog.get_by_text("1 of ", exact=False).first.wait_for(timeout=RERUN_TIMEOUT)
            _wait_idle(page)
            shown = _viewer_pixels(dialog).astype(float)
            name = project.images.set_index("image_id").loc[first_image, "file_name"]
            bgr = decode_full(read_image_file(str(project.image_path(name))))
            with_heat = cv2.cvtColor(overlay(bgr, load_map(project, first_image), 0.5), cv2.COLOR_BGR2RGB)
            without = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            err_heat = np.abs(shown - with_heat).mean()
            err_plain = np.abs(shown - without).mean()
            page.screenshot(path=str(ARTIFACTS / "attribution_2_viewer.png"), full_page=False)
            assert err_heat < 6 < err_plain, (err_heat, err_plain)  # JPEG q92 vs a different picture
            page.keyboard.press("Escape")
            dialog.wait_for(state="hidden", timeout=RERUN_TIMEOUT)

            # opacity 0 in the sidebar: the same gallery shows the plain images
            slider = page.locator('[data-testid="stSidebar"]').get_by_role("slider",
                                                                           name="Attribution overlay opacity")
            slider.focus()
            for _ in range(10):  # 0.50 -> 0.00 in steps of 0.05
                page.keyboard.press("ArrowLeft")
            deadline = time.monotonic() + RERUN_TIMEOUT / 1000
            while float(_slider_value(slider)) != 0.0 and time.monotonic() < deadline:
                page.wait_for_timeout(200)
            assert float(_slider_value(slider)) == 0.0
            page.wait_for_timeout(500)
            _wait_idle(page)
            again = _served_ids(page, cls_url, caption, min(count, 8))
            page.screenshot(path=str(ARTIFACTS / "attribution_3_opacity_0.png"), full_page=True)
            assert all(s in plain for s in again), "opacity 0 must show the plain thumbnails"
        finally:
            browser.close()
