// Shared by the browser tests (*.test.mjs): the real shoal binary ($SHOAL_BIN, backend from
// $SHOAL_IO), headless Chromium through puppeteer-core (Debian's chromium, or $SHOAL_CHROMIUM),
// a TCP proxy that can cut every connection, the demo page's DOM as data, and polling with
// generous deadlines (CI is a busy 2-core machine: nothing here assumes a rate or a latency).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer from 'puppeteer-core';
import WebSocket from 'ws';

export const DEADLINE_MS = 90_000;

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Polls `check` (sync or async) until it returns a truthy value, which it returns; throws with
// `what` and the last value seen after the deadline.
export async function waitFor(what, check, deadline = DEADLINE_MS) {
  const end = Date.now() + deadline;
  let last;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() > end) throw new Error(`${what}: not within ${deadline / 1000} s (last: ${JSON.stringify(last)})`);
    await sleep(100);
  }
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

async function waitListening(port, proc) {
  await waitFor(`shoal listening on ${port}`, async () => {
    if (proc.exitCode !== null) throw new Error(`shoal exited with ${proc.exitCode}`);
    return new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => { c.destroy(); resolve(true); });
      c.on('error', () => resolve(false));
    });
  }, 30_000);
}

// A shoal with 2 shards on `port` (a free one by default); `flags` are added. Returns once every
// listener is open: `port`, and each address given with --tls-listen or --admin-listen (a shard
// opens its listeners one after the other, so the plain port alone does not say the TLS one is
// open). stop() sends SIGTERM and resolves with the exit code.
export async function startShoal({ port, flags = [] } = {}) {
  port = port ?? await freePort();
  const io = process.env.SHOAL_IO ? ['--io', process.env.SHOAL_IO] : [];
  const binary = process.env.SHOAL_BIN ?? new URL('../../build/release/gateway/shoal', import.meta.url).pathname;
  const proc = spawn(binary, ['--listen', `127.0.0.1:${port}`, '--shards', '2', ...io, ...flags],
                     { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr = (stderr + d).slice(-20_000); });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve(code ?? signal)));
  await waitListening(port, proc);
  for (let i = 0; i + 1 < flags.length; i++)
    if (flags[i] === '--tls-listen' || flags[i] === '--admin-listen')
      await waitListening(Number(flags[i + 1].slice(flags[i + 1].lastIndexOf(':') + 1)), proc);
  return {
    port,
    proc,
    base: `http://127.0.0.1:${port}`,
    stderr: () => stderr,
    exited,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}

export async function metricsJson(port, scheme = 'http') {
  const answer = await fetch(`${scheme}://127.0.0.1:${port}/metrics.json`, { cache: 'no-store' });
  if (!answer.ok) throw new Error(`/metrics.json: HTTP ${answer.status}`);
  return answer.json();
}

function chromiumPath() {
  const candidates = [process.env.SHOAL_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser',
                      '/usr/bin/google-chrome'].filter(Boolean);
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`no Chromium (tried ${candidates.join(', ')}): deploy/setup.sh installs Debian's chromium`);
  return found;
}

// Headless Chromium with a profile of its own in a temp dir (removed by close()); --no-sandbox
// only when running as root, where Chromium's sandbox cannot start. Timers of pages in the
// background are not throttled: every page of a test stays live.
export async function launchBrowser(extraArgs = []) {
  const profile = mkdtempSync(join(tmpdir(), 'shoal-chromium-'));
  const args = ['--no-first-run', '--no-default-browser-check', '--disable-gpu',
                '--disable-background-timer-throttling', '--disable-renderer-backgrounding',
                '--disable-backgrounding-occluded-windows', '--disable-dev-shm-usage', ...extraArgs];
  if (process.getuid?.() === 0) args.push('--no-sandbox');
  const browser = await puppeteer.launch({
    executablePath: chromiumPath(), headless: true, userDataDir: profile, args,
    protocolTimeout: 120_000,
  });
  const close = browser.close.bind(browser);
  browser.close = async () => {
    try { await close(); } finally { rmSync(profile, { recursive: true, force: true }); }
  };
  return browser;
}

