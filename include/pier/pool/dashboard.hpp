// pier/pool/dashboard.hpp: the admin dashboard a pool serves on `GET /admin`: one
// self-contained HTML page (inline CSS and JavaScript, no CDN, no build step, no external
// request of any kind), so it works on machines without internet access.
//
//     if (path == "/admin")
//         pier::http::append_reply(out, 200, pier::pool::dashboard_content_type,
//                                  pier::pool::dashboard_html, opts_with_csp);
//
// What it does. It asks for the admin token first and keeps it in memory and in the tab's
// sessionStorage (so a reload does not ask again; closing the tab forgets it), never in the
// URL. Then, once a second, it reads `GET api/admin/websockets/stats` and
// `GET api/admin/websockets/connections?…` (relative URLs, so the page also works behind a
// path prefix) and shows: connections over time and messages per second in and out (charts
// drawn on a canvas; rates from successive messages_received / messages_sent samples);
// totals; topics with subscriber counts; states and limit refusals; a filterable, paged
// table of connections with a disconnect button per row and per user; a broadcast form; a
// cleanup button. A 401 takes it back to the token form.
//
// Safety. User ids, topics and metadata are attacker-controlled: the page writes data only
// through textContent and element attributes, never innerHTML. Serve it with
// `dashboard_content_security_policy` so that even a bug there could not load or send
// anything elsewhere.
//
// Testing hooks. Every element a test drives has a stable data-testid (listed in
// tests/peers/pool_dashboard.js, which drives the page in Chromium): token-input,
// token-submit, login-error, status, stat-<field> (active_connections, total_connections,
// users, messages_sent, messages_received, messages_failed, rate_in, rate_out,
// cleanup_runs, cleanup_removed), chart-connections, chart-messages, topics-table,
// topic-row, states-table, limits-table, filter-user_id, filter-topic, filter-state,
// filter-idle_over_ms, filter-apply, connections-table, connection-row (with
// data-connection-id and data-user-id), disconnect-connection, disconnect-user,
// connections-total, page-prev, page-next, broadcast-topic, broadcast-user_id,
// broadcast-type, broadcast-data, broadcast-submit, broadcast-result, cleanup-run,
// cleanup-result, logout. The root element's data-updates counts successful refreshes.
#pragma once

#include <string_view>

namespace pier::pool {

/// Content-Type of dashboard_html.
inline constexpr std::string_view dashboard_content_type = "text/html; charset=utf-8";

/// A Content-Security-Policy for the page: its own inline script and style, requests to its
/// own origin only, no frames, forms or plugins. Send it as a header with the page.
inline constexpr std::string_view dashboard_content_security_policy =
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

/// The page.
inline constexpr std::string_view dashboard_html = R"pier_dashboard(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>pier admin</title>
<style>
:root { --bg: #f6f7f9; --card: #fff; --ink: #1d2330; --muted: #667085; --line: #e3e6ec;
        --accent: #2563eb; --accent2: #d97706; --bad: #b42318; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif;
       background: var(--bg); color: var(--ink); }
header { display: flex; align-items: center; gap: 16px; padding: 10px 20px;
         background: var(--ink); color: #fff; }
header h1 { font-size: 16px; margin: 0; font-weight: 600; }
header .grow { flex: 1; }
main { padding: 16px 20px; display: grid; gap: 16px;
       grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
          padding: 12px 14px; min-width: 0; }
section.wide { grid-column: 1 / -1; }
section h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em;
             color: var(--muted); margin: 0 0 8px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(130px, 1fr)); gap: 8px; }
