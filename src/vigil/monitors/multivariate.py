"""Drift that no single column shows: PCA reconstruction error and a domain classifier.

* `reconstruction_drift` (tables): a PCA fitted on the standardised reference keeps the directions
  that explain 65% of its variance; the mean distance between a row and its reconstruction is the
  statistic. When features keep their marginals but their correlation changes, rows leave the
  reference's principal subspace and the error rises. The threshold comes from the reference
  itself: it is cut into chunks and drift is called when the current error exceeds the chunks'
  mean + 3 standard deviations (NannyML's data-reconstruction rule).
* `classifier_auc` (embeddings, text): a logistic regression learns to tell reference rows from
  current rows; its ROC AUC on held-out rows is the statistic (0.5 = indistinguishable). Text is
  turned into hashed bag-of-words counts plus its length first. The verdict follows Evidently's
  model-based embedding drift and text-content drift: with a small sample the AUC must exceed the
  95th percentile of the AUCs random classifiers get on the same held-out labels (a fixed 0.55 is
  noise-level there); otherwise it must exceed 0.55 (see `auc_threshold`).

numpy only (no scikit-learn): both models are a few matrix products.
"""

from __future__ import annotations

import functools
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats as sps

Matrix = npt.NDArray[np.float64]

CLASSIFIER_AUC_THRESHOLD = 0.55
"""ROC AUC above which the domain classifier calls drift when the sample is large."""
BOOTSTRAP_ROWS = 1000
"""Evidently's small-sample cutoff: embeddings bootstrap below it, text at or below it."""
QUANTILE_PROBABILITY = 0.95
"""Percentile of the random classifiers' AUCs the AUC must exceed (Evidently's default)."""
RANDOM_CLASSIFIERS = 1000
"""Random classifiers drawn for that percentile (Evidently: 100 for embeddings, 1000 for text)."""
EXPLAINED_VARIANCE = 0.65
"""Share of the reference variance the PCA keeps (NannyML's default)."""
SIGMAS = 3.0
"""Drift above the reference chunks' mean reconstruction error + this many standard deviations."""
MAX_CLASSIFIER_ROWS = 5000
"""Rows sampled from each side for the domain classifier: AUC needs hundreds, not millions."""
HASH_BUCKETS = 512
"""Width of the hashed bag-of-words used for text columns."""
_TOKEN = re.compile(r"\w+")


@dataclass(frozen=True)
class MultivariateDriftResult:
    """A multivariate verdict: the statistic, the threshold it was compared with, and context."""

    method: str
    statistic: float
    threshold: float
    drifted: bool
    reference_size: int
    current_size: int
    reference_mean: float | None = None
    """For reconstruction error: the reference chunks' mean error (the baseline)."""
    components: int | None = None
    columns: tuple[str, ...] = ()


# --- PCA reconstruction error -------------------------------------------------------------------


def encode_table(
    reference: Mapping[str, np.ndarray],
    current: Mapping[str, np.ndarray],
    categorical: Sequence[str] = (),
) -> tuple[Matrix, Matrix, list[str]]:
    """Both tables as float matrices on the same columns: numbers as they are (missing -> the
    reference mean), categories as their reference frequency (unseen or missing -> 0)."""
    from vigil.monitors.stats import value_counts

    names = list(reference)
    ref_cols, cur_cols = [], []
    for name in names:
        ref, cur = np.asarray(reference[name]), np.asarray(current[name])
        if name in categorical:
            keys, counts = value_counts(ref[_valid(ref)])
            freq = dict(zip(keys.tolist(), (counts / len(ref)).tolist(), strict=True))
            ref_cols.append(_frequency(ref, freq))
            cur_cols.append(_frequency(cur, freq))
        else:
            r, c = ref.astype(np.float64), cur.astype(np.float64)
            finite = np.isfinite(r)
            fill = float(r[finite].mean()) if finite.any() else 0.0
            ref_cols.append(np.where(finite, r, fill))
            cur_cols.append(np.where(np.isfinite(c), c, fill))
    return np.column_stack(ref_cols), np.column_stack(cur_cols), names


def _valid(values: np.ndarray) -> npt.NDArray[np.bool_]:
    if values.dtype.kind == "f":
        finite: npt.NDArray[np.bool_] = ~np.isnan(values)
        return finite
    return np.fromiter((v is not None and v == v for v in values), bool, len(values))


def _frequency(values: np.ndarray, freq: Mapping[object, float]) -> Matrix:
    keys, inverse = np.unique(values.astype(str), return_inverse=True)
    text_freq = {str(k): v for k, v in freq.items()}
    mapped = np.array([text_freq.get(k, 0.0) for k in keys.tolist()], dtype=np.float64)
    return mapped[inverse.ravel()]


