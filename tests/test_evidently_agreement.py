"""Agreement with Evidently: same method per column, same statistic (1e-6 relative), same verdict.

Evidently pins pandas<3, so it lives in `.venv-peers` (scripts/peers-venv.sh) and runs in a
subprocess on Parquet files both sides read. The datasets: scikit-learn's bundled ones (exported
by the peer process, which has scikit-learn) split with and without drift, and generated ones with
known injected shifts, small (tests chosen) and large (distances chosen) references, missing
values, unseen categories, and every method forced once on every column type it supports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vigil.monitors.drift import METHODS, MethodOverride, dataset_drift

ROOT = Path(__file__).resolve().parents[1]
PEERS_PYTHON = Path(os.environ.get("VIGIL_PEERS_PYTHON", ROOT / ".venv-peers" / "bin" / "python"))
PEER_ENV = {**os.environ, "NML_DISABLE_USAGE_LOGGING": "1", "DO_NOT_TRACK": "1"}

RUNNER = r"""
import json, sys, warnings
from pathlib import Path
import numpy as np
import pandas as pd
warnings.filterwarnings("ignore")
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
from evidently.legacy.calculations.stattests import get_stattest
from evidently.legacy.core import ColumnType

root = Path(sys.argv[1])

def export_sklearn():
    from sklearn import datasets
    for name in ("iris", "wine", "breast_cancer", "diabetes", "digits"):
        bunch = getattr(datasets, "load_" + name)(as_frame=True)
        frame = bunch.frame.copy()
        target = "target"
        if name in ("breast_cancer", "digits"):  # Evidently is quadratic in columns: keep 17
            keep = list(frame.columns[:8]) + list(frame.columns[20:28]) + [target]
            frame = frame[keep]
        if name == "digits":
            ref, cur = frame.iloc[:1200], frame.iloc[1200:]  # > 1000 rows: distances
            splits = {"split": (ref, cur)}
        else:
            frame[target] = frame[target].astype(str) if name != "diabetes" else frame[target]
            key = frame.columns[0]
            ordered = frame.sort_values(key, kind="stable")
            half = len(frame) // 2
            splits = {
                "alternate": (frame.iloc[::2], frame.iloc[1::2]),
                "sorted": (ordered.iloc[:half], ordered.iloc[half:]),
            }
        for split, (ref, cur) in splits.items():
            out = root / f"sklearn-{name}-{split}"
            out.mkdir()
            ref.reset_index(drop=True).to_parquet(out / "reference.parquet")
            cur.reset_index(drop=True).to_parquet(out / "current.parquet")
            categorical = [target] if frame[target].dtype == object else []
            schema = {c: "categorical" if c in categorical else "numerical" for c in frame}
            (out / "spec.json").write_text(json.dumps({"schema": schema, "methods": {}}))

export_sklearn()

results = {}
for case in sorted(p for p in root.iterdir() if p.is_dir()):
    spec = json.loads((case / "spec.json").read_text())
    schema, methods = spec["schema"], spec["methods"]
    ref = pd.read_parquet(case / "reference.parquet")
    cur = pd.read_parquet(case / "current.parquet")
    num = [c for c, t in schema.items() if t == "numerical"]
    cat = [c for c, t in schema.items() if t == "categorical"]
    definition = DataDefinition(numerical_columns=num, categorical_columns=cat)
    preset = DataDriftPreset(columns=list(schema), per_column_method=methods or None)
    snapshot = Report([preset]).run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    ).dict()
    columns, count = {}, None
    for metric in snapshot["metrics"]:
        config = metric["config"]
        if config["type"].endswith("DriftedColumnsCount"):
            count = metric["value"]
        elif config["type"].endswith("ValueDrift"):
            columns[config["column"]] = {"method": config["method"], "score": metric["value"],
                                         "threshold": config["threshold"]}
    for name, kind in schema.items():  # the verdict, from the same stattest objects the report uses
        ctype = ColumnType.Numerical if kind == "numerical" else ColumnType.Categorical
        r = ref[name].replace([-np.inf, np.inf], np.nan).dropna()
        c = cur[name].replace([-np.inf, np.inf], np.nan).dropna()
        test = get_stattest(r, c, ctype, methods.get(name))
        outcome = test(r, c, ctype, None)
        columns[name]["drifted"] = bool(outcome.drifted)
        columns[name]["name"] = test.name
    results[case.name] = {"columns": columns, "count": count}
