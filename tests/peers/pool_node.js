// tests/peers/pool_node.js: ws_pool against Node's `ws` client, run by pool_node.sh.
// Usage: node pool_node.js <port> <secret>. Exit 0 = pass.
'use strict';
const crypto = require('crypto');
const WebSocket = require('ws');

const [port, secret] = [Number(process.argv[2]), process.argv[3]];
let failures = 0;
function check(what, cond, detail) {
    if (cond) console.log(`ok   - ${what}`);
    else { failures++; console.log(`FAIL - ${what} ${detail || ''}`); }
}

// An HS256 JWT (RFC 7519) signed with the server's secret.
function token(sub) {
    const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const signing = part({ alg: 'HS256', typ: 'JWT' }) + '.' +
        part({ sub, exp: Math.floor(Date.now() / 1000) + 3600 });
    return signing + '.' + crypto.createHmac('sha256', secret).update(signing).digest('base64url');
}

// A client that queues the envelopes it receives (heartbeats aside) for `next`.
function open(user, topics) {
    return new Promise((resolve, reject) => {
        let url = `ws://127.0.0.1:${port}/ws?token=${token(user)}`;
        if (topics) url += `&topics=${topics}`;
        const ws = new WebSocket(url, { perMessageDeflate: false });
        ws.inbox = [];
        ws.waiting = null;
        ws.on('message', (data) => {
            const m = JSON.parse(data.toString());
            if (m.type === 'heartbeat') return;
            ws.inbox.push(m);
            if (ws.waiting) { const w = ws.waiting; ws.waiting = null; w.resolve(ws.inbox.shift()); }
        });
        ws.on('close', (code) => {
            ws.closedWith = code;
            if (ws.waiting) { const w = ws.waiting; ws.waiting = null; w.reject(new Error(`closed ${code}`)); }
        });
        ws.once('open', () => resolve(ws));
        ws.once('error', reject);
    });
}
function next(ws) {
    if (ws.inbox.length) return Promise.resolve(ws.inbox.shift());
    if (ws.closedWith !== undefined) return Promise.reject(new Error(`closed ${ws.closedWith}`));
    return new Promise((resolve, reject) => { ws.waiting = { resolve, reject }; });
}
function say(ws, env) { ws.send(JSON.stringify(env)); }

async function main() {
    const n = 20;
    // Half subscribe in the query, half with a subscribe message.
    const clients = await Promise.all(
        Array.from({ length: n }, (_, i) => open(`user${i}`, i % 2 ? 'room' : '')));
    const welcomes = await Promise.all(clients.map(next));
    check('every client is welcomed first, as its token\'s user',
          welcomes.every((w, i) => w.type === 'welcome' && w.data.user_id === `user${i}`));
    check('connection ids are distinct',
          new Set(welcomes.map((w) => w.data.connection_id)).size === n);
    for (let i = 0; i < n; i += 2) say(clients[i], { type: 'subscribe', topic: 'room' });
    const acks = await Promise.all(clients.filter((_, i) => i % 2 === 0).map(next));
    check('subscribe acknowledged with its type and topic',
          acks.every((a) => a.type === 'subscribe' && a.topic === 'room'));
    const outsider = await open('outsider', 'elsewhere');
    await next(outsider);

    // Fan-out: each client says one thing; the others hear it, the sender does not.
    clients.forEach((ws, i) => say(ws, { type: 'data', topic: 'room', data: { from: i } }));
    const heard = await Promise.race([
        Promise.all(clients.map(async (ws) => {
            const got = [];
            for (let k = 0; k < n - 1; k++) got.push(await next(ws));
            return got;
        })),
        new Promise((resolve) => setTimeout(resolve, 20000, null)),
    ]);
    check('each client heard the other 19 (bounded wait)', heard !== null);
    if (heard) {
        check('all of them data envelopes on the topic, with a timestamp',
              heard.flat().every((m) => m.type === 'data' && m.topic === 'room' && m.timestamp));
        check('nobody heard itself, nobody heard anyone twice',
              heard.every((got, i) => {
                  const from = got.map((m) => m.data.from);
                  return !from.includes(i) && new Set(from).size === n - 1;
              }));
    }
    // Nothing more is on its way: each client's next message answers its own ping.
    clients.forEach((ws) => say(ws, { type: 'ping' }));
    const pongs = await Promise.all(clients.map(next));
    check('then each client\'s next message is its pong', pongs.every((m) => m.type === 'pong'),
          JSON.stringify(pongs.filter((m) => m.type !== 'pong').slice(0, 3)));
    say(outsider, { type: 'ping' });
    const o = await next(outsider);
    check('a client on another topic heard none of it', o.type === 'pong', JSON.stringify(o));

    // A client leaving does not disturb the others.
    await new Promise((resolve) => { clients[1].once('close', resolve); clients[1].close(1000); });
    say(clients[2], { type: 'data', topic: 'room', data: 'after' });
    const rest = clients.filter((_, i) => i !== 1 && i !== 2);
    const after = await Promise.all(rest.map(next));
    check('after one left, the rest still hear the topic', after.every((m) => m.data === 'after'));
    await Promise.all([...clients.filter((_, i) => i !== 1), outsider].map((ws) => new Promise((resolve) => {
        ws.once('close', resolve);
        ws.close(1000);
    })));
}

(async () => {
    const guard = setTimeout(() => { console.log('FAIL - timed out'); process.exit(1); }, 60000);
    try {
        await main();
    } catch (e) {
        check(`no exception (${e && e.stack})`, false);
    }
    clearTimeout(guard);
    console.log(`# ${failures} failure(s)`);
    process.exit(failures ? 1 : 0);
})();
