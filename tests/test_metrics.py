import json

import numpy as np
import pytest

from mgmtn.metrics import majority_baseline, per_attribute_balanced_accuracy, summarize

NAMES = ("A", "B", "C")
# A: both classes; B: no positives in the labels; C: no negatives.
LABELS = np.array([[1, 0, 1], [1, 0, 1], [1, 0, 1], [0, 0, 1]], np.float32)
PROBS = np.array([[0.9, 0.7, 0.5], [0.1, 0.2, 0.6], [0.4, 0.1, 0.49], [0.2, 0.3, 0.0]])


def test_summarize_by_hand():
    s = summarize(PROBS, LABELS, threshold=0.5, names=NAMES)
    a, b, c = (s["per_attribute"][n] for n in NAMES)
    # A: preds 1,0,0,0 vs 1,1,1,0 -> acc 2/4; TPR 1/3, TNR 1/1 -> balanced 2/3
    assert a["accuracy"] == pytest.approx(0.5) and a["balanced_accuracy"] == pytest.approx(2 / 3)
    # B: no positives -> balanced accuracy = TNR = 3/4 = its accuracy
    assert b["accuracy"] == pytest.approx(0.75) and b["balanced_accuracy"] == pytest.approx(0.75)
    # C: no negatives -> balanced accuracy = TPR; 0.5 counts as positive (>= threshold) -> 2/4
    assert c["accuracy"] == pytest.approx(0.5) and c["balanced_accuracy"] == pytest.approx(0.5)
    assert s["mean_accuracy"] == pytest.approx((0.5 + 0.75 + 0.5) / 3)
    assert s["mean_balanced_accuracy"] == pytest.approx((2 / 3 + 0.75 + 0.5) / 3)
    assert a["positive_rate"] == pytest.approx(0.75) and a["predicted_positive_rate"] == pytest.approx(0.25)
    assert s["n"] == 4
    json.dumps(s)  # plain python only
    assert all(type(v) is float for v in a.values())


def test_celeba_minus_one_labels_are_the_same():
    s1 = summarize(PROBS, LABELS, names=NAMES)
    s2 = summarize(PROBS, LABELS * 2 - 1, names=NAMES)
    assert s1 == s2


def test_balanced_accuracy_perfect_and_inverted():
    y = np.array([[1], [0], [0], [0]])
    assert per_attribute_balanced_accuracy(y, y)[0] == 1.0
    assert per_attribute_balanced_accuracy(1 - y, y)[0] == 0.0


def test_majority_baseline():
    train = np.array([[1, 0, 1], [1, 0, 0], [0, 0, 0]])  # majorities: 1, 0, 0
    s = majority_baseline(train, LABELS, names=NAMES)
    per = s["per_attribute"]
    assert per["A"]["accuracy"] == pytest.approx(0.75) and per["A"]["balanced_accuracy"] == pytest.approx(0.5)
    assert per["B"]["accuracy"] == 1.0 and per["B"]["balanced_accuracy"] == 1.0
    assert per["C"]["accuracy"] == 0.0 and per["C"]["balanced_accuracy"] == 0.0


def test_errors():
    with pytest.raises(ValueError, match="names"):
        summarize(PROBS, LABELS)  # 3 columns, 40 default names
    with pytest.raises(ValueError, match="no samples"):
        summarize(np.zeros((0, 3)), np.zeros((0, 3)), names=NAMES)
    with pytest.raises(ValueError, match="must both be"):
        summarize(PROBS, LABELS[:2], names=NAMES)
