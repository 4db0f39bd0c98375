// Reference server for bench/compare.sh: what a Node user would write with the `ws` package.
// /echo echoes every message; /ws speaks the part of shoal.v1 the load generator uses (sub ->
// "subscribed", pub -> "ack" and a "msg" with the topic's next sequence number to every
// subscriber, the JSON built once per message and sent as the same Buffer to each). One process,
// one thread, no compression. usage: node server.mjs PORT
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2] ?? 8090);
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false, maxPayload: 64 << 20 });
const topics = new Map();  // name -> { seq, subscribers: Set<WebSocket> }

function topic(name) {
  let t = topics.get(name);
  if (!t) {
    t = { seq: 0, subscribers: new Set() };
    topics.set(name, t);
  }
  return t;
}

wss.on('connection', (ws, req) => {
  if (req.url === '/echo') {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    return;
  }
  const mine = new Set();
  ws.on('message', (data) => {
    let m;
    try {
      m = JSON.parse(data);
    } catch {
      ws.send(JSON.stringify({ op: 'error', code: 'bad_json', message: 'not JSON' }));
      return;
    }
    if (m.op === 'sub') {
      const t = topic(m.topic);
      t.subscribers.add(ws);
      mine.add(m.topic);
      ws.send(JSON.stringify({ op: 'subscribed', topic: m.topic, seq: t.seq }));
    } else if (m.op === 'pub') {
      const t = topic(m.topic);
      const seq = ++t.seq;
      const frame = Buffer.from(JSON.stringify({ op: 'msg', topic: m.topic, seq, data: m.data }));
      for (const s of t.subscribers) s.send(frame, { binary: false });
      ws.send(JSON.stringify({ op: 'ack', topic: m.topic, seq }));
    }
  });
  ws.on('close', () => {
    for (const name of mine) topics.get(name)?.subscribers.delete(ws);
  });
});

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
