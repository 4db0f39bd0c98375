// The JavaScript client (gateway/web/shoal.js) against a scripted fake WebSocket: the paths a
// real server makes hard to reach on demand (duplicates and replays after a resume, jumps in
// sequence numbers, too_old, refused tokens, timeouts) and the backoff schedule, made
// deterministic by injecting `random`. client.test.mjs drives the real server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShoalClient, ShoalError, backoffDelay } from '../../gateway/web/shoal.js';
import { waitFor } from './helpers.mjs';

// A WebSocket the test plays the server for: `open()`, `receive(obj)`, `serverClose(code)`;
// what the client sent is in `sent` (parsed).
class FakeSocket {
  static made = [];
  static behaviour = 'manual';  // 'refuse': fail every connection; 'open': open at once

  constructor(url, protocol) {
    this.url = url;
    this.requested = protocol;
    this.protocol = '';
    this.readyState = 0;
    this.bufferedAmount = 0;
    this.sent = [];
    FakeSocket.made.push(this);
    if (FakeSocket.behaviour === 'refuse') setTimeout(() => this.serverClose(1006, ''), 0);
    if (FakeSocket.behaviour === 'open') setTimeout(() => this.open(), 0);
  }

  open() {
    this.readyState = 1;
    this.protocol = this.requested;
    this.onopen?.({});
  }

  receive(obj) { this.onmessage?.({ data: JSON.stringify(obj) }); }

  send(text) { this.sent.push(JSON.parse(text)); }

  serverClose(code, reason = '') {
    this.readyState = 3;
    this.onclose?.({ code, reason, wasClean: code !== 1006 });
  }

  close(code = 1005, reason = '') {
    this.readyState = 3;
    setTimeout(() => this.onclose?.({ code, reason, wasClean: true }), 0);
  }

  // The last request the client sent with op `op`.
  last(op) { return this.sent.findLast((m) => m.op === op); }
}

function reset(behaviour = 'manual') {
  FakeSocket.made = [];
  FakeSocket.behaviour = behaviour;
}

const latest = () => FakeSocket.made.at(-1);

// A client on a fake socket with fast timers; the test answers for the server.
function fakeClient(options = {}) {
  return new ShoalClient('ws://fake/ws', {
    WebSocket: FakeSocket, reconnect: { minDelay: 1, maxDelay: 5 }, heartbeat: false, ...options,
  });
}

test('backoffDelay: full jitter within [0, min(max, min*2^n)), capped, and exact without jitter', () => {
  const cfg = { minDelay: 100, maxDelay: 5000 };
  const bounds = [100, 200, 400, 800, 1600, 3200, 5000, 5000];
  bounds.forEach((b, n) => {
    assert.equal(backoffDelay(n, cfg, () => 0), 0);
    assert.equal(backoffDelay(n, cfg, () => 0.5), b / 2);
    assert.ok(backoffDelay(n, cfg, () => 0.999999) < b);
    assert.equal(backoffDelay(n, { ...cfg, jitter: false }), b);
  });
  assert.equal(backoffDelay(5000, cfg, () => 0.5), 2500, 'a huge attempt number stays at the cap');
  for (let i = 0; i < 1000; i++) {
    const d = backoffDelay(3, cfg);
    assert.ok(d >= 0 && d < 800, `Math.random jitter in bounds: ${d}`);
  }
});

test('reconnect schedule: delays follow the injected random, attempts grow, jitter can be off', async () => {
  reset('refuse');
  const randoms = [0.5, 0.25, 0.75, 0.1, 0.9, 0.5, 0.5];
  let r = 0;
  const retries = [];
  const client = fakeClient({ random: () => randoms[r++ % randoms.length], reconnect: { minDelay: 4, maxDelay: 40 } });
  client.on('retry', (e) => retries.push(e));
  await waitFor(() => retries.length >= 7, '7 retries');
  await client.close();
  const expected = [0.5 * 4, 0.25 * 8, 0.75 * 16, 0.1 * 32, 0.9 * 40, 0.5 * 40, 0.5 * 40];
  assert.deepEqual(retries.slice(0, 7).map((e) => e.attempt), [0, 1, 2, 3, 4, 5, 6]);
  retries.slice(0, 7).forEach((e, i) => assert.ok(Math.abs(e.delay - expected[i]) < 1e-9, `delay ${i}: ${e.delay}`));
  assert.equal(retries[0].code, 1006);
  assert.equal(client.state, 'closed');

  reset('refuse');
  const herd = [];
  const noJitter = fakeClient({ reconnect: { minDelay: 2, maxDelay: 16, jitter: false } });
  noJitter.on('retry', (e) => herd.push(e.delay));
  await waitFor(() => herd.length >= 5, '5 retries');
  await noJitter.close();
  assert.deepEqual(herd.slice(0, 5), [2, 4, 8, 16, 16]);
});

