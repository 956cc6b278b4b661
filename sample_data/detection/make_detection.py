"""Regenerate the bundled detection sample deterministically: ``python sample_data/detection/make_detection.py``.

Synthetic scenes of four shape classes on textured backgrounds, with COCO labels (boxes and polygons), a
train/val split and the predictions of a *simulated* detector whose failures are planted to depend on data
metrics, so that the metric-importance and performance-by-metric views have something true to show:

- detection probability rises with the object's relative area (log scale)   → "Object area – relative" matters;
- it falls in dark images (exposure gain < 1)                              → "Brightness (F)" matters;
- it falls in blurred images (Gaussian blur before encoding)               → "Sharpness (F)" matters;
- localisation noise grows for small and blurred objects                   → IoU-threshold sensitivity;
- squares and crosses are sometimes confused; background false detections are more frequent in cluttered and
  dark images; a few duplicate detections.

A second, weaker simulated model (``WEAKER``: lower detection rate, steeper dependence on object size and blur,
noisier boxes, more confusions and background detections, but less hurt by dark images) writes
``predictions-weaker.json``, the sample's second run: it is simulated from the same scenes with its own random
stream after the scenes are made, so the first model's files do not depend on it.

Attribution maps (``attributions/NNNN.png``, 8-bit grey at 1/8 of the image's resolution, one per image with
baseline predictions): *not* a model's gradients — the simulated detector has none. Each is derived from the
baseline's predictions alone (``prediction_maps``): a Gaussian blob per predicted box (centred on it, σ = a
quarter of its width and height) weighted by its score, summed, scaled to 0..255. So the map "looks" where the
model detected something: missed objects get little mass, background false detections pull mass off the
labels. ``--maps-only`` rewrites only ``attributions/`` from the committed JSON files.

``--plant-label-errors OUT`` writes a copy of the committed ``labels.json`` with label errors planted (25 dropped, 25
shifted, 25 relabelled boxes; ``plant_label_errors``, its own seed) and ``planted.json`` (the true class and box of
each) to ``OUT``, to validate the suspected-label-errors queue; the sample folder is never written by it.

Nothing here is fit to data: the "models" are this script's explicit formulas (see ``Detector`` and ``detect``),
written down so the expected findings are known. Same seed → same files (byte-identical with the same OpenCV build).
"""
from __future__ import annotations

import argparse
import csv
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
SEED = 20261122
WEAKER_SEED = SEED + 2  # the weaker model's own random stream (+1 gave two zero-width boxes, flagged on import)
N_IMAGES = 240
CATEGORIES = [  # non-contiguous ids on purpose, as in COCO
    {"id": 1, "name": "circle", "supercategory": "shape"},
    {"id": 2, "name": "square", "supercategory": "shape"},
    {"id": 5, "name": "triangle", "supercategory": "shape"},
    {"id": 9, "name": "cross", "supercategory": "shape"},
]
CONFUSABLE = {2: 9, 9: 2, 1: 2, 5: 1}  # the class a confused prediction takes
SIZES = [(320, 240)] * 6 + [(400, 300)] * 2 + [(240, 320)] * 2  # (width, height), mostly landscape


def shape_polygon(cat: int, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    """Outline of a shape of radius ``r`` centred at (cx, cy), as an (n, 2) float array."""
    if cat == 1:  # circle
        t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        pts = np.stack([np.cos(t), np.sin(t)], 1)
    elif cat == 2:  # square
        pts = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float) * 0.8
    elif cat == 5:  # triangle
        t = np.array([-np.pi / 2, np.pi / 6, 5 * np.pi / 6])
        pts = np.stack([np.cos(t), np.sin(t)], 1)
    else:  # cross
        a, b = 1.0, 0.33
        pts = np.array([[-b, -a], [b, -a], [b, -b], [a, -b], [a, b], [b, b], [b, a], [-b, a], [-b, b], [-a, b],
                        [-a, -b], [-b, -b]], float)
    c, s = np.cos(angle), np.sin(angle)
    rot = pts @ np.array([[c, s], [-s, c]])
    return rot * r + np.array([cx, cy])


