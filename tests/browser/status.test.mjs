// Browser test of the status page (/status): (f) it renders in headless Chromium, polls
// /metrics.json, and its figures and charts move under load (connections, messages in and
// deliveries per second, per shard) and settle again when the load stops; served on the admin
// listener too. The load is Node `ws` clients publishing and subscribing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, launchBrowser, newPage, nodeClient, sleep, startShoal, waitFor } from './helpers.mjs';

function figure(page, name) {
  return page.$eval(`[data-metric="${name}"]`, (el) => Number(el.dataset.value));
}

function polls(page) {
  return page.$eval('#poll-count', (el) => Number(el.dataset.value));
}

test('(f) the status page renders and its numbers move under load', async () => {
  const admin = await freePort();
  const shoal = await startShoal({ flags: ['--admin-listen', `127.0.0.1:${admin}`] });
  const browser = await launchBrowser();
  const clients = [];
  try {
    const page = await newPage(browser);
    await page.goto(`${shoal.base}/status`, { waitUntil: 'load' });
    await waitFor('two polls answered', async () => (await polls(page)) >= 2);
    assert.equal(await page.$eval('#poll-state', (el) => el.dataset.state), 'ok');
    assert.match(await page.$eval('#server-line', (el) => el.textContent), /2 shards · single node · serving/);
    assert.equal(await page.$$eval('#shard-table tbody tr', (rows) => rows.length), 2, 'a row per shard');
    const quiet = await figure(page, 'messages_in');

    // Load: four subscribers and a publisher that keeps 20 publishes in flight.
    for (let i = 0; i < 4; i++) {
      const c = await nodeClient(`ws://127.0.0.1:${shoal.port}/ws`);
      await c.sub('load.status');
      clients.push(c);
    }
    const publisher = await nodeClient(`ws://127.0.0.1:${shoal.port}/ws`);
    clients.push(publisher);
    let loading = true;
    const load = (async () => {
      let n = 0;
      while (loading) {
        await Promise.all(Array.from({ length: 20 }, () => publisher.pub('load.status', { n: n++ })));
        await sleep(5);
      }
    })();
    await waitFor('the page counts the connections', async () => (await figure(page, 'websocket_connections')) >= 5);
    await waitFor('messages in per second above 0', async () => (await figure(page, 'messages_in_rate')) > 0);
    await waitFor('deliveries per second above 0', async () => (await figure(page, 'deliveries_rate')) > 0);
    await waitFor('bytes out per second above 0', async () => (await figure(page, 'bytes_out_rate')) > 0);
    assert.ok((await figure(page, 'messages_in')) > quiet, 'the total grew');
    // The charts draw a line per shard, and the latest point of the messages chart is above 0.
    const lines = await page.$$eval('#chart-messages polyline', (ls) => ls.map((l) => [l.dataset.series, Number(l.dataset.last)]));
    assert.deepEqual(lines.map(([s]) => s).sort(), ['shard 0 in', 'shard 0 out', 'shard 1 in', 'shard 1 out']);
    await waitFor('a chart point above 0', () => page.$$eval('#chart-deliveries polyline',
      (ls) => ls.some((l) => Number(l.dataset.last) > 0)));
    const rows = await page.$$eval('#shard-table tbody tr', (rs) => rs.map((r) => r.dataset.shard));
    assert.deepEqual(rows, ['0', '1']);

    loading = false;
    await load;
    for (const c of clients) c.close();
    await waitFor('the rates settle back to 0 once the load stops', async () =>
      (await figure(page, 'messages_in_rate')) === 0 && (await figure(page, 'deliveries_rate')) === 0);
    await waitFor('the connections go', async () => (await figure(page, 'websocket_connections')) === 0);
    await waitFor('the closes counted by code', () => page.$$eval('#close-table tbody tr',
      (rs) => rs.some((r) => r.dataset.code === '1000' && Number(r.cells[1].textContent) >= 5)));
    assert.deepEqual(page.problems, []);

    // The same page on the admin listener.
    const adminPage = await newPage(browser);
    await adminPage.goto(`http://127.0.0.1:${admin}/status`, { waitUntil: 'load' });
    await waitFor('polls on the admin listener', async () => (await polls(adminPage)) >= 2);
    assert.equal(await adminPage.$eval('#poll-state', (el) => el.dataset.state), 'ok');
    assert.deepEqual(adminPage.problems, []);
  } finally {
    for (const c of clients) c.close();
    await browser.close();
    assert.equal(await shoal.stop(), 0);
  }
});

test('the status page says so when the server stops answering', async () => {
  const shoal = await startShoal();
  const browser = await launchBrowser();
  try {
    const page = await newPage(browser);
    await page.goto(`${shoal.base}/status`, { waitUntil: 'load' });
    await waitFor('a poll answered', async () => (await polls(page)) >= 1);
    assert.equal(await shoal.stop(), 0);
    await waitFor('the page shows the error', () => page.$eval('#poll-state', (el) => el.dataset.state === 'error'));
  } finally {
    await browser.close();
    await shoal.stop();
  }
});
