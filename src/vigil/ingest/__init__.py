"""Ingest: everything that reaches Vigil without its gateway, validated then committed.

`events` (`POST /api/v1/events`), `otlp/` (OTLP/HTTP traces, logs, metrics), `loki` (Loki push),
the ML model `registry` and feature `schema` checks, idempotency (`dedupe`), and `write`, the
durable commit they all end with. `routes.INGEST_ROUTERS` is what the app mounts. See
docs/ingest.md.
"""
