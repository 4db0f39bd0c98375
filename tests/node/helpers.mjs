// Shared by the Node integration tests (*.test.mjs): free ports, waiting for the server to
// listen, and promises for the next message or for N JSON messages of one op; for the client
// tests also servers started per test, polling, HS256 tokens, metrics and a TCP proxy.
import net from 'node:net';
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';

// The --io flag for the backend under test ($SHOAL_IO: ctest runs the suites on both backends).
export function ioFlags() {
  return process.env.SHOAL_IO ? ['--io', process.env.SHOAL_IO] : [];
}

export function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

export async function waitListening(p) {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((resolve) => {
      const c = net.connect(p, '127.0.0.1', () => { c.destroy(); resolve(true); });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('shoal did not start');
}

export function nextMessage(ws) {
  return new Promise((resolve) => ws.once('message', (data, isBinary) => resolve({ data, isBinary })));
}

// Collects JSON messages of one op until `count` arrived.
export function collect(ws, op, count) {
  return new Promise((resolve) => {
    const got = [];
    const onMessage = (data) => {
      const msg = JSON.parse(data.toString());
      if (msg.op !== op) return;
      got.push(msg);
      if (got.length === count) { ws.off('message', onMessage); resolve(got); }
    };
    ws.on('message', onMessage);
  });
}

// ---- For the client tests (client.test.mjs): servers started and restarted per test, polling,
// JWTs and a TCP proxy that can fail in the ways networks do.

// Starts shoal (2 shards, the backend under test) on `port` (a free one if not given).
// `stop()` sends SIGTERM and resolves with the exit code once it has exited.
export async function startShoal(args = [], { port } = {}) {
  port ??= await freePort();
  const proc = spawn(process.env.SHOAL_BIN ?? '../../build/asan/gateway/shoal',
                     ['--listen', `127.0.0.1:${port}`, '--shards', '2', '--log-level', 'warn', ...ioFlags(), ...args],
                     { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve(code ?? signal)));
  await waitListening(port);
  return { port, proc, exited, url: `ws://127.0.0.1:${port}/ws`, stop() { proc.kill('SIGTERM'); return exited; } };
}

// Polls `predicate` until it holds; fails after `timeout` ms (generous: CI machines are busy).
export async function waitFor(predicate, what = 'condition', timeout = 30000) {
  const deadline = Date.now() + timeout;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A compact JWS (HS256) over `claims`, signed with node:crypto's HMAC.
export function hs256(claims, secret) {
  const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
}

// The sum of a Prometheus counter over its labels (shards) from /metrics.
export async function metricSum(port, name) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n'))
    if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{')) sum += Number(line.split(' ').pop());
  return sum;
}

// A TCP proxy in front of a server: `cut()` resets every connection through it, `refuse(true)`
// resets new ones at once, `stall()` stops forwarding on the open ones without closing them (a
// dead path), `holdDownstream(true)` stops reading the server's side (the client looks slow).
export class TcpProxy {
  constructor(targetPort) {
    this.targetPort = targetPort;
    this.pairs = new Set();
    this.accepted = 0;
    this.refusing = false;
    this.downHeld = false;
  }

  async start() {
    this.server = net.createServer((client) => this.#accept(client));
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = this.server.address().port;
    return this;
  }

  url(path = '/ws') { return `ws://127.0.0.1:${this.port}${path}`; }

  #accept(client) {
    this.accepted++;
    if (this.refusing) { client.resetAndDestroy(); return; }
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    const pair = { client, upstream, stalled: false, held: () => pair.stalled, heldDown: () => pair.stalled || this.downHeld };
    this.pairs.add(pair);
    const forward = (src, dst, held) => {
      src.on('data', (d) => { if (!dst.write(d)) src.pause(); });
      dst.on('drain', () => { if (!held()) src.resume(); });
    };
    forward(client, upstream, pair.held);
    forward(upstream, client, pair.heldDown);
    if (this.downHeld) upstream.pause();
    const end = () => {
      if (!this.pairs.delete(pair)) return;
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) { s.on('error', end); s.on('close', end); }
  }

  cut() {
    for (const p of [...this.pairs]) { this.pairs.delete(p); p.client.resetAndDestroy(); p.upstream.resetAndDestroy(); }
  }

  refuse(on) { this.refusing = on; }

  stall() {
    for (const p of this.pairs) { p.stalled = true; p.client.pause(); p.upstream.pause(); }
  }

  holdDownstream(on) {
    this.downHeld = on;
    for (const p of this.pairs) {
      if (on) p.upstream.pause();
      else if (!p.stalled && !p.client.writableNeedDrain) p.upstream.resume();
    }
  }

  close() {
    this.cut();
    return new Promise((resolve) => this.server.close(resolve));
  }
}
