#!/usr/bin/env node
// tests/peers/chat_chromium.js: drives ws_chat's page (examples/common/chat_page.hpp) in
// headless Chromium through playwright-core, run by chat_chromium.sh:
//
//   1. two pages load <base>/, join as alice and bob in room "lobby" (the page fetches a demo
//      token from /token and connects to /ws?token=…&topics=lobby) and show "online";
//   2. alice says something; both pages show it under alice's name (the server re-publishes
//      every message to the whole room, its sender included); bob answers, alice sees it;
//   3. alice joins room "side" and says something there; bob, who is not in it, never shows
//      it (proved by a later lobby message reaching him first) and lists only "lobby";
//   4. a screenshot of each page.
//
//   node tests/peers/chat_chromium.js <base-url> <screenshot-prefix> [--timeout SECONDS]
//
// Needs playwright-core (tools/setup.sh --playwright, under tests/peers/node_modules) and
// Debian's chromium. Exit 0 = pass, 1 = fail (the reason on stderr), 2 = bad arguments,
// 77 = skipped (a dependency missing). Every wait is bounded; the browser and its profile
// directory are removed on every path.
"use strict";

const fs = require("fs");
const path = require("path");

const { playwright, positional, launch } = require("./lib/browser.js");

const t0 = Date.now();
const step = (msg) => console.log(`# [${((Date.now() - t0) / 1000).toFixed(1)} s] ${msg}`);

async function main() {
    const cmd = positional("chat_chromium.js", ["base-url", "screenshot-prefix"], 20);
    if (!cmd) return 2;
    const [base, shots] = [cmd.pos[0].replace(/\/$/, ""), cmd.pos[1]];
    const pw = playwright();
    if (!pw) return 77;
    const ms = cmd.timeout * 1000;

    let browser = null;
    try {
        browser = await launch(pw, "chat_chromium", { width: 900, height: 600 });
        const context = browser.context;
        const pageErrors = [];
        const tid = (id) => `[data-testid="${id}"]`;
        const join = async (page, name) => {
            page.on("pageerror", (e) => pageErrors.push(name + ": " + String(e)));
            page.setDefaultTimeout(ms);
            const res = await page.goto(base + "/", { waitUntil: "load", timeout: ms });
            if (!res || res.status() !== 200) throw new Error("GET / answered " + (res && res.status()));
            await page.fill(tid("name"), name);
            await page.fill(tid("first-room"), "lobby");
            await page.click(tid("join"));
            await page.waitForFunction((n) => document.body.dataset.status === "online as " + n, name,
                                       { timeout: ms, polling: 50 })
                .catch(async () => {
                    const st = await page.textContent(tid("status")).catch(() => "");
                    const err = await page.textContent(tid("error")).catch(() => "");
                    throw new Error(name + " never came online (status '" + st + "', error '" + err + "')");
                });
            await page.waitForSelector(`${tid("room")}[data-room="lobby"]`, { timeout: ms });
        };
        // Waits until the current room's log shows `text` from `user`.
        const shows = (page, who, user, text) => page.waitForFunction(([u, t]) =>
            [...document.querySelectorAll('[data-testid="message"]')].some((li) =>
                li.querySelector(".user").textContent === u && li.querySelector(".text").textContent === t),
            [user, text], { timeout: ms, polling: 50 }).catch(() => {
                throw new Error(who + " never showed " + user + ": " + text);
            });
        const say = async (page, text) => {
            await page.fill(tid("message-input"), text);
            await page.click(tid("send"));
        };

        const alice = context.pages()[0] || (await context.newPage());
        const bob = await context.newPage();
        step("alice and bob join lobby");
        await join(alice, "alice");
        await join(bob, "bob");

        step("alice speaks; both pages show it");
        await say(alice, "hello from alice ✓");
        await shows(bob, "bob's page", "alice", "hello from alice ✓");
        await shows(alice, "alice's page", "alice", "hello from alice ✓");
        step("bob answers");
        await say(bob, "hi <b>alice</b>");
        await shows(alice, "alice's page", "bob", "hi <b>alice</b>"); // text, never markup
        if (await alice.$("#log b")) throw new Error("a message was rendered as HTML");

        step("alice joins side and speaks there");
        await alice.fill(tid("room-input"), "side");
        await alice.click(tid("room-join"));
        await alice.waitForFunction(() => document.querySelector('[data-testid="current-room"]').textContent === "#side",
                                    null, { timeout: ms, polling: 50 });
        step("alice speaks in side");
        await say(alice, "only for side");
        await shows(alice, "alice's page", "alice", "only for side");
        step("alice goes back to lobby");
        await alice.click(`${tid("room")}[data-room="lobby"]`);
        await say(alice, "back in lobby");
        await shows(bob, "bob's page", "alice", "back in lobby");
        const bobRooms = await bob.$$eval(tid("room"), (rs) => rs.map((r) => r.dataset.room));
        if (bobRooms.join() !== "lobby") throw new Error("bob lists rooms " + bobRooms.join());
        const bobTexts = await bob.$$eval(".text", (ts) => ts.map((t) => t.textContent));
        if (bobTexts.includes("only for side")) throw new Error("bob saw a message of a room he is not in");
        if (bobTexts.length !== 3) throw new Error("bob shows " + bobTexts.length + " messages, expected 3");

        fs.mkdirSync(path.dirname(path.resolve(shots)), { recursive: true });
        await alice.screenshot({ path: shots + "-alice.png" });
        await bob.screenshot({ path: shots + "-bob.png" });
        step("screenshots: " + shots + "-alice.png, " + shots + "-bob.png");
        if (pageErrors.length) throw new Error("page errors: " + pageErrors.join("; "));
        console.log("ok - two pages chatted in a room, a second room stayed private");
        return 0;
    } finally {
        if (browser) await browser.close();
    }
}

main().then((code) => process.exit(code), (e) => {
    console.error("FAIL - " + (e && e.message ? e.message : e));
    process.exit(1);
});
