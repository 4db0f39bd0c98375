// Reconnect storm (issue 17): N clients running the real client logic (gateway/web/shoal.js,
// over Node's ws) in several processes, each subscribed to a topic, while the server restarts
// (SIGTERM, exit, start again on the same port). Measures per client the time from its close
// to its reconnection (open + resubscribed), the spread of the returns after the server is
// back, and the server's accept rate (its /metrics counter, sampled on an admin listener every
// 100 ms). Run by bench/reconnect_storm.sh; `node bench/reconnect_storm.mjs --help`.
//
// The clients' WebSocket is by default a lean RFC 6455 client over node:net written below (the
// browser WebSocket interface ShoalClient uses: text frames, close handshake, pongs): Node's ws
// package opens a connection through Node's HTTP client, ~0.9 ms of CPU each, so 10,000 of them
// need the 2 cores the server also needs, and the figures then measure the clients. `--transport
// ws` runs the same benchmark over ws.
import { fork, spawn } from 'node:child_process';
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { createRequire } from 'node:module';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { ShoalClient } from '../gateway/web/shoal.js';

const here = dirname(fileURLToPath(import.meta.url));
// The ws package installed for the Node tests (deploy/setup.sh).
const WebSocket = createRequire(join(here, '../tests/node/package.json'))('ws');
const now = () => performance.timeOrigin + performance.now();  // ms, comparable across processes

const usage = `node bench/reconnect_storm.mjs [options]
  --shoal BIN           the server binary (default build/release/gateway/shoal)
  --clients N           clients in all (default 10000)
  --processes N         client processes (default 4)
  --topics N            topics, client i on topic i % N (default 1000)
  --min-delay MS        reconnect.minDelay (default 250)
  --max-delay MS        reconnect.maxDelay (default 5000)
  --no-jitter           every client retries at min(maxDelay, minDelay*2^attempt) exactly
  --drain DURATION      the server's timeouts.drain, e.g. 0s or 5s (default 0s)
  --downtime MS         wait this long after the old server exits before starting the new one
                        (a slower deploy; default 0)
  --shards N            server shards (default 2)
  --io auto|epoll|io_uring  (default auto)
  --transport lean|ws   the clients' WebSocket: lean (below, default) or the ws package
  --json FILE           also write the figures as JSON
  --timeout S           give up waiting for the reconnections after S seconds (default 60)`;

function parseArgs(argv) {
  const o = { shoal: join(here, '../build/release/gateway/shoal'), clients: 10000, processes: 4, topics: 1000,
              minDelay: 250, maxDelay: 5000, jitter: true, drain: '0s', downtime: 0, shards: 2, io: 'auto', json: null, timeout: 60,
              transport: 'lean' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => { if (i + 1 >= argv.length) throw new Error(`${a} needs a value`); return argv[++i]; };
    switch (a) {
      case '--shoal': o.shoal = next(); break;
      case '--clients': o.clients = Number(next()); break;
      case '--processes': o.processes = Number(next()); break;
      case '--topics': o.topics = Number(next()); break;
      case '--min-delay': o.minDelay = Number(next()); break;
      case '--max-delay': o.maxDelay = Number(next()); break;
      case '--no-jitter': o.jitter = false; break;
      case '--drain': o.drain = next(); break;
      case '--downtime': o.downtime = Number(next()); break;
      case '--shards': o.shards = Number(next()); break;
      case '--io': o.io = next(); break;
      case '--json': o.json = next(); break;
      case '--transport': o.transport = next(); break;
      case '--timeout': o.timeout = Number(next()); break;
      case '--help': console.log(usage); process.exit(0); break;
      default: throw new Error(`unknown option ${a}\n${usage}`);
    }
  }
  return o;
}

// ---- a lean WebSocket: what ShoalClient uses of the browser's, over node:net ----------------

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const maskPool = Buffer.alloc(4096);
let maskAt = maskPool.length;

