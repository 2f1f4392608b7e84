"""`vigil drift REFERENCE CURRENT`: the drift report of two CSV/Parquet files, without a server.

The files are read with pyarrow (no pandas), each column becomes a numpy array typed by its Arrow
type (numbers -> numerical, strings/booleans -> categorical, lists of numbers -> embedding; override
with `--column-type col=type`), and `vigil.monitors.drift.dataset_drift` judges them column by
column while rich shows progress. The result is written as JSON (for CI) or as one self-contained
HTML page (`vigil.reports.drift_html`). Exit codes: 0 no drift, 1 drift with `--fail-on-drift`,
2 usage error (unreadable file, unknown column, bad type).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # numpy/scipy load only when the command runs, not at every `vigil` start
    import numpy as np

    from vigil.monitors.drift import ColumnType, DatasetDriftResult
    from vigil.monitors.multivariate import MultivariateDriftResult

COLUMN_TYPES = ("numerical", "categorical", "text", "embedding")

HISTOGRAM_BINS = 30
TOP_CATEGORIES = 12


class UsageError(Exception):
    """A problem with the command line or the input files (exit code 2)."""


# --- reading --------------------------------------------------------------------------------------


def load_table(path: Path) -> Any:
    """A pyarrow Table from a .csv/.tsv or .parquet/.pq file."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pq.read_table(path)
        if suffix in (".csv", ".tsv"):
            options = pacsv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ",")
            return pacsv.read_csv(path, parse_options=options)
    except Exception as exc:  # pyarrow raises several types for malformed input
        raise UsageError(f"{path}: cannot read: {exc}") from exc
    raise UsageError(f"{path}: unsupported format {suffix!r} (use .csv, .tsv or .parquet)")


def arrow_column_type(arrow_type: Any) -> ColumnType:
    """The drift type an Arrow type gets unless `--column-type` says otherwise."""
    import pyarrow as pa

    if pa.types.is_list(arrow_type) or pa.types.is_fixed_size_list(arrow_type):
        return "embedding"
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type):
        return "numerical"
    if pa.types.is_decimal(arrow_type):
        return "numerical"
    return "categorical"