test('the attempt count restarts only after a connection stayed open stableAfter ms', async () => {
  reset('open');  // every connection opens, and the test closes it at once
  const attempts = [];
  const flappy = fakeClient({ random: () => 0, reconnect: { minDelay: 1, maxDelay: 8, stableAfter: 60000 } });
  flappy.on('open', () => setTimeout(() => latest().serverClose(1001, 'going away'), 0));
  flappy.on('retry', (e) => attempts.push(e.attempt));
  await waitFor(() => attempts.length >= 4, '4 retries');
  await flappy.close();
  assert.deepEqual(attempts.slice(0, 4), [0, 1, 2, 3], 'a connection that flaps does not reset the backoff');

  reset('open');
  const stable = [];
  const steady = fakeClient({ random: () => 0, reconnect: { minDelay: 1, maxDelay: 8, stableAfter: 0 } });
  steady.on('open', () => setTimeout(() => latest().serverClose(1001, 'going away'), 0));
  steady.on('retry', (e) => stable.push(e.attempt));
  await waitFor(() => stable.length >= 3, '3 retries');
  await steady.close();
  assert.deepEqual(stable.slice(0, 3), [0, 0, 0]);
});

test('no duplicate and no out-of-order delivery; gaps announced or detected move the position', async () => {
  reset();
  const client = fakeClient();
  const seqs = [];
  const gaps = [];
  client.on('gap', (g) => gaps.push(g));
  const subscribing = client.subscribe('t', (m) => seqs.push(m.seq));
  latest().open();
  await waitFor(() => latest().last('sub'), 'sub sent');
  const ws = latest();
  const sub = ws.last('sub');
  assert.equal(sub.since, undefined, 'a first subscription has no since');
  ws.receive({ op: 'msg', topic: 't', seq: 4, data: 0 });  // before `subscribed`: not this subscription's
  ws.receive({ op: 'subscribed', topic: 't', seq: 5, id: sub.id });
  const s = await subscribing;
  assert.equal(s.seq, 5);
  for (const seq of [6, 7, 6, 5, 8]) ws.receive({ op: 'msg', topic: 't', seq, data: seq });
  ws.receive({ op: 'gap', topic: 't', from: 9, to: 10 });
  for (const seq of [10, 11, 13, 13, 12]) ws.receive({ op: 'msg', topic: 't', seq, data: seq });
  assert.deepEqual(seqs, [6, 7, 8, 11, 13]);
  assert.deepEqual(gaps, [{ topic: 't', from: 9, to: 10, announced: true },
                          { topic: 't', from: 12, to: 12, announced: false }]);
  assert.equal(client.stats.duplicates, 5);
  assert.equal(s.seq, 13);

  // Reconnect: resubscribed from 13; the replay's overlap is dropped.
  ws.serverClose(1001, 'going away');
  await waitFor(() => FakeSocket.made.length === 2, 'a new connection');
  latest().open();
  await waitFor(() => latest().last('sub'), 'resubscription');
  const again = latest().last('sub');
  assert.equal(again.since, 13);
  latest().receive({ op: 'subscribed', topic: 't', seq: 16, id: again.id });
  assert.equal(client.state, 'reconnecting');
  for (const seq of [12, 13, 14, 15, 16, 17]) latest().receive({ op: 'msg', topic: 't', seq, data: seq });
  assert.deepEqual(seqs.slice(5), [14, 15, 16, 17]);
  assert.equal(client.state, 'open');

  // The server restarted: history gone, numbering restarted; too_old resets to its position.
  const resets = [];
  client.on('reset', (e) => resets.push(e));
  latest().serverClose(1006);
  await waitFor(() => FakeSocket.made.length === 3, 'a third connection');
  latest().open();
  await waitFor(() => latest().last('sub'), 'resubscription');
  const third = latest().last('sub');
  assert.equal(third.since, 17);
  const order = [];
  client.on('reset', () => order.push('reset'));
  client.on('open', () => order.push('open'));
  latest().receive({ op: 'subscribed', topic: 't', seq: 2, id: third.id });
  assert.equal(client.state, 'reconnecting', 'a resume from another seq waits for too_old or the replay');
  latest().receive({ op: 'too_old', topic: 't', since: 17, oldest: 1 });
  assert.deepEqual(order, ['reset', 'open'], 'open comes after the reset');
  latest().receive({ op: 'msg', topic: 't', seq: 3, data: 'new' });
  assert.deepEqual(resets, [{ topic: 't', since: 17, oldest: 1, seq: 2 }]);
  assert.deepEqual(seqs.slice(9), [3]);
  await client.close();
});