function nextMask() {
  if (maskAt === maskPool.length) { randomFillSync(maskPool); maskAt = 0; }
  maskAt += 4;
  return maskPool.subarray(maskAt - 4, maskAt);
}

// A client frame (RFC 6455 §5.2): FIN, `opcode`, masked `payload`.
function frame(opcode, payload) {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(head + 4 + n);
  out[0] = 0x80 | opcode;
  if (n < 126) out[1] = 0x80 | n;
  else if (n < 65536) { out[1] = 0x80 | 126; out.writeUInt16BE(n, 2); }
  else { out[1] = 0x80 | 127; out.writeBigUInt64BE(BigInt(n), 2); }
  const mask = nextMask();
  mask.copy(out, head);
  for (let i = 0; i < n; i++) out[head + 4 + i] = payload[i] ^ mask[i & 3];
  return out;
}

class LeanWebSocket {
  constructor(url, protocol, options = {}) {
    const u = new URL(url);
    this.protocol = '';
    this.readyState = 0;
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    this._key = randomBytes(16).toString('base64');
    this._buf = null;
    this._parts = [];
    this._code = 1006;
    this._reason = '';
    this._closeSent = false;
    this._sock = net.connect({ host: u.hostname, port: Number(u.port), localAddress: options.localAddress });
    this._sock.setNoDelay(true);
    this._sock.on('connect', () => this._sock.write(
      `GET ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${this._key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`));
    this._sock.on('data', (d) => this._data(d));
    this._sock.on('error', () => {});
    this._sock.on('close', () => this._ended());
  }

  get bufferedAmount() { return this._sock.writableLength; }

  send(text) { if (this.readyState === 1) this._sock.write(frame(1, Buffer.from(text))); }

  close(code = 1000, reason = '') {
    if (this.readyState === 0) { this._sock.destroy(); return; }
    if (this.readyState !== 1) return;
    this.readyState = 2;
    this._sendClose(code, reason);
    setTimeout(() => this._sock.destroy(), 1000).unref();
  }

  terminate() { this._sock.destroy(); }

  _sendClose(code, reason) {
    if (this._closeSent) return;
    this._closeSent = true;
    const r = Buffer.from(reason);
    const p = Buffer.allocUnsafe(2 + r.length);
    p.writeUInt16BE(code, 0);
    r.copy(p, 2);
    this._sock.write(frame(8, p));
  }

  _fail() { this._sock.destroy(); }

  _data(chunk) {
    this._buf = this._buf ? Buffer.concat([this._buf, chunk]) : chunk;
    if (this.readyState === 0) {
      const end = this._buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this._buf.toString('latin1', 0, end).split('\r\n');
      this._buf = this._buf.subarray(end + 4);
      if (!/^HTTP\/1\.1 101 /.test(head[0])) return this._fail();
      const fields = new Map(head.slice(1).map((l) => { const i = l.indexOf(':'); return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()]; }));
      const accept = createHash('sha1').update(this._key + GUID).digest('base64');
      if (fields.get('sec-websocket-accept') !== accept) return this._fail();  // RFC 6455 §4.1
      this.protocol = fields.get('sec-websocket-protocol') ?? '';
      this.readyState = 1;
      this.onopen?.({});
    }
    while (this._buf.length >= 2) {
      const b = this._buf;
      const opcode = b[0] & 0x0f;
      let n = b[1] & 0x7f;
      let at = 2;
      if (n === 126) { if (b.length < 4) return; n = b.readUInt16BE(2); at = 4; }
      else if (n === 127) { if (b.length < 10) return; n = Number(b.readBigUInt64BE(2)); at = 10; }
      if (b[1] & 0x80) return this._fail();  // server frames are not masked (§5.1)
      if (b.length < at + n) return;
      const payload = b.subarray(at, at + n);
      this._buf = b.subarray(at + n);
      if (opcode === 0 || opcode === 1 || opcode === 2) {
        this._parts.push(payload);
        if (!(b[0] & 0x80)) continue;
        const whole = this._parts.length === 1 ? this._parts[0] : Buffer.concat(this._parts);
        this._parts = [];
        if (this.readyState === 1) this.onmessage?.({ data: whole.toString() });
      } else if (opcode === 8) {
        this._code = n >= 2 ? payload.readUInt16BE(0) : 1005;
        this._reason = n > 2 ? payload.toString('utf8', 2) : '';
        this.readyState = 2;
        this._sendClose(n >= 2 ? this._code : 1000, '');  // echo (§5.5.1); the server closes TCP
        setTimeout(() => this._sock.destroy(), 1000).unref();
      } else if (opcode === 9) {
        this._sock.write(frame(10, payload));
      }
    }
    if (this._buf.length === 0) this._buf = null;
  }

  _ended() {
    if (this.readyState === 3) return;
    const wasClean = this.readyState === 2 && this._code !== 1006;
    this.readyState = 3;
    this.onclose?.({ code: wasClean ? this._code : 1006, reason: wasClean ? this._reason : '', wasClean });
  }
}

