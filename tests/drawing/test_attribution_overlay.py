"""The attribution heat-map overlay: exact blend values, resizing, the no-mass and zero-opacity cases."""
from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from explorer.drawing.attribution import heat, overlay, overlay_for, overlay_setting
from explorer.io.attributions import add_attributions
from explorer.project.folder import Project


def test_heat_scales_by_the_maximum_and_resizes():
    a = np.array([[0.0, 2.0], [-1.0, 4.0]])  # A+ / max = [[0, .5], [0, 1]]
    h = heat(a, 2, 2)
    jet = cv2.applyColorMap(np.array([[0, 128], [0, 255]], np.uint8), cv2.COLORMAP_JET)
    np.testing.assert_array_equal(h, jet)
    assert heat(a, 40, 30).shape == (30, 40, 3)
    assert heat(np.zeros((3, 3)), 5, 5) is None and heat(-np.ones((2, 2)), 5, 5) is None


def test_overlay_blends_exactly():
    img = np.full((2, 2, 3), 100, np.uint8)
    a = np.array([[1.0, 1.0], [1.0, 1.0]])  # everything at the top of the colour map
    top = cv2.applyColorMap(np.full((1, 1), 255, np.uint8), cv2.COLORMAP_JET)[0, 0].astype(float)  # BGR
    out = overlay(img, a, 0.25)
    np.testing.assert_array_equal(out[0, 0], np.rint(0.75 * 100 + 0.25 * top).astype(np.uint8))
    assert (out == out[0, 0]).all()
    np.testing.assert_array_equal(overlay(img, a, 1.0)[1, 1], top.astype(np.uint8))
    assert overlay(img, a, 0.0) is img and overlay(img, np.zeros((2, 2)), 0.7) is img
    assert overlay(np.full((4, 4), 50, np.uint8), a, 0.5).shape == (4, 4, 3)  # grey image in, BGR out


def test_overlay_for_a_project_image(tmp_path):
    images = pd.DataFrame({"image_id": [1, 2], "file_name": ["a.png", "b.png"], "width": 4.0, "height": 4.0,
                           "split": "val"})
    cats = pd.DataFrame({"category_id": [1], "name": ["x"], "supercategory": [None]})
    project = Project.create(tmp_path / "p", task="detection", images=images, categories=cats)
    assert overlay_setting(project, 0.5) == ()  # no maps: nothing to key or draw
    maps = tmp_path / "maps"
    maps.mkdir()
    np.save(maps / "a.npy", np.eye(2))
    add_attributions(project, maps)
    project = Project.load(project.root)
    setting = overlay_setting(project, 0.5)
    assert setting == (0.5, project.manifest["attributions"]["fingerprint"]) and overlay_setting(project, 0) == ()
    img = np.zeros((4, 4, 3), np.uint8)
    np.testing.assert_array_equal(overlay_for(project, 1, img, setting), overlay(img, np.eye(2), 0.5))
    assert overlay_for(project, 2, img, setting) is img  # no map for image 2


def test_rgb_overlay_for_the_viewer(tmp_path):
    from explorer.drawing.attribution import rgb_overlay

    images = pd.DataFrame({"image_id": [1, 2], "file_name": ["a.png", "b.png"], "width": 4.0, "height": 4.0,
                           "split": "val"})
    cats = pd.DataFrame({"category_id": [1], "name": ["x"], "supercategory": [None]})
    project = Project.create(tmp_path / "p", task="detection", images=images, categories=cats)
    maps = tmp_path / "maps"
    maps.mkdir()
    np.save(maps / "a.npy", np.eye(2))
    add_attributions(project, maps)
    project = Project.load(project.root)
    assert rgb_overlay(project, ()) is None
    draw = rgb_overlay(project, overlay_setting(project, 0.5))
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 0] = 200  # red in RGB
    expected = cv2.cvtColor(overlay(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), np.eye(2), 0.5), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(draw(rgb, 1), expected)
    assert draw(rgb, 2) is rgb
