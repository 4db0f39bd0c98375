// Browser tests of the chat demo (/demo/) and the JavaScript client (/shoal.js) in headless
// Chromium against the real shoal: (a) two pages chat in one room and see the same messages in
// the same order, with the room's history on joining; (b) a TCP proxy cuts both pages'
// connections mid-conversation while a third party keeps publishing: both reconnect and resume
// with nothing lost or duplicated; (c) after a server restart both reconnect and are told with
// `reset` that history is gone, and the room works again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  launchBrowser, metricsJson, newPage, nodeClient, notices, openDemo, say, shown, sleep,
  startProxy, startShoal, stats, waitFor,
} from './helpers.mjs';

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

function noProblems(...pages) {
  for (const page of pages) assert.deepEqual(page.problems.filter((p) => !p.startsWith('WebSocket connection to')), [],
                                            'no console errors (CSP refusals among them) or page errors');
}

// seqs 1..n of one epoch, each once, in order.
function assertComplete(messages, n, what) {
  assert.deepEqual(messages.map((m) => m.seq), Array.from({ length: n }, (_, i) => i + 1), what);
}

test('(a) two pages chat in one room: history on joining, every message on both, same order', async () => {
  const shoal = await startShoal();
  try {
    // History: two messages published before anyone joins are shown on joining (since: 0).
    const backend = await nodeClient(`ws://127.0.0.1:${shoal.port}/ws`);
    await backend.pub('chat.a', { name: 'backend', text: 'before anyone came' });
    await backend.pub('chat.a', 'a plain string');
    const alice = await openDemo(browser, shoal.base, 'alice', 'a');
    const bob = await openDemo(browser, shoal.base, 'bob', 'a');
    for (const page of [alice, bob]) {
      const got = await waitFor('history shown', async () => { const m = await shown(page); return m.length === 2 && m; });
      assert.deepEqual(got.map((m) => [m.seq, m.author, m.text]),
                       [[1, 'backend', 'before anyone came'], [2, '?', 'a plain string']]);
    }
    // Both type at once, interleaved; each page sees all 2 x 8 in one order, the server's.
    const typing = [];
    for (const [page, who] of [[alice, 'alice'], [bob, 'bob']])
      typing.push((async () => { for (let i = 0; i < 8; i++) await say(page, `${who} ${i} <b>not bold</b>`); })());
    await Promise.all(typing);
    const views = [];
    for (const page of [alice, bob])
      views.push(await waitFor('all 18 messages on the page', async () => { const m = await shown(page); return m.length >= 18 && m; }));
    assert.deepEqual(views[0], views[1], 'both pages show the same messages in the same order');
    assertComplete(views[0], 18, 'seq 1..18, each once');
    for (const who of ['alice', 'bob']) {
      const mine = views[0].filter((m) => m.author === who).map((m) => m.text);
      assert.deepEqual(mine, Array.from({ length: 8 }, (_, i) => `${who} ${i} <b>not bold</b>`), `${who}'s in the order typed`);
    }
    assert.equal(await alice.$$eval('#messages b', (b) => b.length), 0, 'text is shown as text, never as HTML');
    assert.deepEqual(await notices(alice, 'reset'), []);
    assert.equal((await stats(bob)).duplicates, 0);
    noProblems(alice, bob);
    backend.close();
    await alice.browserContext().close();
    await bob.browserContext().close();
  } finally {
    assert.equal(await shoal.stop(), 0);
  }
});

