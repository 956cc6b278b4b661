"""Model Quality › Performance by Metric: outcome rates per bucket of one data metric.

Labels: true positive rate (detected / labels) and false negative rate; predictions: precision (TP / (TP+FP))
and false discovery rate. Dashed lines are the averages over all rows with a value. A bucket chosen next to the
chart is handed to the Failure Explorer through ``st.session_state["failure_selection"]``.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer.analysis import MIN_BUCKET_ITEMS, RATE_COLUMNS, few_images_note
from explorer.analysis.buckets import COUNT_COLUMNS
from explorer.errors import UserError
from explorer.resources import pages_dir
from explorer.ui import detection, performance
from explorer.ui.charts import bucket_rates_figure
from explorer.ui.state import selection

TARGET_TITLES = {
    "labels": "Labels: true positive rate and false negative rate (Y = detected)",
    "predictions": "Predictions: precision and false discovery rate (Y = true positive)",
}
WORDS = {"labels": "labels", "predictions": "predictions", "items": "items"}


def method_title(method: str) -> str:
    return "quantile (equal counts)" if method == "quantile" else "equal width"


def few_items_warning(perf: pd.DataFrame, count: str, word: str) -> None:
    few = int((perf[count] < MIN_BUCKET_ITEMS).sum())
    if few:
        st.warning(f"{few} bucket(s) hold fewer than {MIN_BUCKET_ITEMS} {word}: their rates rest on "
                   "few samples (see the note column).")


def controls(options):
    top = st.columns([3, 1, 1, 1])
    by_name = {o.display_name: o for o in options}
    option = by_name[top[0].selectbox("Metric", list(by_name), key="pbm_metric")]
    n_buckets = top[1].number_input("Buckets", min_value=2, max_value=50, value=10, step=1, key="pbm_n_buckets")
    method = top[2].radio("Bucketing", ["quantile", "width"], key="pbm_method", format_func=method_title)
    per_class = top[3].radio("Show", ["aggregate", "per class"], key="pbm_breakdown") == "per class"
    return option, int(n_buckets), method, per_class


def bucket_table(result, names) -> pd.DataFrame:
    count, hits = COUNT_COLUMNS[result.target]
    first, second = RATE_COLUMNS[result.target]
    cols = (["group"] if "group" in result.perf else []) + ["range", count, hits, first, second]
    table = result.perf[cols].copy()
    if "group" in table:
        table["group"] = table["group"].map(lambda g: names.get(int(g), str(g)))
        table = table.rename(columns={"group": "class"})
    table["note"] = [f"fewer than {MIN_BUCKET_ITEMS} {WORDS[result.target]}: unreliable" if n < MIN_BUCKET_ITEMS else ""
                     for n in result.perf[count]]
    return table


def draw_target(result, option, names) -> None:
    count, _ = COUNT_COLUMNS[result.target]
    st.markdown(f"**{TARGET_TITLES[result.target]}**")
    fig = bucket_rates_figure(result.perf, result.overall, RATE_COLUMNS[result.target], count=count, names=names,
                              title=option.display_name)
    st.plotly_chart(fig, key=f"pbm_chart_{result.target}")
    few_items_warning(result.perf, count, WORDS[result.target])
    if result.buckets.n_missing:
        st.caption(f"{result.buckets.n_missing:,} {WORDS[result.target]} have no value for this metric and are in "
                   "no bucket.")
    with st.expander("Bucket counts and rates"):
        st.dataframe(bucket_table(result, names), hide_index=True)


def bucket_picker(results, option) -> tuple[dict, str]:
    """Choose a bucket; its label and prediction ids go to the Failure Explorer. Returns (ids, title)."""
    first = next(iter(results.values()))
    ranges = first.buckets.labels()
    labels = [f"{i + 1}: {r}" for i, r in enumerate(ranges)]
    if st.session_state.get("pbm_bucket") not in labels:  # the buckets changed since the last run
        st.session_state.pop("pbm_bucket", None)
    pick = labels.index(st.selectbox("Bucket to inspect", labels, key="pbm_bucket"))
    ids = {t: performance.bucket_ids(r, pick) for t, r in results.items()}
    counts = ", ".join(f"{len(v):,} {WORDS[t]}" for t, v in ids.items())
    title = f"{option.display_name} in {ranges[pick]}"
    st.caption(f"{title}: {counts}")
    if st.button("Open in Failure Explorer", key="pbm_open_failures"):
        st.session_state["failure_selection"] = {
            "label_ids": ids.get("labels", []), "pred_ids": ids.get("predictions", []), "title": title}
        failures = pages_dir() / "failures.py"
        if failures.is_file():
            st.switch_page(st.Page(failures, url_path="failures"))
        st.info("Stored: open the Failure Explorer page to see this bucket.")
    return ids, title


def gallery_preview(sel, ids: dict, title: str) -> None:
    """The bucket's failures first (FP, FN), then its true positives, drawn on their images."""
    try:
        from explorer.analysis.failure_buckets import bucket_table
        from explorer.drawing.failure_tiles import outcome_tiles
        from explorer.ui.gallery import show_gallery
    except ImportError:  # the gallery modules are optional for this page
        return
    m = detection.match(sel)
    rows = bucket_table(m.predictions, m.labels, pred_ids=ids.get("predictions", []),
                        label_ids=ids.get("labels", []))
    order = rows["outcome"].map({"FP": 0, "FN": 1, "TP": 2}).fillna(3).to_numpy()
    rows = rows.iloc[order.argsort(kind="stable")].reset_index(drop=True)
    with st.expander(f"Preview: {title}", expanded=False):
        show_gallery(rows, key="pbm_preview", project=sel.project, per_page=8, columns=4,
                     make_tiles=lambda page: outcome_tiles(sel.project, page))


