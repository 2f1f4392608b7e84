// Cost by model, key, team and day; budgets with spend, share used and projected spend.
"use strict";
(function () {
  const cols = (dim) => [
    { key: (r) => r.group[dim] || "(none)", label: dim[0].toUpperCase() + dim.slice(1) },
    { key: (r) => r.requests[0], label: "Requests", fmt: V.fmt.int },
    { key: (r) => r.input_tokens[0] + r.output_tokens[0], label: "Tokens", fmt: V.fmt.int },
    { key: (r) => r.cost_usd[0], label: "Cost", fmt: V.fmt.usd },
  ];
  const byCost = (a, b) => b.cost_usd[0] - a.cost_usd[0];
  V.page = {
    async load() {
      const day = ["7d", "30d"].includes(V.range) ? V.range : "7d";
      const [m, k, t, days, budgets, total] = await Promise.all([
        V.api("/api/v1/stats", { since: V.since, group_by: "model" }),
        V.api("/api/v1/stats", { since: V.since, group_by: "key" }),
        V.api("/api/v1/stats", { since: V.since, group_by: "team" }),
        V.api("/api/v1/stats", { since: day, bucket: "1d", group_by: "" }),
        V.api("/api/v1/ui/budgets"),
        V.api("/api/v1/ui/overview"),
      ]);
      const sum = m.series.reduce((a, s) => a + s.cost_usd[0], 0);
      const host = document.getElementById("tiles");
      host.replaceChildren();
      for (const [label, value] of [["Cost in range", V.fmt.usd(sum)], ["Cost today (UTC)", V.fmt.usd(total.cost_today_usd)], ["Budgets", String(budgets.budgets.length)]]) {
        const d = V.el("div", { class: "tile ok" }); d.append(V.el("span", { class: "tile-label" }, label), V.el("span", { class: "tile-value" }, value)); host.append(d);
      }
      V.table("by-model", cols("model"), m.series.sort(byCost));
      V.table("by-key", cols("key"), k.series.sort(byCost));
      V.table("by-team", cols("team"), t.series.sort(byCost));
      const d = days.series[0] || { ts: [], cost_usd: [] };
      V.chart("chart-day", d.ts, [{ label: "USD per day", values: d.cost_usd }], { bars: true, yfmt: (x) => "$" + x.toFixed(2) });
      V.table("budgets", [
        { key: "scope", label: "Scope" }, { key: "name", label: "Name" }, { key: "period", label: "Period" },
        { key: "budget_usd", label: "Budget", fmt: V.fmt.usd }, { key: "spent_usd", label: "Spent", fmt: V.fmt.usd },
        { key: "used_ratio", label: "Used", fmt: V.fmt.pct, cls: (r) => (r.used_ratio >= 1 ? "bad-text" : r.used_ratio > 0.8 ? "warn-text" : "") },
        { key: "burn_usd_per_hour", label: "Burn / h", fmt: V.fmt.usd },
        { key: "projected_usd", label: "Projected", fmt: V.fmt.usd, cls: (r) => (r.projected_usd > r.budget_usd ? "bad-text" : "") },
      ], budgets.budgets, "No budgets configured (keys' budget_usd or budgets.teams).");
    },
  };
})();
