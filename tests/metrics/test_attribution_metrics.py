"""Attribution-map metrics on synthetic maps with hand-derived answers (metrics.attribution)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from metrics.attribution import ATTRIBUTION_METRICS, box_energy, entropy, map_metrics, spread


def test_energy_whole_image_and_halves_of_a_uniform_map():
    a = np.ones((4, 4))
    boxes = np.array([[0, 0, 100, 80], [0, 0, 50, 80], [0, 0, 25, 20], [50, 40, 50, 40]], float)
    np.testing.assert_array_equal(box_energy(a, boxes, 100, 80), [1.0, 0.5, 1 / 16, 0.25])


def test_energy_counts_a_cut_cell_by_its_area_inside():
    # 2x2 map on a 20x20 image: cells are 10x10 px; all the mass in the top-left cell (value 8)
    a = np.array([[8.0, 0.0], [0.0, 0.0]])
    boxes = np.array([[5, 5, 10, 10],    # covers a quarter of the hot cell: 0.25
                      [0, 0, 5, 20],     # left half of the hot cell: 0.5
                      [10, 10, 10, 10],  # the cold bottom-right cell: 0
                      [2.5, 0, 5, 10]], float)  # half of the hot cell's width, full height: 0.5
    np.testing.assert_allclose(box_energy(a, boxes, 20, 20), [0.25, 0.5, 0.0, 0.5], rtol=0, atol=1e-15)


def test_energy_uses_the_non_negative_part_only_and_clips_to_the_image():
    a = np.array([[3.0, -5.0], [1.0, -1.0]])  # A+ = [[3, 0], [1, 0]], total 4
    boxes = np.array([[0, 0, 1, 1], [0, 1, 1, 1], [-10, -10, 100, 100], [1, 0, 1, 2]], float)
    np.testing.assert_array_equal(box_energy(a, boxes, 2, 2), [0.75, 0.25, 1.0, 0.0])


def test_energy_map_and_image_resolution_differ_consistently():
    # a 3x6 map (rows x cols) on a 600x300 image: cells are 100x100 px; value = column index
    a = np.tile(np.arange(6, dtype=float), (3, 1))  # total 3 * 15 = 45
    box = np.array([[450, 0, 150, 300]], float)  # columns 4.5..6: half of col 4 (4*3/2=6) + col 5 (15) = 21
    np.testing.assert_allclose(box_energy(a, box, 600, 300), [21 / 45], rtol=0, atol=1e-15)


def test_energy_is_nan_when_undefined():
    boxes = np.array([[0, 0, 1, 1]], float)
    assert np.isnan(box_energy(np.zeros((3, 3)), boxes, 3, 3)).all()  # no positive mass
    assert np.isnan(box_energy(-np.ones((3, 3)), boxes, 3, 3)).all()
    assert np.isnan(box_energy(np.ones((3, 3)), boxes, math.nan, 3)).all()  # unknown size
    out = box_energy(np.ones((2, 2)), np.array([[0, 0, 1, 1], [np.nan, 0, 1, 1]]), 2, 2)
    assert out[0] == 0.25 and np.isnan(out[1])
    assert box_energy(np.ones((2, 2)), np.zeros((0, 4)), 2, 2).shape == (0,)


@pytest.mark.parametrize("a, expected", [
    (np.ones((4, 4)), 1.0),                                  # uniform: the maximum
    (np.eye(1, 16).reshape(4, 4), 0.0),                      # one hot cell
    (np.array([[1.0, 1.0], [0.0, 0.0]]), 0.5),               # 1 bit of log2(4) = 2 bits
    (np.array([[2.0, 1.0], [1.0, 0.0]]), 1.5 / 2),           # p = 1/2, 1/4, 1/4: 1.5 bits
    (np.array([[1.0, -3.0], [1.0, -3.0]]), 0.5),             # negatives do not count
])
def test_entropy_known_answers(a, expected):
    assert entropy(a) == expected


def test_entropy_nan_cases():
    assert math.isnan(entropy(np.zeros((3, 3))))
    assert math.isnan(entropy(np.array([[5.0]])))  # one cell: log2(1) = 0


@pytest.mark.parametrize("a, expected", [
    (np.ones((4, 4)), 0.5),                                  # 8 of 16 cells hold exactly half
    (np.ones((3, 3)), 5 / 9),                                # 4 cells hold 4/9 < 1/2, 5 hold 5/9
    (np.eye(1, 16).reshape(4, 4) * 7, 1 / 16),               # one cell holds everything
    (np.array([[6.0, 2.0], [1.0, 1.0]]), 0.25),              # 6 of 10 in the top cell
    (np.array([[4.0, 3.0], [2.0, 1.0]]), 0.5),               # 4 < 5, 4 + 3 = 7 >= 5
])
def test_spread_known_answers(a, expected):
    assert spread(a) == expected


def test_spread_nan_without_mass_and_map_metrics_pair():
    assert math.isnan(spread(np.zeros((2, 2))))
    assert map_metrics(np.ones((2, 2))) == (1.0, 0.5)


def test_descriptions_are_catalogue_ready():
    by_name = {m.name: m for m in ATTRIBUTION_METRICS}
    assert by_name["attribution_in_box"].levels == ("O", "P")
    assert by_name["attribution_entropy"].levels == ("F",) and by_name["attribution_spread"].levels == ("F",)
    assert all(m.range == (0.0, 1.0) and m.description for m in ATTRIBUTION_METRICS)
    assert by_name["attribution_in_box"].direction == "higher_is_better"
    import metrics

    assert not any(m.name in metrics.REGISTRY for m in ATTRIBUTION_METRICS)  # not image metrics
