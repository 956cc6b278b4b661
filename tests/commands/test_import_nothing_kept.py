"""``explorer import`` that keeps nothing of a named input stops with one paragraph (exit 2, nothing written)."""
from __future__ import annotations

import json

import numpy as np
from PIL import Image

from explorer.cli import main


def test_coco_labels_matching_no_image_of_the_folder(tmp_path, capsys):
    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "images" / "other.png")
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.png", "width": 8, "height": 8}],
                                  "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 4, 4],
                                                   "area": 16, "iscrowd": 0}],
                                  "categories": [{"id": 1, "name": "dog"}]}))
    code = main(["import", "--images", str(tmp_path / "images"), "--labels", str(labels), "--out", str(tmp_path / "p")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1  # one paragraph
    assert "matches --labels" in err and "none of the 1 image(s) the labels list (e.g. a.png)" in err
    assert "holds 1 other image file(s) (other.png)" in err
    assert "Nothing was written" in err and not (tmp_path / "p").exists()
