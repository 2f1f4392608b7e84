"""The demo's classic ML model: `churn-classifier` v1, a fixed logistic function of five features.

The reference data, the live predictions and the delayed true labels all come from here, so the
demo can show drift on purpose: before the drift the inputs follow the training distribution and
the true labels follow the model's own relation (it is well calibrated); after it, monthly charges
go up, the region mix moves west, customers call support more, and the true relation changes
(premium and western customers leave, price stops mattering), so accuracy decays from about 0.74 to
about 0.55 while the model keeps scoring the old way.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

MODEL = "churn-classifier"
VERSION = "v1"
NUMERICAL = ("tenure_months", "monthly_charges", "support_calls")
CATEGORICAL = ("plan", "region")
FEATURES = NUMERICAL + CATEGORICAL

PLANS = ("basic", "standard", "premium")
REGIONS = ("north", "south", "east", "west")
_PLAN_MIX = {False: (0.5, 0.35, 0.15), True: (0.45, 0.35, 0.20)}
_REGION_MIX = {False: (0.30, 0.25, 0.25, 0.20), True: (0.15, 0.20, 0.25, 0.40)}
_PLAN_EFFECT = {"basic": 0.35, "standard": 0.0, "premium": -0.45}
_REGION_EFFECT = {"north": -0.1, "south": 0.1, "east": 0.0, "west": 0.15}


def sample_features(rng: np.random.Generator, drifted: bool) -> dict[str, Any]:
    """One customer, from the training distribution or the drifted one."""
    charges_mean, charges_sd = (88.0, 24.0) if drifted else (65.0, 20.0)
    return {
        "tenure_months": int(np.clip(rng.gamma(2.0, 12.0), 1, 72)),
        "monthly_charges": round(float(np.clip(rng.normal(charges_mean, charges_sd), 18, 150)), 2),
        "support_calls": int(rng.poisson(2.3 if drifted else 1.4)),
        "plan": PLANS[int(rng.choice(len(PLANS), p=_PLAN_MIX[drifted]))],
        "region": REGIONS[int(rng.choice(len(REGIONS), p=_REGION_MIX[drifted]))],
    }


def _logit(f: dict[str, Any], drifted: bool) -> float:
    tenure = float(f["tenure_months"])
    charges = float(f["monthly_charges"])
    calls = float(f["support_calls"])
    if not drifted:
        return (
            0.2
            - 0.06 * tenure
            + 0.03 * (charges - 65.0)
            + 0.45 * (calls - 1.4)
            + _PLAN_EFFECT[f["plan"]]
            + _REGION_EFFECT[f["region"]]
        )
    # After the drift tenure protects less, support calls matter less, and price sensitivity is gone
    # while premium and western customers leave: the model's boundary no longer fits.
    return (
        -0.4
        - 0.02 * tenure
        + 0.005 * (charges - 65.0)
        + 0.15 * (calls - 1.4)
        + (0.9 if f["plan"] == "premium" else -0.2)
        + (0.8 if f["region"] == "west" else -0.3)
    )


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + math.exp(-x)))


def score(features: dict[str, Any]) -> float:
    """The model's churn probability (v1 always scores with the pre-drift relation)."""
    return round(_sigmoid(_logit(features, drifted=False)), 6)


def predict(features: dict[str, Any], threshold: float = 0.5) -> tuple[int, float]:
    p = score(features)
    return int(p >= threshold), p


def true_label(rng: np.random.Generator, features: dict[str, Any], drifted: bool) -> int:
    """Ground truth: a draw from the world's relation, which changes after the drift."""
    return int(rng.random() < _sigmoid(_logit(features, drifted)))