test('(b) a proxy cuts both pages mid-conversation: they reconnect and resume, nothing lost or twice', async () => {
  const shoal = await startShoal();
  const proxy = await startProxy(shoal.port);
  try {
    const alice = await openDemo(browser, proxy.base, 'alice', 'b');
    const bob = await openDemo(browser, proxy.base, 'bob', 'b');
    // The third party publishes straight to shoal, not through the proxy, without pause.
    const backend = await nodeClient(`ws://127.0.0.1:${shoal.port}/ws`);
    let published = 0;
    let publishing = true;
    const publisher = (async () => {
      while (publishing) {
        const seq = await backend.pub('chat.b', { name: 'backend', text: `tick ${published + 1}` });
        assert.equal(seq, published + 1, 'the backend is the room\'s only publisher');
        published = seq;
        await sleep(20);
      }
    })();
    for (let cut = 1; cut <= 2; cut++) {
      // Mid-conversation: both pages have seen some of it, and more is coming.
      const floor = published;
      for (const page of [alice, bob])
        await waitFor(`cut ${cut}: messages past ${floor} on the page`, async () => (await shown(page)).length > floor);
      proxy.refuse(true);  // reconnects fail for a moment, as while a network is down
      const dropped = proxy.dropAll();
      assert.ok(dropped >= 2, `both pages' connections went through the proxy (${dropped})`);
      for (const page of [alice, bob])
        await waitFor(`cut ${cut}: the page shows the connection is lost`,
                      () => page.$eval('#state', (el) => el.dataset.state === 'reconnecting'));
      const during = published;
      await waitFor('publishing goes on while the pages are away', () => published >= during + 5);
      proxy.refuse(false);
      for (const page of [alice, bob]) {
        await waitFor(`cut ${cut}: open again`, () => page.$eval('#state', (el) => el.dataset.state === 'open'));
        await waitFor(`cut ${cut}: reconnect counted`, async () => (await stats(page)).reconnects >= cut);
      }
    }
    const reopened = published;
    await waitFor('more after the last reconnection', () => published >= reopened + 5);
    publishing = false;
    await publisher;
    const total = published;
    for (const page of [alice, bob]) {
      const messages = await waitFor(`all ${total} on the page`, async () => { const m = await shown(page); return m.length >= total && m; });
      assertComplete(messages, total, 'every message once, in order, across two cuts');
      assert.deepEqual(messages.map((m) => m.text), Array.from({ length: total }, (_, i) => `tick ${i + 1}`));
      assert.deepEqual(await notices(page, 'gap'), []);
      assert.deepEqual(await notices(page, 'reset'), []);
      assert.equal((await stats(page)).gaps, 0);
    }
    // Resumed, not replayed from the start: the server replayed only what each page missed.
    const m = await metricsJson(shoal.port);
    assert.equal(m.total.gaps, 0);
    noProblems(alice, bob);
    backend.close();
    await alice.browserContext().close();
    await bob.browserContext().close();
  } finally {
    await proxy.close();
    assert.equal(await shoal.stop(), 0);
  }
});

test('(c) after a server restart the pages reconnect and are told with reset that history is gone', async () => {
  let shoal = await startShoal({ flags: ['--drain', '200ms', '--shutdown-deadline', '3s'] });
  const port = shoal.port;
  try {
    const alice = await openDemo(browser, shoal.base, 'alice', 'c');
    const bob = await openDemo(browser, shoal.base, 'bob', 'c');
    for (let i = 0; i < 3; i++) await say(alice, `before ${i}`);
    for (const page of [alice, bob])
      await waitFor('3 messages before the restart', async () => (await shown(page)).length === 3);

    assert.equal(await shoal.stop(), 0, 'the first server drains and exits');
    for (const page of [alice, bob])
      await waitFor('the page shows the server is gone',
                    () => page.$eval('#state', (el) => el.dataset.state === 'reconnecting'));
    shoal = await startShoal({ port, flags: ['--drain', '200ms', '--shutdown-deadline', '3s'] });

    for (const page of [alice, bob]) {
      await waitFor('open on the new server', () => page.$eval('#state', (el) => el.dataset.state === 'open'));
      const reset = await waitFor('a reset notice', async () => { const r = await notices(page, 'reset'); return r.length && r; });
      assert.equal(reset.length, 1);
      assert.match(reset[0], /after #3/);
      assert.equal((await stats(page)).resets, 1);
    }
    // The room works again, numbered afresh by the new server; the old messages stay shown.
    await say(bob, 'after the restart');
    for (const page of [alice, bob]) {
      const messages = await waitFor('the new message', async () => { const m = await shown(page); return m.length === 4 && m; });
      assert.deepEqual(messages.map((m) => [m.epoch, m.seq, m.text]),
                       [[0, 1, 'before 0'], [0, 2, 'before 1'], [0, 3, 'before 2'], [1, 1, 'after the restart']]);
    }
    noProblems(alice, bob);
    // A page opened now sees the new server's history only.
    const carol = await openDemo(browser, shoal.base, 'carol', 'c');
    const history = await waitFor('carol sees the history', async () => { const m = await shown(carol); return m.length === 1 && m; });
    assert.equal(history[0].text, 'after the restart');
    for (const page of [alice, bob, carol]) await page.browserContext().close();
  } finally {
    assert.equal(await shoal.stop(), 0);
  }
});

test('the demo page needs nothing the CSP forbids and works without a room in the URL', async () => {
  const shoal = await startShoal();
  try {
    const page = await newPage(browser);
    await page.goto(`${shoal.base}/demo`, { waitUntil: 'load' });
    assert.equal(new URL(page.url()).pathname, '/demo/', '/demo redirects to /demo/');
    await page.waitForSelector('#state[data-state="open"]');
    assert.equal(await page.$eval('#chat', (el) => el.hidden), true, 'the join form first');
    noProblems(page);
    await page.browserContext().close();
  } finally {
    assert.equal(await shoal.stop(), 0);
  }
});
