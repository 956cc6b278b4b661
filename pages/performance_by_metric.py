"""Model Quality › Performance by Metric: outcome rates per bucket of one data metric, for any task.

The outcomes are the task's (registry): detection labels — true positive rate (detected / labels) and false
negative rate; predictions — precision (TP / (TP+FP)) and false discovery rate; per-image tasks — the share of
images with Y true (correct, mIoU ≥ target, |error| ≤ tolerance). Dashed lines are the averages over all rows with
a value. When the task has a Failure Explorer, a bucket chosen next to the chart (or a clicked bar) is handed to
it through ``st.session_state["failure_selection"]``. The bucket picker's key names the metric, bucket count and
method (``explorer.ui.persist.keyed``), so it never shows a bucket of another metric.
"""
from __future__ import annotations

import html
from functools import partial

import pandas as pd
import streamlit as st

from explorer import tasks
from explorer.analysis import MIN_BUCKET_ITEMS, RATE_COLUMNS, few_images_note
from explorer.analysis.buckets import COUNT_COLUMNS
from explorer.errors import UserError
from explorer.resources import pages_dir
from explorer.tasks.detection import iou_type
from explorer.ui import detection, performance
from explorer.ui.charts import bucket_rates_figure, show_chart
from explorer.ui.state import selection
from explorer.ui.outcome_options import outcome_controls
from explorer.ui.text import plain
from explorer.ui.persist import keep, keyed, switch_page

WORDS = {"labels": "labels", "predictions": "predictions", "images": "images"}
FAILURES_PAGE = "failures.py"


def method_title(method: str) -> str:
    return "quantile (equal counts)" if method == "quantile" else "equal width"


def few_items_warning(perf: pd.DataFrame, count: str, word: str) -> None:
    few = int((perf[count] < MIN_BUCKET_ITEMS).sum())
    if few:
        st.warning(f"{few} bucket(s) hold fewer than {MIN_BUCKET_ITEMS} {word}: their rates rest on "
                   "few samples (see the note column).")


def target_title(result) -> str:
    """E.g. "Labels: TPR and FNR (Y = detected)"."""
    o = result.outcome
    return f"{o.target.capitalize()}: {o.rate} and {o.miss_rate} (Y = {o.title})"


def controls(options, *, by_class: bool):
    top = st.columns([3, 1, 1, 1] if by_class else [3, 1, 1])
    by_key = {o.key: o for o in options}
    option = by_key[top[0].selectbox("Metric", list(by_key), format_func=lambda k: by_key[k].display_name,
                                     **keep("pbm_metric"))]
    n_buckets = top[1].number_input("Buckets", min_value=2, max_value=50, value=10, step=1, **keep("pbm_n_buckets"))
    method = top[2].radio("Bucketing", ["quantile", "width"], **keep("pbm_method"), format_func=method_title)
    per_class = by_class and top[3].radio("Show", ["aggregate", "per class"], **keep("pbm_breakdown")) == "per class"
    return option, int(n_buckets), method, per_class


def bucket_table(result, names) -> pd.DataFrame:
    count, hits = COUNT_COLUMNS[result.kind]
    first, second = RATE_COLUMNS[result.kind]
    cols = (["group"] if "group" in result.perf else []) + ["range", count, hits, *performance.rate_columns(result)]
    table = result.perf[cols].copy()
    if "group" in table:
        table["group"] = table["group"].map(lambda g: names.get(int(g), str(g)))
        table = table.rename(columns={"group": "class"})
    table["note"] = [f"fewer than {MIN_BUCKET_ITEMS} {WORDS[result.target]}: unreliable" if n < MIN_BUCKET_ITEMS else ""
                     for n in result.perf[count]]
    return table


def picker_key(option, n_buckets: int, method: str) -> str:
    """The bucket picker's key: a new metric, bucket count or method is a new widget (never a stale bucket)."""
    return keyed("pbm_bucket", option.key, n_buckets, method)


def _open_clicked_bar(chart_key: str, picker: str, ranges: list[str]) -> None:
    """``on_select`` of a bucket chart: pick the clicked bar's bucket and ask the page to open it."""
    event = st.session_state.get(chart_key)
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    if not points or "x" not in points[0]:
        return
    x = html.unescape(str(points[0]["x"]))  # the chart shows escaped text (explorer.ui.charts.escape_figure)
    if x in ranges:
        i = ranges.index(x)
        st.session_state[picker] = f"{i + 1}: {ranges[i]}"
        st.session_state["pbm_open_clicked"] = True


def draw_target(result, option, names, *, picker: str | None = None) -> None:
    count, _ = COUNT_COLUMNS[result.kind]
    st.markdown(f"**{plain(target_title(result))}**")  # outcome titles come from the task (a plugin's)
    first, second = RATE_COLUMNS[result.kind]
    # labels and predictions have the charts' rate names (TPR, precision…); other rows the task's (registry)
    o = result.outcome
    rate_titles = None if result.kind != "items" else {first: f"{o.rate[:1].upper()}{o.rate[1:]} (Y = {o.title})",
                                                        second: f"{o.miss_rate[:1].upper()}{o.miss_rate[1:]}"}
    fig = bucket_rates_figure(result.perf, result.overall, RATE_COLUMNS[result.kind], count=count, names=names,
                              title=option.display_name, rate_titles=rate_titles)
    chart_key = f"pbm_chart_{result.target}"
    if picker is None:
        show_chart(fig, key=chart_key)
    else:  # clicking a bar opens its bucket in the Failure Explorer
        show_chart(fig, key=chart_key, selection_mode="points",
                   on_select=partial(_open_clicked_bar, chart_key, picker, list(result.buckets.labels())))
    few_items_warning(result.perf, count, WORDS[result.target])
    if result.buckets.n_missing:
        st.caption(f"{result.buckets.n_missing:,} {WORDS[result.target]} have no value for this metric and are in "
                   "no bucket.")
    with st.expander("Bucket counts and rates"):
        st.dataframe(bucket_table(result, names), hide_index=True)


