"""The daily/weekly report as one self-contained HTML page (inline CSS and SVG, no JavaScript),
so it can be mailed, archived or printed to PDF by headless Chromium. Data is always escaped."""

from __future__ import annotations

from html import escape
from typing import Any

_CSS = """
body{font:13px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem;color:#1d2733}
h1{font-size:1.4rem;margin:0} h2{font-size:1.1rem;margin:1.4rem 0 .4rem;border-bottom:1px solid
#d0d6de} .muted{color:#4f5863} table{border-collapse:collapse;width:100%;margin:.3rem 0}
th,td{text-align:left;padding:.25rem .45rem;border-bottom:1px solid #e3e7ec}
td:first-child{white-space:nowrap} td.n{text-align:right;font-variant-numeric:tabular-nums}
.up{color:#b42318} .down{color:#1a7f37}
.chart{margin:.4rem 0} @page{size:A4;margin:14mm}
"""


def _num(v: Any, kind: str) -> str:
    if v is None:
        return "-"
    if kind == "usd":
        return f"${v:,.4f}" if abs(v) < 1 else f"${v:,.2f}"
    if kind == "pct":
        return f"{100 * v:.2f}%"
    if kind == "s":
        return f"{v:.3f} s"
    return f"{int(v):,}"


def _change(cur: Any, prev: Any) -> str:
    if cur is None or prev is None:
        return "-"
    if prev == 0:
        return "new" if cur else "0"
    delta = (cur - prev) / abs(prev)
    cls = "up" if delta > 0 else "down" if delta < 0 else ""
    return f'<span class="{cls}">{delta:+.1%}</span>'


ROWS = [
    ("Requests", "requests", "int"),
    ("Cost (USD)", "cost_usd", "usd"),
    ("Input tokens", "input_tokens", "int"),
    ("Output tokens", "output_tokens", "int"),
    ("Errors (all classes)", "errors", "int"),
    ("Error rate", "error_rate", "pct"),
    ("5xx", "errors_5xx", "int"),
    ("429 (rate limited)", "rate_limited", "int"),
    ("Latency P50", "p50_s", "s"),
    ("Latency P95", "p95_s", "s"),
    ("Latency P99", "p99_s", "s"),
]


def svg_bars(values: list[float], labels: list[str], title: str, color: str = "#0b5cad") -> str:
    """A bar chart as inline SVG (one bar per bucket), with an accessible title."""
    width, height, pad = 680, 150, 22
    if not values:
        return '<p class="muted">No data.</p>'
    top = max(values) or 1.0
    step = (width - 2 * pad) / len(values)
    bars = []
    for i, v in enumerate(values):
        h = (height - 2 * pad) * v / top
        x = pad + i * step
        bars.append(
            f'<rect x="{x:.1f}" y="{height - pad - h:.1f}" width="{max(step * 0.8, 1):.1f}" '
            f'height="{h:.1f}" fill="{color}"><title>{escape(labels[i])}: {v:,.4g}</title></rect>'
        )
    axis = (
        f'<text x="{pad}" y="{pad - 8}" font-size="10">max {top:,.4g}</text>'
        f'<text x="{pad}" y="{height - 6}" font-size="10">{escape(labels[0])}</text>'
        f'<text x="{width - pad}" y="{height - 6}" font-size="10" text-anchor="end">'
        f"{escape(labels[-1])}</text>"
    )
    return (
        f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}"><title>{escape(title)}</title>'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        f'stroke="#8a96a3"/>{"".join(bars)}{axis}</svg>'
    )


def _performance(points: list[dict[str, Any]]) -> str:
    text = "; ".join(f"{x['kind']} {x['metric']} {x['value']:.3f}" for x in points)
    return text or "no labels yet"


def render(data: dict[str, Any]) -> str:
    """The report page for `periodic.gather`'s data."""
    t, p = data["totals"], data["previous_totals"]
    rows = "".join(
        f"<tr><td>{label}</td><td class=n>{_num(t[key], kind)}</td>"
        f"<td class=n>{_num(p[key], kind)}</td><td class=n>{_change(t[key], p[key])}</td></tr>"
        for label, key, kind in ROWS
    )
    s = data["series"] or {"ts": [], "requests": [], "cost_usd": [], "latency_s": {"p95": []}}
    hours = [ts[5:16].replace("T", " ") for ts in s["ts"]]
    charts = (
        "<h3>Requests</h3>" + svg_bars(s["requests"], hours, "Requests per bucket")
        + "<h3>Cost (USD)</h3>" + svg_bars(s["cost_usd"], hours, "Cost per bucket", "#8a5a00")
        + "<h3>Latency P95 (s)</h3>"
        + svg_bars([v or 0.0 for v in s["latency_s"]["p95"]], hours, "P95 latency", "#b42318")
    )  # fmt: skip
    models = "".join(
        f"<tr><td>{escape(str(m['model']))}</td><td class=n>{_num(m['requests'], 'int')}</td>"
        f"<td class=n>{_num(m['cost_usd'], 'usd')}</td>"
        f"<td class=n>{_num(m['p95_latency_s'], 's')}</td>"
        f"<td class=n>{_num(1 - m['success_rate'], 'pct')}</td></tr>"
        for m in data["models"]
    )
    ml = "".join(
        f"<tr><td>{escape(m['model'])}</td><td class=n>{_num(m['drift_share'], 'pct')}</td>"
        f"<td>{escape(', '.join(m['drifted']) or 'none')}</td>"
        f"<td class=n>{_num(m['quality_issues'], 'int')}</td>"
        f"<td>{escape(_performance(m['performance']))}</td></tr>"
        for m in data["ml"]
    )
    if data["alerts_available"]:
        alerts = (
            "".join(
                f"<tr><td>{escape(str(a.get('ts') or a.get('time') or ''))}</td>"
                f"<td>{escape(str(a.get('rule') or a.get('name') or ''))}</td>"
                f"<td>{escape(str(a.get('state') or a.get('event') or ''))}</td></tr>"
                for a in data["alerts"]
            )
            or "<tr><td colspan=3>No alert changes in the period.</td></tr>"
        )
    else:
        alerts = "<tr><td colspan=3>Alerting is not available on this server.</td></tr>"
    cur, prev = data["current"], data["previous"]
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Vigil {escape(data["period"])} report</title><style>{_CSS}</style></head><body>
<h1>Vigil {escape(data["period"])} report</h1>
<p class="muted">Period {escape(cur["since"])} to {escape(cur["until"])}; compared with
{escape(prev["since"])} to {escape(prev["until"])}. Generated {escape(data["generated_at"])}.</p>
<h2>LLM traffic, cost, latency and errors</h2>
<table><tr><th>Figure</th><th>This period</th><th>Previous</th><th>Change</th></tr>{rows}</table>
{charts}
<h2>By model</h2>
<table><tr><th>Model</th><th>Requests</th><th>Cost</th><th>P95</th><th>Error rate</th></tr>
{models or "<tr><td colspan=5>No calls.</td></tr>"}</table>
<h2>ML models: drift, performance, data quality</h2>
<table><tr><th>Model</th><th>Drift share</th><th>Drifted features</th><th>Quality issues</th>
<th>Performance</th></tr>{ml or "<tr><td colspan=5>No ML models monitored.</td></tr>"}</table>
<h2>Alerts</h2><table><tr><th>Time</th><th>Alert</th><th>State</th></tr>{alerts}</table>
</body></html>"""