def to_numpy(column: Any, column_type: ColumnType) -> np.ndarray:
    """One Arrow column as the numpy array `column_drift` expects (nulls as NaN or None)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if column_type == "numerical":
        try:
            return np.asarray(pc.cast(column, pa.float64()).to_numpy(), dtype=np.float64)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise UsageError(f"cannot read {column.type} values as numbers: {exc}") from exc
    if column_type == "embedding":
        rows = column.to_pylist()
        width = max((len(r) for r in rows if r is not None), default=0)
        out = np.full((len(rows), width), np.nan)
        for i, row in enumerate(rows):
            if row is not None and len(row) == width:
                out[i] = row
        return out
    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, column.type.value_type)
    if column_type == "text" or pa.types.is_string(column.type) or pa.types.is_boolean(column.type):
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)
    values = column.to_numpy(zero_copy_only=False)
    return np.asarray(values, dtype=object if values.dtype.kind not in "iuf" else values.dtype)


def parse_column_types(items: list[str]) -> dict[str, ColumnType]:
    """`col=type` pairs from the command line."""
    out: dict[str, ColumnType] = {}
    for item in items:
        name, sep, kind = item.rpartition("=")
        if not sep or not name or kind not in COLUMN_TYPES:
            raise UsageError(
                f"--column-type {item!r}: expected COLUMN=TYPE, TYPE in {COLUMN_TYPES}"
            )
        out[name] = cast("ColumnType", kind)
    return out


# --- computing ------------------------------------------------------------------------------------


def run_drift(
    reference: Any,
    current: Any,
    *,
    column_types: dict[str, ColumnType],
    share_threshold: float = 0.5,
    console: Console | None = None,
) -> tuple[DatasetDriftResult, dict[str, dict[str, Any]], MultivariateDriftResult | None]:
    """Column drift for every column of the reference (all must exist in current), histograms
    for the report, and the multivariate check over numerical and categorical columns."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from vigil.monitors.drift import DatasetDriftResult, DriftResult, column_drift
    from vigil.monitors.multivariate import reconstruction_drift

    missing = [c for c in reference.column_names if c not in current.column_names]
    if missing:
        raise UsageError(f"columns missing from the current data: {', '.join(missing)}")
    unknown = [c for c in column_types if c not in reference.column_names]
    if unknown:
        raise UsageError(f"--column-type names unknown columns: {', '.join(unknown)}")
    schema = {
        name: column_types.get(name) or arrow_column_type(reference.schema.field(name).type)
        for name in reference.column_names
    }
    results: list[DriftResult] = []
    charts: dict[str, dict[str, Any]] = {}
    tabular_ref: dict[str, np.ndarray] = {}
    tabular_cur: dict[str, np.ndarray] = {}
    progress = Progress(
        TextColumn("drift {task.fields[column]:<24}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        transient=True,
    )
    with progress:
        task = progress.add_task("drift", total=len(schema), column="")
        for name, kind in schema.items():
            progress.update(task, column=name)
            ref = to_numpy(reference[name], kind)
            cur = to_numpy(current[name], kind)
            try:
                results.append(column_drift(ref, cur, kind, column=name))
            except ValueError as exc:
                raise UsageError(f"column {name!r}: {exc}") from exc
            charts[name] = histogram(ref, cur, kind)
            if kind in ("numerical", "categorical"):
                tabular_ref[name], tabular_cur[name] = ref, cur
            progress.advance(task)
    share = sum(r.drifted for r in results) / len(results) if results else 0.0
    dataset = DatasetDriftResult(
        results, share, share_threshold, bool(results) and share >= share_threshold
    )
    multivariate = None
    if len(tabular_ref) >= 2 and reference.num_rows >= 20:
        categorical = [n for n in tabular_ref if schema[n] == "categorical"]
        multivariate = reconstruction_drift(tabular_ref, tabular_cur, categorical=categorical)
    return dataset, charts, multivariate


def histogram(reference: np.ndarray, current: np.ndarray, kind: ColumnType) -> dict[str, Any]:
    """Shares per bin (numbers) or per category (top categories + "other") for the report chart."""
    import numpy as np

    from vigil.monitors.drift import drop_missing

    if kind not in ("numerical", "categorical"):
        return {}
    ref, _ = drop_missing(reference, kind)
    cur, _ = drop_missing(current, kind)
    if len(ref) == 0 or len(cur) == 0:
        return {}
    if kind == "numerical":
        lo, hi = float(min(ref.min(), cur.min())), float(max(ref.max(), cur.max()))
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, HISTOGRAM_BINS + 1)
        return {
            "edges": edges.tolist(),
            "reference": (np.histogram(ref, edges)[0] / len(ref)).tolist(),
            "current": (np.histogram(cur, edges)[0] / len(cur)).tolist(),
        }
    from vigil.monitors.stats import aligned_counts

    keys, ref_counts, cur_counts = aligned_counts(ref, cur)
    order = np.argsort(-(ref_counts + cur_counts), kind="stable")
    top, rest = order[:TOP_CATEGORIES], order[TOP_CATEGORIES:]
    labels = [str(k) for k in keys[top].tolist()]
    ref_share = (ref_counts[top] / len(ref)).tolist()
    cur_share = (cur_counts[top] / len(cur)).tolist()
    if len(rest):
        labels.append(f"other ({len(rest)})")
        ref_share.append(float(ref_counts[rest].sum() / len(ref)))
        cur_share.append(float(cur_counts[rest].sum() / len(cur)))
    return {"categories": labels, "reference": ref_share, "current": cur_share}


# --- reporting ------------------------------------------------------------------------------------


def report_dict(
    dataset: DatasetDriftResult,
    charts: dict[str, dict[str, Any]],
    multivariate: MultivariateDriftResult | None,
    *,
    reference: Path,
    current: Path,
    roles: dict[str, str],
) -> dict[str, Any]:
    """The JSON report: everything the HTML page shows, in plain JSON types."""
    import numpy as np

    from vigil import __version__
    from vigil.monitors.drift import METHODS

    def number(value: float | None) -> float | str | None:
        if value is None or np.isfinite(value):
            return value
        return "inf" if value > 0 else "-inf"

    columns = []
    for r in dataset.columns:
        method = METHODS.get(r.method)
        columns.append(
            {
                "column": r.column,
                "role": roles.get(r.column, "feature"),
                "type": r.column_type,
                "method": r.method,
                "method_name": method.display_name if method else r.method,
                "statistic": number(r.statistic),
                "p_value": number(r.p_value),
                "score": number(r.score),
                "threshold": r.threshold,
                "drifted": r.drifted,
                "reference_size": r.reference_size,
                "current_size": r.current_size,
                "reference_missing": r.reference_missing,
                "current_missing": r.current_missing,
                "chart": charts.get(r.column, {}),
            }
        )
    return {
        "vigil_version": __version__,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "reference": str(reference),
        "current": str(current),
        "dataset": {
            "drifted": dataset.drifted,
            "drift_share": dataset.drift_share,
            "share_threshold": dataset.share_threshold,
            "drifted_columns": dataset.drifted_columns,
            "columns": len(dataset.columns),
        },
        "multivariate": None
        if multivariate is None
        else {
            "method": multivariate.method,
            "statistic": multivariate.statistic,
            "threshold": multivariate.threshold,
            "reference_mean": multivariate.reference_mean,
            "components": multivariate.components,
            "drifted": multivariate.drifted,
            "columns": list(multivariate.columns),
        },
        "columns": columns,
    }


