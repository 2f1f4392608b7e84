"""Storage: the `Store` protocol and its backends (DuckDB embedded by default).

Only the pipeline's writer thread calls the write methods (design.md §1: every write goes through
`vigil.pipeline`); readers use `fetch`, which is safe from any thread.
"""

from vigil.store.base import SchemaTooNewError, Store, StoreError
from vigil.store.duckdb import DuckDBStore


def open_store(path: str) -> Store:
    """Open (creating and migrating when needed) the configured store."""
    return DuckDBStore(path)


__all__ = ["DuckDBStore", "SchemaTooNewError", "Store", "StoreError", "open_store"]
