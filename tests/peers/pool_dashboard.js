#!/usr/bin/env node
// tests/peers/pool_dashboard.js: drives the pool's admin dashboard (GET /admin, the page in
// include/pier/pool/dashboard.hpp) in headless Chromium through playwright-core, against a
// running pool, with real WebSocket clients of its own:
//
//   1. loads <base>/admin, enters the token, waits for the first refresh and reads the
//      baseline number of active connections;
//   2. opens --clients WebSocket connections to --ws-url and waits until the page shows the
//      baseline plus that many, and at least that many connection rows;
//   3. makes every client send --message every 100 ms and waits until the page's
//      messages_received has grown by --clients × 3 and its "messages/s in" is above zero;
//   4. clicks the disconnect button of one of its own clients' rows and waits until the row
//      is gone, the page counts one connection less, and that client saw its socket close;
//   5. saves a full-page screenshot to <screenshot>.
//
//   node tests/peers/pool_dashboard.js <base-url> <admin-token> <screenshot.png>
//        [--ws-url ws://host:port/path] [--clients N] [--message TEXT] [--timeout SECONDS]
//
// --ws-url defaults to <base-url> with ws:// and path /ws; --clients to 3; --message to
// {"type":"ping"}; --timeout (the bound on every wait) to 20 s. Needs playwright-core and ws
// (tools/setup.sh --playwright --node-ws: both under tests/peers/node_modules) and Debian's
// chromium. Exit 0 = pass, 1 = fail (the reason on stderr), 2 = bad arguments, 77 = skipped
// (a dependency missing). Every wait is bounded; the browser, its profile directory and the
// clients are closed on every path.
"use strict";

const fs = require("fs");
const path = require("path");

function usage(msg) {
    if (msg) console.error("pool_dashboard: " + msg);
    console.error("usage: pool_dashboard.js <base-url> <admin-token> <screenshot.png> " +
                  "[--ws-url URL] [--clients N] [--message TEXT] [--timeout SECONDS]");
    process.exit(2);
}

function parseArgs(argv) {
    const pos = [];
    const opt = { clients: 3, message: '{"type":"ping"}', timeout: 20, wsUrl: null };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const next = () => {
            if (i + 1 >= argv.length) usage("missing value for " + a);
            return argv[++i];
        };
        if (a === "--ws-url") opt.wsUrl = next();
        else if (a === "--clients") opt.clients = Number(next());
        else if (a === "--message") opt.message = next();
        else if (a === "--timeout") opt.timeout = Number(next());
        else if (a.startsWith("--")) usage("unknown option " + a);
        else pos.push(a);
    }
    if (pos.length !== 3) usage("need <base-url> <admin-token> <screenshot.png>");
    if (!Number.isInteger(opt.clients) || opt.clients < 2 || opt.clients > 1000)
        usage("--clients must be 2..1000 (one is disconnected, one must stay)");
    if (!(opt.timeout > 0)) usage("--timeout must be positive");
    const base = new URL(pos[0]);
    if (!opt.wsUrl) {
        const ws = new URL(base.href);
        ws.protocol = base.protocol === "https:" ? "wss:" : "ws:";
        ws.pathname = "/ws";
        opt.wsUrl = ws.href;
    }
    return { base: base.href.replace(/\/$/, ""), token: pos[1], screenshot: pos[2], ...opt };
}

const { load, playwright, launch } = require("./lib/browser.js");

const step = (msg) => console.log("# " + msg);

function withTimeout(promise, ms, what) {
    let timer;
    const limit = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("timed out after " + ms + " ms: " + what)), ms);
    });
    return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

