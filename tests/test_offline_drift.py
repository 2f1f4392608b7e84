"""`vigil drift REFERENCE CURRENT`: formats, exit codes, reports."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from vigil.cli import app

runner = CliRunner()


def _table(n: int, shift: float, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    age = rng.normal(40 + 10 * shift, 10, n)
    age[:5] = np.nan
    plans = ["basic", "plus", "pro"]
    return pa.table(
        {
            "age": age,
            "income": rng.lognormal(10 + shift, 0.5, n),
            "plan": rng.choice(plans, n, p=[0.6, 0.3, 0.1] if not shift else [0.2, 0.3, 0.5]),
            "zip": rng.integers(0, 4, n),
            "label": rng.integers(0, 2, n),
            "score": rng.random(n),
        }
    )


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {
        "ref": tmp_path / "ref.parquet",
        "same": tmp_path / "same.csv",
        "drift": tmp_path / "drift.parquet",
    }
    pq.write_table(_table(3000, 0.0, 1), out["ref"])
    pacsv.write_csv(_table(2000, 0.0, 2), out["same"])
    pq.write_table(_table(4000, 1.0, 3), out["drift"])
    return out


def test_json_report_without_drift(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    result = runner.invoke(
        app,
        [
            "drift", str(files["ref"]), str(files["same"]), "--format", "json",
            "--out", str(out), "--target", "label", "--prediction", "score", "--fail-on-drift",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["dataset"]["drifted"] is False
    columns = {c["column"]: c for c in report["columns"]}
    assert columns["age"]["method"] == "wasserstein" and columns["age"]["reference_missing"] == 5
    assert columns["plan"]["type"] == "categorical" and columns["plan"]["method"] == "jensenshannon"
    assert columns["zip"]["method"] == "jensenshannon"  # 4 distinct numbers, > 1000 rows
    assert columns["label"]["role"] == "target" and columns["score"]["role"] == "prediction"
    assert report["multivariate"]["method"] == "pca_reconstruction"
    assert len(columns["age"]["chart"]["reference"]) == 30


def test_drift_fails_with_exit_1_and_writes_html(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    args = ["drift", str(files["ref"]), str(files["drift"]), "--out", str(out)]
    assert runner.invoke(app, args).exit_code == 0  # drift, but not asked to fail
    result = runner.invoke(app, [*args, "--fail-on-drift"])
    assert result.exit_code == 1, result.output
    html = out.read_text()
    HTMLParser().feed(html)  # well-formed enough to parse
    assert "Dataset drift detected" in html and html.count("<svg") == 6
    assert not re.search(r"""(src|href)=["']?https?:""", html), "must be self-contained"


def test_column_type_override(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    result = runner.invoke(
        app,
        [
            "drift", str(files["ref"]), str(files["drift"]), "--format", "json", "--out", str(out),
            "--column-type", "zip=categorical", "--column-type", "label=categorical",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    columns = {c["column"]: c for c in json.loads(out.read_text())["columns"]}
    assert columns["zip"]["type"] == "categorical" and columns["label"]["type"] == "categorical"
    assert sorted(columns["zip"]["chart"]["categories"]) == ["0", "1", "2", "3"]


def test_small_reference_uses_tests(tmp_path: Path) -> None:
    ref, cur = tmp_path / "a.csv", tmp_path / "b.csv"
    pacsv.write_csv(_table(300, 0.0, 5), ref)
    pacsv.write_csv(_table(300, 1.0, 6), cur)
    result = runner.invoke(app, ["drift", str(ref), str(cur), "--format", "json", "--out", "-"])
    assert result.exit_code == 0
    report = json.loads(result.stdout[result.stdout.index("{") :].split("\nreport")[0])
    methods = {c["column"]: c["method"] for c in report["columns"]}
    assert methods == {
        "age": "ks", "income": "ks", "plan": "chisquare", "zip": "chisquare",
        "label": "z", "score": "ks",
    }  # fmt: skip
    assert report["dataset"]["drifted"] is True


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--format", "pdf"], "--format"),
        (["--target", "nope"], "no such column"),
        (["--column-type", "age"], "COLUMN=TYPE"),
        (["--column-type", "nope=numerical"], "unknown columns"),
        (["--column-type", "plan=numerical"], "as numbers"),
    ],
)
def test_usage_errors_exit_2(files: dict[str, Path], extra: list[str], message: str) -> None:
    result = runner.invoke(app, ["drift", str(files["ref"]), str(files["drift"]), *extra])
    assert result.exit_code == 2 and message in result.output, result.output


def test_unreadable_inputs_exit_2(files: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("hello")
    (tmp_path / "bad.parquet").write_text("not parquet")
    pq.write_table(pa.table({"age": [1.0, 2.0]}), tmp_path / "narrow.parquet")
    for current, message in (
        (tmp_path / "missing.csv", "no such file"),
        (tmp_path / "x.txt", "unsupported format"),
        (tmp_path / "bad.parquet", "cannot read"),
        (tmp_path / "narrow.parquet", "missing from the current"),
    ):
        result = runner.invoke(app, ["drift", str(files["ref"]), str(current)])
        assert result.exit_code == 2 and message in result.output, result.output
