"""OTLP/HTTP receivers (`/v1/traces`, `/v1/logs`, `/v1/metrics`), protobuf and JSON.

Wire handling (content types, gzip, partial success, `google.rpc.Status` errors) is in `wire`;
each signal's conversion to Vigil's records in its own module; GenAI spans also become LLM calls
(`genai`).
"""