.tile { border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; }
.tile .v { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
.tile .k { color: var(--muted); font-size: 12px; }
canvas { width: 100%; height: 160px; display: block; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid var(--line);
         vertical-align: top; overflow-wrap: anywhere; }
th { color: var(--muted); font-weight: 500; font-size: 12px; }
td.num, th.num { text-align: right; }
.scroll { max-height: 420px; overflow: auto; }
form.row, div.row { display: flex; flex-wrap: wrap; gap: 8px; align-items: end; margin-bottom: 8px; }
label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: 2px; }
input, select, textarea { font: inherit; padding: 5px 7px; border: 1px solid var(--line);
                          border-radius: 5px; background: #fff; color: var(--ink); }
textarea { min-height: 60px; width: 100%; }
button { font: inherit; padding: 5px 10px; border-radius: 5px; border: 1px solid var(--accent);
         background: var(--accent); color: #fff; cursor: pointer; }
button.ghost { background: #fff; color: var(--accent); }
button.danger { border-color: var(--bad); background: #fff; color: var(--bad); }
button:disabled { opacity: .5; cursor: default; }
.muted { color: var(--muted); }
.err { color: var(--bad); }
.legend span { margin-right: 12px; font-size: 12px; }
.legend i { display: inline-block; width: 10px; height: 3px; margin-right: 4px; vertical-align: middle; }
.login { max-width: 380px; margin: 12vh auto; background: var(--card); padding: 22px;
         border: 1px solid var(--line); border-radius: 8px; }
.login input { width: 100%; margin: 8px 0; }
.meta { font-family: ui-monospace, monospace; font-size: 12px; color: var(--muted); }
[hidden] { display: none !important; }
</style>
</head>
<body>
<div id="app" data-updates="0">
<div class="login" id="login" data-testid="login">
  <h1>pier admin</h1>
  <p class="muted">Enter the admin token. It stays in this tab only.</p>
  <form id="login-form" autocomplete="off">
    <input id="token" data-testid="token-input" type="password" placeholder="admin token"
           autocomplete="off" spellcheck="false" required>
    <button type="submit" data-testid="token-submit">Open dashboard</button>
  </form>
  <p class="err" id="login-error" data-testid="login-error"></p>
</div>

<div id="dash" hidden>
<header>
  <h1>pier admin</h1>
  <span class="grow"></span>
  <span id="status" data-testid="status">connecting…</span>
  <button class="ghost" id="logout" data-testid="logout" type="button">Forget token</button>
</header>
<main>
  <section class="wide">
    <h2>Now</h2>
    <div class="tiles" id="tiles"></div>
  </section>
  <section>
    <h2>Connections</h2>
    <canvas id="chart-connections" data-testid="chart-connections" width="600" height="160"></canvas>
    <div class="legend"><span><i style="background:var(--accent)"></i>active connections</span></div>
  </section>
  <section>
    <h2>Messages per second</h2>
    <canvas id="chart-messages" data-testid="chart-messages" width="600" height="160"></canvas>
    <div class="legend"><span><i style="background:var(--accent)"></i>in (received)</span><span><i style="background:var(--accent2)"></i>out (sent)</span></div>
  </section>
  <section>
    <h2>Topics</h2>
    <div class="scroll">
    <table data-testid="topics-table"><thead><tr><th>topic</th><th class="num">subscribers</th></tr></thead>
      <tbody id="topics"></tbody></table>
    </div>
  </section>
  <section>
    <h2>States and limits</h2>
    <table data-testid="states-table"><thead><tr><th>state</th><th class="num">connections</th></tr></thead>
      <tbody id="states"></tbody></table>
    <br>
    <table data-testid="limits-table"><thead><tr><th>limit</th><th class="num">refusals</th></tr></thead>
      <tbody id="limits"></tbody></table>
  </section>
  <section class="wide">
    <h2>Connections <span class="muted" id="connections-total" data-testid="connections-total"></span></h2>
    <form class="row" id="filters" autocomplete="off">
      <label>user id<input name="user_id" data-testid="filter-user_id" size="14"></label>
      <label>topic<input name="topic" data-testid="filter-topic" size="14"></label>
      <label>state<input name="state" data-testid="filter-state" size="10"></label>
      <label>idle over (ms)<input name="idle_over_ms" data-testid="filter-idle_over_ms" size="8" inputmode="numeric"></label>
      <label>per page<select name="limit" data-testid="filter-limit">
        <option>50</option><option selected>100</option><option>500</option></select></label>
      <button type="submit" data-testid="filter-apply">Filter</button>
      <button type="button" class="ghost" id="page-prev" data-testid="page-prev">‹ prev</button>
      <button type="button" class="ghost" id="page-next" data-testid="page-next">next ›</button>
      <span class="muted" id="page-info"></span>
    </form>
    <div class="scroll">
    <table data-testid="connections-table">
      <thead><tr><th>id</th><th>user</th><th>state</th><th>topics</th><th>remote</th>
        <th>connected</th><th class="num">idle</th><th class="num">sent</th><th class="num">recv</th>
        <th class="num">errors</th><th>metadata</th><th></th></tr></thead>
      <tbody id="connections"></tbody>
    </table>
    </div>
    <p class="err" id="action-error" data-testid="action-error"></p>
  </section>
  <section>
    <h2>Broadcast</h2>
    <form id="broadcast" autocomplete="off">
      <div class="row">
        <label>topic<input name="topic" data-testid="broadcast-topic" size="16"></label>
        <label>or user id<input name="user_id" data-testid="broadcast-user_id" size="16"></label>
        <label>message type<input name="message_type" data-testid="broadcast-type" size="12" value="message"></label>
      </div>
      <label>data (JSON, or text)<textarea name="data" data-testid="broadcast-data"></textarea></label>
      <div class="row" style="margin-top:8px">
        <button type="submit" data-testid="broadcast-submit">Send</button>
        <span id="broadcast-result" data-testid="broadcast-result" class="muted"></span>
      </div>
    </form>
  </section>
  <section>
    <h2>Maintenance</h2>
    <div class="row">
      <button type="button" id="cleanup-run" data-testid="cleanup-run">Run cleanup now</button>
      <span id="cleanup-result" data-testid="cleanup-result" class="muted"></span>
    </div>
    <p class="muted">Cleanup closes connections that are dead or idle past the pool's limits.</p>
  </section>
</main>
</div>
</div>
<script>
"use strict";
(function () {
  const API = "api/admin/websockets/";
  const HISTORY = 120;          // samples kept for the charts (two minutes at 1 Hz)
  const REFRESH_MS = 1000;
  const GONE_MS = 5000;         // how long a disconnected row stays hidden if still listed
  const $ = (id) => document.getElementById(id);
  const el = (tag, props, text) => {
    const e = document.createElement(tag);
    if (props) for (const k of Object.keys(props)) e.setAttribute(k, String(props[k]));
    if (text !== undefined) e.textContent = String(text);
    return e;
  };

  let token = null;
  try { token = sessionStorage.getItem("pier_admin_token"); } catch (_) { token = null; }
  let timer = null;
  let busy = false;
  let offset = 0;
  let lastTotal = 0;
  let prev = null;              // previous stats sample, for rates
  const history = [];           // {t, active, rin, rout}
  const gone = new Map();       // connection id (as string) -> time it was disconnected
  const rows = new Map();       // connection id (as string) -> <tr>
  let updates = 0;

  const TILES = [
    ["active_connections", "active connections"], ["total_connections", "total connections"],
    ["users", "users"], ["rate_in", "messages/s in"], ["rate_out", "messages/s out"],
    ["messages_received", "messages received"], ["messages_sent", "messages sent"],
    ["messages_failed", "messages failed"], ["cleanup_runs", "cleanup runs"],
    ["cleanup_removed", "cleanup removed"]];
  for (const [key, label] of TILES) {
    const t = el("div", { class: "tile" });
    t.appendChild(el("div", { class: "v", id: "stat-" + key, "data-testid": "stat-" + key }, "–"));
    t.appendChild(el("div", { class: "k" }, label));
    $("tiles").appendChild(t);
  }

  function setStatus(text, bad) {
    const s = $("status");
    s.textContent = text;
    s.className = bad ? "err" : "";
  }

  function showLogin(message) {
    token = null;
    try { sessionStorage.removeItem("pier_admin_token"); } catch (_) {}
    if (timer) { clearInterval(timer); timer = null; }
    $("dash").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("token").value = "";
    $("token").focus();
  }

  function showDash() {
    $("login").hidden = true;
    $("dash").hidden = false;
    $("login-error").textContent = "";
    refresh();
    if (!timer) timer = setInterval(refresh, REFRESH_MS);
  }

  class HttpError extends Error {
    constructor(status, body) {
      super((body && (body.detail || body.error)) || ("HTTP " + status));
      this.status = status;
    }
  }

  async function api(method, path, body) {
    const init = { method, cache: "no-store", credentials: "omit",
                   headers: { "Authorization": "Bearer " + token } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(API + path, init);
    let data = null;
    try { data = await res.json(); } catch (_) { data = null; }
    if (res.status === 401) { showLogin("The token was refused."); throw new HttpError(401, data); }
    if (!res.ok) throw new HttpError(res.status, data);
    return data;
  }

  const num = (v) => (typeof v === "number" && isFinite(v) ? v : 0);
  const fmt = (v) => {
    if (typeof v !== "number" || !isFinite(v)) return "–";
    return Math.abs(v) >= 100 || Number.isInteger(v) ? Math.round(v).toLocaleString("en-US")
                                                    : v.toFixed(1);
  };
  function setStat(key, v) { $("stat-" + key).textContent = fmt(v); }

  function fillCounts(tbodyId, obj, rowTestId, attr) {
    const tb = $(tbodyId);
    tb.replaceChildren();
    const entries = obj && typeof obj === "object" ? Object.entries(obj) : [];
    entries.sort((a, b) => num(b[1]) - num(a[1]) || (a[0] < b[0] ? -1 : 1));
    for (const [k, v] of entries) {
      const props = {};
      if (rowTestId) { props["data-testid"] = rowTestId; props[attr] = k; }
      const tr = el("tr", props);
      tr.appendChild(el("td", null, k));
      tr.appendChild(el("td", { class: "num" }, fmt(num(v))));
      tb.appendChild(tr);
    }
    if (entries.length === 0) {
      const tr = el("tr");
      tr.appendChild(el("td", { class: "muted", colspan: 2 }, "none"));
      tb.appendChild(tr);
    }
  }

  function drawChart(canvas, series, colors) {
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 600, h = canvas.clientHeight || 160;
    if (canvas.width !== Math.round(w * ratio)) canvas.width = Math.round(w * ratio);
    if (canvas.height !== Math.round(h * ratio)) canvas.height = Math.round(h * ratio);
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, h);
    let max = 1;
    for (const s of series) for (const v of s) if (v > max) max = v;
    const pad = 28;
    g.strokeStyle = "#e3e6ec"; g.fillStyle = "#667085"; g.lineWidth = 1;
    g.font = "11px system-ui, sans-serif";
    for (let i = 0; i <= 4; i++) {
      const y = 6 + (h - 12) * i / 4;
      g.beginPath(); g.moveTo(pad, y); g.lineTo(w, y); g.stroke();
      g.fillText(fmt(max * (4 - i) / 4), 0, y + 4);
    }
    series.forEach((s, si) => {
      if (s.length < 2) return;
      g.strokeStyle = colors[si]; g.lineWidth = 2; g.beginPath();
      s.forEach((v, i) => {
        const x = pad + (w - pad) * (i + HISTORY - s.length) / (HISTORY - 1);
        const y = 6 + (h - 12) * (1 - v / max);
        if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
      });
      g.stroke();
    });
  }

  function onStats(s, now) {
    const st = s || {};
    setStat("active_connections", num(st.active_connections));
    setStat("total_connections", num(st.total_connections));
    setStat("users", num(st.users));
    setStat("messages_sent", num(st.messages_sent));
    setStat("messages_received", num(st.messages_received));
    setStat("messages_failed", num(st.messages_failed));
    const cl = st.cleanup || {};
    setStat("cleanup_runs", num(cl.runs));
    setStat("cleanup_removed", num(cl.removed));
    let rin = 0, rout = 0;
    if (prev) {
      const dt = (now - prev.t) / 1000;
      if (dt > 0) {
        rin = Math.max(0, num(st.messages_received) - prev.rx) / dt;
        rout = Math.max(0, num(st.messages_sent) - prev.tx) / dt;
      }
    }
    prev = { t: now, rx: num(st.messages_received), tx: num(st.messages_sent) };
    setStat("rate_in", rin);
    setStat("rate_out", rout);
    history.push({ active: num(st.active_connections), rin, rout });
    while (history.length > HISTORY) history.shift();
    drawChart($("chart-connections"), [history.map((p) => p.active)], ["#2563eb"]);
    drawChart($("chart-messages"), [history.map((p) => p.rin), history.map((p) => p.rout)],
              ["#2563eb", "#d97706"]);
    fillCounts("topics", st.topics, "topic-row", "data-topic");
    fillCounts("states", st.states, "state-row", "data-state");
    fillCounts("limits", st.limits, "limit-row", "data-limit");
  }

  function when(v) {
    if (typeof v === "number" && isFinite(v)) {
      const d = new Date(v > 1e12 ? v : v * 1000);
      return isNaN(d.getTime()) ? String(v) : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
    }
    return v === undefined || v === null ? "" : String(v);
  }
  function idle(v, now) {
    let t = NaN;
    if (typeof v === "number") t = v > 1e12 ? v : v * 1000;
    else if (typeof v === "string") t = Date.parse(v);
    if (!isFinite(t)) return "";
    const s = Math.max(0, (now - t) / 1000);
    return s < 60 ? s.toFixed(0) + " s" : s < 3600 ? (s / 60).toFixed(0) + " min" : (s / 3600).toFixed(1) + " h";
  }

  function setCells(tr, values) {
    for (let i = 0; i < values.length; i++) {
      const td = tr.children[i];
      const text = values[i] === undefined || values[i] === null ? "" : String(values[i]);
      if (td.textContent !== text) td.textContent = text;
    }
  }

  function makeRow(c) {
    const id = String(c.connection_id);
    const tr = el("tr", { "data-testid": "connection-row", "data-connection-id": id });
    const classes = ["", "", "", "", "", "", "num", "num", "num", "num", "meta"];
    for (const cls of classes) tr.appendChild(el("td", cls ? { class: cls } : null));
    const act = el("td");
    const b1 = el("button", { type: "button", class: "danger", "data-testid": "disconnect-connection" }, "disconnect");
    b1.addEventListener("click", () => disconnect({ connection_ids: [tr.pierId] }, [String(tr.pierId)], b1));
    const b2 = el("button", { type: "button", class: "ghost", "data-testid": "disconnect-user" }, "user");
    b2.title = "disconnect every connection of this user";
    b2.addEventListener("click", () => disconnect({ user_id: tr.pierUser }, null, b2));
    act.appendChild(b1); act.appendChild(document.createTextNode(" ")); act.appendChild(b2);
    tr.appendChild(act);
    return tr;
  }

  function onConnections(list, now) {
    const body = $("connections");
    const conns = Array.isArray(list && list.connections) ? list.connections : [];
    lastTotal = num(list && list.total);
    for (const [id, t] of gone) if (now - t > GONE_MS) gone.delete(id);
    const seen = new Set();
    let at = 0;
    for (const c of conns) {
      if (!c || c.connection_id === undefined || c.connection_id === null) continue;
      const id = String(c.connection_id);
      if (gone.has(id) || seen.has(id)) continue;
      seen.add(id);
      let tr = rows.get(id);
      if (!tr) { tr = makeRow(c); rows.set(id, tr); }
      tr.pierId = c.connection_id;
      tr.pierUser = c.user_id;
      tr.setAttribute("data-user-id", c.user_id === undefined || c.user_id === null ? "" : String(c.user_id));
      const topics = Array.isArray(c.topics) ? c.topics.join(", ") : "";
      let meta = "";
      if (c.metadata !== undefined && c.metadata !== null) {
        try { meta = JSON.stringify(c.metadata); } catch (_) { meta = ""; }
      }
      setCells(tr, [id, c.user_id, c.state, topics, c.remote_address, when(c.connected_at),
                    idle(c.last_activity, now), fmt(num(c.messages_sent)),
                    fmt(num(c.messages_received)), fmt(num(c.errors)), meta]);
      tr.children[1].title = tr.children[1].textContent;
      if (body.children[at] !== tr) body.insertBefore(tr, body.children[at] || null);
      at++;
    }
    for (const [id, tr] of rows) if (!seen.has(id)) { tr.remove(); rows.delete(id); }
    const limit = Number(new FormData($("filters")).get("limit")) || 100;
    $("connections-total").textContent = "(" + fmt(lastTotal) + ")";
    $("page-info").textContent = lastTotal === 0 ? "" :
      (offset + 1) + "–" + Math.min(offset + limit, lastTotal) + " of " + fmt(lastTotal);
    $("page-prev").disabled = offset === 0;
    $("page-next").disabled = offset + limit >= lastTotal;
  }

  function query() {
    const f = new FormData($("filters"));
    const p = new URLSearchParams();
    for (const k of ["user_id", "topic", "state", "idle_over_ms"]) {
      const v = String(f.get(k) || "").trim();
      if (v) p.set(k, v);
    }
    p.set("limit", String(Number(f.get("limit")) || 100));
    p.set("offset", String(offset));
    return p.toString();
  }

  async function refresh() {
    if (busy || !token) return;
    busy = true;
    try {
      const [stats, list] = await Promise.all([api("GET", "stats"), api("GET", "connections?" + query())]);
      const now = Date.now();
      onStats(stats, now);
      onConnections(list, now);
      updates++;
      $("app").setAttribute("data-updates", String(updates));
      setStatus("live · " + new Date(now).toLocaleTimeString("en-GB"), false);
    } catch (e) {
      if (!(e instanceof HttpError && e.status === 401)) setStatus("error: " + e.message, true);
    } finally {
      busy = false;
    }
  }

  async function disconnect(body, ids, button) {
    button.disabled = true;
    $("action-error").textContent = "";
    try {
      body.reason = "disconnected by admin";
      const r = await api("POST", "disconnect", body);
      const now = Date.now();
      if (ids) {
        for (const id of ids) {
          gone.set(id, now);
          const tr = rows.get(id);
          if (tr) { tr.remove(); rows.delete(id); }
        }
      }
      setStatus("disconnected " + fmt(num(r && r.disconnected)), false);
      refresh();
    } catch (e) {
      $("action-error").textContent = "disconnect failed: " + e.message;
    } finally {
      button.disabled = false;
    }
  }

  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("token").value.trim();
    if (!t) return;
    token = t;
    try { sessionStorage.setItem("pier_admin_token", t); } catch (_) {}
    $("token").value = "";
    showDash();
  });
  $("logout").addEventListener("click", () => showLogin(""));
  $("filters").addEventListener("submit", (ev) => { ev.preventDefault(); offset = 0; refresh(); });
  $("page-prev").addEventListener("click", () => {
    const limit = Number(new FormData($("filters")).get("limit")) || 100;
    offset = Math.max(0, offset - limit); refresh();
  });
  $("page-next").addEventListener("click", () => {
    const limit = Number(new FormData($("filters")).get("limit")) || 100;
    if (offset + limit < lastTotal) { offset += limit; refresh(); }
  });
  $("broadcast").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const topic = String(f.get("topic") || "").trim();
    const user = String(f.get("user_id") || "").trim();
    const out = $("broadcast-result");
    if (!topic && !user) { out.textContent = "give a topic or a user id"; return; }
    const raw = String(f.get("data") || "");
    let data = raw;
    try { data = JSON.parse(raw); } catch (_) { data = raw; }
    const body = { message_type: String(f.get("message_type") || "message"), data };
    if (topic) body.topic = topic; else body.user_id = user;
    out.textContent = "sending…";
    try {
      const r = await api("POST", "broadcast", body);
      out.textContent = "delivered to " + fmt(num(r && r.delivered));
    } catch (e) {
      out.textContent = "failed: " + e.message;
    }
  });
  $("cleanup-run").addEventListener("click", async () => {
    const out = $("cleanup-result");
    out.textContent = "running…";
    try {
      const r = await api("POST", "cleanup");
      out.textContent = "removed " + fmt(num(r && r.removed));
      refresh();
    } catch (e) {
      out.textContent = "failed: " + e.message;
    }
  });
  window.addEventListener("resize", () => {
    drawChart($("chart-connections"), [history.map((p) => p.active)], ["#2563eb"]);
    drawChart($("chart-messages"), [history.map((p) => p.rin), history.map((p) => p.rout)],
              ["#2563eb", "#d97706"]);
  });

  if (token) showDash(); else showLogin("");
})();
</script>
</body>
</html>
)pier_dashboard";

} // namespace pier::pool
