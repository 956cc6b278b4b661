"""Classification "why and where": a confusion cell opens exactly its images, the galleries' captions name file,
true and predicted class, score and the sort metric in that order, and top-k shows only k < number of classes."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from explorer.datametrics.tables import metrics_for
from explorer.evaluation import classification as cls
from explorer.project.folder import Project

from .apptest import open_page


def captions(at) -> list[str]:
    """Every image caption of the page as text (``plain`` escapes Markdown characters with backslashes)."""
    return [re.sub(r"\\(.)", r"\1", i.caption) for e in at.get("image") for i in e.proto.imgs]


def test_confusion_cell_opens_its_images_sorted(monkeypatch, sample_projects):
    root = sample_projects["classification"]
    project = Project.load(root)
    out = cls.outcomes(project)
    names = project.category_names
    at = open_page(monkeypatch, root, "classification.py")
    options = at.selectbox(key="cls_cell").options
    # errors first, the largest cell first: the default cell is the most frequent confusion
    pairs = out.loc[~out["correct"]].groupby(["true_id", "pred_id"]).size().sort_values(ascending=False, kind="stable")
    t, p = pairs.index[0]
    assert at.selectbox(key="cls_cell").value == f"{t}:{p}"
    assert len(options) == out.groupby(["true_id", "pred_id"]).ngroups  # every non-empty cell can be opened

    rows = out[(out["true_id"] == t) & (out["pred_id"] == p)]
    assert any(f"{len(rows):,} image(s) of true class {names[t]} predicted as {names[p]}" in c.value
               for c in at.caption)
    shown = captions(at)[:8]
    files = project.images.set_index("image_id")["file_name"]
    expected = rows.sort_values(["score", "image_id"], ascending=[False, True], kind="stable").head(8)
    # the page holds the 8 highest scores (tiles fill the grid's columns in turn; the first tile is the best)
    assert sorted(c.split(" · ")[0] for c in shown) == sorted(files.reindex(expected["image_id"]))
    first = expected.iloc[0]
    assert shown[0] == (f"{files[first.image_id]} · true {names[t]} · predicted {names[p]} · score {first.score:.3f}")

    # sorted by a frame metric, ascending: captions end with its value, in that order
    at.selectbox(key="cls_sort").set_value("brightness")
    at.radio(key="cls_sort_order").set_value("ascending").run()
    assert not at.exception, at.exception
    bright = metrics_for(project, "images")["brightness"].reindex(rows["image_id"]).to_numpy()
    order = np.lexsort((rows["image_id"].to_numpy(), bright))[:8]
    cell = [c for c in captions(at) if f"· true {names[t]} · predicted {names[p]} ·" in c][:8]
    assert sorted(c.split(" · ")[0] for c in cell) == sorted(files.reindex(rows["image_id"].to_numpy()[order]))
    assert cell[0].split(" · ")[0] == files[rows["image_id"].to_numpy()[order[0]]]
    assert cell[0].endswith(f"· Brightness (F) {bright[order[0]]:.4g}")

    # another cell chosen in the picker (as a click on the matrix does): its own images
    t_other, p_other = pairs.index[1]
    other = f"{t_other}:{p_other}"
    at.selectbox(key="cls_cell").set_value(other).run()
    t2, p2 = (int(v) for v in other.split(":"))
    n2 = int(((out["true_id"] == t2) & (out["pred_id"] == p2)).sum())
    assert any(f"{n2:,} image(s) of true class {names[t2]} predicted as {names[p2]}" in c.value for c in at.caption)


def test_top_k_only_below_the_number_of_classes(monkeypatch, tmp_path):
    from explorer.io.classification import import_project

    rng = np.random.default_rng(0)
    n = 30
    labels = pd.DataFrame({"image": [f"{i:03d}.png" for i in range(n)], "label": rng.choice(["a", "b", "c"], n)})
    scores = rng.random((n, 3))
    preds = labels[["image"]].assign(prediction=np.array(["a", "b", "c"])[scores.argmax(1)],
                                     **{f"score_{c}": scores[:, i] for i, c in enumerate("abc")})
    labels.to_csv(tmp_path / "labels.csv", index=False)
    preds.to_csv(tmp_path / "predictions.csv", index=False)
    project, _ = import_project(tmp_path / "p", labels=tmp_path / "labels.csv", predictions=tmp_path / "predictions.csv")
    at = open_page(monkeypatch, Path(project.root), "classification.py")
    assert "top_5_accuracy" in cls.evaluate_project(project).summary  # computed, but 3 classes: k = 3…5 mean nothing
    shown = sorted(m.label for m in at.metric if re.match(r"Top-\d accuracy", m.label))
    assert shown == ["Top-1 accuracy", "Top-2 accuracy"]
    from explorer.export.all_metrics import export_all_metrics

    summary = export_all_metrics(project)["splits"]["all"]["evaluation"]["summary"]
    assert not {"top_3_accuracy", "top_4_accuracy", "top_5_accuracy"} & set(summary)
