// Vigil UI core: JSON fetches with the session cookie (+ CSRF header on writes), the time-range
// picker, auto-refresh, uPlot chart and table helpers. Data is only ever put in the DOM with
// textContent, never innerHTML.
"use strict";
(function () {
  const RANGES = { "15m": 900, "1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800, "30d": 2592000 };
  const BUCKETS = { "15m": "30s", "1h": "1m", "6h": "5m", "24h": "15m", "7d": "2h", "30d": "12h" };
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const params = new URLSearchParams(location.search);
  let range = params.get("range") || localStorage.getItem("vigil.range") || "1h";
  if (!(range in RANGES)) range = "1h";
  const charts = new Map();
  let timer = null;
  let loading = false;

  function status(text, isError) {
    const el = document.getElementById("status");
    el.textContent = text || "";
    el.classList.toggle("error", !!isError);
  }

  async function api(path, query) {
    const url = new URL(path, location.origin);
    for (const [k, v] of Object.entries(query || {})) {
      if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
    }
    const res = await fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } });
    if (res.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search); throw new Error("signed out"); }
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error((body.error && body.error.message) || res.statusText);
    return body;
  }

  async function send(method, path, body) {
    const res = await fetch(path, {
      method, credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf, accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error((data.error && data.error.message) || res.statusText);
    return data;
  }

  const num = (v, d = 2) => (v === null || v === undefined || Number.isNaN(v) ? "–" : Number(v).toLocaleString("en-US", { maximumFractionDigits: d }));
  const fmt = {
    num, int: (v) => num(v, 0),
    pct: (v) => (v === null || v === undefined ? "–" : (100 * v).toFixed(2) + " %"),
    usd: (v) => (v === null || v === undefined ? "–" : "$" + Number(v).toFixed(Math.abs(v) < 1 ? 4 : 2)),
    s: (v) => (v === null || v === undefined ? "–" : v < 1 ? (v * 1000).toFixed(0) + " ms" : v.toFixed(2) + " s"),
    time: (v) => (v ? new Date(v).toLocaleString() : "–"),
  };

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else node.setAttribute(k, v);
    }
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // columns: [{key, label, fmt, href(row), cls(row)}]
  function table(id, columns, rows, empty) {
    const host = document.getElementById(id);
    host.replaceChildren();
    if (!rows || rows.length === 0) { host.append(el("p", { class: "empty" }, empty || "Nothing in this range.")); return; }
    const t = el("table");
    const head = el("tr");
    for (const c of columns) head.append(el("th", { scope: "col" }, c.label));
    t.append(el("thead")); t.tHead.append(head);
    const body = el("tbody");
    for (const row of rows) {
      const tr = el("tr");
      for (const c of columns) {
        const raw = typeof c.key === "function" ? c.key(row) : row[c.key];
        const text = c.fmt ? c.fmt(raw, row) : raw === null || raw === undefined ? "–" : raw;
        const td = el("td", c.cls ? { class: c.cls(row) || "" } : {});
        const href = c.href && c.href(row);
        if (href) td.append(el("a", { href }, text));
        else if (c.button) { const b = el("button", { type: "button" }, c.button.label); b.addEventListener("click", () => c.button.onClick(row)); if (c.button.show && !c.button.show(row)) b.hidden = true; td.append(b); }
        else td.textContent = text;
        tr.append(td);
      }
      body.append(tr);
    }
    t.append(body);
    host.append(t);
  }

  function palette() {
    const cs = getComputedStyle(document.documentElement);
    return { fg: cs.getPropertyValue("--fg").trim(), grid: cs.getPropertyValue("--grid").trim(),
      c: [1, 2, 3, 4, 5, 6].map((i) => cs.getPropertyValue("--c" + i).trim()) };
  }

  // ts: ISO strings; series: [{label, values, scale}]
  function chart(id, ts, series, opts) {
    const host = document.getElementById(id);
    if (charts.has(id)) { charts.get(id).destroy(); charts.delete(id); }
    host.replaceChildren();
    if (!ts || ts.length === 0) { host.append(el("p", { class: "empty" }, "No data in this range.")); return; }
    if (!window.uPlot) { host.append(el("p", { class: "empty" }, "Charts unavailable (run `make ui-assets`).")); return; }
    const p = palette();
    const o = opts || {};
    const xs = ts.map((t) => Date.parse(t) / 1000);
    const axis = { stroke: p.fg, grid: { stroke: p.grid }, ticks: { stroke: p.grid } };
    const scales = { x: { time: true, ...(xs.length === 1 ? { range: [xs[0] - 60, xs[0] + 60] } : {}) } };
    const axes = [{ ...axis }, { ...axis, values: (u, v) => v.map((x) => (o.yfmt ? o.yfmt(x) : num(x))) }];
    if (series.some((s) => s.scale === "y2")) {
      axes.push({ ...axis, scale: "y2", side: 1, grid: { show: false }, values: (u, v) => v.map((x) => (o.y2fmt ? o.y2fmt(x) : num(x))) });
    }
    const plot = new uPlot({
      width: Math.max(host.clientWidth, 260), height: o.height || 220, scales, axes,
      legend: { live: false },
      series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: p.c[i % 6], width: 2, scale: s.scale || "y",
        fill: o.fill ? p.c[i % 6] + "33" : undefined, paths: o.bars && window.uPlot.paths.bars ? window.uPlot.paths.bars({ size: [0.8] }) : undefined, points: { show: ts.length < 3 } }))],
    }, [xs, ...series.map((s) => s.values)], host);
    charts.set(id, plot);
  }

  window.addEventListener("resize", () => {
    for (const [id, plot] of charts) plot.setSize({ width: Math.max(document.getElementById(id).clientWidth, 260), height: plot.height });
  });

  async function refresh() {
    if (loading || !V.page) return;
    loading = true;
    const t0 = performance.now();
    try {
      await V.page.load();
      status("Updated " + new Date().toLocaleTimeString() + " · range " + range);
    } catch (err) {
      status("Could not load: " + err.message, true);
    } finally {
      loading = false;
      if (!document.body.dataset.readyAt) document.body.dataset.readyAt = String(Math.round(performance.now()));
      document.body.dataset.ready = "1";
      document.body.dataset.loadMs = String(Math.round(performance.now() - t0));
      document.dispatchEvent(new Event("vigil:loaded"));
    }
  }

  function setupControls() {
    const rangeSel = document.getElementById("range");
    rangeSel.value = range;
    rangeSel.addEventListener("change", () => {
      range = rangeSel.value;
      localStorage.setItem("vigil.range", range);
      const u = new URL(location.href); u.searchParams.set("range", range); history.replaceState(null, "", u);
      refresh();
    });
    const refreshSel = document.getElementById("refresh");
    refreshSel.value = localStorage.getItem("vigil.refresh") || "30";
    const arm = () => {
      if (timer) clearInterval(timer);
      const s = Number(refreshSel.value);
      timer = s > 0 ? setInterval(refresh, s * 1000) : null;
    };
    refreshSel.addEventListener("change", () => { localStorage.setItem("vigil.refresh", refreshSel.value); arm(); });
    arm();
    document.getElementById("theme").addEventListener("click", () => {
      const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
      document.documentElement.dataset.theme = next;
      localStorage.setItem("vigil.theme", next);
      refresh();
    });
  }

  window.V = {
    api, send, fmt, el, table, chart, status, refresh, canWrite: document.querySelector('meta[name="can-write"]').content === "yes",
    get range() { return range; }, get since() { return range; }, get bucket() { return BUCKETS[range]; },
    get sinceIso() { return new Date(Date.now() - RANGES[range] * 1000).toISOString(); },
    page: null,
    alertsOf: (b) => (Array.isArray(b) ? b : b.alerts || b.data || []),
  };
  document.addEventListener("DOMContentLoaded", () => { setupControls(); refresh(); });
})();