def background(rng: np.random.Generator, w: int, h: int) -> tuple[np.ndarray, float]:
    """A smooth two-colour gradient with low-frequency texture and some clutter; returns (image, clutter)."""
    c0, c1 = rng.uniform(40, 220, 3), rng.uniform(40, 220, 3)
    ramp = np.linspace(0, 1, w)[None, :, None] * np.ones((h, 1, 1))
    img = c0 * (1 - ramp) + c1 * ramp
    small = rng.normal(0, 1, (h // 16 + 2, w // 16 + 2, 3))
    img += cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC) * rng.uniform(5, 25)
    img = np.clip(img, 0, 255).astype(np.uint8)
    clutter = rng.uniform(0, 1)
    for _ in range(int(clutter * 12)):  # distractor strokes the model sometimes fires on
        p1 = tuple(int(v) for v in rng.uniform(0, (w, h)))
        p2 = tuple(int(v) for v in np.array(p1) + rng.normal(0, 40, 2))
        cv2.line(img, p1, p2, tuple(float(v) for v in rng.uniform(0, 255, 3)), int(rng.integers(1, 4)), cv2.LINE_AA)
    return img, clutter


@dataclass(frozen=True)
class Detector:
    """A simulated detector: the coefficients of its formulas (see ``detect`` and ``simulate``)."""

    bias: float = 1.0  # logit of finding an object of 1 % relative area in a bright, sharp image (minus 0.8)
    area: float = 3.0  # logit per decade of relative area
    brightness: float = 2.0  # logit per unit of exposure gain (capped at 1)
    blur: float = 0.6  # logit lost per unit of blur sigma
    noise: float = 1.0  # localisation noise scale
    confusion: float = 0.07  # share of detections that take the confusable class
    duplicate: float = 0.05  # share of detections with a lower-scoring duplicate
    score_base: float = 0.45  # score ~ N(score_base + score_slope · p, score_sd)
    score_slope: float = 0.5
    score_sd: float = 0.1
    background: tuple = (0.3, 1.2, 1.0)  # background detections ~ Poisson(a + b · clutter + c · dark)


BASELINE = Detector()
WEAKER = Detector(bias=0.2, area=3.6, brightness=1.0, blur=0.9, noise=1.3, confusion=0.12, duplicate=0.08,
                  score_base=0.4, score_sd=0.12, background=(0.5, 1.5, 1.0))


def detect(rng, rel_area: float, gain: float, blur: float, model: Detector = BASELINE) -> float:
    """The simulated detector's probability of finding an object (the planted dependencies)."""
    z = model.bias + model.area * (np.log10(rel_area) + 2.0) + model.brightness * (min(gain, 1.0) - 0.6) \
        - model.blur * blur
    return float(1 / (1 + np.exp(-z)))


def jitter_box(rng, box, scale: float, w: int, h: int) -> list[float]:
    x, y, bw, bh = box
    cx, cy = x + bw / 2 + rng.normal(0, scale * bw), y + bh / 2 + rng.normal(0, scale * bh)
    nw, nh = bw * np.exp(rng.normal(0, scale)), bh * np.exp(rng.normal(0, scale))
    x1, y1 = np.clip(cx - nw / 2, 0, w), np.clip(cy - nh / 2, 0, h)
    x2, y2 = np.clip(cx + nw / 2, 0, w), np.clip(cy + nh / 2, 0, h)
    return [round(float(x1), 2), round(float(y1), 2), round(float(x2 - x1), 2), round(float(y2 - y1), 2)]


def simulate(rng, scene: tuple, model: Detector) -> list[dict]:
    """COCO results of ``model`` on one scene ``(image_id, w, h, gain, blur, clutter, objects)``."""
    image_id, w, h, gain, blur, clutter, objects = scene
    predictions = []
    for _, cat, box, rel in objects:
        p = detect(rng, rel, gain, blur, model)
        if rng.uniform() < p:
            noise = (0.03 + 0.05 * blur / 3.5 + 0.10 * max(0.0, -np.log10(rel) - 2.0)) * model.noise
            pred_cat = CONFUSABLE[cat] if rng.uniform() < model.confusion else cat
            score = float(np.clip(rng.normal(model.score_base + model.score_slope * p, model.score_sd), 0.05, 0.999))
            predictions.append({"image_id": image_id, "category_id": pred_cat,
                                "bbox": jitter_box(rng, box, noise, w, h), "score": round(score, 3)})
            if rng.uniform() < model.duplicate:  # a duplicate detection of the same object
                predictions.append({"image_id": image_id, "category_id": pred_cat,
                                    "bbox": jitter_box(rng, box, noise * 1.5, w, h),
                                    "score": round(score * rng.uniform(0.4, 0.9), 3)})
        elif rng.uniform() < 0.3:  # a badly localised low-confidence guess
            predictions.append({"image_id": image_id, "category_id": cat,
                                "bbox": jitter_box(rng, box, 0.45, w, h),
                                "score": round(float(rng.uniform(0.05, 0.4)), 3)})
    base, per_clutter, per_dark = model.background
    for _ in range(int(rng.poisson(base + per_clutter * clutter + per_dark * (gain < 0.6)))):  # background detections
        bw = rng.uniform(8, min(w, h) / 4)  # object-like boxes: the shapes' aspect ratios are near 1
        bh = min(bw * np.exp(rng.normal(0, 0.25)), h - 1)
        x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
        predictions.append({"image_id": image_id, "category_id": int(rng.choice([c["id"] for c in CATEGORIES])),
                            "bbox": [round(x, 2), round(y, 2), round(bw, 2), round(bh, 2)],
                            "score": round(float(rng.uniform(0.05, 0.6)), 3)})
    return predictions


def make(out: Path = HERE) -> None:
    rng = np.random.default_rng(SEED)
    (out / "images").mkdir(parents=True, exist_ok=True)
    images, annotations, predictions, splits, scenes = [], [], [], [], []
    ann_id = 1
    for i in range(N_IMAGES):
        w, h = SIZES[int(rng.integers(len(SIZES)))]
        img, clutter = background(rng, w, h)
        gain = float(rng.choice([rng.uniform(0.2, 0.55), rng.uniform(0.8, 1.25)], p=[0.3, 0.7]))
        blur = float(rng.choice([0.0, rng.uniform(1.0, 3.5)], p=[0.7, 0.3]))
        objects = []
        for _ in range(int(rng.integers(1, 8))):
            cat = int(rng.choice([c["id"] for c in CATEGORIES]))
            rel = 10 ** rng.uniform(-3.0, -0.9)  # 0.1 % … 12.6 % of the image
            r = np.sqrt(rel * w * h) / 2 * 1.15
            cx, cy = rng.uniform(r * 0.6, w - r * 0.6), rng.uniform(r * 0.6, h - r * 0.6)
            poly = shape_polygon(cat, cx, cy, r, rng.uniform(0, np.pi))
            poly[:, 0] = np.clip(poly[:, 0], 0, w)
            poly[:, 1] = np.clip(poly[:, 1], 0, h)
            colour = tuple(float(v) for v in rng.uniform(0, 255, 3))
            cv2.fillPoly(img, [np.round(poly * 16).astype(np.int32)], colour, cv2.LINE_AA, shift=4)
            x1, y1 = poly.min(0)
            x2, y2 = poly.max(0)
            box = [round(float(x1), 2), round(float(y1), 2), round(float(x2 - x1), 2), round(float(y2 - y1), 2)]
            area = float(cv2.contourArea(poly.astype(np.float32)))
            objects.append((ann_id, cat, box, box[2] * box[3] / (w * h)))
            annotations.append({
                "id": ann_id, "image_id": i + 1, "category_id": cat, "bbox": box, "area": round(area, 2),
                "iscrowd": 0, "segmentation": [[round(float(v), 2) for v in poly.reshape(-1)]],
            })
            ann_id += 1
        if blur > 0:
            img = cv2.GaussianBlur(img, (0, 0), blur)
        img = np.clip(img.astype(np.float32) * gain + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)
        name = f"{i + 1:04d}.jpg"
        cv2.imwrite(str(out / "images" / name), img, [cv2.IMWRITE_JPEG_QUALITY, 80])
        images.append({"id": i + 1, "file_name": name, "width": w, "height": h})
        splits.append((name, "val" if rng.uniform() < 0.3 else "train"))

        scene = (i + 1, w, h, gain, blur, clutter, objects)
        scenes.append(scene)
        predictions += simulate(rng, scene, BASELINE)

    info = {"description": "cv-explorer synthetic shapes sample (see README.md)", "version": "1.0"}
    (out / "labels.json").write_text(json.dumps(
        {"info": info, "images": images, "annotations": annotations, "categories": CATEGORIES}, separators=(",", ":")))
    (out / "predictions.json").write_text(json.dumps(predictions, separators=(",", ":")))
    weaker_rng = np.random.default_rng(WEAKER_SEED)
    weaker = [pred for scene in scenes for pred in simulate(weaker_rng, scene, WEAKER)]
    (out / "predictions-weaker.json").write_text(json.dumps(weaker, separators=(",", ":")))
    with open(out / "splits.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file_name", "split"])
        writer.writerows(splits)
    print(f"{len(images)} images, {len(annotations)} labels, {len(predictions)} predictions (baseline), "
          f"{len(weaker)} (weaker) → {out}")
    prediction_maps(out)



