"""Attribution heat-map overlays (pure NumPy/OpenCV): a map coloured and alpha-blended onto its image.

``overlay(image, attribution, opacity)``: the non-negative part of the map ``A⁺ = max(A, 0)`` scaled to
``[0, 1]`` by its maximum, resized to the image (bilinear: the smooth look of a Grad-CAM display; the metrics
read the map's cells as they are, ``metrics.attribution``), coloured with a colour map (JET: blue = none,
red = most) and blended over the whole image: ``out = (1 − α)·image + α·heat``. A map without positive mass
leaves the image unchanged (nothing to show). Galleries and the viewer call ``overlay_for`` with the image they
are about to draw boxes on, so crops and thumbnails carry the overlay with them.
"""
from __future__ import annotations

import cv2
import numpy as np

#: the opacity a gallery starts with when the project has maps (the sidebar's slider changes it)
DEFAULT_OPACITY = 0.5
#: the session-state key of the opacity slider (``explorer/app.py`` draws it when the project has maps)
OPACITY_KEY = "attribution_opacity"


def heat(attribution: np.ndarray, width: int, height: int, *, colormap: int = cv2.COLORMAP_JET
         ) -> np.ndarray | None:
    """``(height, width, 3)`` uint8 BGR heat-map of ``A⁺ / max(A⁺)``, or None when ``max(A⁺) ≤ 0``."""
    pos = np.maximum(np.asarray(attribution, dtype=np.float32), 0.0)
    top = float(pos.max()) if pos.size else 0.0
    if not top > 0:
        return None
    scaled = cv2.resize(pos / top, (int(width), int(height)), interpolation=cv2.INTER_LINEAR)
    levels = np.clip(np.rint(scaled * 255.0), 0, 255).astype(np.uint8)
    return cv2.applyColorMap(levels, colormap)


def overlay(image: np.ndarray, attribution: np.ndarray, opacity: float) -> np.ndarray:
    """``image`` (H, W, 3) uint8 BGR (or (H, W) grey) with the map's heat blended at ``opacity`` ∈ [0, 1].

    ``round((1 − α)·image + α·heat)`` per channel; ``α = 0`` or a map without positive mass returns the image.
    A grey image is returned as BGR.
    """
    img = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    alpha = float(np.clip(opacity, 0.0, 1.0))
    if alpha == 0.0:
        return img
    colours = heat(attribution, img.shape[1], img.shape[0])
    if colours is None:
        return img
    return cv2.addWeighted(img[..., :3], 1.0 - alpha, colours, alpha, 0.0)


def overlay_setting(project, opacity) -> tuple:
    """What changes the overlay of a project's images: ``(opacity, maps' fingerprint)``, or ``()`` for none (the
    project has no maps or ``opacity`` is 0/None). Galleries key their thumbnail caches by it."""
    info = project.manifest.get("attributions") or {}
    if not info or not opacity:
        return ()
    return (float(opacity), str(info.get("fingerprint", "")))


def overlay_for(project, image_id: int, image: np.ndarray, setting: tuple) -> np.ndarray:
    """``image`` of ``image_id`` with its stored map overlaid per ``setting`` (``overlay_setting``); the image
    unchanged when there is no setting or no readable map for it."""
    if not setting:
        return image
    from explorer.io.attributions import load_map

    amap = load_map(project, int(image_id))
    return image if amap is None else overlay(image, amap, setting[0])


def rgb_overlay(project, setting: tuple):
    """The viewer's ``overlay`` (``explorer.ui.viewer``): ``f(image_rgb, image_id) -> image_rgb`` drawing the
    image's map per ``setting`` (``overlay_setting``), or None when there is nothing to draw."""
    if not setting:
        return None

    def draw(image_rgb: np.ndarray, image_id: int) -> np.ndarray:
        bgr = cv2.cvtColor(np.asarray(image_rgb, np.uint8), cv2.COLOR_RGB2BGR)
        out = overlay_for(project, image_id, bgr, setting)
        return image_rgb if out is bgr else cv2.cvtColor(out, cv2.COLOR_BGR2RGB)

    return draw
