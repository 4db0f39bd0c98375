// Shared by the Node integration tests (*.test.mjs): free ports, waiting for the server to
// listen, and promises for the next message or for N JSON messages of one op.
import net from 'node:net';

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
