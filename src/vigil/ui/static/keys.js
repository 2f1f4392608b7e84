// Keys: create (the key is shown once, then only its prefix), list, revoke.
"use strict";
(function () {
  const form = document.getElementById("key-form");
  form.hidden = !V.canWrite;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const body = { alias: f.get("alias") };
    if (f.get("team")) body.team = f.get("team");
    if (f.get("budget_usd")) body.budget_usd = Number(f.get("budget_usd"));
    if (f.get("rpm")) body.rpm = Number(f.get("rpm"));
    try {
      const created = await V.send("POST", "/api/v1/keys", body);
      document.getElementById("new-key-value").textContent = created.key;
      document.getElementById("new-key").hidden = false;
      form.reset();
      V.status("Key " + created.alias + " created");
      await V.page.load();
    } catch (err) { V.status("Could not create the key: " + err.message, true); }
  });
  async function revoke(k) {
    if (!confirm("Revoke key " + k.alias + "? It stops working immediately.")) return;
    try { await V.send("DELETE", "/api/v1/keys/" + encodeURIComponent(k.id)); V.status("Key " + k.alias + " revoked"); await V.page.load(); }
    catch (err) { V.status("Could not revoke: " + err.message, true); }
  }
  V.page = {
    async load() {
      const body = await V.api("/api/v1/keys");
      V.table("keys", [
        { key: "alias", label: "Alias" }, { key: "key_prefix", label: "Prefix", fmt: (v) => v + "…" },
        { key: "team", label: "Team" }, { key: "budget_usd", label: "Budget", fmt: V.fmt.usd }, { key: "rpm", label: "RPM" },
        { key: "source", label: "Source" }, { key: "created_at", label: "Created", fmt: V.fmt.time },
        { key: "revoked_at", label: "Revoked", fmt: V.fmt.time },
        { key: "id", label: "Action", button: { label: "Revoke", onClick: revoke, show: (k) => V.canWrite && !k.revoked_at && k.source !== "config" } },
      ], body.keys, "No keys yet.");
    },
  };
})();
