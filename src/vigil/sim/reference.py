"""The reference (training) dataset of the demo's `churn-classifier`.

`vigil demo` writes it once and points `ml_models.churn-classifier.reference` at it; drift monitors
compare live traffic with it. It is drawn from the pre-drift distribution with the same logistic
relation the live generator uses, so before the drift starts the monitors should stay quiet.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from vigil.sim import churn

COLUMNS = (*churn.FEATURES, "label", "prediction", "score")


def write_reference(path: str | Path, n: int = 5000, seed: int = 0) -> Path:
    """Write `n` rows of features, true label, prediction and score as CSV; returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for _ in range(n):
            features = churn.sample_features(rng, drifted=False)
            prediction, score = churn.predict(features)
            label = churn.true_label(rng, features, drifted=False)
            writer.writerow([*(features[c] for c in churn.FEATURES), label, prediction, score])
    return out