def bucket_picker(results, option, key: str) -> tuple[dict, str]:
    """Choose a bucket (or click its bar); its label and prediction ids go to the Failure Explorer. Returns
    (ids, title)."""
    first = next(iter(results.values()))
    ranges = first.buckets.labels()
    labels = [f"{i + 1}: {r}" for i, r in enumerate(ranges)]
    pick = labels.index(st.selectbox("Bucket to inspect", labels, help="or click a bar of the chart",
                                     **keep(key, url=False)))
    ids = {t: performance.bucket_ids(r, pick) for t, r in results.items()}
    counts = ", ".join(f"{len(v):,} {WORDS[t]}" for t, v in ids.items())
    title = f"{option.display_name} in {ranges[pick]}"
    st.caption(f"{plain(title)}: {counts}")
    clicked = st.session_state.pop("pbm_open_clicked", False)
    if st.button("Open in Failure Explorer", key="pbm_open_failures") or clicked:
        st.session_state["failure_selection"] = {  # plain lists: the session state outlives the arrays' owner
            "label_ids": ids["labels"].tolist() if "labels" in ids else [],
            "pred_ids": ids["predictions"].tolist() if "predictions" in ids else [], "title": title}
        failures = pages_dir() / "failures.py"
        if failures.is_file():
            switch_page(st.Page(failures, url_path="failures"))
        st.info("Stored: open the Failure Explorer page to see this bucket.")
    return ids, title


def gallery_preview(sel, ids: dict, title: str) -> None:
    """The bucket's failures first (missed labels, false detections), then its true positives, on their images
    (by score, descending); only the page shown is selected from the bucket (``failure_buckets.sorted_window``).
    Built only while the preview is open (the expander tracks its state): a collapsed preview costs nothing, not
    the match's ``BucketSource`` after every IoU move."""
    try:
        from explorer.analysis.failure_buckets import sort_key, sorted_window
        from explorer.drawing.failure_tiles import outcome_tiles
        from explorer.ui.buckets import bucket_source
        from explorer.ui.gallery import Pages, show_gallery
    except ImportError:  # the gallery modules are optional for this page
        return
    with st.expander(f"Preview: {plain(title)}", expanded=False, key="pbm_preview_open", on_change="rerun") as shown:
        if not shown.open:
            return
        detection.match(sel)
        rows = bucket_source(sel).bucket(pred_ids=ids.get("predictions", []), label_ids=ids.get("labels", []))
        rank, key = rows.rank(), sort_key(rows.column("score"), descending=True)  # failures first

        def tiles(start: int, stop: int):
            return outcome_tiles(sel.project, rows.take(sorted_window(rank, key, start, stop)).frame())

        show_gallery(Pages(len(rows), tiles), key="pbm_preview", project=sel.project, per_page=8, columns=4)


def matching_caption(sel, task) -> str:
    """What the outcomes were computed at: the sidebar's thresholds (and the IoU kind) the task uses."""
    parts = []
    if "iou_threshold" in task.controls:
        kind = "mask IoU" if iou_type(sel.project) == "segm" else "IoU"
        parts.append(f"{kind} ≥ {sel.iou_threshold:.2f}")
    if "confidence_threshold" in task.controls:
        parts.append(f"confidence ≥ {sel.confidence_threshold:.2f}")
    where = "all splits" if sel.split is None else f"split {plain(sel.split)}"
    return "Outcomes at " + (", ".join(parts) + ", " if parts else "") + where + " (sidebar)."


def page(sel) -> None:
    st.title("Performance by Metric")
    project = sel.project
    task = tasks.get(project.task)
    if not task.outcomes:
        st.info(f"{plain(task.title)} projects have no yes/no outcome per item to bucket.")
        return
    if "predictions" in task.outcome_targets and not project.has_predictions:
        st.info("This project has no predictions: import a model's predictions to see performance by metric.")
        return
    options = performance.metric_options(project)
    if not options:
        st.info("No data metrics computed for this project yet: run `explorer metrics PROJECT`.")
        return
    by_class = task.has_classes and any(t != "images" for t in task.outcome_targets)
    option, n_buckets, method, per_class = controls(options, by_class=by_class)
    outcome_controls(sel)  # the task's outcome options (target IoU, tolerance): one key shared with Metric Importance
    note = few_images_note(len(sel.image_ids))
    if note:
        st.warning(note)
    names = project.category_names
    with st.spinner(f"Bucketing {plain(option.display_name)} and counting outcomes per bucket…"):
        results = performance.bucket_results(sel, option, n_buckets=n_buckets, method=method, per_class=per_class)
    if not any(len(r.ids) for r in results.values()):
        st.info("No row of this selection has an outcome (e.g. nothing is predicted).")
        return
    with_failures = any(p.file == FAILURES_PAGE for p in task.pages)
    chart, picker = st.columns([3, 1]) if with_failures else (st.container(), None)
    key = picker_key(option, n_buckets, method) if picker is not None else None
    where = matching_caption(sel, task)  # its split name is escaped inside
    st.caption(where)
    with chart:
        for result in results.values():
            draw_target(result, option, names, picker=key)
    if picker is not None:
        with picker:
            ids, title = bucket_picker(results, option, key)
        gallery_preview(sel, ids, title)


try:
    page(selection())
except UserError as e:
    st.error(plain(e))
