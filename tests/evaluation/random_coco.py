"""Small random COCO datasets full of the cases re-implementations of COCO evaluation get wrong.

``random_coco(seed, iou_type=...)`` returns ``(gt_dict, results_list)`` with: crowd regions (with predictions
inside them, so they are matched many times), tied (rounded) scores, label ``area`` differing from the box
area, label areas exactly 32² and 96², a category with predictions but no labels, images with no labels and
images with no predictions, more than 100 predictions in one image-category, zero-size boxes, predictions at
IoU exactly 0.5 / 0.75 with a label, non-contiguous category ids. For ``segm``: polygon labels, compressed and
uncompressed RLE labels (crowds), RLE results with or without ``bbox`` (both ``loadRes`` branches).
``run_pycocotools`` evaluates deep copies with pycocotools (the oracle; it mutates its inputs).
"""
from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
from pycocotools import mask as mask_utils

CATEGORIES = [3, 7, 8, 15, 42]  # 42 gets predictions but never a label


def _rle_of_box(x, y, w, h, H, W, rng, *, jitter: bool) -> dict:
    m = np.zeros((H, W), np.uint8, order="F")
    x0, y0, x1, y1 = int(x), int(y), int(np.ceil(x + w)), int(np.ceil(y + h))
    m[y0:y1, x0:x1] = 1
    if jitter and m.sum() > 4:  # carve a random notch so masks are not just boxes
        m[y0: y0 + max(1, (y1 - y0) // 3), x0: x0 + max(1, (x1 - x0) // 3)] = 0
    rle = mask_utils.encode(m)
    rle["counts"] = rle["counts"].decode()
    return rle


def random_coco(seed: int, *, iou_type: str = "bbox") -> tuple[dict, list]:
    rng = np.random.default_rng(seed)
    n_img = int(rng.integers(4, 8))
    images = [{"id": 10 + 3 * i, "height": int(rng.integers(80, 160)), "width": int(rng.integers(80, 160))}
              for i in range(n_img)]
    anns, results = [], []
    label_cats = CATEGORIES[:-1]

    def add_label(img, cat, x, y, w, h, *, crowd=False, area=None):
        H, W = img["height"], img["width"]
        a = {"id": len(anns) + 1, "image_id": img["id"], "category_id": cat, "bbox": [x, y, w, h],
             "iscrowd": int(crowd), "area": float(w * h) if area is None else float(area)}
        if iou_type == "segm":
            kind = rng.integers(3)
            if crowd:  # crowds are uncompressed RLE in COCO
                rle = _rle_of_box(x, y, w, h, H, W, rng, jitter=False)
                mask = mask_utils.decode(rle)
                a["segmentation"] = {"size": [H, W], "counts": _uncompressed(mask)}
            elif kind == 0:
                a["segmentation"] = [[x, y, x + w, y, x + w, y + h, x, y + h]]
            elif kind == 1:  # triangle + square: two polygon parts
                a["segmentation"] = [[x, y, x + w, y, x, y + h], [x + w / 2, y + h / 2, x + w, y + h / 2, x + w, y + h]]
            else:
                a["segmentation"] = _rle_of_box(x, y, w, h, H, W, rng, jitter=True)
        anns.append(a)
        return a

    def add_pred(img, cat, x, y, w, h, score):
        H, W = img["height"], img["width"]
        r = {"image_id": img["id"], "category_id": cat, "score": float(score)}
        if iou_type == "bbox" or with_bbox:
            r["bbox"] = [float(x), float(y), float(w), float(h)]
        if iou_type == "segm":
            r["segmentation"] = _rle_of_box(x, y, w, h, H, W, rng, jitter=bool(rng.integers(2)))
        results.append(r)

    with_bbox = bool(rng.integers(2))
    for ii, img in enumerate(images):
        H, W = img["height"], img["width"]
        if ii == 1:  # an image with predictions only
            for _ in range(3):
                add_pred(img, int(rng.choice(CATEGORIES)), *_box(rng, H, W), round(rng.random(), 1))
            continue
        n_lab = int(rng.integers(1, 7))
        for _ in range(n_lab):
            cat = int(rng.choice(label_cats))
            x, y, w, h = _box(rng, H, W)
            special = rng.integers(8)
            area = None
            if special == 0:
                area = 32**2
            elif special == 1:
                area = 96**2
            elif special == 2:
                area = w * h * float(rng.uniform(0.3, 1.5))
            elif special == 3:
                w = 0.0  # zero-size box
            lab = add_label(img, cat, x, y, w, h, area=area)
            if ii == 2:
                continue  # an image with labels only
            # predictions around the label: exact IoU hits, near misses, duplicates, wrong class
            add_pred(img, cat, x, y, w, h / 2, round(rng.random(), 1))  # IoU exactly 0.5
            add_pred(img, cat, x, y, w, h * 0.75, round(rng.random(), 1))  # IoU exactly 0.75
            for _ in range(int(rng.integers(0, 3))):
                dx, dy = rng.normal(0, w / 6 + 1), rng.normal(0, h / 6 + 1)
                pc = cat if rng.random() < 0.8 else int(rng.choice(CATEGORIES))
                add_pred(img, pc, max(0.0, x + dx), max(0.0, y + dy), w, h, round(rng.random(), 1))
        if ii == 3:  # a crowd region with several predictions inside it
            cat = label_cats[0]
            add_label(img, cat, 5.0, 5.0, 60.0, 60.0, crowd=True)
            for k in range(4):
                add_pred(img, cat, 8.0 + 5 * k, 10.0, 20.0, 20.0, round(rng.random(), 1))
        if ii == 4:  # more than 100 predictions in one image-category
            cat = label_cats[1]
            add_label(img, cat, 10.0, 10.0, 30.0, 30.0)
            for k in range(115):
                add_pred(img, cat, 10.0 + (k % 7), 10.0 + (k % 5), 30.0, 30.0, round(rng.random(), 2))
    # a category with predictions but no labels
    add_pred(images[0], CATEGORIES[-1], 1.0, 1.0, 10.0, 10.0, 0.9)
    gt = {"images": images, "annotations": anns,
          "categories": [{"id": c, "name": f"class{c}"} for c in CATEGORIES]}
    return gt, results


def _box(rng, H, W):
    w = float(rng.integers(2, max(3, W // 2)))
    h = float(rng.integers(2, max(3, H // 2)))
    x = float(rng.integers(0, max(1, int(W - w))))
    y = float(rng.integers(0, max(1, int(H - h))))
    return x, y, w, h


def _uncompressed(mask: np.ndarray) -> list[int]:
    flat = mask.ravel(order="F")
    change = np.flatnonzero(np.diff(flat)) + 1
    edges = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(edges).tolist()
    return ([0] + runs) if flat[0] == 1 else runs


def run_pycocotools(gt: dict, results: list, *, iou_type: str, cat_ids=None, img_ids=None):
    """pycocotools' COCOeval after evaluate/accumulate/summarize (on deep copies, output silenced)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(results))
        ev = COCOeval(coco_gt, coco_dt, iou_type)
        if cat_ids is not None:
            ev.params.catIds = list(cat_ids)
        if img_ids is not None:
            ev.params.imgIds = list(img_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev
