// Browser tests of what lies under the demo: (d) Chromium negotiates permessage-deflate with
// shoal (the answer's Sec-WebSocket-Extensions seen through CDP, and the server's own counters
// of what it inflated from the browser and compressed for it); (e) the demo over https:// and
// wss:// with a throwaway CA, Chromium trusting exactly the leaf's key
// (--ignore-certificate-errors-spki-list) and refusing another server's certificate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  freePort, launchBrowser, metricsJson, newPage, nodeClient, openDemo, say, shown, startShoal, waitFor,
} from './helpers.mjs';

function header(headers, name) {
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : headers[key];
}

// Records the page's WebSocket handshakes through the DevTools protocol.
async function watchWebSockets(page, into) {
  const cdp = await page.createCDPSession();
  await cdp.send('Network.enable');
  cdp.on('Network.webSocketCreated', (e) => into.push({ kind: 'created', url: e.url }));
  cdp.on('Network.webSocketWillSendHandshakeRequest', (e) => into.push({ kind: 'request', headers: e.request.headers }));
  cdp.on('Network.webSocketHandshakeResponseReceived', (e) =>
    into.push({ kind: 'response', status: e.response.status, headers: e.response.headers }));
}

test('(d) Chromium negotiates permessage-deflate: compressed both ways, read right', async () => {
  const shoal = await startShoal({ flags: ['--permessage-deflate'] });
  const browser = await launchBrowser();
  try {
    const seen = [];
    const page = await openDemo(browser, shoal.base, 'zip', 'd', (p) => watchWebSockets(p, seen));
    const response = await waitFor('the handshake answer', () => seen.find((e) => e.kind === 'response'));
    assert.equal(response.status, 101);
    assert.match(header(seen.find((e) => e.kind === 'request').headers, 'Sec-WebSocket-Extensions'),
                 /permessage-deflate/, 'Chromium offers it');
    const agreed = header(response.headers, 'Sec-WebSocket-Extensions');
    assert.match(agreed ?? '', /^permessage-deflate/, 'shoal accepts it');
    assert.match(agreed, /server_no_context_takeover/);
    assert.equal(header(response.headers, 'Sec-WebSocket-Protocol'), 'shoal.v1');

    // A message long enough to be compressed (deflate.min_size is 64 bytes), repetitive as JSON is.
    const before = await metricsJson(shoal.port);
    const plain = await nodeClient(`ws://127.0.0.1:${shoal.port}/ws`);  // no deflate offered
    await plain.sub('chat.d');
    const text = 'compress me please, '.repeat(40);
    await say(page, text);
    const got = await waitFor('the message back on the page', async () => { const m = await shown(page); return m.length === 1 && m; });
    assert.equal(got[0].text, text, 'inflated by Chromium to the same text');
    await waitFor('the plain subscriber got it too', () => plain.msgs.length === 1);
    assert.equal(plain.msgs[0].data.text, text);
    const after = await waitFor('the counters moved', async () => {
      const m = await metricsJson(shoal.port);
      return m.total.deflate_inflated > before.total.deflate_inflated &&
             m.total.deflate_compressed > before.total.deflate_compressed && m;
    });
    assert.ok(after.total.deflate_inflated >= 1, 'the browser compressed its publish and shoal inflated it');
    assert.ok(after.total.deflate_compressed >= 1, 'shoal compressed the broadcast for the browser');
    assert.deepEqual(page.problems, []);
    plain.close();
  } finally {
    await browser.close();
    assert.equal(await shoal.stop(), 0);
  }
});

function openssl(...args) {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

// A CA and a leaf for localhost and 127.0.0.1 it signs (EC P-256, two days), as
// tests/integration/certs.py makes them; returns the file paths.
function makeCertificates(dir, stem) {
  const p = (f) => join(dir, `${stem}-${f}`);
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
          '-keyout', p('ca.key'), '-out', p('ca.pem'), '-subj', `/CN=Shoal Browser Test CA ${stem}`, '-days', '2');
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
          '-keyout', p('leaf.key'), '-out', p('leaf.csr'), '-subj', '/CN=localhost');
  writeFileSync(p('leaf.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl('x509', '-req', '-in', p('leaf.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'),
          '-CAcreateserial', '-out', p('leaf.pem'), '-days', '2', '-extfile', p('leaf.ext'));
  return { cert: p('leaf.pem'), key: p('leaf.key') };
}

// base64 of the SHA-256 of the certificate's SubjectPublicKeyInfo: what Chromium's
// --ignore-certificate-errors-spki-list takes (it trusts that key, and no other).
function spkiHash(certFile) {
  const spki = new X509Certificate(readFileSync(certFile)).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

test('(e) the demo over https:// and wss://, trusting exactly the test certificate', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-browser-tls-'));
  const trusted = makeCertificates(dir, 'trusted');
  const other = makeCertificates(dir, 'other');
  const tlsPort = await freePort();
  const otherPort = await freePort();
  const shoal = await startShoal({ flags: ['--tls-listen', `127.0.0.1:${tlsPort}`, '--tls-cert', trusted.cert,
                                           '--tls-key', trusted.key] });
  const stranger = await startShoal({ flags: ['--tls-listen', `127.0.0.1:${otherPort}`, '--tls-cert', other.cert,
                                              '--tls-key', other.key] });
  const browser = await launchBrowser([`--ignore-certificate-errors-spki-list=${spkiHash(trusted.cert)}`]);
  try {
    const seen = [];
    const base = `https://localhost:${tlsPort}`;
    const alice = await openDemo(browser, base, 'alice', 'e', (p) => watchWebSockets(p, seen));
    const bob = await openDemo(browser, base, 'bob', 'e');
    const created = seen.find((e) => e.kind === 'created');
    assert.equal(created.url, `wss://localhost:${tlsPort}/ws`, 'the client connects with wss:// to the page\'s host');
    await say(alice, 'over TLS');
    for (const page of [alice, bob]) {
      const got = await waitFor('the message on both pages', async () => { const m = await shown(page); return m.length === 1 && m; });
      assert.deepEqual([got[0].author, got[0].text], ['alice', 'over TLS']);
      assert.deepEqual(page.problems, []);
    }
    const m = await metricsJson(shoal.port);
    assert.ok(m.total.tls_handshakes >= 3, `page loads and WebSockets over TLS (${m.total.tls_handshakes})`);

    // Only that key is trusted: another server's certificate (from another CA) is refused.
    const page = await newPage(browser);
    await assert.rejects(page.goto(`https://localhost:${otherPort}/demo/`), /ERR_CERT/);
    for (const p of [alice, bob, page]) await p.browserContext().close();
  } finally {
    await browser.close();
    assert.equal(await stranger.stop(), 0);
    assert.equal(await shoal.stop(), 0);
    rmSync(dir, { recursive: true, force: true });
  }
});
