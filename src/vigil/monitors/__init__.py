"""Monitors: drift, data quality, performance (delayed labels), label-free estimation, concept
drift, LLM quality and business metrics, run per model by `vigil.monitors.scheduler`."""
