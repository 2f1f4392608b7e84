"""The OpenAI-compatible LLM gateway: auth -> limits -> router -> providers -> stream.

The hot path does no blocking I/O and no database access: keys, limits, budgets and prices live in
memory (or Redis when scaled out) and telemetry leaves as a `CallRecord` offered to the pipeline.
"""