@dataclass(frozen=True)
class _Pca:
    mean: Matrix
    scale: Matrix
    components: Matrix  # (k, d)

    def errors(self, x: Matrix) -> Matrix:
        """Euclidean distance of each standardised row to its projection on the kept subspace."""
        z = (x - self.mean) / self.scale
        residual = z - (z @ self.components.T) @ self.components
        out: Matrix = np.sqrt(np.einsum("ij,ij->i", residual, residual))
        return out


def _fit_pca(x: Matrix, explained: float) -> _Pca:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    _, singular, vt = np.linalg.svd(z, full_matrices=False)
    share = np.cumsum(singular**2) / max(float(np.sum(singular**2)), 1e-300)
    k = int(np.searchsorted(share, explained) + 1)
    return _Pca(mean, scale, vt[: min(k, len(vt))])


def reconstruction_drift(
    reference: Mapping[str, np.ndarray],
    current: Mapping[str, np.ndarray],
    *,
    categorical: Sequence[str] = (),
    chunks: int = 10,
    explained_variance: float = EXPLAINED_VARIANCE,
    sigmas: float = SIGMAS,
) -> MultivariateDriftResult:
    """Mean PCA reconstruction error of `current` against the band the reference chunks define."""
    ref, cur, names = encode_table(reference, current, categorical)
    if len(names) < 2:
        raise ValueError("multivariate drift needs at least two columns")
    if len(ref) < 2 * chunks:
        raise ValueError(f"the reference needs at least {2 * chunks} rows")
    pca = _fit_pca(ref, explained_variance)
    ref_errors = pca.errors(ref)
    per_chunk = np.array([part.mean() for part in np.array_split(ref_errors, chunks)])
    baseline = float(per_chunk.mean())
    threshold = baseline + sigmas * float(per_chunk.std())
    statistic = float(pca.errors(cur).mean())
    return MultivariateDriftResult(
        method="pca_reconstruction",
        statistic=statistic,
        threshold=threshold,
        drifted=statistic > threshold,
        reference_size=len(ref),
        current_size=len(cur),
        reference_mean=baseline,
        components=len(pca.components),
        columns=tuple(names),
    )


# --- domain classifier ----------------------------------------------------------------------------


def classifier_auc(reference: Matrix, current: Matrix, *, seed: int = 0) -> float:
    """Held-out ROC AUC of an L2 logistic regression separating reference from current rows."""
    return _domain_classifier(reference, current, seed)[0]


def _domain_classifier(
    reference: Matrix, current: Matrix, seed: int
) -> tuple[float, npt.NDArray[np.bool_]]:
    """The held-out AUC and the held-out labels (True = current), which the bootstrap needs."""
    rng = np.random.default_rng(seed)
    n = min(len(reference), len(current), MAX_CLASSIFIER_ROWS)
    if n < 4:
        raise ValueError("the domain classifier needs at least 4 rows on each side")
    ref = reference[rng.choice(len(reference), n, replace=False)]
    cur = current[rng.choice(len(current), n, replace=False)]
    x = np.vstack([ref, cur]).astype(np.float64)
    y = np.concatenate([np.zeros(n), np.ones(n)])
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    x = (x - x.mean(axis=0)) / scale
    order = rng.permutation(2 * n)
    train, test = order[:n], order[n:]
    weights = _logistic_fit(x[train], y[train])
    scores = _with_bias(x[test]) @ weights
    return _auc(scores, y[test]), y[test] == 1


def small_sample(column_type: str, rows: int) -> bool:
    """Evidently's cutoff for judging the AUC against random classifiers instead of 0.55:
    embeddings below 1,000 reference rows (`EmbeddingsDriftMetric.calculate`), text at or below
    1,000 (`_get_default_stattest` picks `perc_text_content_drift` there)."""
    return rows <= BOOTSTRAP_ROWS if column_type == "text" else rows < BOOTSTRAP_ROWS


def auc_threshold(
    column_type: str,
    reference_rows: int,
    current_rows: int,
    held_out: npt.NDArray[np.bool_],
    bootstrap: bool | None = None,
) -> float:
    """The AUC the classifier must exceed: the held-out random classifiers' 95th percentile or 0.55.

    `bootstrap` forces one or the other (Evidently's parameter). By default a small reference gets
    the percentile, as in Evidently. A small window against a large reference gets the larger of
    the two: Evidently's classifier is held out on half of *all* rows, but Vigil's balances the
    classes (as many reference rows as window rows), so a small window makes its held-out set as
    small as a small reference would; the percentile then keeps noise from flagging, and 0.55 keeps
    Evidently's large-reference verdict wherever that is the stricter one.
    """
    positives = int(held_out.sum())

    def percentile() -> float:
        return random_auc_quantile(positives, len(held_out) - positives)

    if bootstrap is not None:
        return percentile() if bootstrap else CLASSIFIER_AUC_THRESHOLD
    if small_sample(column_type, reference_rows):
        return percentile()
    if small_sample(column_type, current_rows):
        return max(CLASSIFIER_AUC_THRESHOLD, percentile())
    return CLASSIFIER_AUC_THRESHOLD


