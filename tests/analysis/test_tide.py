"""TIDE error cost: our ΔAP against the paper's own toolbox (tidecv) on the same files, and hand-checked oracle cases."""
from __future__ import annotations

import json

import numpy as np
import pytest

from explorer.analysis.tide import DELTA_KEYS, error_cost_from_matcher
from explorer.evaluation import Matcher, evaluate_coco

# tidecv's short names for our keys
TIDE_NAMES = {"classification": "Cls", "localisation": "Loc", "both": "Both", "duplicate": "Dupe",
              "background": "Bkg", "missed": "Miss", "false_positives": "FalsePos", "false_negatives": "FalseNeg"}


@pytest.fixture
def tidecv():
    """tidecv 1.0.1 (its code uses none of the NumPy aliases NumPy 2 removed, so it runs unpatched; its file
    loaders need a ``segmentation`` per label, so ``run_tidecv`` fills its ``Data`` from the same JSON)."""
    import tidecv

    return tidecv


def run_tidecv(tidecv, gt: dict, dt: list, t: float) -> tuple[float, dict]:
    """tidecv's AP and ΔAP (fractions) on COCO dicts (boxes; crowd labels as its ignore regions)."""
    g, p = tidecv.Data("gt"), tidecv.Data("pred")
    for im in gt["images"]:
        g.add_image(im["id"], im.get("file_name", str(im["id"])))
    for c in gt["categories"]:
        g.add_class(c["id"], c["name"])
    for a in gt["annotations"]:
        if a.get("iscrowd"):
            g.add_ignore_region(a["image_id"], a["category_id"], a["bbox"])
        else:
            g.add_ground_truth(a["image_id"], a["category_id"], a["bbox"])
    for d in dt:
        p.add_detection(d["image_id"], d["category_id"], d["score"], d["bbox"])
    tide = tidecv.TIDE(pos_threshold=t, background_threshold=0.1)
    run = tide.evaluate(g, p, mode=tidecv.TIDE.BOX)
    errors = tide.get_all_errors()
    values = {**errors["main"]["pred"], **errors["special"]["pred"]}
    return run.ap / 100, {k: values[v] / 100 for k, v in TIDE_NAMES.items()}


def ours(gt: dict, dt: list, t: float, **options):
    return error_cost_from_matcher(Matcher.from_coco(gt, dt), t, **options)


def labelled_only(gt: dict, dt: list) -> list:
    """The predictions whose class has labels (where tidecv's AP is COCO's)."""
    have = {a["category_id"] for a in gt["annotations"]}
    return [d for d in dt if d["category_id"] in have]


# cocoapi_val2014_100 is rafaelpadilla_sampled plus 9 crowd regions: at 0.75 tidecv classifies the predictions its
# crowd regions ignore as localisation errors and its fix counts them as true positives (COCO, and we, ignore them):
# its localisation ΔAP is 0.0033 higher there (docs/evaluation.md)
@pytest.mark.parametrize("case,dt_file,t", [("rafaelpadilla_sampled", "dt.json", 0.5), ("rafaelpadilla_sampled", "dt.json", 0.75),
                                            ("cocoapi_val2014_100", "dt_bbox.json", 0.5)])
def test_delta_ap_equals_tidecv_on_reference_files(testdata, tidecv, case, dt_file, t):
    gt = json.loads((testdata / "coco_reference" / case / "gt.json").read_text())
    dt = labelled_only(gt, json.loads((testdata / "coco_reference" / case / dt_file).read_text()))
    ap, expected = run_tidecv(tidecv, gt, dt, t)
    cost = ours(gt, dt, t)
    assert set(cost.delta_ap) == set(DELTA_KEYS)
    for key in DELTA_KEYS:
        assert cost.delta_ap[key] == pytest.approx(expected[key], abs=1e-3), key
    assert cost.ap == pytest.approx(ap, abs=1e-3)
    # our ap is COCO's AP at t (the same number evaluate_coco gives)
    coco = evaluate_coco(gt, dt, iou_thresholds=[t])
    assert cost.ap == pytest.approx(coco.summary["coco/bbox_mAP"], abs=1e-12)


def test_error_counts_on_reference_file(testdata, tidecv):
    case = testdata / "coco_reference" / "rafaelpadilla_sampled"
    gt = json.loads((case / "gt.json").read_text())
    dt = labelled_only(gt, json.loads((case / "dt.json").read_text()))
    cost = ours(gt, dt, 0.5)
    # tidecv's run.errors on the same files: 74 Cls, 1 Loc, 1 Dupe, 106 Miss
    assert {k: cost.counts[k] for k in ("classification", "localisation", "both", "duplicate", "background", "missed")} \
        == {"classification": 74, "localisation": 1, "both": 0, "duplicate": 1, "background": 0, "missed": 106}
    assert len(cost.errors) == 74 + 1 + 1 + 106
    assert (cost.errors["kind"] == "missed").sum() == 106


