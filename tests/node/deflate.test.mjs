// Integration: permessage-deflate between the real `shoal` server (2 shards, $SHOAL_BIN, started
// with --permessage-deflate) and Node's `ws` client, in the server's cheap mode (no context
// takeover) and with context takeover on both sides: echo of text and binary, fragmented
// compressed messages, and pub/sub deliveries in order across shards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import WebSocket from 'ws';
import { freePort, waitListening, nextMessage, collect, ioFlags } from './helpers.mjs';

const modes = {
  cheap: ['--permessage-deflate'],
  takeover: ['--permessage-deflate', '--deflate-server-context-takeover', 'true',
             '--deflate-client-context-takeover', 'true'],
};
const servers = {};

before(async () => {
  for (const [name, flags] of Object.entries(modes)) {
    const port = await freePort();
    const proc = spawn(process.env.SHOAL_BIN ?? '../../build/asan/gateway/shoal',
                       ['--listen', `127.0.0.1:${port}`, '--shards', '2', ...ioFlags(), ...flags],
                       { stdio: ['ignore', 'ignore', 'inherit'] });
    servers[name] = { port, proc };
    await waitListening(port);
  }
});

after(async () => {
  for (const { proc } of Object.values(servers)) {
    const exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
    proc.kill('SIGTERM');
    assert.equal(await exited, 0, 'shoal exits cleanly');
  }
});

// perMessageDeflate with threshold 0: ws compresses every message, however small.
function open(mode, path, protocols) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${servers[mode].port}${path}`, protocols,
                             { perMessageDeflate: { threshold: 0, clientMaxWindowBits: true } });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

for (const mode of Object.keys(modes)) {
  test(`${mode}: deflate is negotiated and echo round-trips text, binary and fragments`, async () => {
    const ws = await open(mode, '/echo');
    assert.equal(ws.extensions, 'permessage-deflate');  // ws shows the name; the Python tests check parameters
    const messages = ['tiny', 'é'.repeat(20000), JSON.stringify({ rows: Array(500).fill([1, 2, 3]) })];
    for (let round = 0; round < 3; round++) {
      for (const m of messages) {
        ws.send(m);
        const got = await nextMessage(ws);
        assert.equal(got.isBinary, false);
        assert.equal(got.data.toString(), m);
      }
    }
    const blob = Buffer.alloc(300000, 3);
    ws.send(blob);
    const bin = await nextMessage(ws);
    assert.equal(bin.isBinary, true);
    assert.deepEqual(Buffer.from(bin.data), blob);
    // A compressed message in three fragments (ws compresses the whole and splits the frames).
    const parts = ['first part, ', 'second part, ', 'last part'];
    parts.forEach((p, i) => ws.send(p.repeat(50), { fin: i === parts.length - 1, compress: true }));
    const whole = await nextMessage(ws);
    assert.equal(whole.data.toString(), parts.map((p) => p.repeat(50)).join(''));
    ws.close(1000);
  });

  test(`${mode}: subscribers on both shards get every delivery in order`, async () => {
    const subs = await Promise.all([1, 2, 3, 4].map(() => open(mode, '/ws', ['shoal.v1'])));
    const subscribed = subs.map((ws) => collect(ws, 'subscribed', 1));
    subs.forEach((ws) => ws.send(JSON.stringify({ op: 'sub', topic: `node.deflate.${mode}` })));
    const base = (await Promise.all(subscribed))[0][0].seq;
    const n = 100;
    const deliveries = subs.map((ws) => collect(ws, 'msg', n));
    const pub = await open(mode, '/ws', ['shoal.v1']);
    for (let i = 0; i < n; i++) {
      pub.send(JSON.stringify({ op: 'pub', topic: `node.deflate.${mode}`,
                                data: { i, book: Array(10).fill([100 + i, 7]) } }));
    }
    for (const msgs of await Promise.all(deliveries)) {
      assert.deepEqual(msgs.map((m) => m.seq), Array.from({ length: n }, (_, k) => base + 1 + k));
      assert.deepEqual(msgs.map((m) => m.data.i), Array.from({ length: n }, (_, k) => k));
    }
    [...subs, pub].forEach((ws) => ws.close());
  });
}