async function main() {
    const args = parseArgs(process.argv.slice(2));
    const pw = playwright();
    if (!pw) return 77;
    const WebSocket = load("ws") || globalThis.WebSocket;
    if (!WebSocket) { console.log("skip: no WebSocket client (tools/setup.sh --node-ws)"); return 77; }
    const ms = args.timeout * 1000;

    const clients = [];
    let browser = null;
    let senders = null;
    try {
        browser = await launch(pw, "pool_dashboard", { width: 1400, height: 1000 });
        const context = browser.context;
        const page = context.pages()[0] || (await context.newPage());
        const pageErrors = [];
        page.on("pageerror", (e) => pageErrors.push(String(e)));
        page.setDefaultTimeout(ms);

        const tid = (id) => `[data-testid="${id}"]`;
        const stat = async (key) => {
            const t = await page.textContent(tid("stat-" + key));
            const v = Number(String(t).replace(/,/g, ""));
            return Number.isFinite(v) ? v : NaN;
        };
        // Waits, in the page, until stat-<key> satisfies `op` against `value`.
        const waitStat = (key, op, value, what) => page.waitForFunction(
            ([k, o, v]) => {
                const e = document.querySelector(`[data-testid="stat-${k}"]`);
                const n = e ? Number(e.textContent.replace(/,/g, "")) : NaN;
                return o === "==" ? n === v : o === ">=" ? n >= v : n > v;
            },
            [key, op, value], { timeout: ms, polling: 100 }).catch((e) => {
                throw new Error(what + ": " + e.message.split("\n")[0]);
            });
        const updates = () => page.getAttribute("#app", "data-updates").then(Number);

        step("load " + args.base + "/admin");
        const res = await page.goto(args.base + "/admin", { waitUntil: "load", timeout: ms });
        if (!res || res.status() !== 200) throw new Error("GET /admin answered " + (res && res.status()));
        if (!page.url().startsWith(args.base + "/admin")) throw new Error("the URL changed to " + page.url());
        await page.fill(tid("token-input"), args.token);
        await page.click(tid("token-submit"));
        if (page.url().includes(encodeURIComponent(args.token)) || page.url().includes(args.token))
            throw new Error("the token appeared in the URL");
        await page.waitForFunction(() => Number(document.getElementById("app").dataset.updates) >= 1,
                                   null, { timeout: ms, polling: 100 })
            .catch(async () => {
                const err = await page.textContent(tid("login-error")).catch(() => "");
                const status = await page.textContent(tid("status")).catch(() => "");
                throw new Error("no successful refresh after entering the token (" +
                                [err, status].filter(Boolean).join("; ") + ")");
            });
        const baseline = await stat("active_connections");
        const rowsBaseline = await page.$$eval(tid("connection-row"), (rs) => rs.map((r) => r.dataset.connectionId));
        step("baseline: " + baseline + " active connections");

        step("open " + args.clients + " WebSocket clients to " + args.wsUrl);
        for (let i = 0; i < args.clients; i++) {
            const ws = new WebSocket(args.wsUrl);
            const c = { ws, closed: false };
            c.opened = new Promise((resolve, reject) => {
                ws.addEventListener("open", () => resolve());
                ws.addEventListener("error", (e) => reject(new Error("client " + i + ": " + (e.message || "error"))));
            });
            c.closedPromise = new Promise((resolve) => ws.addEventListener("close", () => { c.closed = true; resolve(); }));
            clients.push(c);
        }
        await withTimeout(Promise.all(clients.map((c) => c.opened)), ms, "clients connecting");
        await waitStat("active_connections", "==", baseline + args.clients,
                       "active_connections never reached " + (baseline + args.clients));
        await page.waitForFunction((n) => document.querySelectorAll('[data-testid="connection-row"]').length >= n,
                                   args.clients, { timeout: ms, polling: 100 });
        const rowsBefore = await page.$$eval(tid("connection-row"), (rs) => rs.map((r) => r.dataset.connectionId));
        step("page shows " + (baseline + args.clients) + " connections, " + rowsBefore.length + " rows");

        const received0 = await stat("messages_received");
        step("clients send; messages_received was " + received0);
        const sendAll = () => { for (const c of clients) if (!c.closed) c.ws.send(args.message); };
        sendAll();
        senders = setInterval(sendAll, 100);
        await waitStat("messages_received", ">=", received0 + args.clients * 3,
                       "messages_received did not grow by " + args.clients * 3);
        await waitStat("rate_in", ">", 0, "messages/s in stayed at 0");
        clearInterval(senders);
        senders = null;
        step("messages_received now " + (await stat("messages_received")) + ", rate in " + (await stat("rate_in")) + "/s");

        // One of our own clients' rows: one that was not listed before they connected.
        const rowsNow = await page.$$eval(tid("connection-row"), (rs) => rs.map((r) => r.dataset.connectionId));
        const before = new Set(rowsBaseline);
        const victim = rowsNow.filter((id) => !before.has(id)).pop();
        if (victim === undefined) throw new Error("no row of this test's clients to disconnect");
        const updatesBefore = await updates();
        step("disconnect connection " + victim + " from its row");
        await page.click(`${tid("connection-row")}[data-connection-id="${victim}"] ${tid("disconnect-connection")}`);
        await page.waitForSelector(`${tid("connection-row")}[data-connection-id="${victim}"]`,
                                   { state: "detached", timeout: ms });
        await waitStat("active_connections", "==", baseline + args.clients - 1,
                       "active_connections did not drop to " + (baseline + args.clients - 1));
        await withTimeout(Promise.race(clients.map((c) => c.closedPromise)), ms, "a client seeing its close");
        const closed = clients.filter((c) => c.closed).length;
        if (closed !== 1) throw new Error(closed + " clients were closed, expected 1");
        // Still gone after a later refresh (the server no longer lists it).
        await page.waitForFunction((n) => Number(document.getElementById("app").dataset.updates) >= n,
                                   updatesBefore + 2, { timeout: ms, polling: 100 });
        if (await page.$(`${tid("connection-row")}[data-connection-id="${victim}"]`))
            throw new Error("the disconnected row came back");

        fs.mkdirSync(path.dirname(path.resolve(args.screenshot)), { recursive: true });
        await page.screenshot({ path: args.screenshot, fullPage: true });
        step("screenshot: " + args.screenshot);
        if (pageErrors.length) throw new Error("page errors: " + pageErrors.join("; "));
        console.log("ok - dashboard showed the clients, their messages and a disconnect");
        return 0;
    } finally {
        if (senders) clearInterval(senders);
        for (const c of clients) { try { c.ws.close(); } catch (_) {} }
        if (browser) await browser.close();
    }
}

main().then((code) => process.exit(code), (e) => {
    console.error("FAIL - " + (e && e.message ? e.message : e));
    process.exit(1);
});