def summary_table(report: dict[str, Any]) -> Table:
    table = Table(title="Data drift", show_lines=False)
    for header in ("column", "type", "method", "score", "threshold", "drift"):
        table.add_column(header)
    for c in report["columns"]:
        score = c["score"]
        shown = f"{score:.4g}" if isinstance(score, float) else str(score)
        verdict = "[red]DRIFT[/red]" if c["drifted"] else "[green]ok[/green]"
        table.add_row(c["column"], c["type"], c["method"], shown, f"{c['threshold']:g}", verdict)
    return table


# --- the command ----------------------------------------------------------------------------------


def drift_command(
    reference: Annotated[Path, typer.Argument(help="Reference data (.csv, .tsv or .parquet).")],
    current: Annotated[Path, typer.Argument(help="Current data, same columns.")],
    target: Annotated[str | None, typer.Option(help="Target column (checked too).")] = None,
    prediction: Annotated[str | None, typer.Option(help="Prediction column (checked too).")] = None,
    report_format: Annotated[
        str, typer.Option("--format", help="Report format: html or json.")
    ] = "html",
    out: Annotated[
        Path | None,
        typer.Option(help="Report file (default drift-report.html/.json; '-' for stdout)."),
    ] = None,
    fail_on_drift: Annotated[
        bool, typer.Option(help="Exit 1 when dataset or multivariate drift is detected.")
    ] = False,
    column_type: Annotated[
        list[str] | None,
        typer.Option(help="Override a column's type: COLUMN=numerical|categorical|text|embedding."),
    ] = None,
    drift_share: Annotated[
        float, typer.Option(help="Share of drifted columns that makes the dataset drift.")
    ] = 0.5,
) -> None:
    """Compare CURRENT with REFERENCE column by column and write an HTML or JSON drift report."""
    err = Console(stderr=True, soft_wrap=True)
    try:
        if report_format not in ("html", "json"):
            raise UsageError(f"--format {report_format!r}: expected html or json")
        types = parse_column_types(column_type or [])
        ref_table, cur_table = load_table(reference), load_table(current)
        roles = {}
        for role, name in (("target", target), ("prediction", prediction)):
            if name is not None:
                if name not in ref_table.column_names:
                    raise UsageError(f"--{role} {name!r}: no such column in {reference}")
                roles[name] = role
        dataset, charts, multivariate = run_drift(
            ref_table, cur_table, column_types=types, share_threshold=drift_share, console=err
        )
    except UsageError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    report = report_dict(
        dataset, charts, multivariate, reference=reference, current=current, roles=roles
    )
    if report_format == "json":
        text = json.dumps(report, indent=2)
    else:
        from vigil.reports.drift_html import render

        text = render(report)
    if out is not None and str(out) == "-":
        sys.stdout.write(text)
    else:
        path = out or Path(f"drift-report.{report_format}")
        path.write_text(text, encoding="utf-8")
        err.print(f"report written to {path}")
    err.print(summary_table(report))
    drifted = dataset.drifted or bool(multivariate and multivariate.drifted)
    err.print(
        f"dataset drift: {'[red]yes[/red]' if dataset.drifted else 'no'} "
        f"({sum(r.drifted for r in dataset.columns)}/{len(dataset.columns)} columns, "
        f"share {dataset.drift_share:.2f} vs {dataset.share_threshold:g})"
        + (
            ""
            if multivariate is None
            else f"; multivariate drift: {'yes' if multivariate.drifted else 'no'}"
        )
    )
    if fail_on_drift and drifted:
        raise typer.Exit(1)
