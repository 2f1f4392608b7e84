"""Metrics out: Vigil's Prometheus registry and its exposition."""

from vigil.metrics.registry import VigilMetrics

__all__ = ["VigilMetrics"]
