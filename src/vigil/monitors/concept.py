"""Concept drift: the input -> target relation changed, seen as a rise in the model's error stream.

Data drift says the inputs moved; it cannot say whether the model still works on them. Concept drift
is detected on labelled predictions, in prediction order, with the Page-Hinkley test for an increase
in the mean of the stream:

    m_t = sum_{i<=t} (x_i - mean_i - delta),  PH_t = m_t - min_{i<=t} m_i,  alarm when PH_t > lambda

(`mean_i` is the running mean, `delta` the tolerated magnitude, `lambda` the alarm threshold). The
running sums are computed with cumulative numpy operations, and after an alarm the test restarts
after it, so every change in the window is found.

For classifiers with calibrated scores the stream is the *excess* error: the 0/1 error minus CBPE's
expected error for that row. Covariate shift towards harder inputs raises the error but also the
expected error, so it leaves the excess stream flat: only a changed relation moves it. That is what
keeps concept drift distinct from data drift. Without scores the 0/1 error (classification) or the
absolute error scaled by the reference's (regression) is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MIN_INSTANCES = 30
"""Samples before an alarm may fire, so the running mean has settled."""


@dataclass(slots=True)
class PageHinkley:
    """Alarms of one pass over a stream: sample positions where the test fired, and where each
    change most likely began (the minimum of the cumulative sum before the alarm)."""

    alarms: list[int] = field(default_factory=list)
    change_points: list[int] = field(default_factory=list)
    statistic: float = 0.0
    """PH_t at the end of the stream (since the last alarm)."""
    mean_before: list[float] = field(default_factory=list)
    mean_after: list[float] = field(default_factory=list)


def page_hinkley(
    stream: np.ndarray, *, delta: float = 0.05, threshold: float = 50.0
) -> PageHinkley:
    """Page-Hinkley test for an increase in the mean of `stream`, restarting after each alarm."""
    out = PageHinkley()
    x = np.asarray(stream, dtype=np.float64)
    start = 0
    while x.size - start > MIN_INSTANCES:
        seg = x[start:]
        t = np.arange(1, seg.size + 1)
        running_mean = np.cumsum(seg) / t
        m = np.cumsum(seg - running_mean - delta)
        ph = m - np.minimum.accumulate(m)
        ph[:MIN_INSTANCES] = 0.0
        fired = np.flatnonzero(ph > threshold)
        if fired.size == 0:
            out.statistic = float(ph[-1])
            break
        alarm = int(fired[0])
        change = int(np.argmin(m[: alarm + 1]))
        out.alarms.append(start + alarm)
        out.change_points.append(start + change)
        out.mean_before.append(float(seg[: change + 1].mean()))
        out.mean_after.append(float(seg[change + 1 : alarm + 1].mean()) if alarm > change else 0.0)
        start += alarm + 1
    return out


def excess_error(error: np.ndarray, expected: np.ndarray | None) -> np.ndarray:
    """The stream concept drift is tested on (see the module docstring)."""
    if expected is None:
        return error.astype(np.float64)
    stream: np.ndarray = error.astype(np.float64) - expected
    return stream