PLANT_SEED = SEED + 7  # the planted label errors' own random stream (the sample's files never use it)
PLANT_KINDS = ("dropped", "shifted", "relabelled")


def plant_label_errors(labels: dict, *, n_each: int = 25, seed: int = PLANT_SEED) -> tuple[dict, list[dict]]:
    """A copy of the COCO ``labels`` dict with ``n_each`` label errors of each kind planted in distinct random
    labels: ``dropped`` (the annotation removed), ``shifted`` (the box moved by 40 % of its width or height, IoU
    with the true box about 0.43), ``relabelled`` (another class). Returns ``(labels, planted)``; ``planted``
    lists ``{"kind", "label_id", "image_id", "category_id", "bbox"}`` with the *true* class and box."""
    rng = np.random.default_rng(seed)
    out = json.loads(json.dumps(labels))
    anns = out["annotations"]
    chosen = rng.choice(len(anns), size=3 * n_each, replace=False)
    planted, drop = [], set()
    for j, i in enumerate(chosen):
        kind = PLANT_KINDS[j // n_each]
        a = anns[int(i)]
        planted.append({"kind": kind, "label_id": a["id"], "image_id": a["image_id"], "category_id": a["category_id"],
                        "bbox": list(a["bbox"])})
        if kind == "dropped":
            drop.add(a["id"])
        elif kind == "shifted":
            x, y, w, h = a["bbox"]
            if rng.uniform() < 0.5:
                x += float(rng.choice([-1, 1])) * 0.4 * w
            else:
                y += float(rng.choice([-1, 1])) * 0.4 * h
            a["bbox"] = [round(x, 2), round(y, 2), w, h]
            a.pop("segmentation", None)  # the outline no longer matches the box
        else:
            others = [c["id"] for c in CATEGORIES if c["id"] != a["category_id"]]
            a["category_id"] = int(rng.choice(others))
    out["annotations"] = [a for a in anns if a["id"] not in drop]
    return out, planted


def write_planted(out: Path, source: Path = HERE, *, n_each: int = 25) -> int:
    """Write ``out/labels.json`` (``source``'s labels with errors planted) and ``out/planted.json``; the sample
    folder itself is never written. Returns the number of planted errors."""
    labels, planted = plant_label_errors(json.loads((source / "labels.json").read_text()), n_each=n_each)
    out.mkdir(parents=True, exist_ok=True)
    (out / "labels.json").write_text(json.dumps(labels, separators=(",", ":")))
    (out / "planted.json").write_text(json.dumps(planted, indent=1))
    return len(planted)

MAP_SCALE = 8  # a map cell per 8×8 image pixels


def prediction_maps(out: Path = HERE) -> int:
    """Write ``attributions/NNNN.png`` from ``labels.json`` (image sizes) and ``predictions.json`` (baseline):
    ``Σ_boxes score · exp(−((x − cx)² / 2σx² + (y − cy)² / 2σy²))`` at each cell centre, σ = box size / 4, scaled
    by the image's maximum to 0..255 (uint8). Images without predictions get no map. Returns the maps written."""
    gt = json.loads((out / "labels.json").read_text())
    preds = json.loads((out / "predictions.json").read_text())
    folder = out / "attributions"
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    by_image: dict[int, list] = {}
    for p in preds:
        by_image.setdefault(p["image_id"], []).append((*p["bbox"], p["score"]))
    written = 0
    for image in gt["images"]:
        rows = by_image.get(image["id"])
        if not rows:
            continue
        w, h = -(-image["width"] // MAP_SCALE), -(-image["height"] // MAP_SCALE)
        b = np.array(rows, float)  # (n, 5): x, y, w, h, score
        xs = (np.arange(w) + 0.5) * image["width"] / w
        ys = (np.arange(h) + 0.5) * image["height"] / h
        cx, cy = b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2
        sx, sy = np.maximum(b[:, 2] / 4, 1.0), np.maximum(b[:, 3] / 4, 1.0)
        gx = np.exp(-((xs[None, :] - cx[:, None]) ** 2) / (2 * sx[:, None] ** 2))  # (n, w)
        gy = np.exp(-((ys[None, :] - cy[:, None]) ** 2) / (2 * sy[:, None] ** 2))  # (n, h)
        heat = np.einsum("n,nh,nw->hw", b[:, 4], gy, gx)
        level = np.rint(heat / heat.max() * 255).astype(np.uint8)
        cv2.imwrite(str(folder / (Path(image["file_name"]).stem + ".png")), level, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        written += 1
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Regenerate the detection sample.")
    parser.add_argument("--maps-only", action="store_true", help="rewrite only attributions/ from the JSON files")
    parser.add_argument("--plant-label-errors", metavar="OUT", type=Path,
                        help="write a copy of labels.json with label errors planted (and planted.json) to OUT")
    args = parser.parse_args()
    if args.plant_label_errors is not None:
        print(f"{write_planted(args.plant_label_errors)} planted label errors → {args.plant_label_errors}")
    elif args.maps_only:
        print(f"{prediction_maps()} attribution maps")
    else:
        make()
