// tests/peers/lib/browser.js: what the Chromium peer scripts share.
//
//   load(name)         a Node module from tests/peers/node_modules (tools/setup.sh installs
//                      playwright-core and ws there), NODE_PATH or the default paths; null
//                      when it is not installed (the script then skips with 77)
//   chromiumPath()     Debian's chromium, or null
//   chromiumArgs       the flags every script starts it with
"use strict";

const fs = require("fs");
const path = require("path");

function load(name) {
    const dirs = [path.join(__dirname, "..", "node_modules"), ...(process.env.NODE_PATH || "").split(":")];
    for (const d of dirs) {
        if (!d) continue;
        try { return require(path.join(d, name)); } catch (_) {}
    }
    try { return require(name); } catch (_) { return null; }
}

function chromiumPath() {
    return ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => fs.existsSync(p)) || null;
}

const chromiumArgs = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                      "--disable-background-networking", "--disable-component-update", "--disable-sync"];

module.exports = { load, chromiumPath, chromiumArgs };
