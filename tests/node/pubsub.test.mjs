// Integration: the real `shoal` server (2 shards, $SHOAL_BIN) driven by Node's `ws` client:
// echo of text and binary, subprotocol choice, and pub/sub ordering across shards with
// acknowledgements. Run with `node --test` from this folder after `npm install`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import WebSocket from 'ws';
import { freePort, waitListening, nextMessage, collect, ioFlags } from './helpers.mjs';

let server;
let port;

before(async () => {
  port = await freePort();
  server = spawn(process.env.SHOAL_BIN ?? '../../build/asan/gateway/shoal',
                 ['--listen', `127.0.0.1:${port}`, '--shards', '2', ...ioFlags()], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitListening(port);
});

after(async () => {
  const exited = new Promise((resolve) => server.on('exit', (code) => resolve(code)));
  server.kill('SIGTERM');
  assert.equal(await exited, 0, 'shoal exits cleanly');
});

function open(path, protocols) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, protocols);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

test('echo returns text and binary unchanged', async () => {
  const ws = await open('/echo');
  ws.send('héllo from node');
  const text = await nextMessage(ws);
  assert.equal(text.isBinary, false);
  assert.equal(text.data.toString(), 'héllo from node');
  const blob = Buffer.alloc(200000, 7);
  ws.send(blob);
  const bin = await nextMessage(ws);
  assert.equal(bin.isBinary, true);
  assert.deepEqual(Buffer.from(bin.data), blob);
  ws.close(1000);
});

test('the shoal.v1 subprotocol is chosen', async () => {
  const ws = await open('/ws', ['other', 'shoal.v1']);
  assert.equal(ws.protocol, 'shoal.v1');
  ws.close();
});

test('subscribers on both shards see the same order, publishers get every ack', async () => {
  const subs = await Promise.all([1, 2, 3, 4].map(() => open('/ws', ['shoal.v1'])));
  const subscribed = subs.map((ws) => collect(ws, 'subscribed', 1));
  subs.forEach((ws) => ws.send(JSON.stringify({ op: 'sub', topic: 'node.order' })));
  const base = (await Promise.all(subscribed))[0][0].seq;
  const n = 200;
  const deliveries = subs.map((ws) => collect(ws, 'msg', n));
  const pubs = await Promise.all([1, 2].map(() => open('/ws', ['shoal.v1'])));
  const acks = pubs.map((ws) => collect(ws, 'ack', n / 2));
  for (let i = 0; i < n; i++) {
    pubs[i % 2].send(JSON.stringify({ op: 'pub', topic: 'node.order', data: { i }, id: i }));
  }
  const ackSeqs = (await Promise.all(acks)).flat().map((a) => a.seq).sort((a, b) => a - b);
  assert.deepEqual(ackSeqs, Array.from({ length: n }, (_, k) => base + 1 + k));
  const orders = (await Promise.all(deliveries)).map((msgs) => {
    assert.deepEqual(msgs.map((m) => m.seq), Array.from({ length: n }, (_, k) => base + 1 + k));
    return msgs.map((m) => m.data.i);
  });
  for (const order of orders) assert.deepEqual(order, orders[0]);
  [...subs, ...pubs].forEach((ws) => ws.close());
});
