"""Projects whose user-supplied names are script / Markdown payloads, for the escaping tests (AppTest, browser)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from explorer.io import import_project

PAYLOADS = ["<iframe srcdoc='<script>parent.alert(1)</script>'>", "<img src=x onerror=alert(1)>",
            "![t](http://127.0.0.1:9/x.png)", "[link](javascript:alert(1))", "**bold**"]
HTML_PAYLOADS = [p for p in PAYLOADS if "<" in p]
# file names cannot hold "/": the payloads a file system allows
FILE_PAYLOADS = ["<img src=x onerror=alert(2)>.png", "**f**.png", "[l](javascript:alert(3)).png", "_u_ $m$.png"]
RUN_PAYLOAD = "_run_"  # run names hold only letters, digits and _ . + - (check_run_name): emphasis


def _png(path: Path, size=(16, 12), value=100, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value).save(path)


def build_payload_projects(tmp: Path) -> dict[str, Path]:
    """Detection, segmentation and classification projects under ``tmp`` whose class names, file names and run
    name are the payloads; ``{task: project folder}``."""
    images = tmp / "images"
    names = FILE_PAYLOADS + ["plain.png"]
    for name in names:
        _png(images / name)
    coco = {"images": [{"id": i + 1, "file_name": n, "width": 16, "height": 12} for i, n in enumerate(names)],
            "categories": [{"id": k + 1, "name": p} for k, p in enumerate(PAYLOADS)],
            "annotations": [{"id": 10 * i + k + 1, "image_id": i + 1, "category_id": k + 1,
                             "bbox": [k * 2, 1, 4, 5], "area": 20, "iscrowd": 0}
                            for i in range(len(names)) for k in range(len(PAYLOADS))]}
    preds = [{"image_id": a["image_id"], "category_id": (a["category_id"] % len(PAYLOADS)) + 1 if a["id"] % 3 == 0
              else a["category_id"], "bbox": [a["bbox"][0] + 0.5, 1, 4, 5], "score": 0.3 + 0.1 * (a["id"] % 7)}
             for a in coco["annotations"]]
    (tmp / "labels.json").write_text(json.dumps(coco))
    (tmp / "preds.json").write_text(json.dumps(preds))
    det, _ = import_project(tmp / "det", images=images, labels=tmp / "labels.json", predictions=tmp / "preds.json",
                            run=RUN_PAYLOAD, name="**project** <img src=x onerror=alert(9)>")
    # segmentation: classes.txt lines are payloads; masks with every class
    seg_images, labels, predictions = tmp / "seg_images", tmp / "labels", tmp / "predictions"
    (labels).mkdir()
    (labels / "classes.txt").write_text("\n".join(PAYLOADS) + "\n")
    for i, name in enumerate(names):
        _png(seg_images / name)
        mask = np.arange(16 * 12).reshape(12, 16) % len(PAYLOADS)
        Image.fromarray(mask.astype(np.uint8), "L").save(labels / Path(name).with_suffix(".png").name)
        Image.fromarray(np.roll(mask, i, axis=1).astype(np.uint8), "L").save(
            (predictions.mkdir(exist_ok=True) or predictions) / Path(name).with_suffix(".png").name)
    seg, _ = import_project(tmp / "seg", task="segmentation", images=seg_images, labels=labels,
                            predictions=predictions, run=RUN_PAYLOAD)
    # classification: labels CSV naming the payload files and classes
    rows = "".join(f'"{n}","{PAYLOADS[i % len(PAYLOADS)]}"\n' for i, n in enumerate(names))
    pred_rows = "".join(f'"{n}","{PAYLOADS[(i + (i % 2)) % len(PAYLOADS)]}",0.7\n' for i, n in enumerate(names))
    (tmp / "cls_labels.csv").write_text("image,label\n" + rows)
    (tmp / "cls_preds.csv").write_text("image,prediction,score\n" + pred_rows)
    cls, _ = import_project(tmp / "cls", task="classification", images=images, labels=tmp / "cls_labels.csv",
                            predictions=tmp / "cls_preds.csv", run=RUN_PAYLOAD)
    return {"detection": det.root, "segmentation": seg.root, "classification": cls.root}