// ---- worker: one process's share of the clients ------------------------------------------

function worker() {
  let clients = [];
  let records = [];  // per client: [closeAt, openAt, retries, resets, socketOpenAt]
  let armed = false;
  let reopened = 0;
  let delivered = 0;
  let cpuAtArm = null;
  const cpuSinceArm = () => { const u = process.cpuUsage(cpuAtArm); return (u.user + u.system) / 1000; };

  process.on('message', async (m) => {
    if (m.cmd === 'start') {
      let ready = 0;
      for (let i = 0; i < m.count; i++) {
        const k = clients.length;
        // The socket's own open (the 101 arrived) splits the return into handshake and resubscription.
        const Base = m.transport === 'ws' ? WebSocket : LeanWebSocket;
        class Timed extends Base {
          constructor(...args) {
            super(...args);
            const opened = () => { if (armed && records[k][0] !== 0) records[k][4] = now(); };
            if (m.transport === 'ws') this.on('open', opened);
            else this._sock.once('data', () => queueMicrotask(opened));
          }
        }
        const c = new ShoalClient(m.url, { WebSocket: Timed, reconnect: m.reconnect, connectTimeout: 10000,
                                           webSocketOptions: { localAddress: m.localAddress, perMessageDeflate: false } });
        clients.push(c);
        records.push([0, 0, 0, 0, 0]);
        c.on('close', () => { if (armed && records[k][0] === 0) records[k][0] = now(); });
        c.on('retry', () => { if (armed) records[k][2]++; });
        c.on('reset', () => { if (armed) records[k][3]++; });
        c.on('open', () => {
          if (!armed || records[k][0] === 0 || records[k][1] !== 0) return;
          records[k][1] = now();
          if (++reopened === clients.length) process.send({ ev: 'done', records, cpuMs: cpuSinceArm() });
        });
        c.subscribe(m.topics[i], () => { delivered++; }).then(() => {
          if (++ready === m.count) process.send({ ev: 'ready' });
        });
        if (i % 250 === 249) await new Promise((r) => setTimeout(r, 50));  // no SYN flood at set-up
      }
    } else if (m.cmd === 'delivered') {
      while (delivered < clients.length) await new Promise((r) => setTimeout(r, 10));
      process.send({ ev: 'delivered' });
    } else if (m.cmd === 'arm') {
      armed = true;
      cpuAtArm = process.cpuUsage();
      process.send({ ev: 'armed' });
    } else if (m.cmd === 'report') {
      process.send({ ev: 'done', records, cpuMs: cpuSinceArm() });  // at the timeout: what came back so far
    } else if (m.cmd === 'exit') {
      process.exit(0);
    }
  });
}

// ---- coordinator ----------------------------------------------------------------------------

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

