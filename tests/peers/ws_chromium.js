#!/usr/bin/env node
// tests/peers/ws_chromium.js: loads ws_echo's test page (examples/common/ws_page.hpp) in
// headless Chromium through playwright-core and waits, in real time, until the page has written
// its result (PASS … or FAIL …) into #result; prints that result. Run by ws_chromium.sh.
//
// Real time, not Chromium's virtual clock: with --virtual-time-budget the page's own 8 s timer
// ran ahead while the page waited on the network, and a busy machine read "FAIL timeout" after
// 1.8 s of wall time.
//
//   node tests/peers/ws_chromium.js <base-url> [--timeout SECONDS]
//
// Exit 0 = a result was printed (the caller checks it), 1 = none came within the timeout (or
// the page failed to load), 2 = bad arguments, 77 = skipped (a dependency missing). The
// browser and its profile directory are removed on every path.
"use strict";

const { playwright, positional, launch } = require("./lib/browser.js");

async function main() {
    const cmd = positional("ws_chromium.js", ["base-url"], 30);
    if (!cmd) return 2;
    const base = cmd.pos[0].replace(/\/$/, "");
    const pw = playwright();
    if (!pw) return 77;
    const ms = cmd.timeout * 1000;
    let browser = null;
    try {
        browser = await launch(pw, "ws_chromium");
        const context = browser.context;
        const page = context.pages()[0] || (await context.newPage());
        const res = await page.goto(base + "/", { waitUntil: "load", timeout: ms });
        if (!res || res.status() !== 200) throw new Error("GET / answered " + (res && res.status()));
        await page.waitForFunction(() => /^(PASS|FAIL)/.test(document.getElementById("result").textContent),
                                   null, { timeout: ms, polling: 50 });
        console.log(await page.textContent("#result"));
        return 0;
    } catch (e) {
        console.error("ws_chromium: " + (e && e.message ? e.message : String(e)));
        return 1;
    } finally {
        if (browser) await browser.close();
    }
}

main().then((rc) => process.exit(rc), (e) => { console.error(String(e)); process.exit(1); });
