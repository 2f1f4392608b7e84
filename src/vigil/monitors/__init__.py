"""Monitors: drift, data quality, performance (delayed labels), label-free estimation, LLM quality."""
