"""Multivariate drift: correlated shifts no single column shows; embeddings and text columns."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from vigil.monitors.drift import column_drift, dataset_drift
from vigil.monitors.multivariate import (
    CLASSIFIER_AUC_THRESHOLD,
    _auc,
    classifier_auc,
    reconstruction_drift,
)


def _correlated(rng: np.random.Generator, n: int, rho: float) -> dict[str, np.ndarray]:
    cov = [[1.0, rho, 0.0], [rho, 1.0, 0.0], [0.0, 0.0, 1.0]]
    x = rng.multivariate_normal([0.0, 0.0, 0.0], cov, size=n)
    plan = np.where(rng.random(n) < 0.3, "pro", "basic").astype(object)
    return {"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "plan": plan}


def test_correlation_flip_is_caught_although_no_column_drifts() -> None:
    rng = np.random.default_rng(3)
    ref, cur = _correlated(rng, 20_000, 0.9), _correlated(rng, 50_000, -0.9)
    schema = {"a": "numerical", "b": "numerical", "c": "numerical", "plan": "categorical"}
    univariate = dataset_drift(ref, cur, schema)  # type: ignore[arg-type]
    assert univariate.drifted_columns == []  # the marginals did not move
    result = reconstruction_drift(ref, cur, categorical=["plan"])
    assert result.drifted and result.statistic > 1.5 * result.threshold
    assert result.components is not None and result.components < 4


def test_same_distribution_does_not_drift() -> None:
    rng = np.random.default_rng(4)
    for seed in range(5):
        rng = np.random.default_rng(seed)
        ref, cur = _correlated(rng, 20_000, 0.9), _correlated(rng, 30_000, 0.9)
        result = reconstruction_drift(ref, cur, categorical=["plan"])
        assert not result.drifted, result
        assert result.reference_mean is not None
        assert result.statistic == pytest.approx(result.reference_mean, rel=0.05)


def test_reconstruction_needs_two_columns_and_rows() -> None:
    with pytest.raises(ValueError, match="two columns"):
        reconstruction_drift({"a": np.ones(100)}, {"a": np.ones(100)})
    with pytest.raises(ValueError, match="at least 20 rows"):
        reconstruction_drift({"a": np.ones(5), "b": np.ones(5)}, {"a": np.ones(5), "b": np.ones(5)})


def test_auc_matches_mann_whitney() -> None:
    rng = np.random.default_rng(5)
    scores, labels = rng.normal(size=300).round(1), (rng.random(300) < 0.4).astype(float)
    u = sps.mannwhitneyu(scores[labels == 1], scores[labels == 0]).statistic
    assert _auc(scores, labels) == pytest.approx(u / ((labels == 1).sum() * (labels == 0).sum()))


def test_embedding_drift() -> None:
    rng = np.random.default_rng(6)
    ref = rng.normal(size=(3000, 32))
    same = rng.normal(size=(3000, 32))
    moved = rng.normal(size=(3000, 32))
    moved[:, :4] += 0.3
    assert classifier_auc(ref, same) < CLASSIFIER_AUC_THRESHOLD
    result = column_drift(ref, moved, "embedding", column="emb")
    assert result.method == "embedding_classifier" and result.drifted and result.statistic > 0.6
    assert not column_drift(ref, same, "embedding").drifted
    with_gap = same.copy()
    with_gap[0, 3] = np.nan
    assert column_drift(ref, with_gap, "embedding").current_missing == 1


def test_text_drift() -> None:
    rng = np.random.default_rng(7)
    billing = ["invoice", "refund", "charge", "card", "payment", "price"]
    shipping = ["parcel", "courier", "delivery", "tracking", "address", "late"]
    common = ["my", "the", "please", "help", "is", "order", "why"]

    def texts(words: list[str], n: int) -> np.ndarray:
        return np.array(
            [" ".join(rng.choice(words + common, rng.integers(4, 12))) for _ in range(n)],
            dtype=object,
        )

    ref = texts(billing, 1500)
    assert not column_drift(ref, texts(billing, 1500), "text").drifted
    result = column_drift(ref, texts(shipping, 1500), "text", column="question")
    assert result.method == "text_classifier" and result.drifted and result.statistic > 0.9
    with pytest.raises(ValueError, match="only the"):
        column_drift(ref, ref, "text", method="ks")
