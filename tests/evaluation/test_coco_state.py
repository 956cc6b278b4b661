"""Match once per run, accumulate per selection: ``evaluate_coco(project, cat_ids=…, image_ids=…)`` on the
project's ``CocoState`` equals a fresh evaluation of the selection and pycocotools with ``catIds``/``imgIds``,
bit for bit — crowds, label id 0, categories without labels, more than 100 predictions per group, empty
selections included."""
from __future__ import annotations

import contextlib
import copy
import io
import json

import numpy as np
import pandas as pd
import pytest

from explorer.evaluation import evaluate_coco
from explorer.evaluation.coco import (_STATES, CocoParams, evaluate_data, load_inputs, project_evaluation,
                                     project_state)
from explorer.io import import_project
from random_coco import random_coco


def _pycocotools(gt, dt, *, cat_ids, img_ids, max_dets=None):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(copy.deepcopy(dt)), "bbox")
        ev.params.catIds = list(cat_ids)
        ev.params.imgIds = list(img_ids)
        if max_dets is not None:
            ev.params.maxDets = list(max_dets)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def _project(tmp_path, seed, *, id_zero):
    gt, dt = random_coco(seed, iou_type="bbox")
    for im in gt["images"]:
        im["file_name"] = f"{im['id']}.jpg"
    if id_zero:  # pycocotools reads a match to label id 0 as "unmatched"
        gt["annotations"][0]["id"] = 0
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dt))
    project, _ = import_project(tmp_path / "p", labels=tmp_path / "gt.json", predictions=tmp_path / "dt.json")
    return gt, dt, project


def _same(a, b):
    np.testing.assert_array_equal(a.precision, b.precision)
    np.testing.assert_array_equal(a.recall, b.recall)
    np.testing.assert_array_equal(a.stats, b.stats)
    np.testing.assert_array_equal(a.n_labels, b.n_labels)
    assert a.category_ids.tolist() == b.category_ids.tolist() and a.image_ids.tolist() == b.image_ids.tolist()


@pytest.mark.parametrize("seed", range(6))
def test_random_selections_equal_fresh_evaluation_and_pycocotools(tmp_path, seed):
    gt, dt, project = _project(tmp_path, 200 + seed, id_zero=seed % 2 == 0)
    rng = np.random.default_rng(seed)
    img_all = [im["id"] for im in gt["images"]]
    cat_all = [c["id"] for c in gt["categories"]]
    data = load_inputs(project, None, iou_type="bbox")
    selections = [(None, None), ([], None), (None, []), ([cat_all[0]], [img_all[0]]), ([cat_all[-1], 99], None)]
    for _ in range(6):
        cats = sorted(rng.choice(cat_all, int(rng.integers(1, len(cat_all) + 1)), replace=False).tolist())
        imgs = sorted(rng.choice(img_all, int(rng.integers(1, len(img_all) + 1)), replace=False).tolist())
        selections.append((cats, imgs))
    assert evaluate_coco(project).summary == project_evaluation(project).summary  # fresh, then from the state
    for cats, imgs in selections:
        got = evaluate_coco(project, cat_ids=cats, image_ids=imgs)  # the state exists: accumulation only
        if cats is None:
            assert got is project_evaluation(project, image_ids=imgs)  # kept per image selection
        fresh = evaluate_data(data, iou_type="bbox", cat_ids=cats, image_ids=imgs)
        _same(got, fresh)
        ev = _pycocotools(gt, dt, cat_ids=cat_all if cats is None else cats, img_ids=img_all if imgs is None else imgs)
        np.testing.assert_array_equal(got.precision, ev.eval["precision"])
        np.testing.assert_array_equal(got.recall, ev.eval["recall"])
        np.testing.assert_array_equal(got.stats, ev.stats)
        pd.testing.assert_frame_equal(got.matches, fresh.matches)  # same records, same order
        pd.testing.assert_frame_equal(got.per_class_area, fresh.per_class_area)


def test_smaller_max_dets_cut_reuses_the_state(tmp_path):
    """A prediction's match depends only on higher-scoring ones: a cut below 100 reads the same state."""
    gt, dt, project = _project(tmp_path, 7, id_zero=False)
    img_all = [im["id"] for im in gt["images"]]
    for md in ([1, 5, 20], [1, 10, 100]):
        got = project_evaluation(project, params=CocoParams.make(max_dets=md), cat_ids=[3, 8], image_ids=img_all[1:])
        ev = _pycocotools(gt, dt, cat_ids=[3, 8], img_ids=img_all[1:], max_dets=md)
        np.testing.assert_array_equal(got.precision, ev.eval["precision"])
        np.testing.assert_array_equal(got.stats, ev.stats)
    assert project_state(project) is project_state(project, params=CocoParams.make(max_dets=(1, 5, 20)))


