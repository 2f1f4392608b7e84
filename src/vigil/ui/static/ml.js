// ML models: per-feature drift with reference-vs-current distributions, performance over time with
// label coverage, estimated vs realized performance, data-quality issues.
"use strict";
(function () {
  const select = document.getElementById("ml-model");
  select.addEventListener("change", () => V.refresh());
  function bars(host, d) {
    const box = V.el("figure", { class: "dist" });
    box.append(V.el("figcaption", {}, d.feature + " (" + d.kind + ")"));
    const max = Math.max(...d.reference, ...d.current, 1e-9);
    const list = V.el("div", { class: "dist-bars", role: "table", "aria-label": "Distribution of " + d.feature });
    d.bins.forEach((bin, i) => {
      const row = V.el("div", { class: "dist-row", role: "row" });
      row.append(V.el("span", { class: "dist-bin", role: "rowheader" }, bin));
      const pair = V.el("span", { class: "dist-pair", role: "cell" });
      pair.append(V.el("span", { class: "bar ref", style: "width:" + (100 * d.reference[i] / max).toFixed(1) + "%", title: "reference " + V.fmt.pct(d.reference[i]) }));
      pair.append(V.el("span", { class: "bar cur", style: "width:" + (100 * d.current[i] / max).toFixed(1) + "%", title: "current " + V.fmt.pct(d.current[i]) }));
      row.append(pair, V.el("span", { class: "dist-val", role: "cell" }, V.fmt.pct(d.reference[i]) + " → " + V.fmt.pct(d.current[i])));
      list.append(row);
    });
    box.append(list);
    host.append(box);
  }
  V.page = {
    async load() {
      const monitors = await V.api("/api/v1/monitors");
      const ml = monitors.models.filter((m) => m.kind === "ml");
      V.table("ml-models", [
        { key: "model", label: "Model" }, { key: "ts", label: "Last run", fmt: V.fmt.time }, { key: "status", label: "Status" },
        { key: (r) => r.summary && r.summary.drift && r.summary.drift.drift_share, label: "Drift share", fmt: V.fmt.pct, cls: (r) => (r.summary && r.summary.drift && r.summary.drift.drift_share >= 0.5 ? "bad-text" : "") },
        { key: (r) => r.summary && r.summary.quality_issues, label: "Quality issues", fmt: V.fmt.int },
      ], ml, monitors.not_yet_run.length ? "Not monitored yet: " + monitors.not_yet_run.join(", ") : "No ML models.");
      const names = [...new Set([...ml.map((m) => m.model), ...monitors.not_yet_run])];
      const chosen = select.value || names[0];
      select.replaceChildren(...names.map((n) => V.el("option", { value: n }, n)));
      if (!chosen) return;
      select.value = chosen;
      const ran = ml.some((m) => m.model === chosen);
      const [detail, dists, cov, realized, estimated] = await Promise.all([
        ran ? V.api("/api/v1/monitors/" + encodeURIComponent(chosen)) : Promise.resolve({ monitors: {} }),
        V.api("/api/v1/ui/ml/" + encodeURIComponent(chosen) + "/distributions", { since: V.since }),
        V.api("/api/v1/ui/ml/" + encodeURIComponent(chosen) + "/coverage", { since: V.since, bucket: V.bucket === "30s" ? "1m" : V.bucket }),
        ran ? V.api("/api/v1/monitors/" + encodeURIComponent(chosen) + "/history", { monitor: "performance", metric: "accuracy", limit: 200 }) : Promise.resolve({ points: [] }),
        ran ? V.api("/api/v1/monitors/" + encodeURIComponent(chosen) + "/history", { monitor: "estimated_performance", metric: "accuracy", limit: 200 }) : Promise.resolve({ points: [] }),
      ]);
      const mon = detail.monitors || {};
      const drift = (mon.data_drift || []).filter((r) => r.feature);
      const latest = {};
      for (const r of drift) latest[r.feature] = r;
      V.table("drift", [
        { key: "feature", label: "Feature" }, { key: "method", label: "Method" },
        { key: "value", label: "Statistic", fmt: (v) => V.fmt.num(v, 4) }, { key: "p_value", label: "p-value", fmt: (v) => V.fmt.num(v, 4) },
        { key: "threshold", label: "Threshold", fmt: (v) => V.fmt.num(v, 4) },
        { key: "flagged", label: "Drift", fmt: (v) => (v ? "drifted" : "ok"), cls: (r) => (r.flagged ? "bad-text" : "ok-text") },
      ], Object.values(latest), "No drift results yet.");
      const host = document.getElementById("dists");
      host.replaceChildren();
      const legend = V.el("p", { class: "legend" });
      legend.append(V.el("span", { class: "bar ref key" }), V.el("span", {}, " reference  "), V.el("span", { class: "bar cur key" }), V.el("span", {}, " current (" + dists.current_size + " predictions)"));
      host.append(legend);
      for (const d of dists.features) bars(host, d);
      V.chart("chart-perf", cov.ts, [{ label: "accuracy", values: cov.accuracy }, { label: "label coverage", values: cov.label_coverage }], { yfmt: (x) => (100 * x).toFixed(0) + "%" });
      const est = [...(mon.estimated_performance || []), ...(mon.performance || [])].filter((r) => r.metric);
      V.table("estimated", [
        { key: "metric", label: "Metric" }, { key: "window_end", label: "Window end", fmt: V.fmt.time },
        { key: (r) => (mon.estimated_performance || []).includes(r) ? "estimated" : "realized", label: "Kind" },
        { key: "value", label: "Value", fmt: (v) => V.fmt.num(v, 4) }, { key: "reference_value", label: "Reference", fmt: (v) => V.fmt.num(v, 4) },
        { key: "flagged", label: "Flag", fmt: (v) => (v ? "degraded" : "ok") },
      ], est, "No performance results yet (labels pending).");
      const pts = (p) => p.points.slice().reverse();
      const ts = [...new Set([...pts(realized), ...pts(estimated)].map((p) => p.window_end))].sort();
      const at = (p) => { const m = Object.fromEntries(pts(p).map((x) => [x.window_end, x.value])); return ts.map((t) => (t in m ? m[t] : null)); };
      V.chart("chart-est", ts, [{ label: "realized accuracy", values: at(realized) }, { label: "estimated accuracy (CBPE)", values: at(estimated) }], { yfmt: (x) => x.toFixed(2) });
      V.table("quality", [
        { key: "feature", label: "Feature" }, { key: "metric", label: "Check" }, { key: "value", label: "Value", fmt: (v) => V.fmt.num(v, 4) },
        { key: (r) => r.details && r.details.examples ? JSON.stringify(r.details.examples).slice(0, 80) : "", label: "Examples" },
      ], (mon.data_quality || []).filter((r) => r.flagged), "No data-quality issues in the latest window.");
    },
  };
})();