async function waitListening(port, deadlineMs = 20000) {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => { c.destroy(); resolve(true); });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on ${port}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function startServer(o, port, adminPort) {
  const proc = spawn(o.shoal, ['--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${adminPort}`,
                               '--shards', String(o.shards), '--io', o.io, '--drain', o.drain, '--log-level', 'warn'],
                     { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise((resolve) => proc.on('exit', (code, sig) => resolve(code ?? sig)));
  return { proc, exited };
}

// CPU time (user + system) of a process so far, ms.
function cpuMs(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;  // utime, stime in clock ticks (USER_HZ = 100)
}

// The kernel's counters of a herd at the listeners (machine-wide, from /proc/net/netstat):
// connections dropped because an accept queue was full, and SYNs sent again.
function tcpCounters() {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
  const names = lines[0].split(/\s+/);
  const values = lines[1].split(/\s+/).map(Number);
  const get = (n) => values[names.indexOf(n)] ?? 0;
  return { listen_overflows: get('ListenOverflows'), listen_drops: get('ListenDrops'),
           req_queue_full_drops: get('TCPReqQFullDrop'), syn_retransmits: get('TCPSynRetrans') };
}

async function acceptedTotal(adminPort) {
  try {
    const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    let n = 0;
    for (const line of text.split('\n')) if (line.startsWith('shoal_connections_accepted_total')) n += Number(line.split(' ').pop());
    return n;
  } catch {
    return null;
  }
}

function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function summary(values) {
  const s = Float64Array.from(values).sort();
  return { n: s.length, p0: s[0], p50: quantile(s, 0.5), p90: quantile(s, 0.9), p99: quantile(s, 0.99), max: s[s.length - 1] };
}

const ms = (v) => `${Math.round(v)} ms`;

async function coordinator(o) {
  const port = await freePort();
  const adminPort = await freePort();
  const url = `ws://127.0.0.1:${port}/ws`;
  const reconnect = { minDelay: o.minDelay, maxDelay: o.maxDelay, jitter: o.jitter };
  let server = startServer(o, port, adminPort);
  await waitListening(port);

  const workers = [];
  const per = Math.ceil(o.clients / o.processes);
  for (let w = 0; w < o.processes; w++) {
    const count = Math.min(per, o.clients - w * per);
    if (count <= 0) break;
    const child = fork(fileURLToPath(import.meta.url), ['--worker'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const topics = Array.from({ length: count }, (_, i) => `storm.${(w * per + i) % o.topics}`);
    workers.push({ child, count, topics, localAddress: `127.0.0.${2 + w}` });
  }
  const next = (child, ev) => new Promise((resolve) => {
    const on = (m) => { if (m.ev === ev) { child.off('message', on); resolve(m); } };
    child.on('message', on);
  });
  const load = loadavg().map((l) => l.toFixed(2));
  const setupStart = now();
  await Promise.all(workers.map((w) => {
    const ready = next(w.child, 'ready');
    w.child.send({ cmd: 'start', url, count: w.count, topics: w.topics, localAddress: w.localAddress, reconnect,
                   transport: o.transport });
    return ready;
  }));
  const setupMs = now() - setupStart;

  // One message per topic, so every resume after the restart asks for history the new process
  // does not have: each client's resubscription ends in too_old (a `reset`), as in production.
  {
    const pub = new ShoalClient(url, { WebSocket });
    await Promise.all(Array.from({ length: o.topics }, (_, t) => pub.publish(`storm.${t}`, { before: true })));
    await pub.close();
    await Promise.all(workers.map((w) => { const got = next(w.child, 'delivered'); w.child.send({ cmd: 'delivered' }); return got; }));
  }

  await Promise.all(workers.map((w) => { const armed = next(w.child, 'armed'); w.child.send({ cmd: 'arm' }); return armed; }));
  const done = workers.map((w) => next(w.child, 'done'));

  // The restart: SIGTERM, wait for the exit, start again on the same port.
  const tcpBefore = tcpCounters();
  const termAt = now();
  server.proc.kill('SIGTERM');
  const code = await server.exited;
  const exitAt = now();
  if (o.downtime > 0) await new Promise((r) => setTimeout(r, o.downtime));
  server = startServer(o, port, adminPort);
  const spawnAt = now();
  const samples = [];  // [t, accepted]
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const n = await acceptedTotal(adminPort);
      if (n !== null) samples.push([now(), n]);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await waitListening(port);
  const polledUpAt = now();
  const cpuAtUp = cpuMs(server.proc.pid);

  const timer = setTimeout(() => workers.forEach((w) => w.child.send({ cmd: 'report' })), o.timeout * 1000);
  const results = await Promise.all(done);
  clearTimeout(timer);
  const allBackAt = now();
  const serverCpuMs = cpuMs(server.proc.pid) - cpuAtUp;
  const clientsCpuMs = results.reduce((a, r) => a + r.cpuMs, 0);
  const tcpAfter = tcpCounters();
  const tcp = Object.fromEntries(Object.keys(tcpAfter).map((k) => [k, tcpAfter[k] - tcpBefore[k]]));
  const stormWallMs = allBackAt - termAt;
  await new Promise((r) => setTimeout(r, 300));
  sampling = false;
  await sampler;
  for (const w of workers) w.child.send({ cmd: 'exit' });
  server.proc.kill('SIGTERM');
  await server.exited;

  // ---- figures ----
  const records = results.flatMap((r) => r.records);
  const back = records.filter((r) => r[0] > 0 && r[1] > 0);
  // Up: the first successful connection, by the coordinator's poll or by a client's 101.
  const upAt = Math.min(polledUpAt, ...back.filter((r) => r[4] > 0).map((r) => r[4]));
  const reconnectMs = summary(back.map((r) => r[1] - r[0]));
  const afterUpMs = summary(back.map((r) => r[1] - upAt));
  const closeSpreadMs = summary(records.filter((r) => r[0] > 0).map((r) => r[0] - termAt));
  const handshakeAfterUpMs = summary(back.filter((r) => r[4] > 0).map((r) => r[4] - upAt));
  const resubscribeMs = summary(back.filter((r) => r[4] > 0).map((r) => r[1] - r[4]));
  const retries = records.reduce((a, r) => a + r[2], 0);
  const refused = records.reduce((a, r) => a + Math.max(0, r[2] - 1), 0);  // attempts that failed
  const resets = records.reduce((a, r) => a + r[3], 0);
  const binMs = 100;
  const bins = new Map();
  for (const r of back) {
    const b = Math.floor((r[1] - upAt) / binMs);
    bins.set(b, (bins.get(b) ?? 0) + 1);
  }
  const firstBin = Math.min(...bins.keys());
  const lastBin = Math.max(...bins.keys());
  const histogram = [];
  for (let b = firstBin; b <= lastBin; b++) histogram.push([b * binMs, bins.get(b) ?? 0]);
  const acceptRate = [];  // [t since up (ms), accepts per second over the sample interval]
  for (let i = 1; i < samples.length; i++) {
    const [t0, n0] = samples[i - 1];
    const [t1, n1] = samples[i];
    acceptRate.push([Math.round(t1 - upAt), Math.round(((n1 - n0) * 1000) / (t1 - t0))]);
  }
  const peakAccept = Math.max(0, ...acceptRate.map((a) => a[1]));
  const peakBin = Math.max(...histogram.map((h) => h[1]));

  const report = {
    config: { transport: o.transport, clients: o.clients, processes: workers.length, topics: o.topics, reconnect, drain: o.drain, downtime_ms: o.downtime,
              shards: o.shards, io: o.io },
    load_average_before: load, setup_ms: Math.round(setupMs), server_exit_code: code,
    restart_ms: { term_to_exit: Math.round(exitAt - termAt), exit_to_spawn: Math.round(spawnAt - exitAt), spawn_to_up: Math.round(upAt - spawnAt) },
    reconnected: back.length, not_back: o.clients - back.length, retries, failed_attempts: refused, resets,
    close_after_sigterm_ms: closeSpreadMs, close_to_open_ms: reconnectMs, open_after_server_up_ms: afterUpMs,
    handshake_after_server_up_ms: handshakeAfterUpMs, handshake_to_resubscribed_ms: resubscribeMs,
    new_server_cpu_ms_after_up: serverCpuMs, clients_cpu_ms: Math.round(clientsCpuMs),
    storm_wall_ms: Math.round(stormWallMs), tcp_during_storm: tcp,
    all_back_after_up_ms: Math.round(allBackAt - upAt),
    reopen_histogram_100ms: histogram, accept_rate_per_s: acceptRate, peak_accept_per_s: peakAccept,
    peak_reopens_per_100ms: peakBin,
  };
  if (o.json) writeFileSync(o.json, JSON.stringify(report, null, 1));

  const line = (s) => `p0 ${ms(s.p0)}  p50 ${ms(s.p50)}  p90 ${ms(s.p90)}  p99 ${ms(s.p99)}  max ${ms(s.max)}`;
  console.log(`reconnect storm: ${o.clients} clients (${o.transport} WebSocket) in ${workers.length} processes, ${o.topics} topics, ` +
              `reconnect ${o.minDelay}..${o.maxDelay} ms ${o.jitter ? 'full jitter' : 'NO jitter'}, drain ${o.drain}, ` +
              `downtime ${o.downtime} ms, ` +
              `${o.shards} shards, io ${o.io}`);
  console.log(`  load average before: ${load.join(' ')}; set-up ${ms(setupMs)}; restart: SIGTERM->exit ` +
              `${ms(exitAt - termAt)} (exit ${code}), exit->up ${ms(upAt - exitAt)}`);
  console.log(`  back: ${back.length}/${o.clients}; connection attempts that failed: ${refused}; resets (too_old): ${resets}; ` +
              `new server's CPU from up until all were back: ${ms(serverCpuMs)}`);
  console.log(`  from SIGTERM until all were back ${ms(stormWallMs)}: the clients used ${ms(clientsCpuMs)} of CPU ` +
              `(${(clientsCpuMs / stormWallMs).toFixed(2)} cores on average), the new server ${ms(serverCpuMs)}`);
  console.log(`  kernel (machine-wide) during the storm: accept-queue overflows ${tcp.listen_overflows}, listen drops ` +
              `${tcp.listen_drops}, SYN-queue-full drops ${tcp.req_queue_full_drops}, SYN retransmits ${tcp.syn_retransmits}`);
  console.log(`  close after SIGTERM:      ${line(closeSpreadMs)}`);
  console.log(`  close -> open+resubscribed: ${line(reconnectMs)}`);
  console.log(`  open after server up:    ${line(afterUpMs)}`);
  console.log(`    of which the handshake (101) after server up: ${line(handshakeAfterUpMs)}`);
  console.log(`    and 101 -> resubscribed:                      ${line(resubscribeMs)}`);
  console.log(`  reconnections per ${binMs} ms after the server is up (peak ${peakBin}):`);
  for (const [t, n] of histogram) {
    if (n === 0 && t > afterUpMs.max) continue;
    console.log(`    ${String(t).padStart(6)} ms ${String(n).padStart(6)} ${'#'.repeat(Math.ceil((n / Math.max(1, peakBin)) * 50))}`);
  }
  console.log(`  server accepts/s (shoal_connections_accepted_total, 100 ms samples; peak ${peakAccept}/s):`);
  console.log(`    ${acceptRate.filter((a) => a[1] > 0).map((a) => `${a[0]}:${a[1]}`).join(' ')}`);
  process.exit(back.length === o.clients ? 0 : 1);
}

if (process.argv.includes('--worker')) worker();
else coordinator(parseArgs(process.argv.slice(2))).catch((err) => { console.error(err); process.exit(2); });
