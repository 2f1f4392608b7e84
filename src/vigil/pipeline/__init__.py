"""The one write path into the store (design.md §4): batching, group commit, back-pressure."""

from vigil.pipeline.writer import Backpressure, PipelineClosed, WritePipeline

__all__ = ["Backpressure", "PipelineClosed", "WritePipeline"]
