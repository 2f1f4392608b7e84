"""The ML model registry: which classic models exist, their feature schema, task and reference data.

Models come from two places: `ml_models` in vigil.yaml (read-only at run time) and the admin API
(`/api/v1/ml-models`), whose declarations are JSON files under `<store dir>/ml_models/` so they
survive restarts without going through the telemetry pipeline. Reference (training) datasets are
Parquet files under `<store dir>/references/<model>.parquet`; an uploaded one takes precedence over
the `reference` file named in vigil.yaml.

The monitors read references with `load_reference(state_or_dir, model)` and schemas with
`model_schema(state_or_dir, model)`.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from vigil.config import VigilConfig

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
"""Names usable as file names: API-declared models and uploaded references need one."""

PARQUET_MAGIC = b"PAR1"


class RegistryError(Exception):
    """A declaration or reference dataset was refused; `code` is the API error code."""

    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.details = details


@dataclass(frozen=True)
class ModelSchema:
    """What Vigil knows about one classic ML model."""

    name: str
    task: str
    features: dict[str, str] = field(default_factory=dict)
    positive_class: str | None = None
    label_delay_s: float | None = None
    source: str = "api"
    """`config` (vigil.yaml) or `api` (declared through the admin API)."""
    reference: str | None = None
    """Path of the reference dataset (CSV or Parquet), when there is one."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def store_dir(config: VigilConfig) -> Path:
    """The directory beside the store file, where registry files live."""
    return Path(config.store.path).expanduser().resolve().parent


def _atomic_write(path: Path, data: bytes) -> None:
    """Write via a temporary file, fsync and rename: a crash leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Registry:
    """API-declared models on disk, merged with the config's `ml_models` on every lookup."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._declared: dict[str, ModelSchema] = {}
        for path in sorted((directory / "ml_models").glob("*.json")):
            data = orjson.loads(path.read_bytes())
            self._declared[data["name"]] = ModelSchema(**data)

    def reference_file(self, name: str) -> Path:
        return self.directory / "references" / f"{name}.parquet"

    def _with_reference(self, schema: ModelSchema) -> ModelSchema:
        uploaded = self.reference_file(schema.name) if NAME_PATTERN.match(schema.name) else None
        if uploaded is not None and uploaded.exists():
            return ModelSchema(**{**schema.to_dict(), "reference": str(uploaded)})
        return schema

    def get(
        self, config: VigilConfig, name: str, with_reference: bool = True
    ) -> ModelSchema | None:
        """The model's schema; `with_reference=False` skips the file lookup (ingest hot path)."""
        entry = config.ml_models.get(name)
        if entry is not None:
            delay = entry.label_delay.total_seconds() if entry.label_delay else None
            reference = None
            if entry.reference:  # relative to the working directory, like every config path
                reference = str(Path(entry.reference).expanduser().resolve())
            schema = ModelSchema(
                name=name,
                task=entry.task,
                features=dict(entry.features),
                positive_class=entry.positive_class,
                label_delay_s=delay,
                source="config",
                reference=reference,
            )
            return self._with_reference(schema) if with_reference else schema
        declared = self._declared.get(name)
        if declared is None or not with_reference:
            return declared
        return self._with_reference(declared)

    def names(self, config: VigilConfig) -> list[str]:
        return sorted(set(config.ml_models) | set(self._declared))

    def is_empty(self, config: VigilConfig) -> bool:
        return not config.ml_models and not self._declared

    def declare(self, config: VigilConfig, schema: ModelSchema) -> ModelSchema:
        if schema.name in config.ml_models:
            raise RegistryError(
                "conflict", f"model {schema.name!r} is declared in vigil.yaml; change it there"
            )
        if not NAME_PATTERN.match(schema.name):
            raise RegistryError("invalid_request", f"model name must match {NAME_PATTERN.pattern}")
        path = self.directory / "ml_models" / f"{schema.name}.json"
        _atomic_write(path, orjson.dumps(schema.to_dict(), option=orjson.OPT_INDENT_2))
        self._declared[schema.name] = schema
        return self._with_reference(schema)

    def delete(self, config: VigilConfig, name: str) -> None:
        if name in config.ml_models:
            raise RegistryError("conflict", f"model {name!r} is declared in vigil.yaml")
        if self._declared.pop(name, None) is None:
            raise RegistryError("not_found", f"no ML model named {name!r}")
        (self.directory / "ml_models" / f"{name}.json").unlink(missing_ok=True)
        self.reference_file(name).unlink(missing_ok=True)

    def save_reference(self, schema: ModelSchema, data: bytes) -> dict[str, Any]:
        """Parse CSV or Parquet bytes, check the schema's features are columns, store Parquet."""
        if not NAME_PATTERN.match(schema.name):
            raise RegistryError(
                "invalid_request", f"model name must match {NAME_PATTERN.pattern} to upload"
            )
        table = parse_dataset(data)
        missing = [f for f in schema.features if f not in table.column_names]
        if missing:
            raise RegistryError(
                "invalid_reference",
                f"reference dataset lacks the schema's features {missing}",
                {"missing": missing, "columns": table.column_names},
            )
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd")
        _atomic_write(self.reference_file(schema.name), sink.getvalue())
        return describe(table)


def parse_dataset(data: bytes) -> Any:
    """Parquet (sniffed by its magic bytes) or CSV with a header row, as an Arrow table."""
    if not data:
        raise RegistryError("invalid_reference", "reference dataset is empty")
    try:
        if data[:4] == PARQUET_MAGIC and data[-4:] == PARQUET_MAGIC:
            table = pq.read_table(io.BytesIO(data))
        else:
            table = pa_csv.read_csv(io.BytesIO(data))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise RegistryError(
            "invalid_reference", f"not a readable CSV or Parquet file: {exc}"
        ) from None
    if table.num_rows == 0:
        raise RegistryError("invalid_reference", "reference dataset has no rows")
    return table


def describe(table: Any) -> dict[str, Any]:
    return {
        "rows": table.num_rows,
        "columns": {f.name: str(f.type) for f in table.schema},
    }


# -- the monitors' entry points -------------------------------------------------------------------
def _resolve(state_or_dir: Any) -> tuple[Registry, VigilConfig]:
    if isinstance(state_or_dir, str | os.PathLike):
        return Registry(Path(state_or_dir)), VigilConfig()
    from vigil.ingest.state import ingest_state

    return ingest_state(state_or_dir).registry, state_or_dir.config


def model_schema(state_or_dir: Any, model: str) -> ModelSchema | None:
    """The schema of `model` (None if undeclared); `state_or_dir`: a VigilState or store dir."""
    registry, config = _resolve(state_or_dir)
    return registry.get(config, model)


def load_reference(state_or_dir: Any, model: str) -> dict[str, npt.NDArray[Any]]:
    """The reference dataset of `model`, one numpy array per column.

    `state_or_dir` is the running app's `VigilState` or a store directory (offline use). Numerical
    columns come back as float/int arrays, categorical and text as object arrays, embeddings as
    object arrays of arrays. Raises `LookupError` when the model or its reference is missing.
    """
    schema = model_schema(state_or_dir, model)
    if schema is None:
        raise LookupError(f"no ML model named {model!r}")
    if schema.reference is None or not Path(schema.reference).exists():
        raise LookupError(f"ML model {model!r} has no reference dataset")
    table = parse_dataset(Path(schema.reference).read_bytes())
    return {name: np.asarray(table.column(name).to_numpy()) for name in table.column_names}
