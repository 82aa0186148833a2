// examples/common/chat_page.hpp: the page examples/ws_chat serves on GET / (the same port as
// the pool's WebSocket endpoint). Self-contained: no CDN, no framework. It asks the example's
// demo endpoint GET /token?user=NAME for a token, connects to /ws?token=…&topics=ROOM, and
// speaks the pool's envelopes: subscribe/unsubscribe to join and leave rooms, data envelopes
// {"text": …} to say something. Messages come back from the server (the sender included), so
// every member of a room sees the same order. A token that expires while connected (close
// 4001) is replaced and the rooms rejoined.
//
// The elements carry data-testid attributes, which tests/peers/chat_chromium.js drives.
#pragma once

#include <string_view>

namespace examples {

inline constexpr std::string_view chat_page = R"html(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pier chat</title>
<style>
  [hidden] { display: none !important; }
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1d2330; }
  header { background: #1d2330; color: #fff; padding: 10px 16px; display: flex; gap: 16px;
           align-items: baseline; }
  header h1 { font-size: 18px; margin: 0; }
  #status { font-size: 13px; opacity: .8; }
  #error { color: #ffb4b4; font-size: 13px; }
  #login { padding: 24px; display: flex; gap: 8px; }
  #main { display: flex; height: calc(100vh - 44px); }
  aside { width: 200px; background: #fff; border-right: 1px solid #dde; padding: 8px; }
  aside ul { list-style: none; padding: 0; margin: 0 0 8px; }
  aside li { display: flex; justify-content: space-between; padding: 4px 6px; cursor: pointer;
             border-radius: 4px; }
  aside li.current { background: #e3e8f4; font-weight: 600; }
  aside li .unread { color: #2a62d4; font-size: 12px; }
  aside li button { border: 0; background: none; cursor: pointer; color: #888; }
  section { flex: 1; display: flex; flex-direction: column; padding: 8px 16px; }
  section h2 { margin: 4px 0 8px; font-size: 16px; }
  #log { flex: 1; overflow-y: auto; list-style: none; padding: 0; margin: 0; }
  #log li { padding: 3px 0; }
  #log .user { font-weight: 600; margin-right: 6px; }
  #log .time { color: #889; font-size: 12px; margin-left: 6px; }
  #say { display: flex; gap: 8px; padding: 8px 0; }
  #say input { flex: 1; }
  input, button { font: inherit; padding: 4px 8px; }
</style></head>
<body>
<header><h1>pier chat</h1><span id="status" data-testid="status">offline</span>
  <span id="error" data-testid="error"></span></header>
<form id="login" data-testid="login">
  <input id="name" data-testid="name" placeholder="your name" maxlength="32" required>
  <input id="first-room" data-testid="first-room" value="lobby" maxlength="32" required>
  <button data-testid="join">Join</button>
</form>
<div id="main" hidden>
  <aside>
    <ul id="rooms" data-testid="rooms"></ul>
    <form id="add-room"><input id="room-input" data-testid="room-input" placeholder="room"
      maxlength="32" size="10"><button data-testid="room-join">Join</button></form>
  </aside>
  <section>
    <h2 id="current" data-testid="current-room"></h2>
    <ol id="log" data-testid="messages"></ol>
    <form id="say"><input id="text" data-testid="message-input" maxlength="1000"
      autocomplete="off"><button data-testid="send">Send</button></form>
  </section>
</div>
<script>
'use strict';
const $ = (id) => document.getElementById(id);
const nameOk = (s) => /^[A-Za-z0-9_-]{1,32}$/.test(s);
const roomOk = (s) => /^[a-z0-9_-]{1,32}$/.test(s);
const rooms = new Map(); // room -> { messages: [...], unread: 0 }
let ws = null, me = '', current = '';

function status(s) { $('status').textContent = s; document.body.dataset.status = s; }
function showError(s) { $('error').textContent = s; }

async function fetchToken() {
  const r = await fetch('/token?user=' + encodeURIComponent(me), { cache: 'no-store' });
  const body = await r.json();
  if (!r.ok) throw new Error(body.detail || ('HTTP ' + r.status));
  return body.token;
}

async function connect() {
  status('connecting');
  let token;
  try { token = await fetchToken(); } catch (e) { status('offline'); showError(String(e)); return; }
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const topics = [...rooms.keys()].join(',');
  ws = new WebSocket(`${scheme}://${location.host}/ws?token=${encodeURIComponent(token)}` +
                     `&topics=${encodeURIComponent(topics)}`);
  ws.onmessage = (e) => handle(JSON.parse(e.data));
  ws.onclose = (e) => {
    status('closed ' + e.code + (e.reason ? ' (' + e.reason + ')' : ''));
    if (e.code === 4001) connect(); // the token expired: a new one, the same rooms
  };
}

function send(env) { if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(env)); }

function handle(m) {
  switch (m.type) {
  case 'welcome':
    status('online as ' + m.data.user_id);
    document.body.dataset.connectionId = m.data.connection_id;
    for (const t of m.data.topics) addRoom(t);
    break;
  case 'subscribe': addRoom(m.topic); select(m.topic); break;
  case 'unsubscribe': removeRoom(m.topic); break;
  case 'data': {
    const r = rooms.get(m.topic);
    if (!r || !m.data || typeof m.data.text !== 'string') break;
    r.messages.push({ user: String(m.data.user), text: m.data.text, time: m.timestamp });
    if (r.messages.length > 500) r.messages.shift(); // the page keeps a bounded history
    if (m.topic === current) renderLog(); else { r.unread++; renderRooms(); }
    break;
  }
  case 'error': showError(m.error + (m.topic ? ' (' + m.topic + ')' : '')); break;
  }
}

function addRoom(t) { if (!rooms.has(t)) rooms.set(t, { messages: [], unread: 0 }); if (!current) select(t); renderRooms(); }
function removeRoom(t) {
  rooms.delete(t);
  if (current === t) { current = ''; const first = rooms.keys().next(); if (!first.done) select(first.value); else renderLog(); }
  renderRooms();
}
function select(t) { current = t; const r = rooms.get(t); if (r) r.unread = 0; renderRooms(); renderLog(); }

function renderRooms() {
  const ul = $('rooms');
  ul.replaceChildren();
  for (const [t, r] of rooms) {
    const li = document.createElement('li');
    li.dataset.testid = 'room';
    li.dataset.room = t;
    if (t === current) li.className = 'current';
    const label = document.createElement('span');
    label.textContent = '#' + t;
    li.append(label);
    if (r.unread) { const u = document.createElement('span'); u.className = 'unread'; u.textContent = r.unread; li.append(u); }
    const leave = document.createElement('button');
    leave.textContent = '×';
    leave.title = 'leave';
    leave.dataset.testid = 'room-leave';
    leave.onclick = (e) => { e.stopPropagation(); send({ type: 'unsubscribe', topic: t }); };
    li.append(leave);
    li.onclick = () => select(t);
    ul.append(li);
  }
}

function renderLog() {
  $('current').textContent = current ? '#' + current : '';
  const log = $('log');
  log.replaceChildren();
  const r = rooms.get(current);
  if (!r) return;
  for (const m of r.messages) {
    const li = document.createElement('li');
    li.dataset.testid = 'message';
    const u = document.createElement('span'); u.className = 'user'; u.textContent = m.user;
    const t = document.createElement('span'); t.className = 'text'; t.textContent = m.text;
    const time = document.createElement('span'); time.className = 'time';
    time.textContent = (m.time || '').slice(11, 19);
    li.append(u, t, time);
    log.append(li);
  }
  log.scrollTop = log.scrollHeight;
}

$('login').onsubmit = (e) => {
  e.preventDefault();
  const name = $('name').value.trim(), room = $('first-room').value.trim().toLowerCase();
  if (!nameOk(name)) { showError('a name is 1-32 letters, digits, _ or -'); return; }
  if (!roomOk(room)) { showError('a room is 1-32 lowercase letters, digits, _ or -'); return; }
  me = name;
  rooms.set(room, { messages: [], unread: 0 });
  $('login').hidden = true;
  $('main').hidden = false;
  connect();
};
$('add-room').onsubmit = (e) => {
  e.preventDefault();
  const room = $('room-input').value.trim().toLowerCase();
  if (!roomOk(room)) { showError('a room is 1-32 lowercase letters, digits, _ or -'); return; }
  $('room-input').value = '';
  send({ type: 'subscribe', topic: room });
};
$('say').onsubmit = (e) => {
  e.preventDefault();
  const text = $('text').value;
  if (!text || !current) return;
  send({ type: 'data', topic: current, data: { text } });
  $('text').value = '';
};
</script></body></html>
)html";

} // namespace examples
