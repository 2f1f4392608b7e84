"""The offline drift report as one self-contained HTML page.

Everything is inline (CSS and SVG charts drawn here from the JSON report), so the file can be
attached to a CI run or opened from a notebook with no network and no JavaScript. Every value that
comes from the data is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

WIDTH, HEIGHT, PAD = 360, 120, 4
REF_COLOR, CUR_COLOR = "#6b7b8c", "#e0712c"

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1d2733}
h1{font-size:1.5rem;margin:0 0 .25rem} .muted{color:#65717e} code{font-size:.9em}
.verdict{display:inline-block;padding:.35rem .8rem;border-radius:6px;font-weight:600;margin:.8rem 0}
.drift{background:#fde2dd;color:#9b1c0c} .ok{background:#dcf3e3;color:#17602f}
table{border-collapse:collapse;width:100%;margin:1rem 0}
th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid #e3e7eb;vertical-align:middle}
th{font-size:.8rem;text-transform:uppercase;letter-spacing:.04em;color:#65717e}
td.num{font-variant-numeric:tabular-nums} svg{display:block}
.legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 1rem}
"""


def render(report: dict[str, Any]) -> str:
    """The HTML page for a report built by `vigil.monitors.offline.report_dict`."""
    dataset = report["dataset"]
    drifted = dataset["drifted"]
    rows = "\n".join(_row(c) for c in report["columns"])
    summary = (
        f"{len(dataset['drifted_columns'])} of {dataset['columns']} columns drifted "
        f"(share {dataset['drift_share']:.2f}; "
        f"the dataset drifts at {dataset['share_threshold']:g})"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Vigil drift report</title><style>{_CSS}</style></head>
<body>
<h1>Data drift report</h1>
<div class="muted">reference <code>{escape(report["reference"])}</code> &middot; current
<code>{escape(report["current"])}</code> &middot; {escape(report["generated_at"])} &middot;
Vigil {escape(report["vigil_version"])}</div>
<div class="verdict {"drift" if drifted else "ok"}">{
        "Dataset drift detected" if drifted else "No dataset drift"
    }: {escape(summary)}</div>
{_multivariate(report.get("multivariate"))}
<div class="legend muted"><span style="background:{REF_COLOR}"></span>reference
<span style="background:{CUR_COLOR}"></span>current</div>
<table><thead><tr><th>column</th><th>type</th><th>method</th><th>score</th><th>threshold</th>
<th>drift</th><th>rows (missing)</th><th>distribution</th></tr></thead>
<tbody>
{rows}
</tbody></table>
<p class="muted">Scores are p-values for tests (drift when below the threshold) and distances
otherwise (drift when at or above it); methods and thresholds follow Evidently's defaults. See
docs/drift-methods.md.</p>
</body></html>
"""


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return escape(str(value))


def _row(column: dict[str, Any]) -> str:
    verdict = '<b style="color:#9b1c0c">DRIFT</b>' if column["drifted"] else "ok"
    role = (
        ""
        if column["role"] == "feature"
        else f' <span class="muted">({escape(column["role"])})</span>'
    )
    sizes = (
        f"{column['reference_size']:,} ({column['reference_missing']:,}) / "
        f"{column['current_size']:,} ({column['current_missing']:,})"
    )
    return (
        f"<tr><td><b>{escape(column['column'])}</b>{role}</td><td>{escape(column['type'])}</td>"
        f"<td>{escape(column['method_name'])}</td><td class=num>{_fmt(column['score'])}</td>"
        f"<td class=num>{_fmt(column['threshold'])}</td><td>{verdict}</td>"
        f"<td class=num>{sizes}</td><td>{_chart(column.get('chart') or {})}</td></tr>"
    )


def _multivariate(result: dict[str, Any] | None) -> str:
    if not result:
        return ""
    verdict = "drift" if result["drifted"] else "no drift"
    return (
        f"<p>Multivariate ({escape(result['method'])}, {result['components']} components over "
        f"{len(result['columns'])} columns): mean reconstruction error {result['statistic']:.4g} "
        f"against an upper bound of {result['threshold']:.4g} (reference "
        f"{result['reference_mean']:.4g}) &rarr; <b>{verdict}</b>.</p>"
    )


def _chart(chart: dict[str, Any]) -> str:
    """Side-by-side bars of the reference and current shares per bin or category."""
    ref, cur = chart.get("reference"), chart.get("current")
    if not ref or not cur:
        return '<span class="muted">no chart</span>'
    top = max(max(ref), max(cur)) or 1.0
    n = len(ref)
    slot = (WIDTH - 2 * PAD) / n
    bar = max(slot / 2 - 0.5, 0.5)
    labels = chart.get("categories")
    edges = chart.get("edges")
    parts = []
    for i, (r, c) in enumerate(zip(ref, cur, strict=True)):
        x = PAD + i * slot
        name = labels[i] if labels else f"{edges[i]:.4g} to {edges[i + 1]:.4g}" if edges else str(i)
        tip = escape(f"{name}: reference {r:.2%}, current {c:.2%}")
        for offset, share, color in ((0.0, r, REF_COLOR), (bar, c, CUR_COLOR)):
            h = (HEIGHT - 2 * PAD) * share / top
            parts.append(
                f'<rect x="{x + offset:.1f}" y="{HEIGHT - PAD - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{color}"><title>{tip}</title></rect>'
            )
    axis = f'<line x1="0" x2="{WIDTH}" y1="{HEIGHT - PAD}" y2="{HEIGHT - PAD}" stroke="#c5ccd3"/>'
    return (
        f'<svg width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img">'
        f"{axis}{''.join(parts)}</svg>"
    )
