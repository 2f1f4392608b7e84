// Alerts: firing, pending, history, silences (Alertmanager's shape). Until the alerts API exists
// the page shows empty states instead of errors (/api/v1/ui/features says what is there).
"use strict";
(function () {
  V.alertsOf = V.alertsOf || ((b) => (Array.isArray(b) ? b : b.alerts || b.data || []));
  const name = (a) => a.name || a.rule || (a.labels && a.labels.alertname) || "–";
  const cols = [
    { key: name, label: "Alert" }, { key: (a) => a.severity || (a.labels && a.labels.severity), label: "Severity" },
    { key: (a) => JSON.stringify(a.labels || {}), label: "Labels" }, { key: "value", label: "Value", fmt: (v) => V.fmt.num(v, 4) },
    { key: (a) => a.active_at || a.activeAt || a.startsAt || a.since, label: "Since", fmt: V.fmt.time },
  ];
  async function expire(s) {
    await V.send("DELETE", "/api/v1/silences/" + encodeURIComponent(s.id));
    V.refresh();
  }
  document.getElementById("silence-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const now = new Date();
    try {
      await V.send("POST", "/api/v1/silences", {
        matchers: [{ name: f.get("name"), value: f.get("value"), isRegex: false, isEqual: true }],
        startsAt: now.toISOString(), endsAt: new Date(now.getTime() + Number(f.get("duration")) * 3600e3).toISOString(),
        createdBy: "ui", comment: f.get("comment"),
      });
      V.status("Silence created");
      V.refresh();
    } catch (err) { V.status("Could not create the silence: " + err.message, true); }
  });
  V.page = {
    async load() {
      const features = await V.api("/api/v1/ui/features");
      document.getElementById("silence-form").hidden = !features.silences || !V.canWrite;
      const none = "Alerting is not available on this server yet.";
      const alerts = features.alerts ? V.alertsOf(await V.api("/api/v1/alerts")) : [];
      const state = (a) => (a.state || a.status && a.status.state || "").toLowerCase();
      V.table("firing", cols, alerts.filter((a) => state(a) === "firing" || state(a) === "active"), features.alerts ? "Nothing firing." : none);
      V.table("pending", cols, alerts.filter((a) => state(a) === "pending"), features.alerts ? "Nothing pending." : none);
      const hist = features.alerts_history ? await V.api("/api/v1/alerts/history", { since: V.sinceIso }) : [];
      V.table("history", [
        { key: (h) => h.ts || h.time, label: "Time", fmt: V.fmt.time }, { key: name, label: "Alert" },
        { key: (h) => h.state || h.event, label: "State" }, { key: "severity", label: "Severity" }, { key: "value", label: "Value", fmt: (v) => V.fmt.num(v, 4) },
      ], Array.isArray(hist) ? hist : hist.history || hist.events || hist.items || [], features.alerts_history ? "No alert changes in this range." : none);
      const silences = features.silences ? await V.api("/api/v1/silences") : [];
      V.table("silences", [
        { key: (s) => (s.matchers || []).map((m) => m.name + (m.isEqual === false ? "!=" : "=") + m.value).join(", "), label: "Matchers" },
        { key: (s) => (s.status && s.status.state) || s.state, label: "State" },
        { key: "endsAt", label: "Ends", fmt: V.fmt.time }, { key: "createdBy", label: "By" }, { key: "comment", label: "Comment" },
        { key: "id", label: "Action", button: { label: "Expire", onClick: expire, show: (s) => V.canWrite && ((s.status && s.status.state) || s.state) !== "expired" } },
      ], Array.isArray(silences) ? silences : silences.silences || [], features.silences ? "No silences." : none);
    },
  };
})();