test('requests time out, late answers are ignored, and answers match by id', async () => {
  reset();
  const client = fakeClient({ requestTimeout: 50 });
  latest().open();
  await client.ready();
  const ws = latest();
  const a = client.publish('t', 1);
  const b = client.publish('t', 2);
  const c = client.publish('t', 3);
  const [pa, pb, pc] = ws.sent.filter((m) => m.op === 'pub');
  assert.notEqual(pa.id, pb.id);
  ws.receive({ op: 'ack', topic: 't', seq: 8, id: pb.id });  // matched by id, not by order
  ws.receive({ op: 'error', code: 'bad_topic', message: 'no', id: pa.id });
  assert.equal(await b, 8);
  await assert.rejects(a, (e) => e instanceof ShoalError && e.code === 'bad_topic' && e.topic === 't');
  await assert.rejects(c, (e) => e.code === 'timeout');
  ws.receive({ op: 'ack', topic: 't', seq: 9, id: pc.id });  // too late: nothing happens
  assert.equal(client.state, 'open');
  await client.close();
});

test('auth goes first; a refused token is retried with backoff and then given up', async () => {
  reset();
  let calls = 0;
  const errors = [];
  const client = fakeClient({ getToken: async () => `token-${++calls}`, maxAuthFailures: 3 });
  client.on('error', (e) => errors.push(e.code));
  const subscribing = client.subscribe('t', () => {});
  for (let i = 1; i <= 3; i++) {
    await waitFor(() => FakeSocket.made.length === i, `connection ${i}`);
    latest().open();
    const ws = latest();
    assert.equal(ws.sent.length, 1, 'nothing before the auth answer');
    assert.deepEqual({ ...ws.sent[0], id: 0 }, { op: 'auth', token: `token-${i}`, id: 0 });
    ws.receive({ op: 'error', code: 'unauthorized', message: 'token expired', id: ws.sent[0].id });
  }
  await waitFor(() => client.state === 'closed', 'giving up');
  await assert.rejects(subscribing, (e) => e.code === 'unauthorized');
  assert.equal(calls, 3);
  assert.deepEqual(errors, ['unauthorized', 'unauthorized', 'unauthorized', 'unauthorized']);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(FakeSocket.made.length, 3, 'no connection after giving up');
});

test('an accepted token then subscriptions; 4001 without getToken is final', async () => {
  reset();
  const client = fakeClient({ token: 'static' });
  const subscribing = client.subscribe('t', () => {});
  latest().open();
  const ws = latest();
  ws.receive({ op: 'authed', exp: Math.floor(Date.now() / 1000) + 60, sub: 'u', id: ws.sent[0].id });
  await waitFor(() => ws.last('sub'), 'sub after authed');
  ws.receive({ op: 'subscribed', topic: 't', seq: 0, id: ws.last('sub').id });
  await subscribing;
  const errors = [];
  client.on('error', (e) => errors.push(e.code));
  ws.serverClose(4001, 'token expired');
  assert.equal(client.state, 'closed');
  assert.deepEqual(errors, ['token_expired']);
});

test('publishes queue while not open within maxQueuedBytes, in order; sent ones are lost, not resent', async () => {
  reset();
  const client = fakeClient({ maxQueuedBytes: 200 });
  const early = client.publish('t', 'x'.repeat(20));
  assert.ok(client.bufferedAmount > 20 && client.bufferedAmount < 100, `queued bytes ${client.bufferedAmount}`);
  const before = client.bufferedAmount;
  await assert.rejects(client.publish('t', 'y'.repeat(300)), (e) => e.code === 'queue_full');
  assert.equal(client.bufferedAmount, before);
  latest().open();
  await client.ready();
  const ws = latest();
  const pub = ws.last('pub');
  assert.equal(pub.data, 'x'.repeat(20));
  assert.equal(client.bufferedAmount, 0);
  ws.receive({ op: 'ack', topic: 't', seq: 1, id: pub.id });
  assert.equal(await early, 1);
  const inFlight = client.publish('t', 'z');
  ws.serverClose(1006);
  await assert.rejects(inFlight, (e) => e.code === 'connection_lost');
  await waitFor(() => FakeSocket.made.length === 2, 'reconnection');
  latest().open();
  await client.ready();
  assert.equal(latest().sent.filter((m) => m.op === 'pub').length, 0, 'the unacknowledged publish is not resent');
  await client.close();
  await assert.rejects(client.publish('t', 1), (e) => e.code === 'closed');
});