print(json.dumps(results))
"""

pytestmark = pytest.mark.skipif(
    not PEERS_PYTHON.exists(),
    reason="Evidently's venv is missing: run `bash scripts/peers-venv.sh` (make peers)",
)


def _write_case(
    root: Path,
    name: str,
    ref: dict[str, np.ndarray],
    cur: dict[str, np.ndarray],
    schema: dict[str, str],
    methods: dict[str, str] | None = None,
) -> None:
    case = root / name
    case.mkdir()
    pq.write_table(pa.table(ref), case / "reference.parquet")
    pq.write_table(pa.table(cur), case / "current.parquet")
    (case / "spec.json").write_text(json.dumps({"schema": schema, "methods": methods or {}}))


def _table(rng: np.random.Generator, n: int, shift: float) -> dict[str, np.ndarray]:
    """Columns that exercise every branch of the automatic choice; `shift` injects drift."""
    cats = np.array(["red", "green", "blue", "black", "white", "pink"], dtype=object)
    p = np.array([0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
    q = np.roll(p, 1) if shift else p
    with_gaps = rng.normal(shift, 1, n)
    with_gaps[rng.random(n) < 0.05] = np.nan
    labels = rng.choice(cats, n, p=q)
    yes_no = np.array(["yes", "no"], dtype=object)
    labels[rng.random(n) < 0.03] = None
    return {
        "normal": rng.normal(0, 1, n),
        "shifted": rng.normal(shift * 0.5, 1, n),
        "scaled": rng.normal(0, 1 + shift, n),
        "skewed": rng.lognormal(shift * 0.3, 1, n),
        "with_gaps": with_gaps,
        "few_values": rng.integers(0, 4 + int(shift > 0), n).astype(np.float64),
        "binary_num": (rng.random(n) < 0.3 + 0.1 * shift).astype(np.float64),
        "counts": rng.poisson(8 + 2 * shift, n).astype(np.float64),
        "color": labels,
        "flag": rng.choice(yes_no, n, p=[0.6 - 0.1 * shift, 0.4 + 0.1 * shift]),
        "city": rng.choice(np.array(["a", "b", "c"] + (["new"] if shift else []), dtype=object), n),
    }


SCHEMA = {
    "normal": "numerical", "shifted": "numerical", "scaled": "numerical", "skewed": "numerical",
    "with_gaps": "numerical", "few_values": "numerical", "binary_num": "numerical",
    "counts": "numerical", "color": "categorical", "flag": "categorical", "city": "categorical",
}  # fmt: skip


def _forced_methods() -> tuple[dict[str, str], dict[str, str]]:
    """Every method on every column type Evidently allows it for (columns renamed method__col)."""
    schema, methods = {}, {}
    for name, spec in METHODS.items():
        for col, kind in SCHEMA.items():
            evidently_types = {"chisquare": {"categorical"}, "z": {"categorical"}}
            allowed = evidently_types.get(name, spec.column_types)
            if kind in allowed and not (name == "z" and col != "flag"):
                schema[f"{name}__{col}"] = kind
                methods[f"{name}__{col}"] = name
    return schema, methods


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    root = tmp_path_factory.mktemp("evidently")
    rng = np.random.default_rng(7)
    for size_name, (n_ref, n_cur) in {"small": (800, 600), "large": (2500, 4000)}.items():
        for shift in (0.0, 1.0):
            ref, cur = _table(rng, n_ref, 0.0), _table(rng, n_cur, shift)
            _write_case(root, f"gen-{size_name}-shift{shift:g}", ref, cur, SCHEMA)
    schema, methods = _forced_methods()
    ref, cur = _table(rng, 1200, 0.0), _table(rng, 1500, 0.4)
    for method in METHODS:  # one case per method: Evidently's cost grows with columns squared
        names = [c for c in schema if c.startswith(f"{method}__")]
        _write_case(
            root,
            f"gen-every-method-{method}",
            {c: ref[c.split("__", 1)[1]] for c in names},
            {c: cur[c.split("__", 1)[1]] for c in names},
            {c: schema[c] for c in names},
            {c: methods[c] for c in names},
        )
    run = subprocess.run(
        [str(PEERS_PYTHON), "-c", RUNNER, str(root)],
        env=PEER_ENV, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return root, json.loads(run.stdout)


def _read(path: Path) -> dict[str, np.ndarray]:
    table = pq.read_table(path)
    out = {}
    for name in table.column_names:
        column = table[name]
        if pa.types.is_floating(column.type) or pa.types.is_integer(column.type):
            out[name] = column.to_numpy().astype(np.float64)
        else:
            out[name] = np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)
    return out


def test_every_case_agrees_with_evidently(cases: tuple[Path, dict[str, object]]) -> None:
    root, evidently = cases
    assert any(name.startswith("sklearn-") for name in evidently)
    compared, mismatches = 0, []
    for case_name, expected in sorted(evidently.items()):
        assert isinstance(expected, dict)
        spec = json.loads((root / case_name / "spec.json").read_text())
        overrides = {c: MethodOverride(method=m) for c, m in spec["methods"].items()}
        got = dataset_drift(
            _read(root / case_name / "reference.parquet"),
            _read(root / case_name / "current.parquet"),
            spec["schema"],
            overrides=overrides,
        )
        for result in got.columns:
            theirs = expected["columns"][result.column]
            ours = (result.method, result.drifted, result.threshold)
            shown = (METHODS[result.method].display_name, result.method)  # auto / per-column
            if (
                ours != (theirs["name"], theirs["drifted"], theirs["threshold"])
                or theirs["method"] not in shown
                or not np.isclose(result.score, theirs["score"], rtol=1e-6, atol=1e-12)
            ):
                mismatches.append((case_name, result.column, ours, result.score, theirs))
            compared += 1
        count = expected["count"]
        assert count["count"] == sum(c.drifted for c in got.columns), case_name
        assert count["share"] == pytest.approx(got.drift_share), case_name
    assert not mismatches, "\n".join(map(str, mismatches))
    assert compared > 120


def test_cases_cover_every_method_and_both_verdicts(cases: tuple[Path, dict[str, object]]) -> None:
    _, evidently = cases
    seen = {
        (column["name"], column["drifted"])
        for case in evidently.values()
        if isinstance(case, dict)
        for column in case["columns"].values()
    }
    for name in METHODS:
        assert (name, True) in seen and (name, False) in seen, name


if __name__ == "__main__":  # pragma: no cover - debugging aid
    sys.exit(pytest.main([__file__, "-q"]))