def random_set(seed: int, n_images: int = 30, n_classes: int = 4):
    """Labels of every class; predictions: jittered copies (some wrong class, loose, duplicated), background
    boxes, misses; continuous scores (no ties, where tidecv's tie order would differ)."""
    rng = np.random.default_rng(seed)
    images, anns, dts = [], [], []
    for i in range(1, n_images + 1):
        images.append({"id": i, "file_name": f"{i}.jpg", "width": 640, "height": 480})
        for _ in range(rng.integers(1, 6)):
            x, y = rng.uniform(0, 500), rng.uniform(0, 350)
            w, h = rng.uniform(10, 120), rng.uniform(10, 120)
            c = int(rng.integers(1, n_classes + 1))
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": c, "bbox": [x, y, w, h],
                         "area": w * h, "iscrowd": 0})
            for _ in range(rng.choice([0, 1, 1, 1, 2])):
                cls = c if rng.random() > 0.2 else int(rng.integers(1, n_classes + 1))
                s = rng.uniform(0, 0.4) if rng.random() < 0.3 else rng.uniform(0, 0.08)
                dts.append({"image_id": i, "category_id": cls, "score": float(rng.random()),
                            "bbox": [x + s * w * rng.normal(), y + s * h * rng.normal(), w * (1 + s * rng.normal()),
                                     abs(h * (1 + s * rng.normal())) + 1]})
        for _ in range(rng.integers(0, 3)):
            dts.append({"image_id": i, "category_id": int(rng.integers(1, n_classes + 1)), "score": float(rng.random()),
                        "bbox": [rng.uniform(0, 500), rng.uniform(0, 350), rng.uniform(10, 100), rng.uniform(10, 100)]})
    gt = {"images": images, "annotations": anns,
          "categories": [{"id": c, "name": f"c{c}"} for c in range(1, n_classes + 1)]}
    return gt, labelled_only(gt, dts)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("t", [0.3, 0.5, 0.75])
def test_delta_ap_equals_tidecv_on_random_sets(tidecv, seed, t):
    gt, dt = random_set(seed)
    ap, expected = run_tidecv(tidecv, gt, dt, t)
    # on tidecv's recall points (k / 100) and without score ties: the same numbers
    cost = ours(gt, dt, t, recall_grid="tidecv")
    for key in DELTA_KEYS:
        assert cost.delta_ap[key] == pytest.approx(expected[key], abs=1e-9), key
    assert cost.ap == pytest.approx(ap, abs=1e-9)
    # on pycocotools' points (ours by default) a class whose recall lands on k/100 (20 labels: recall 0.15) reads
    # the next precision at a few of the 101 points: within 0.0017 here (docs/evaluation.md)
    coco = ours(gt, dt, t)
    for key in DELTA_KEYS:
        assert coco.delta_ap[key] == pytest.approx(expected[key], abs=2e-3), key


# ---- hand-checked oracle cases: one image, a few boxes -------------------------------------------------------------
def coco(labels, preds, n_classes=2):
    """``labels``: (class, box); ``preds``: (class, score, box), all on image 1."""
    gt = {"images": [{"id": 1, "file_name": "a.jpg", "width": 200, "height": 200}],
          "categories": [{"id": c, "name": f"c{c}"} for c in range(1, n_classes + 1)],
          "annotations": [{"id": i + 1, "image_id": 1, "category_id": c, "bbox": b, "area": b[2] * b[3], "iscrowd": 0}
                          for i, (c, b) in enumerate(labels)]}
    dt = [{"image_id": 1, "category_id": c, "score": s, "bbox": b} for c, s, b in preds]
    return gt, dt


HALF = 51 / 101  # 101-point AP when precision is 1 up to recall 0.5 and nothing after


def test_oracle_localisation_and_missed(tidecv):
    # L1 found (IoU 1), L2 only by a loose box (IoU 0.3): a localisation error, and L2 is not "missed"
    gt, dt = coco([(1, [0, 0, 10, 10]), (1, [100, 100, 10, 10])],
                  [(1, 0.9, [0, 0, 10, 10]), (1, 0.8, [100, 100, 10, 3])], n_classes=1)
    cost = ours(gt, dt, 0.5)
    assert cost.ap == pytest.approx(HALF)
    assert cost.counts["localisation"] == 1 and cost.counts["missed"] == 0
    assert cost.delta_ap["localisation"] == pytest.approx(1 - HALF)     # the loose box becomes a TP: AP 1
    assert cost.delta_ap["missed"] == 0
    assert cost.delta_ap["false_positives"] == pytest.approx(0)        # removing it: still recall 0.5
    assert cost.delta_ap["false_negatives"] == pytest.approx(1 - HALF)  # label count = 1 TP: AP 1
    row = cost.errors.iloc[0]
    assert (row["kind"], row["label_id"], row["iou"], bool(row["fixable"])) == ("localisation", 2, pytest.approx(0.3), True)
    _, expected = run_tidecv(tidecv, gt, dt, 0.5)
    assert {k: pytest.approx(v, abs=1e-12) for k, v in cost.delta_ap.items()} == expected


