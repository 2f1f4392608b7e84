// Overview: live tiles (status-coloured) and the range's traffic, latency and cost trends.
"use strict";
(function () {
  function tile(host, label, value, level, href) {
    const card = V.el(href ? "a" : "div", { class: "tile " + (level || "ok"), ...(href ? { href } : {}) });
    card.append(V.el("span", { class: "tile-label" }, label), V.el("span", { class: "tile-value" }, value));
    card.append(V.el("span", { class: "sr-only" }, " status " + (level || "ok")));
    host.append(card);
  }
  async function firingAlerts() {
    const features = await V.api("/api/v1/ui/features");
    if (!features.alerts) return null;
    const body = await V.api("/api/v1/alerts");
    return V.alertsOf(body).filter((a) => (a.state || "").toLowerCase() === "firing").length;
  }
  V.page = {
    async load() {
      const [tiles, stats, monitors, firing] = await Promise.all([
        V.api("/api/v1/ui/overview"),
        V.api("/api/v1/stats", { since: V.since, bucket: V.bucket, group_by: "" }),
        V.api("/api/v1/monitors"),
        firingAlerts(),
      ]);
      const drifted = monitors.models.filter((m) => m.summary && m.summary.drift && m.summary.drift.drift_share !== null && m.summary.drift.drift_share >= 0.5).length;
      const host = document.getElementById("tiles");
      host.replaceChildren();
      tile(host, "Requests/s (5 min)", V.fmt.num(tiles.requests_per_s), "ok", "/llm");
      tile(host, "Error rate (5 min)", V.fmt.pct(tiles.error_rate), tiles.error_rate > 0.05 ? "bad" : tiles.error_rate > 0.01 ? "warn" : "ok", "/llm");
      tile(host, "P95 latency (5 min)", V.fmt.s(tiles.p95_latency_s), tiles.p95_latency_s > 2 ? "bad" : tiles.p95_latency_s > 1 ? "warn" : "ok", "/llm");
      tile(host, "Cost today (UTC)", V.fmt.usd(tiles.cost_today_usd), "ok", "/cost");
      tile(host, "Firing alerts", firing === null ? "n/a" : String(firing), firing ? "bad" : "ok", "/alerts");
      tile(host, "Drifted models", String(drifted), drifted ? "warn" : "ok", "/ml");
      const s = stats.series[0] || { ts: [], requests: [], errors: { total: [] }, latency_s: { p95: [] }, cost_usd: [] };
      V.chart("chart-traffic", s.ts, [{ label: "requests", values: s.requests }, { label: "errors", values: s.errors.total }, { label: "429", values: s.errors ? s.errors["429"] : [] }]);
      V.chart("chart-latency", s.ts, [{ label: "P95", values: s.latency_s.p95 }, { label: "P50", values: s.latency_s.p50 }], { yfmt: (x) => x.toFixed(2) });
      V.chart("chart-cost", s.ts, [{ label: "USD", values: s.cost_usd }], { yfmt: (x) => "$" + x.toFixed(3), fill: true });
    },
  };
})();
