// LLM: the per-model table (requests, tokens, cost, P50/P95/P99, TTFT, errors by class, 429s).
"use strict";
(function () {
  V.page = {
    async load() {
      const q = { since: V.since, bucket: V.bucket, group_by: "model" };
      const [models, series] = await Promise.all([V.api("/api/v1/stats/models", { since: V.since }), V.api("/api/v1/stats", q)]);
      // The comparison already holds each model's whole-range percentiles and error counts.
      const rows = models.models;
      V.table("models", [
        { key: "model", label: "Model", href: (r) => "/llm/" + encodeURIComponent(r.model) + "?range=" + V.range },
        { key: "requests", label: "Requests", fmt: V.fmt.int },
        { key: "input_tokens", label: "Tokens in", fmt: V.fmt.int },
        { key: "output_tokens", label: "Tokens out", fmt: V.fmt.int },
        { key: "cost_usd", label: "Cost", fmt: V.fmt.usd },
        { key: (r) => r.latency_s.p50, label: "P50", fmt: V.fmt.s },
        { key: (r) => r.latency_s.p95, label: "P95", fmt: V.fmt.s },
        { key: (r) => r.latency_s.p99, label: "P99", fmt: V.fmt.s },
        { key: (r) => r.ttft_s.p50, label: "TTFT P50", fmt: V.fmt.s },
        { key: (r) => r.ttft_s.p95, label: "TTFT P95", fmt: V.fmt.s },
        { key: (r) => r.errors["5xx"], label: "5xx", fmt: V.fmt.int },
        { key: (r) => r.errors["4xx"], label: "4xx", fmt: V.fmt.int },
        { key: (r) => r.errors.timeout, label: "Timeouts", fmt: V.fmt.int },
        { key: (r) => r.errors["429"], label: "429s", fmt: V.fmt.int },
      ], rows, "No LLM calls in this range.");
      const top = series.series.slice(0, 6);
      const ts = [...new Set(top.flatMap((s) => s.ts))].sort();
      V.chart("chart-p95", ts, top.map((s) => {
        const at = Object.fromEntries(s.ts.map((t, i) => [t, s.latency_s.p95[i]]));
        return { label: s.group.model, values: ts.map((t) => (t in at ? at[t] : null)) };
      }), { yfmt: (x) => x.toFixed(2) });
    },
  };
})();