def test_oracle_classification_moves_the_prediction_to_the_label_class(tidecv):
    # class-2 prediction exactly on a class-1 label (score .9) and a class-2 TP (.8)
    gt, dt = coco([(1, [0, 0, 10, 10]), (2, [50, 50, 10, 10])],
                  [(2, 0.9, [0, 0, 10, 10]), (2, 0.8, [50, 50, 10, 10])])
    cost = ours(gt, dt, 0.5)
    # class 1: no detection, AP 0; class 2: FP then TP, precision 0.5 everywhere: AP 0.5
    assert cost.ap == pytest.approx(0.25)
    assert cost.per_class["ap"].tolist() == pytest.approx([0.0, 0.5])
    assert cost.counts["classification"] == 1 and cost.counts["missed"] == 0
    # fixed: class 1 gets a TP (AP 1), class 2 loses its FP (AP 1)
    assert cost.delta_ap["classification"] == pytest.approx(0.75)
    assert cost.per_class["delta_classification"].tolist() == pytest.approx([1.0, 0.5])
    _, expected = run_tidecv(tidecv, gt, dt, 0.5)
    assert {k: pytest.approx(v, abs=1e-12) for k, v in cost.delta_ap.items()} == expected


def test_oracle_background_duplicate_missed(tidecv):
    # background box first (.95), TP (.9), duplicate of the same label (.7), second label missed
    gt, dt = coco([(1, [0, 0, 10, 10]), (1, [100, 100, 10, 10])],
                  [(1, 0.95, [150, 150, 10, 10]), (1, 0.9, [0, 0, 10, 10]), (1, 0.7, [0, 0, 10, 8])], n_classes=1)
    cost = ours(gt, dt, 0.5)
    assert {k: cost.counts[k] for k in ("background", "duplicate", "missed", "both")} == \
        {"background": 1, "duplicate": 1, "missed": 1, "both": 0}
    assert cost.ap == pytest.approx(HALF / 2)                       # precision 0.5 up to recall 0.5
    assert cost.delta_ap["background"] == pytest.approx(HALF / 2)   # without it: precision 1 up to recall 0.5
    assert cost.delta_ap["duplicate"] == pytest.approx(0)           # after the TP: no change
    assert cost.delta_ap["missed"] == pytest.approx(0.5 - HALF / 2)  # one label: FP, TP -> precision 0.5 to recall 1
    assert cost.delta_ap["false_positives"] == pytest.approx(HALF / 2)
    _, expected = run_tidecv(tidecv, gt, dt, 0.5)
    assert {k: pytest.approx(v, abs=1e-12) for k, v in cost.delta_ap.items()} == expected


def test_oracle_two_errors_on_one_label_fix_it_once(tidecv):
    # two loose boxes on one label: the higher score (.8) becomes the TP, the other (.6) is removed; "both" box
    gt, dt = coco([(1, [0, 0, 10, 10]), (2, [100, 100, 10, 10])],
                  [(1, 0.8, [0, 0, 10, 4]), (1, 0.6, [0, 0, 10, 3]), (2, 0.9, [100, 100, 10, 10]),
                   (2, 0.5, [0, 0, 10, 3])])
    cost = ours(gt, dt, 0.5)
    kinds = cost.errors.set_index("score")["kind"].to_dict()
    assert kinds == {0.8: "localisation", 0.6: "localisation", 0.5: "both"}
    assert cost.errors.set_index("score")["fixable"].to_dict() == {0.8: True, 0.6: False, 0.5: False}
    # class 1: AP 0 -> 1 (one TP .8, no FP); class 2: TP .9 then the "both" FP: AP 1 either way
    assert cost.delta_ap["localisation"] == pytest.approx(0.5)
    assert cost.delta_ap["both"] == pytest.approx(0)
    _, expected = run_tidecv(tidecv, gt, dt, 0.5)
    assert {k: pytest.approx(v, abs=1e-12) for k, v in cost.delta_ap.items()} == expected


def test_per_bucket_fix_adds_up_to_the_whole(tidecv):
    gt, dt = random_set(3)
    cost = ours(gt, dt, 0.5)
    from explorer.analysis.tide import error_cost_by_bucket
    import pandas as pd

    s = cost.state
    # one bucket holding everything = the whole fix; an empty metric = no bucket
    ones_p = pd.Series(1.0, index=s.pred_ids)
    ones_l = pd.Series(1.0, index=s.label_ids)
    table = error_cost_by_bucket(cost, ones_p, ones_l)
    assert len(table) == 1
    for key in DELTA_KEYS:
        assert table[f"delta_{key}"].iloc[0] == pytest.approx(cost.delta_ap[key], abs=1e-12)
    # two buckets: each fix lies between 0 and the whole
    half_p = pd.Series(np.linspace(0, 1, len(s.pred_ids)), index=s.pred_ids)
    half_l = pd.Series(np.linspace(0, 1, len(s.label_ids)), index=s.label_ids)
    table = error_cost_by_bucket(cost, half_p, half_l, n_buckets=2)
    assert len(table) == 2
    assert table["n_missed"].sum() == cost.counts["missed"]
    for key in ("classification", "localisation", "missed", "false_negatives"):
        assert (table[f"delta_{key}"] <= cost.delta_ap[key] + 1e-12).all()
        assert (table[f"delta_{key}"] >= 0).all()