@functools.lru_cache(maxsize=256)
def random_auc_quantile(
    positives: int,
    negatives: int,
    *,
    quantile: float = QUANTILE_PROBABILITY,
    draws: int = RANDOM_CLASSIFIERS,
    seed: int = 0,
) -> float:
    """The `quantile` of the ROC AUCs of `draws` random classifiers on these held-out labels.

    A random classifier's scores rank the held-out rows in a uniformly random order, so its AUC is
    the Mann-Whitney rank sum of a random subset of positions: one shuffle of the labels per draw,
    all draws at once. Depends only on the class counts, hence the cache.
    """
    if positives == 0 or negatives == 0:
        return 0.5
    rng = np.random.default_rng(seed)
    rows = positives + negatives
    labels = np.zeros((draws, rows), dtype=np.bool_)
    labels[:, :positives] = True
    shuffled = rng.permuted(labels, axis=1)
    ranks = np.arange(1, rows + 1, dtype=np.float64)
    rank_sums: Matrix
    if rows * (rows + 1) // 2 < 2**24:  # float32 is exact below 2**24 and several times faster
        rank_sums = (shuffled.astype(np.float32) @ ranks.astype(np.float32)).astype(np.float64)
    else:
        rank_sums = shuffled.astype(np.float64) @ ranks
    aucs = (rank_sums - positives * (positives + 1) / 2) / (positives * negatives)
    return float(np.percentile(aucs, 100 * quantile))


def _with_bias(x: Matrix) -> Matrix:
    return np.hstack([x, np.ones((len(x), 1))])


def _logistic_fit(x: Matrix, y: Matrix, *, l2: float = 1.0, iterations: int = 25) -> Matrix:
    """Newton's method on the L2-penalised log-loss (converges in a handful of steps)."""
    xb = _with_bias(x)
    w = np.zeros(xb.shape[1])
    penalty = np.full(xb.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -30, 30)))
        gradient = xb.T @ (p - y) + penalty * w
        hessian = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if float(np.max(np.abs(step))) < 1e-6:
            break
    return w


def _auc(scores: Matrix, labels: Matrix) -> float:
    """ROC AUC through the Mann-Whitney rank sum (ties get average ranks)."""
    ranks = sps.rankdata(scores)
    positives = labels == 1
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return 0.5
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def text_features(texts: np.ndarray) -> Matrix:
    """Hashed bag-of-words (log counts in `HASH_BUCKETS` buckets) plus character and word counts."""
    out = np.zeros((len(texts), HASH_BUCKETS + 2))
    for row, text in enumerate(texts.tolist()):
        tokens = _TOKEN.findall(str(text).lower())
        for token in tokens:
            out[row, zlib.crc32(token.encode()) % HASH_BUCKETS] += 1.0
        out[row, -2] = len(str(text))
        out[row, -1] = len(tokens)
    return np.log1p(out)


def unstructured_drift(
    reference: np.ndarray,
    current: np.ndarray,
    column_type: str,
    *,
    method: str,
    threshold: float | None = None,
    bootstrap: bool | None = None,
) -> MultivariateDriftResult:
    """Domain-classifier drift of a text column (hashed words) or an embedding column (vectors).

    Drift when the AUC is strictly above the threshold (Evidently's `>`): the given `threshold`,
    else `auc_threshold`'s. The result's `threshold` is the one used.
    """
    expected = "text_classifier" if column_type == "text" else "embedding_classifier"
    if method != expected:
        raise ValueError(f"{column_type} columns support only the {expected!r} method")
    rng = np.random.default_rng(0)
    if column_type == "text":
        ref = text_features(_sample(reference, rng))
        cur = text_features(_sample(current, rng))
    else:
        ref, cur = np.asarray(reference, np.float64), np.asarray(current, np.float64)
    auc, held_out = _domain_classifier(ref, cur, 0)
    if threshold is None:
        threshold = auc_threshold(column_type, len(reference), len(current), held_out, bootstrap)
    return MultivariateDriftResult(
        method=method,
        statistic=auc,
        threshold=threshold,
        drifted=auc > threshold,
        reference_size=len(reference),
        current_size=len(current),
    )


def _sample(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if len(values) <= MAX_CLASSIFIER_ROWS:
        return values
    return values[rng.choice(len(values), MAX_CLASSIFIER_ROWS, replace=False)]