test('heartbeat: silence past the timeout drops the connection; a quiet but live one stays', async () => {
  reset();
  const closes = [];
  const client = fakeClient({ heartbeat: { interval: 30, timeout: 60 } });
  client.on('close', (c) => closes.push(c));
  latest().open();
  await client.ready();
  const ws = latest();
  // Answer every probe for a while: the connection stays.
  const answering = setInterval(() => {
    for (const m of ws.sent.splice(0)) if (m.op === 'ping') ws.receive({ op: 'error', code: 'bad_message', message: 'unknown op', id: m.id });
  }, 5);
  await new Promise((r) => setTimeout(r, 300));
  clearInterval(answering);
  assert.equal(closes.length, 0);
  await waitFor(() => closes.length === 1, 'the heartbeat timeout');
  assert.equal(closes[0].code, 4000);
  assert.match(closes[0].reason, /heartbeat/);
  await waitFor(() => FakeSocket.made.length === 2, 'a reconnection');
  await client.close();
});

// Opens a fake connection and answers the subscription of `topic` with `seq`.
async function establish(client, topic, seq) {
  latest().open();
  await waitFor(() => latest().last('sub'), 'sub sent');
  latest().receive({ op: 'subscribed', topic, seq, id: latest().last('sub').id });
}

test('a resume whose too_old or replay never comes still opens after the request timeout', async () => {
  reset();
  const client = fakeClient({ requestTimeout: 80 });
  const subscribing = client.subscribe('t', () => {});
  await establish(client, 't', 4);
  await subscribing;
  latest().serverClose(1006);
  await waitFor(() => FakeSocket.made.length === 2, 'reconnection');
  await establish(client, 't', 9);  // since 4: a replay of 5..9 should follow, and does not
  assert.equal(client.state, 'reconnecting');
  await waitFor(() => client.state === 'open', 'open after the timeout');
  await client.close();
});

test('a resubscription refused for a transient reason is asked again; a final refusal ends it', async () => {
  reset();
  const client = fakeClient({ random: () => 0.5 });
  const errors = [];
  const ended = [];
  client.on('error', (e) => errors.push(e.code));
  client.on('unsubscribed', (e) => ended.push([e.topic, e.error.code]));
  const a = client.subscribe('a', () => {});
  const b = client.subscribe('b', () => {});
  latest().open();
  await waitFor(() => latest().sent.filter((m) => m.op === 'sub').length === 2, 'two subs');
  for (const m of latest().sent) latest().receive({ op: 'subscribed', topic: m.topic, seq: 0, id: m.id });
  const [sa, sb] = await Promise.all([a, b]);
  latest().serverClose(1001, 'going away');
  await waitFor(() => FakeSocket.made.length === 2, 'reconnection');
  latest().open();
  await waitFor(() => latest().sent.filter((m) => m.op === 'sub').length === 2, 'two resubscriptions');
  const ws = latest();
  const subA = ws.sent.find((m) => m.topic === 'a');
  const subB = ws.sent.find((m) => m.topic === 'b');
  ws.receive({ op: 'error', code: 'unavailable', message: 'cluster link down', id: subA.id, topic: 'a' });
  ws.receive({ op: 'error', code: 'unauthorized', message: 'not any more', id: subB.id, topic: 'b' });
  assert.equal(client.state, 'open', 'the connection opens; a is retried in the background');
  assert.deepEqual(ended, [['b', 'unauthorized']]);
  assert.equal(sb.active, false);
  assert.equal(sa.active, true);
  await waitFor(() => ws.sent.filter((m) => m.topic === 'a').length === 2, 'a asked again');
  const retry = ws.sent.filter((m) => m.topic === 'a')[1];
  assert.equal(retry.since, 0);
  ws.receive({ op: 'subscribed', topic: 'a', seq: 0, id: retry.id });
  ws.receive({ op: 'msg', topic: 'a', seq: 1, data: 1 });
  assert.equal(sa.seq, 1);
  assert.deepEqual(errors, ['unavailable', 'unauthorized']);
  await client.close();
});

test('a getToken that hangs is bounded by connectTimeout and tried again', async () => {
  reset();
  let calls = 0;
  const errors = [];
  const client = fakeClient({ connectTimeout: 50, getToken: () => (++calls === 1 ? new Promise(() => {}) : 'tok') });
  client.on('error', (e) => errors.push(e.code));
  await waitFor(() => FakeSocket.made.length === 1, 'a connection after the second getToken');
  assert.deepEqual(errors, ['token_failed']);
  assert.equal(calls, 2);
  latest().open();
  assert.equal(latest().sent[0].token, 'tok');
  await client.close(4321, 'bye');
  assert.equal(client.state, 'closed');
});
