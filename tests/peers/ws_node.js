// tests/peers/ws_node.js: ws_broadcast (and ws_echo) against Node's `ws` client, run by
// ws_node.sh. Usage: node ws_node.js <broadcast-port> <echo-port>. Exit 0 = pass.
'use strict';
const WebSocket = require('ws');

const [bport, eport] = process.argv.slice(2).map(Number);
let failures = 0;
function check(what, cond, detail) {
    if (cond) console.log(`ok   - ${what}`);
    else { failures++; console.log(`FAIL - ${what} ${detail || ''}`); }
}
function open(port, opts) {
    return new Promise((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/`, opts);
        ws.once('open', () => resolve(ws));
        ws.once('error', reject);
    });
}
function next(ws) {
    return new Promise((resolve, reject) => {
        ws.once('message', (data, isBinary) => resolve({ data, isBinary }));
        ws.once('close', (code) => reject(new Error(`closed ${code}`)));
    });
}
function closed(ws) {
    return new Promise((resolve) => ws.once('close', (code) => resolve(code)));
}

async function echoTests() {
    for (const deflate of [false, true]) {
        const ws = await open(eport, { perMessageDeflate: deflate });
        const ext = ws.extensions || '';
        check(`echo: permessage-deflate ${deflate ? '' : 'not '}negotiated`,
              deflate === ext.includes('permessage-deflate'), `(${ext})`);
        ws.send('hello node');
        let m = await next(ws);
        check('echo: text', !m.isBinary && m.data.toString() === 'hello node');
        const bin = Buffer.alloc(70000, 7);
        ws.send(bin);
        m = await next(ws);
        check('echo: 70000-byte binary', m.isBinary && Buffer.compare(m.data, bin) === 0);
        const json = JSON.stringify({ items: Array.from({ length: 200 }, (_, i) => ({ i })) });
        ws.send(json);
        m = await next(ws);
        check('echo: JSON text', m.data.toString() === json);
        // A message in three fragments.
        ws.send('a', { fin: false });
        ws.send('b', { fin: false });
        ws.send('c', { fin: true });
        m = await next(ws);
        check('echo: fragmented', m.data.toString() === 'abc');
        const pong = new Promise((resolve) => ws.once('pong', (d) => resolve(d.toString())));
        ws.ping('node-ping');
        check('echo: ping answered', (await pong) === 'node-ping');
        const c = closed(ws);
        ws.close(4001, 'done');
        check('echo: close code echoed', (await c) === 4001);
    }
}

async function broadcastTests() {
    const n = 20;
    const clients = await Promise.all(
        Array.from({ length: n }, (_, i) => open(bport, { perMessageDeflate: i % 2 === 0 })));
    const got = clients.map(() => []);
    const done = clients.map((ws, i) => new Promise((resolve) => {
        ws.on('message', (data) => {
            const s = data.toString();
            if (s.startsWith('broadcast:')) got[i].push(s);
            if (got[i].length === n) resolve();
        });
    }));
    clients.forEach((ws, i) => ws.send(`broadcast:${i}:` + 'x'.repeat(i * 10)));
    const timeout = new Promise((resolve) => setTimeout(resolve, 10000, 'timeout'));
    const r = await Promise.race([Promise.all(done), timeout]);
    check(`broadcast: ${n} clients each received all ${n} broadcasts`, r !== 'timeout',
          `(counts ${got.map((g) => g.length).join(',')})`);
    const all = got.every((g) => new Set(g).size === n);
    check('broadcast: no duplicates, every sender seen', all);
    // Non-broadcast messages are echoed to the sender only. Proved by an event, not a wait:
    // the sender's next message is a broadcast, which the server handles after the echo, so a
    // client that wrongly got the echo would see it before the marker.
    const others = clients.slice(1).map((ws) => next(ws));
    clients[0].send('just me');
    const m = await next(clients[0]);
    check('broadcast: other text echoed to its sender', m.data.toString() === 'just me');
    // Listen for the sender's own copy before sending: it may arrive before the others'.
    const own = next(clients[0]);
    clients[0].send('broadcast:marker');
    const firsts = await Promise.all(others);
    check('broadcast: ... and to nobody else',
          firsts.every((x) => x.data.toString() === 'broadcast:marker'),
          `(first messages ${firsts.map((x) => x.data.toString()).join(',')})`);
    check('broadcast: the sender gets its own broadcast',
          (await own).data.toString() === 'broadcast:marker');
    // A client leaving does not disturb the others.
    const c = closed(clients[1]);
    clients[1].close();
    await c;
    const rest = clients.filter((_, i) => i !== 1);
    const gotLast = rest.map((ws) => next(ws));
    clients[2].send('broadcast:after-leave');
    const last = await Promise.all(gotLast);
    check('broadcast: after a client left, the rest still receive',
          last.every((x) => x.data.toString() === 'broadcast:after-leave'));
    await Promise.all(rest.map((ws) => { const p = closed(ws); ws.close(1000); return p; }));
}

(async () => {
    const guard = setTimeout(() => { console.log('FAIL - timed out'); process.exit(1); }, 60000);
    try {
        await echoTests();
        await broadcastTests();
    } catch (e) {
        check(`no exception (${e && e.stack})`, false);
    }
    clearTimeout(guard);
    console.log(`# ${failures} failure(s)`);
    process.exit(failures ? 1 : 0);
})();
