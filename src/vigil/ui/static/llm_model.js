// One model: its figures, trend, and its calls (newest first) linking to their traces.
"use strict";
(function () {
  const model = document.getElementById("model-name").dataset.model;
  let cursor = null;
  let calls = [];
  async function loadCalls(reset) {
    if (reset) { cursor = null; calls = []; }
    const errors = document.getElementById("errors-only").checked;
    const page = await V.api("/api/v1/calls", { model, since: V.since, limit: 50, errors: errors ? "true" : "", cursor });
    calls = calls.concat(page.calls);
    cursor = page.next_cursor;
    document.getElementById("more").hidden = !cursor;
    V.table("calls", [
      { key: "ts", label: "Time", fmt: V.fmt.time, href: (r) => "#call-" + r.id },
      { key: "status_code", label: "Status", cls: (r) => (r.status_code >= 400 ? "bad-text" : "") },
      { key: "error_type", label: "Error" },
      { key: "key_id", label: "Key" },
      { key: "input_tokens", label: "In", fmt: V.fmt.int },
      { key: "output_tokens", label: "Out", fmt: V.fmt.int },
      { key: "cost_usd", label: "Cost", fmt: V.fmt.usd },
      { key: "duration_s", label: "Duration", fmt: V.fmt.s },
      { key: "ttft_s", label: "TTFT", fmt: V.fmt.s },
      { key: "trace_id", label: "Trace", fmt: (v) => (v ? "view trace" : "–"), href: (r) => (r.trace_id ? "/traces/" + encodeURIComponent(r.trace_id) : null) },
    ], calls, "No calls of this model in this range.");
    for (const a of document.querySelectorAll('#calls a[href^="#call-"]')) {
      a.addEventListener("click", async (ev) => {
        ev.preventDefault();
        const call = await V.api("/api/v1/calls/" + encodeURIComponent(a.getAttribute("href").slice(6)));
        document.getElementById("call-detail").hidden = false;
        for (const body of ["request_body", "response_body"]) {
          // captured bodies are JSON text (possibly cut short): show them parsed when they parse
          try { if (call[body]) call[body] = JSON.parse(call[body]); } catch { /* keep the text */ }
        }
        document.getElementById("call-json").textContent = JSON.stringify(call, null, 2);
      });
    }
  }
  document.getElementById("errors-only").addEventListener("change", () => loadCalls(true));
  document.getElementById("more").addEventListener("click", () => loadCalls(false));
  V.page = {
    async load() {
      const [stats] = await Promise.all([
        V.api("/api/v1/stats", { since: V.since, bucket: V.bucket, group_by: "", model }),
        loadCalls(true),
      ]);
      const total = await V.api("/api/v1/stats", { since: V.since, group_by: "", model });
      const t = total.series[0];
      const host = document.getElementById("tiles");
      host.replaceChildren();
      const add = (label, value) => { const d = V.el("div", { class: "tile ok" }); d.append(V.el("span", { class: "tile-label" }, label), V.el("span", { class: "tile-value" }, value)); host.append(d); };
      add("Requests", t ? V.fmt.int(t.requests[0]) : "0");
      add("Error rate", t ? V.fmt.pct(t.error_rate.total[0]) : "–");
      add("P95", t ? V.fmt.s(t.latency_s.p95[0]) : "–");
      add("Cost", t ? V.fmt.usd(t.cost_usd[0]) : "–");
      const s = stats.series[0] || { ts: [] };
      V.chart("chart-model", s.ts, s.ts.length ? [{ label: "requests", values: s.requests }, { label: "P95 (s)", values: s.latency_s.p95, scale: "y2" }] : [], { y2fmt: (x) => x.toFixed(2) });
    },
  };
})();
