"""Export: all metrics as one JSON (``all_metrics``), per-row metric tables (``tables``), COCO subsets (``subset``)."""
