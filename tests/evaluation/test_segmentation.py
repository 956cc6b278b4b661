"""Semantic segmentation maths: hand-built confusion matrix, per-pixel reference and scikit-learn, to 1e-12."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, jaccard_score, recall_score

from explorer import evaluate_segmentation
from explorer.errors import UserError
from explorer.evaluation.segmentation import per_image_iou


def test_hand_built_confusion_matrix():
    # K = 4; class 3 absent from label and prediction -> NaN, left out of the means
    label = np.array([[0, 0, 1, 1],
                      [0, 2, 2, 255],
                      [1, 1, 2, 255]])
    pred = np.array([[0, 1, 1, 1],
                     [0, 2, 0, 0],
                     [1, 2, 2, 2]])
    r = evaluate_segmentation(label, pred, num_classes=4)
    expected = np.array([[2, 1, 0, 0],
                         [0, 3, 1, 0],
                         [1, 0, 2, 0],
                         [0, 0, 0, 0]])
    np.testing.assert_array_equal(r.confusion, expected)
    # IoU: 0 -> 2/(3+3-2), 1 -> 3/(4+4-3), 2 -> 2/(3+3-2)
    np.testing.assert_allclose(r.iou[:3], [2 / 4, 3 / 5, 2 / 4], rtol=0, atol=1e-15)
    assert np.isnan(r.iou[3]) and np.isnan(r.acc[3])
    np.testing.assert_allclose(r.acc[:3], [2 / 3, 3 / 4, 2 / 3], rtol=0, atol=1e-15)
    assert r.summary["aAcc"] == pytest.approx(7 / 10, abs=1e-15)
    assert r.summary["mIoU"] == pytest.approx((0.5 + 0.6 + 0.5) / 3, abs=1e-15)
    assert r.summary["mAcc"] == pytest.approx((2 / 3 + 3 / 4 + 2 / 3) / 3, abs=1e-15)


def test_class_only_in_prediction_has_zero_iou_and_nan_acc():
    r = evaluate_segmentation(np.array([[0, 0]]), np.array([[0, 1]]), num_classes=2)
    assert r.iou.tolist() == [0.5, 0.0]
    assert r.acc[0] == 0.5 and np.isnan(r.acc[1])
    assert r.summary["mIoU"] == 0.25 and r.summary["mAcc"] == 0.5


def test_out_of_range_prediction_is_counted_wrong():
    # prediction 7 (and 255) are outside [0, 3): the pixels miss their label class and join no column
    r = evaluate_segmentation(np.array([[0, 1, 2, 2]]), np.array([[0, 7, 2, 255]]), num_classes=3)
    assert r.invalid_predictions.tolist() == [0, 1, 1]
    assert r.iou.tolist() == [1.0, 0.0, 0.5]
    assert r.summary["aAcc"] == 0.5


def _reference(labels, preds, k, ignore):
    """Straightforward per-pixel loop: counts of intersection, label and prediction per class."""
    inter = np.zeros(k)
    area_label = np.zeros(k)
    area_pred = np.zeros(k)
    for lab, prd in zip(labels, preds):
        for value_l, value_p in zip(lab.ravel().tolist(), prd.ravel().tolist()):
            if value_l == ignore:
                continue
            area_label[value_l] += 1
            if 0 <= value_p < k:
                area_pred[value_p] += 1
            if value_l == value_p:
                inter[value_l] += 1
    union = area_label + area_pred - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = inter / union
        acc = inter / area_label
    return iou, acc, inter.sum() / area_label.sum()


@pytest.mark.parametrize("seed", range(6))
def test_randomised_against_per_pixel_reference_and_sklearn(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 7))
    labels, preds = [], []
    for _ in range(int(rng.integers(1, 5))):
        h, w = rng.integers(1, 30, 2)
        lab = rng.integers(0, k, (h, w))
        lab[rng.random((h, w)) < 0.1] = 255
        if seed % 2:  # make some classes absent from both sides
            lab[lab == k - 1] = 0
        prd = np.where(rng.random((h, w)) < 0.6, lab, rng.integers(0, k + 1, (h, w)))  # k = out of range
        if seed % 2:
            prd[prd == k - 1] = 0
        labels.append(lab)
        preds.append(prd)
    r = evaluate_segmentation(iter(labels), iter(preds), num_classes=k)
    iou, acc, a_acc = _reference(labels, preds, k, 255)
    np.testing.assert_allclose(r.iou, iou, rtol=0, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(r.acc, acc, rtol=0, atol=1e-12, equal_nan=True)
    assert abs(r.summary["aAcc"] - a_acc) <= 1e-12
    assert abs(r.summary["mIoU"] - np.nanmean(iou)) <= 1e-12
    assert abs(r.summary["mAcc"] - np.nanmean(acc)) <= 1e-12

    y_true = np.concatenate([lab.ravel() for lab in labels])
    y_pred = np.concatenate([prd.ravel() for prd in preds])
    keep = y_true != 255
    y_true, y_pred = y_true[keep], y_pred[keep]
    present = np.flatnonzero(~np.isnan(iou))
    sk_iou = jaccard_score(y_true, y_pred, labels=present, average=None, zero_division=0)
    np.testing.assert_allclose(r.iou[present], sk_iou, rtol=0, atol=1e-12)
    in_label = np.flatnonzero(np.bincount(y_true, minlength=k))
    sk_acc = recall_score(y_true, y_pred, labels=in_label, average=None, zero_division=0)
    np.testing.assert_allclose(r.acc[in_label], sk_acc, rtol=0, atol=1e-12)
    assert abs(r.summary["aAcc"] - accuracy_score(y_true, y_pred)) <= 1e-12


def test_stack_and_list_inputs_agree():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, (4, 8, 9))
    preds = rng.integers(0, 3, (4, 8, 9))
    a = evaluate_segmentation(labels, preds, num_classes=3)
    b = evaluate_segmentation(list(labels), list(preds), num_classes=3)
    np.testing.assert_array_equal(a.confusion, b.confusion)
    assert a.n_images == b.n_images == 4


def test_per_image_iou_is_mean_over_present_classes():
    labels = [np.array([[0, 0, 1, 1]]), np.array([[2, 2, 2, 2]])]
    preds = [np.array([[0, 1, 1, 1]]), np.array([[2, 2, 0, 0]])]
    conf = []
    inv = []
    for lab, prd in zip(labels, preds):
        r = evaluate_segmentation(lab, prd, num_classes=3)
        conf.append(r.confusion)
        inv.append(r.invalid_predictions)
    got = per_image_iou(np.stack(conf), np.stack(inv))
    # image 1: IoU_0 = 1/2, IoU_1 = 2/3, class 2 absent; image 2: IoU_0 = 0/2, IoU_2 = 2/4
    np.testing.assert_allclose(got, [(1 / 2 + 2 / 3) / 2, (0 + 1 / 2) / 2], rtol=0, atol=1e-15)


@pytest.mark.parametrize("label, pred, message", [
    (np.zeros((2, 2), int), np.zeros((2, 3), int), "shape"),
    (np.array([[0, 5]]), np.array([[0, 0]]), "outside [0, 3)"),
    (np.zeros((2, 2)), np.zeros((2, 2), int), "integer"),
])
def test_bad_inputs_are_user_errors(label, pred, message):
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        evaluate_segmentation(label, pred, num_classes=3)


def test_restricted_means_use_chosen_classes_only():
    r = evaluate_segmentation(np.array([[0, 1, 2]]), np.array([[0, 0, 2]]), num_classes=3)
    out = r.restricted([1, 2])
    assert out["mIoU"] == pytest.approx((0 + 1) / 2) and out["aAcc"] == r.summary["aAcc"]
