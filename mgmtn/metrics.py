"""Attribute metrics: accuracy and balanced accuracy per attribute and their means (numpy in, floats out).

Labels count as positive when > 0, so both {0,1} and CelebA's raw {-1,1} work.

Balanced accuracy = (TPR + TNR) / 2. When the evaluation set lacks one class for an attribute, the
missing rate is undefined; we then use the rate of the class that is present, which equals that
attribute's plain accuracy. This keeps the mean over 40 attributes defined on small or skewed sets
(CelebA's val split has attributes with few positives) instead of silently dropping attributes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mgmtn.attributes import ATTRIBUTES


def _check(preds: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(preds).astype(bool)
    y = np.asarray(labels) > 0
    if p.shape != y.shape or p.ndim != 2:
        raise ValueError(f"predictions {p.shape} and labels {y.shape} must both be [N, A]")
    if p.shape[0] == 0:
        raise ValueError("no samples to evaluate")
    return p, y


def per_attribute_accuracy(preds: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Boolean predictions [N,A] vs labels [N,A] -> accuracy [A]."""
    p, y = _check(preds, labels)
    return (p == y).mean(axis=0)


def per_attribute_balanced_accuracy(preds: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(TPR + TNR) / 2 per attribute; with one class absent, the present class's rate (see module doc)."""
    p, y = _check(preds, labels)
    pos = y.sum(axis=0)
    neg = y.shape[0] - pos
    tp = (p & y).sum(axis=0)
    tn = (~p & ~y).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = tp / pos
        tnr = tn / neg
    return np.where(pos == 0, tnr, np.where(neg == 0, tpr, (tpr + tnr) / 2))


def summarize(probs: np.ndarray, labels: np.ndarray, threshold: float = 0.5, names: Sequence[str] = ATTRIBUTES) -> dict:
    """Probabilities [N,A] and labels [N,A] -> JSON-ready dict.

    Keys: n, threshold, mean_accuracy, mean_balanced_accuracy, and per_attribute
    {name: {accuracy, balanced_accuracy, positive_rate (labels), predicted_positive_rate}}.
    """
    probs = np.asarray(probs, dtype=np.float64)
    preds = probs >= threshold
    acc = per_attribute_accuracy(preds, labels)
    bal = per_attribute_balanced_accuracy(preds, labels)
    if len(names) != acc.shape[0]:
        raise ValueError(f"{len(names)} names for {acc.shape[0]} attribute columns")
    pos_rate = (np.asarray(labels) > 0).mean(axis=0)
    pred_rate = preds.mean(axis=0)
    per = {
        str(name): {
            "accuracy": float(acc[i]),
            "balanced_accuracy": float(bal[i]),
            "positive_rate": float(pos_rate[i]),
            "predicted_positive_rate": float(pred_rate[i]),
        }
        for i, name in enumerate(names)
    }
    return {
        "n": int(preds.shape[0]),
        "threshold": float(threshold),
        "mean_accuracy": float(acc.mean()),
        "mean_balanced_accuracy": float(bal.mean()),
        "per_attribute": per,
    }


def headline(metrics: dict) -> dict[str, float]:
    """The two figures a `summarize` result is reported by: mean accuracy and mean balanced accuracy."""
    return {k: metrics[k] for k in ("mean_accuracy", "mean_balanced_accuracy")}


def majority_baseline(train_labels: np.ndarray, eval_labels: np.ndarray, names: Sequence[str] = ATTRIBUTES) -> dict:
    """Score the constant predictor that answers each attribute's majority class on the training labels.

    The floor a model must beat: on CelebA it already reaches ~80% mean accuracy, while its balanced
    accuracy is 0.5 wherever the evaluation set has both classes. Same dict layout as `summarize`.
    """
    train_pos = (np.asarray(train_labels) > 0).mean(axis=0)
    n = np.asarray(eval_labels).shape[0]
    probs = np.broadcast_to((train_pos > 0.5).astype(np.float64), (n, train_pos.shape[0]))
    return summarize(probs, eval_labels, threshold=0.5, names=names)
