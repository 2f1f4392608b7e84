// A trace's span waterfall: bars offset and sized by start and duration; click for attributes.
"use strict";
(function () {
  const traceId = document.getElementById("trace-id").dataset.trace;
  function flatten(spans, depth, out) {
    for (const s of spans) { out.push({ span: s, depth }); flatten(s.children || [], depth + 1, out); }
    return out;
  }
  V.page = {
    async load() {
      const trace = await V.api("/api/v1/ui/traces/" + encodeURIComponent(traceId));
      document.querySelector("h1").textContent = "Trace " + trace.trace_id;
      const start = Date.parse(trace.start);
      const total = Math.max(trace.duration_s, 1e-6);
      const host = document.getElementById("waterfall");
      host.replaceChildren();
      for (const { span, depth } of flatten(trace.spans, 0, [])) {
        const row = V.el("div", { class: "span-row", role: "listitem" });
        const label = V.el("button", { type: "button", class: "span-name", style: "padding-left:" + (0.25 + depth) + "rem" }, span.name + " · " + (span.service || ""));
        const lane = V.el("div", { class: "span-lane" });
        const offset = (Date.parse(span.start) - start) / 1000;
        const bar = V.el("div", { class: "span-bar" + (span.status.code === "ERROR" ? " error" : ""),
          style: "left:" + (100 * offset / total).toFixed(3) + "%;width:" + Math.max(0.5, 100 * (span.duration_s || 0) / total).toFixed(3) + "%" });
        bar.title = V.fmt.s(span.duration_s);
        lane.append(bar);
        row.append(label, lane, V.el("span", { class: "span-dur" }, V.fmt.s(span.duration_s)));
        label.addEventListener("click", () => {
          document.getElementById("span-detail").hidden = false;
          document.getElementById("span-title").textContent = span.name;
          const { children, ...rest } = span;
          document.getElementById("span-json").textContent = JSON.stringify(rest, null, 2);
        });
        host.append(row);
      }
      const logs = await V.api("/api/v1/logs", { trace_id: trace.trace_id, limit: 200 });
      V.table("trace-logs", [{ key: "ts", label: "Time", fmt: V.fmt.time }, { key: "level", label: "Level" }, { key: "service", label: "Service" }, { key: "body", label: "Line" }], logs.logs, "No logs for this trace.");
    },
  };
})();