def test_state_is_matched_once_and_results_cached_per_selection(tmp_path):
    gt, dt, project = _project(tmp_path, 3, id_zero=False)
    fresh = evaluate_coco(project)  # no state yet: the one-shot (CLI) evaluation builds none
    assert not any(k[:2] == (str(project.root), project.fingerprint) for k in _STATES)
    state = project_state(project)
    _same(evaluate_coco(project), fresh)
    tp = state.tp_bits.copy()
    a = project_evaluation(project, image_ids=np.array([10, 13]))
    assert evaluate_coco(project, image_ids=[13, 10, 13]) is a  # same images, any iterable, repeats: cached
    b = evaluate_coco(project, cat_ids=(8, 3, 99), image_ids=[13, 10])  # a class selection: a slice of a
    assert b.category_ids.tolist() == [3, 8, 99] and project_state(project) is state
    k = [a.category_ids.tolist().index(c) for c in (3, 8)]
    np.testing.assert_array_equal(b.precision[:, :, :2], a.precision[:, :, k])
    assert (b.precision[:, :, 2] == -1).all() and (b.n_labels[2] == 0).all()  # 99: no such class
    np.testing.assert_array_equal(state.tp_bits, tp)  # accumulation never writes the state
    # the state's rows are the shared Matcher's: one IoU computation for the whole app
    from explorer.analysis.outcomes import matcher

    assert state.matcher is matcher(project, iou_type="bbox")
    inside = (state.matcher.layout.dt_rank < 100).sum()  # accumulation order: the rows inside a group
    assert state.dt_tp.shape == (4, 10, inside) and state.dt_tp[3].shape == (10, inside) and len(state.rows) == inside
    # the flags as bits (10 thresholds: one uint16 per area range): 29 bytes per prediction with rows, ranks, ids
    assert state.tp_bits.dtype == np.uint16 and state.tp_bits.shape == (4, inside)
    per_prediction = sum(getattr(state, k).nbytes for k in ("rows", "rank_u8", "cat", "img", "tp_bits", "ign_bits"))
    assert per_prediction == 29 * inside
    # unpacked, they are greedy_match's flags of each area range, gathered into accumulation order
    for a in range(4):
        flags = np.zeros((2, 1, 10, len(state.matcher.layout.dt_rows)), bool)
        state._match_area(a, flags[0], flags[1])
        np.testing.assert_array_equal(state.dt_tp[a], flags[0, 0][:, state.rows])
        np.testing.assert_array_equal(state.dt_ignore[a], flags[1, 0][:, state.rows])


def test_params_outside_the_state_use_the_fresh_evaluation(tmp_path):
    gt, dt, project = _project(tmp_path, 4, id_zero=False)
    data = load_inputs(project, None, iou_type="bbox")
    project_state(project)
    for kw in ({"use_cats": False}, {"max_dets": [1, 10, 300]}, {"iou_thresholds": [0.3, 0.6]}):
        expected = evaluate_data(data, iou_type="bbox", cat_ids=[3, 7], params=CocoParams.make(**kw))
        _same(evaluate_coco(project, cat_ids=[3, 7], **kw), expected)
        _same(project_evaluation(project, cat_ids=[3, 7], params=CocoParams.make(**kw)), expected)


@pytest.mark.parametrize("chunk", [1, 7, 40])
def test_accumulation_in_runs_of_categories_is_the_same(tmp_path, monkeypatch, chunk):
    """The state's flags are unpacked a run of whole categories at a time (``coco._CHUNK`` rows; a larger
    category alone): any cut gives the fresh evaluation's numbers."""
    from explorer.evaluation import coco

    gt, dt, project = _project(tmp_path, 300 + chunk, id_zero=False)
    state = project_state(project)
    data = load_inputs(project, None, iou_type="bbox")
    monkeypatch.setattr(coco, "_CHUNK", chunk)
    imgs = sorted(im["id"] for im in gt["images"])[::2]
    for cats, images in ((None, None), (None, imgs), ([c["id"] for c in gt["categories"]][1:], imgs)):
        _same(state.evaluate(iou_type="bbox", cat_ids=cats, image_ids=images, params=CocoParams()),
              evaluate_data(data, iou_type="bbox", cat_ids=cats, image_ids=images))
