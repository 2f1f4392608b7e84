// Logs: search with filters; every line with a trace id links to the trace.
"use strict";
(function () {
  const form = document.getElementById("log-filters");
  const params = new URLSearchParams(location.search);
  for (const k of ["query", "level", "service", "trace_id"]) if (params.get(k)) form.elements[k].value = params.get(k);
  form.addEventListener("submit", (ev) => { ev.preventDefault(); V.refresh(); });
  V.page = {
    async load() {
      const f = new FormData(form);
      const q = { since: V.since, limit: 200 };
      for (const [k, v] of f.entries()) if (v) q[k] = v;
      const body = await V.api("/api/v1/logs", q);
      V.table("logs", [
        { key: "ts", label: "Time", fmt: V.fmt.time },
        { key: "level", label: "Level", cls: (r) => (/err|fatal/i.test(r.level || "") ? "bad-text" : /warn/i.test(r.level || "") ? "warn-text" : "") },
        { key: "service", label: "Service" }, { key: "body", label: "Line" },
        { key: "trace_id", label: "Trace", fmt: (v) => (v ? v.slice(0, 12) + "…" : "–"), href: (r) => (r.trace_id ? "/traces/" + encodeURIComponent(r.trace_id) : null) },
      ], body.logs, "No log lines match.");
    },
  };
})();
