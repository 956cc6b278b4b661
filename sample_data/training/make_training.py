"""Generate the training-curves sample: a real short training run on scikit-learn's digits, logged as CSV and as
an offline MLflow run folder.

Deterministic (fixed seeds; timestamps are nominal — a fixed start plus 2 s per epoch — so regenerating gives the
same files). Run: ``python3 sample_data/training/make_training.py``.

Run: ``MLPClassifier`` (one hidden layer of 128 units, no weight decay, learning rate 0.05) trained with ``partial_fit`` on mini-batches
of 32 from only 80 training digits for 100 epochs, validated after each epoch on 600 other digits. With so few
training images the training loss keeps falling while the validation loss bottoms out and rises: over-fitting.

Files: ``log.csv`` (epoch, step, timestamp, train_loss, val_loss, train_accuracy, val_accuracy) and
``mlruns/1/<run id>/`` (``meta.yaml``, ``params/``, ``tags/mlflow.runName``, ``metrics/<key>`` with
``timestamp_ms value step`` lines).
"""
from __future__ import annotations

import csv
import shutil
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, log_loss
from sklearn.neural_network import MLPClassifier

HERE = Path(__file__).resolve().parent
RUN_ID = "5c1e0d7a2f9b4e68a3d1c0b9e8f7a6d5"
START = 1_717_200_000.0  # nominal start time (2024-06-01T00:00:00Z)
EPOCHS, BATCH, N_TRAIN, N_VAL = 100, 32, 80, 600


def main() -> None:
    digits = load_digits()
    X, y = digits.data / 16.0, digits.target
    order = np.random.default_rng(2).permutation(len(y))
    train, val = order[:N_TRAIN], order[N_TRAIN:N_TRAIN + N_VAL]
    model = MLPClassifier(hidden_layer_sizes=(128,), alpha=0.0, learning_rate_init=0.05, random_state=0)
    classes = np.arange(10)
    rng = np.random.default_rng(3)
    rows, step = [], 0
    for epoch in range(1, EPOCHS + 1):
        perm = rng.permutation(train)
        for start in range(0, len(perm), BATCH):
            batch = perm[start:start + BATCH]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.partial_fit(X[batch], y[batch], classes=classes)
            step += 1
        p_train, p_val = model.predict_proba(X[train]), model.predict_proba(X[val])
        rows.append({
            "epoch": epoch, "step": step, "timestamp": START + 2.0 * epoch,
            "train_loss": log_loss(y[train], p_train, labels=classes), "val_loss": log_loss(y[val], p_val, labels=classes),
            "train_accuracy": accuracy_score(y[train], classes[p_train.argmax(1)]),
            "val_accuracy": accuracy_score(y[val], classes[p_val.argmax(1)]),
        })

    with open(HERE / "log.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6f}" if isinstance(v, float) and k != "timestamp" else v) for k, v in r.items()})

    run = HERE / "mlruns" / "1" / RUN_ID
    if run.parent.parent.exists():
        shutil.rmtree(run.parent.parent)
    (run / "metrics").mkdir(parents=True)
    (run / "params").mkdir()
    (run / "tags").mkdir()
    (run / "meta.yaml").write_text(f"run_id: {RUN_ID}\nexperiment_id: '1'\nstatus: 3\nrun_name: digits-mlp\n")
    (run / "tags" / "mlflow.runName").write_text("digits-mlp")
    for key, value in {"hidden_layer_sizes": "128", "alpha": "0.0", "learning_rate_init": "0.01",
                       "batch_size": str(BATCH), "n_train": str(N_TRAIN)}.items():
        (run / "params" / key).write_text(value)
    for key in ("train_loss", "val_loss", "train_accuracy", "val_accuracy", "epoch"):
        lines = [f"{int(r['timestamp'] * 1000)} {float(r[key]):.6f} {r['step']}" for r in rows]
        (run / "metrics" / key).write_text("\n".join(lines) + "\n")
    best = min(rows, key=lambda r: r["val_loss"])
    print(f"{EPOCHS} epochs; best val loss {best['val_loss']:.4f} at epoch {best['epoch']}; "
          f"final train {rows[-1]['train_loss']:.4f} val {rows[-1]['val_loss']:.4f}")


if __name__ == "__main__":
    main()