def detection_page(sel) -> None:
    st.title("Performance by Metric")
    project = sel.project
    if not project.has_predictions:
        st.info("This project has no predictions: import a model's predictions to see performance by metric.")
        return
    options = performance.metric_options(project)
    if not options:
        st.info("No data metrics computed for this project yet: run `explorer metrics PROJECT`.")
        return
    option, n_buckets, method, per_class = controls(options)
    note = few_images_note(len(sel.image_ids))
    if note:
        st.warning(note)
    names = project.category_names
    results = performance.bucket_results(sel, option, n_buckets=n_buckets, method=method, per_class=per_class)
    chart, picker = st.columns([3, 1])
    with chart:
        for result in results.values():
            draw_target(result, option, names)
    with picker:
        ids, title = bucket_picker(results, option)
    gallery_preview(sel, ids, title)


def other_task_page(sel) -> None:
    """Classification / segmentation: share of items with Y true per bucket, Y from the task's UI module."""
    st.title("Performance by Metric")
    provider = performance.task_inputs(sel)
    if not provider:
        st.info(f"{sel.project.task.capitalize()} projects have no yes/no outcome per item to bucket; the task's own "
                "Model Quality page shows its errors.")
        return
    for item in provider:
        names = performance.item_metric_names(item)
        if not names:
            st.info("No data metrics computed for this project yet: run `explorer metrics PROJECT`.")
            continue
        top = st.columns([3, 1, 1])
        chosen = top[0].selectbox(f"Metric ({item['title']})", list(names.values()), key=f"pbm_metric_{item['title']}")
        n_buckets = int(top[1].number_input("Buckets", 2, 50, 10, key=f"pbm_n_buckets_{item['title']}"))
        method = top[2].radio("Bucketing", ["quantile", "width"], key=f"pbm_method_{item['title']}",
                              format_func=method_title)
        column = next(c for c, n in names.items() if n == chosen)
        result = performance.item_buckets(item, column, n_buckets=n_buckets, method=method)
        st.markdown(f"**{item['title']}: share with Y = “{item['outcome_label']}” per bucket**")
        outcome, other = RATE_COLUMNS["items"]
        rate_titles = {outcome: f"“{item['outcome_label']}”", other: f"not “{item['outcome_label']}”"}
        st.plotly_chart(bucket_rates_figure(result.perf, result.overall, RATE_COLUMNS["items"], count="n_items",
                                            title=chosen, rate_titles=rate_titles), key=f"pbm_chart_{item['title']}")
        few_items_warning(result.perf, "n_items", WORDS["items"])
        if result.buckets.n_missing:
            st.caption(f"{result.buckets.n_missing:,} items have no value for this metric and are in no bucket.")
        with st.expander("Bucket counts and rates"):
            st.dataframe(bucket_table(result, {}), hide_index=True)


try:
    current = selection()
    if current.project.task == "detection":
        detection_page(current)
    else:
        other_task_page(current)
except UserError as e:
    st.error(str(e))
