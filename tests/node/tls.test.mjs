// Integration: Node's `ws` client over wss:// against the real `shoal` server (2 shards,
// $SHOAL_BIN) with a TLS listener and a throwaway CA and certificate made with the openssl CLI:
// echo of text and binary, pub/sub across shards, and permessage-deflate over TLS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { freePort, waitListening, nextMessage, collect, ioFlags } from './helpers.mjs';

let server;
let plainPort;
let tlsPort;
let dir;
let ca;

function openssl(...args) { execFileSync('openssl', args, { stdio: 'ignore' }); }

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shoal-node-tls-'));
  const p = (f) => join(dir, f);
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
          '-keyout', p('ca.key'), '-out', p('ca.pem'), '-subj', '/CN=Shoal Node Test CA', '-days', '2');
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
          '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', '/CN=localhost');
  writeFileSync(p('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl('x509', '-req', '-in', p('server.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'),
          '-CAcreateserial', '-out', p('server.pem'), '-days', '2', '-extfile', p('server.ext'));
  ca = readFileSync(p('ca.pem'));
  plainPort = await freePort();
  tlsPort = await freePort();
  server = spawn(process.env.SHOAL_BIN ?? '../../build/asan/gateway/shoal',
                 ['--listen', `127.0.0.1:${plainPort}`, '--tls-listen', `127.0.0.1:${tlsPort}`,
                  '--tls-cert', p('server.pem'), '--tls-key', p('server.key'), '--shards', '2',
                  '--permessage-deflate', ...ioFlags()],
                 { stdio: ['ignore', 'ignore', 'inherit'] });
  // Each shard opens its listeners one after the other, so the plain port may take connections
  // before the TLS one listens (a CI run under ASan connected in between): wait for both.
  await waitListening(plainPort);
  await waitListening(tlsPort);
});

after(async () => {
  const exited = new Promise((resolve) => server.on('exit', (code) => resolve(code)));
  server.kill('SIGTERM');
  assert.equal(await exited, 0, 'shoal exits cleanly');
  rmSync(dir, { recursive: true, force: true });
});

function open(path, protocols, options = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://localhost:${tlsPort}${path}`, protocols, { ca, ...options });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

test('wss echo of text and binary, without and with permessage-deflate', async () => {
  for (const perMessageDeflate of [false, { threshold: 0 }]) {
    const ws = await open('/echo', undefined, { perMessageDeflate });
    assert.equal(ws.extensions, perMessageDeflate ? 'permessage-deflate' : '');
    ws.send('héllo over TLS');
    assert.equal((await nextMessage(ws)).data.toString(), 'héllo over TLS');
    const blob = Buffer.alloc(1 << 20, 9);
    ws.send(blob);
    const bin = await nextMessage(ws);
    assert.equal(bin.isBinary, true);
    assert.deepEqual(Buffer.from(bin.data), blob);
    ws.close(1000);
  }
});

test('wss subscribers on both shards see every delivery in order', async () => {
  const subs = await Promise.all([1, 2, 3, 4].map(() => open('/ws', ['shoal.v1'])));
  const subscribed = subs.map((ws) => collect(ws, 'subscribed', 1));
  subs.forEach((ws) => ws.send(JSON.stringify({ op: 'sub', topic: 'node.tls' })));
  const base = (await Promise.all(subscribed))[0][0].seq;
  const n = 300;
  const deliveries = subs.map((ws) => collect(ws, 'msg', n));
  for (let i = 0; i < n; i++) subs[i % 4].send(JSON.stringify({ op: 'pub', topic: 'node.tls', data: { i } }));
  const orders = (await Promise.all(deliveries)).map((msgs) => {
    assert.deepEqual(msgs.map((m) => m.seq), Array.from({ length: n }, (_, k) => base + 1 + k));
    return msgs.map((m) => m.data.i);
  });
  for (const order of orders) assert.deepEqual(order, orders[0]);
  subs.forEach((ws) => ws.close());
});
