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

const fs = require("fs");
const os = require("os");
const path = require("path");
const { load, chromiumPath, chromiumArgs } = require("./lib/browser.js");

async function main() {
    const argv = process.argv.slice(2);
    let timeout = 30;
    const pos = [];
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === "--timeout" && i + 1 < argv.length) timeout = Number(argv[++i]);
        else pos.push(argv[i]);
    }
    if (pos.length !== 1 || !(timeout > 0)) {
        console.error("usage: ws_chromium.js <base-url> [--timeout SECONDS]");
        return 2;
    }
    const base = pos[0].replace(/\/$/, "");
    const pw = load("playwright-core");
    const browserPath = chromiumPath();
    if (!pw) { console.log("skip: playwright-core not installed (tools/setup.sh --playwright)"); return 77; }
    if (!browserPath) { console.log("skip: chromium not installed (tools/setup.sh --browser)"); return 77; }
    const ms = timeout * 1000;
    const profile = fs.mkdtempSync(path.join(process.env.PIER_TEST_TMPDIR || os.tmpdir(), "ws_chromium-"));
    let context = null;
    try {
        context = await pw.chromium.launchPersistentContext(profile, {
            executablePath: browserPath, headless: true, args: chromiumArgs,
        });
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
        if (context) await context.close().catch(() => {});
        fs.rmSync(profile, { recursive: true, force: true });
    }
}

main().then((rc) => process.exit(rc), (e) => { console.error(String(e)); process.exit(1); });