// A page in a fresh browser context (no shared cache, cookies or connections with other pages).
// Console errors (a CSP refusal among them) and uncaught page errors are collected in
// page.problems, for the test to assert there are none.
export async function newPage(browser) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  page.problems = [];
  page.on('console', (m) => { if (m.type() === 'error') page.problems.push(m.text()); });
  page.on('pageerror', (e) => page.problems.push(String(e)));
  page.setDefaultTimeout(DEADLINE_MS);
  return page;
}

// Opens the demo at `base` in a new page, joins `room` as `name` through the form, and waits
// until the subscription is confirmed and the connection open. `prepare(page)` runs before the
// page loads (to watch it through CDP).
export async function openDemo(browser, base, name, room, prepare = async () => {}) {
  const page = await newPage(browser);
  await prepare(page);
  await page.goto(`${base}/demo/`, { waitUntil: 'load' });
  await page.type('#name', name);
  await page.type('#room', room);
  await page.click('#join');
  await page.waitForSelector('#chat[data-joined="true"]');
  await page.waitForSelector('#state[data-state="open"]');
  return page;
}

// The demo's messages as [{epoch, seq, author, text}], in the order shown.
export function shown(page) {
  return page.$$eval('#messages li[data-seq]', (items) => items.map((li) => ({
    epoch: Number(li.dataset.epoch),
    seq: Number(li.dataset.seq),
    author: li.dataset.author,
    text: li.querySelector('.text').textContent,
  })));
}

export function notices(page, kind) {
  return page.$$eval(`#notices li[data-kind="${kind}"]`, (items) => items.map((li) => li.textContent));
}

export function stats(page) {
  return page.$eval('#stats', (el) => Object.fromEntries(Object.entries(el.dataset).map(([k, v]) => [k, Number(v)])));
}

// Sends `text` from the demo's form (the input filled at once: typing key by key is slow).
export async function say(page, text) {
  await page.$eval('#text', (el, t) => { el.value = t; }, text);
  await page.click('#send');
}

// A shoal.v1 client from Node (the `ws` package): pub() resolves with the acknowledged sequence
// number, sub() with the subscription's answer; msgs collects deliveries.
export async function nodeClient(url) {
  const ws = new WebSocket(url, 'shoal.v1');
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  let next = 1;
  const waiting = new Map();
  const msgs = [];
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    if (m.op === 'msg') msgs.push(m);
    else if (m.id !== undefined && waiting.has(m.id)) {
      const { resolve, reject } = waiting.get(m.id);
      waiting.delete(m.id);
      if (m.op === 'error') reject(new Error(`${m.code}: ${m.message}`));
      else resolve(m);
    }
  });
  const request = (msg) => new Promise((resolve, reject) => {
    const id = next++;
    waiting.set(id, { resolve, reject });
    ws.send(JSON.stringify({ ...msg, id }));
  });
  return {
    ws,
    msgs,
    async pub(topic, data) { return (await request({ op: 'pub', topic, data })).seq; },
    sub(topic, since) { return request(since === undefined ? { op: 'sub', topic } : { op: 'sub', topic, since }); },
    close() { ws.close(1000); },
  };
}

// A TCP proxy on loopback in front of `port`: dropAll() destroys every connection through it
// (both halves, as a network failure would), refuse(true) makes it close new connections at
// once until refuse(false).
export async function startProxy(port) {
  const pairs = new Set();
  let refusing = false;
  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect(port, '127.0.0.1');
    const pair = { client, upstream };
    pairs.add(pair);
    const end = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxyPort = server.address().port;
  return {
    port: proxyPort,
    base: `http://127.0.0.1:${proxyPort}`,
    connections: () => pairs.size,
    dropAll() {
      const n = pairs.size;
      for (const { client, upstream } of [...pairs]) {
        client.resetAndDestroy?.() ?? client.destroy();
        upstream.destroy();
      }
      pairs.clear();
      return n;
    },
    refuse(on) { refusing = on; },
    close() {
      this.dropAll();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
