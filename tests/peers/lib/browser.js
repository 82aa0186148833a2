// tests/peers/lib/browser.js: what the Chromium peer scripts share.
//
//   load(name)         a Node module from tests/peers/node_modules (tools/setup.sh installs
//                      playwright-core and ws there), NODE_PATH or the default paths; null
//                      when it is not installed (the script then skips with 77)
//   chromiumPath()     Debian's chromium, or null
//   chromiumArgs       the flags every script starts it with
//   playwright()       playwright-core, when it and Chromium are installed; null, after
//                      printing why the script skips, when not
//   positional(script, names, timeout)
//                      the command line: exactly names.length positional arguments and an
//                      optional `--timeout SECONDS` (default `timeout`); null, after printing
//                      the usage line, when it does not fit
//   launch(pw, name, viewport)
//                      Chromium (playwright-core's persistent context) with a fresh profile
//                      directory under PIER_TEST_TMPDIR; `close()` closes it and removes the
//                      profile, and is safe on every path
"use strict";

const fs = require("fs");
const os = require("os");
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

function playwright() {
    const pw = load("playwright-core");
    if (!pw) console.log("skip: playwright-core not installed (tools/setup.sh --playwright)");
    else if (!chromiumPath()) console.log("skip: chromium not installed (tools/setup.sh --browser)");
    else return pw;
    return null;
}

function positional(script, names, timeout) {
    const argv = process.argv.slice(2);
    const pos = [];
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === "--timeout" && i + 1 < argv.length) timeout = Number(argv[++i]);
        else pos.push(argv[i]);
    }
    if (pos.length !== names.length || !(timeout > 0)) {
        console.error(`usage: ${script} ${names.map((n) => "<" + n + ">").join(" ")} [--timeout SECONDS]`);
        return null;
    }
    return { pos, timeout };
}

async function launch(pw, name, viewport) {
    const profile = fs.mkdtempSync(path.join(process.env.PIER_TEST_TMPDIR || os.tmpdir(), name + "-"));
    let context = null;
    const close = async () => {
        if (context) await context.close().catch(() => {});
        context = null;
        fs.rmSync(profile, { recursive: true, force: true });
    };
    try {
        context = await pw.chromium.launchPersistentContext(profile, {
            executablePath: chromiumPath(), headless: true, args: chromiumArgs,
            ...(viewport ? { viewport } : {}),
        });
    } catch (e) {
        await close();
        throw e;
    }
    return { context, close };
}

module.exports = { load, chromiumPath, chromiumArgs, playwright, positional, launch };
