"""Vigil: AI observability in one Python process.

Data flows gateway/ingest -> pipeline -> store -> monitors/alerts/metrics/ui
(see docs/architecture.md).
"""

__version__ = "0.1.0"
