"""Ingest: events API (and, later, OTLP and Loki receivers): validate, then enqueue."""
