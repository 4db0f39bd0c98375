// The status page's code (status.html): polls /metrics.json once a second, turns counters into
// per-second rates between two answers of the same server process (by the server's own clock),
// and draws the last two minutes as inline SVG, one line per node and shard. Answers from
// several nodes (a page behind a balancer) are kept apart by node name. No framework.

const POLL_MS = 1000;
const WINDOW_MS = 120_000;
const STALE_MS = 10_000;  // a node not heard from for this long leaves the totals
const SVG = 'http://www.w3.org/2000/svg';
const PALETTE = ['#2f6fde', '#d9480f', '#2b8a3e', '#9c36b5', '#e67700', '#0b7285', '#c2255c', '#5c940d'];

// Figures that are counters (charted and shown as rates) and gauges (shown as they are).
const RATES = ['messages_in', 'messages_out', 'deliveries', 'drops', 'gaps', 'bytes_in', 'bytes_out'];

// The charts: which figure each line shows; rate figures end in "_rate".
const CHARTS = [
  { id: 'chart-connections', lines: [['websocket_connections', '']] },
  { id: 'chart-messages', lines: [['messages_in_rate', 'in'], ['messages_out_rate', 'out']] },
  { id: 'chart-deliveries', lines: [['deliveries_rate', '']] },
  { id: 'chart-losses', lines: [['drops_rate', 'drops'], ['gaps_rate', 'gaps']] },
  { id: 'chart-buffered', lines: [['buffered_bytes', '']] },
];

// node name -> { answer, uptime, heard, shards: [{ figures }], total: { figures }, points: Map }
const nodes = new Map();
let polls = 0;

function $(id) { return document.getElementById(id); }

function format(v) {
  if (!Number.isFinite(v)) return '—';
  if (Math.abs(v) >= 1e9) return (v / 1e9).toFixed(2) + ' G';
  if (Math.abs(v) >= 1e6) return (v / 1e6).toFixed(2) + ' M';
  if (Math.abs(v) >= 1e4) return (v / 1e3).toFixed(1) + ' k';
  if (Number.isInteger(v)) return String(v);
  return v < 10 ? v.toFixed(1) : String(Math.round(v));
}

function duration(ms) {
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + (d || h || m ? m + 'm ' : '') + (s % 60) + 's';
}

// Gauges as they are, plus a rate for each counter of RATES (0 when there is no earlier answer).
function figures(now, before, dt) {
  const out = { ...now };
  for (const name of RATES) {
    const rate = before && dt > 0 ? (now[name] - before[name]) / dt : 0;
    out[name + '_rate'] = rate > 0 ? rate : 0;
  }
  return out;
}

function record(answer) {
  const name = answer.cluster ? answer.cluster.node : 'this node';
  const last = nodes.get(name);
  // Same process (uptime did not go back): rates over the server's clock; else start over.
  const same = last && answer.server.uptime_ms >= last.answer.server.uptime_ms;
  const dt = same ? (answer.server.time_ms - last.answer.server.time_ms) / 1000 : 0;
  const node = {
    answer,
    heard: Date.now(),
    total: figures(answer.total, same ? last.answer.total : null, dt),
    shards: answer.shards.map((s, i) => figures(s, same ? last.answer.shards[i] : null, dt)),
    points: same ? last.points : new Map(),
  };
  if (same && dt <= 0) return;  // the same instant again: nothing new
  const t = answer.server.time_ms;
  node.shards.forEach((s, i) => {
    for (const chart of CHARTS) {
      for (const [figure] of chart.lines) {
        const key = `${figure}|${i}`;
        const list = node.points.get(key) ?? [];
        if (same || figure.endsWith('_rate') === false) list.push([t, s[figure]]);
        while (list.length && list[0][0] < t - WINDOW_MS) list.shift();
        node.points.set(key, list);
      }
    }
  });
  nodes.set(name, node);
}

function liveNodes() {
  const now = Date.now();
  return [...nodes.entries()].filter(([, n]) => now - n.heard < STALE_MS);
}

function renderTiles(live) {
  const sum = {};
  for (const [, n] of live)
    for (const [k, v] of Object.entries(n.total)) if (typeof v === 'number') sum[k] = (sum[k] ?? 0) + v;
  for (const el of document.querySelectorAll('[data-metric]')) {
    const v = sum[el.dataset.metric] ?? 0;
    el.dataset.value = String(v);
    el.textContent = format(v);
  }
}

function renderHeader(live) {
  const names = live.map(([name]) => name);
  $('node-name').textContent = names.length ? names.join(', ') : '—';
  const newest = live.map(([, n]) => n.answer).sort((a, b) => b.server.time_ms - a.server.time_ms)[0];
  if (!newest) return;
  const c = newest.cluster;
  const parts = [
    `version ${newest.server.version}`,
    `up ${duration(newest.server.uptime_ms)}`,
    `${newest.server.shards} shard${newest.server.shards === 1 ? '' : 's'}`,
    c ? `cluster link ${c.link_up ? 'up' : 'DOWN'}` : 'single node',
    newest.server.draining ? 'DRAINING' : 'serving',
    `server time ${new Date(newest.server.time_ms).toISOString()}`,
  ];
  $('server-line').textContent = parts.join(' · ');
}

function cell(row, text) {
  const td = document.createElement('td');
  td.textContent = text;
  row.append(td);
}

function renderTables(live) {
  const body = $('shard-table').tBodies[0];
  body.replaceChildren();
  for (const [name, n] of live) {
    n.shards.forEach((s, i) => {
      const row = document.createElement('tr');
      row.dataset.node = name;
      row.dataset.shard = String(i);
      for (const text of [name, i, s.connections, s.websocket_connections, format(s.messages_in_rate),
                          format(s.messages_out_rate), format(s.deliveries_rate), s.drops, s.gaps,
                          format(s.buffered_bytes), s.paused_reads, format(s.shard_queue_bytes)])
        cell(row, String(text));
      body.append(row);
    });
  }
  const closes = {};
  for (const [, n] of live)
    for (const [code, count] of Object.entries(n.answer.total.closes)) closes[code] = (closes[code] ?? 0) + count;
  const cbody = $('close-table').tBodies[0];
  cbody.replaceChildren();
  for (const code of Object.keys(closes).sort()) {
    const row = document.createElement('tr');
    row.dataset.code = code;
    cell(row, code);
    cell(row, String(closes[code]));
    cbody.append(row);
  }
}

function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

// One chart: a polyline per node, shard and figure over the last WINDOW_MS, the y scale from 0
// to the largest value shown, and a legend.
function renderChart(chart, live) {
  const figure = $(chart.id);
  const W = 480, H = 140, L = 52, B = 18;
  const lines = [];
  const newest = Math.max(0, ...live.map(([, n]) => n.answer.server.time_ms));
  for (const [name, n] of live) {
    n.shards.forEach((_, i) => {
      for (const [fig, label] of chart.lines) {
        const points = n.points.get(`${fig}|${i}`) ?? [];
        const who = (live.length > 1 ? `${name} ` : '') + `shard ${i}` + (label ? ` ${label}` : '');
        lines.push({ who, points, dashed: label === 'out' || label === 'gaps' });
      }
    });
  }
  const max = Math.max(1, ...lines.flatMap((l) => l.points.map((p) => p[1])));
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'data-max': max });
  root.append(svg('line', { x1: L, y1: H - B, x2: W, y2: H - B, class: 'axis' }));
  root.append(svg('line', { x1: L, y1: 4, x2: L, y2: H - B, class: 'axis' }));
  const top = svg('text', { x: L - 4, y: 12, 'text-anchor': 'end', class: 'label' });
  top.textContent = format(max);
  const zero = svg('text', { x: L - 4, y: H - B, 'text-anchor': 'end', class: 'label' });
  zero.textContent = '0';
  const left = svg('text', { x: L, y: H - 4, class: 'label' });
  left.textContent = `−${WINDOW_MS / 1000} s`;
  const right = svg('text', { x: W, y: H - 4, 'text-anchor': 'end', class: 'label' });
  right.textContent = 'now';
  root.append(top, zero, left, right);
  const legend = document.createElement('ul');
  legend.className = 'legend';
  lines.forEach((l, k) => {
    const color = PALETTE[k % PALETTE.length];
    if (l.points.length) {
      const coords = l.points.map(([t, v]) => {
        const x = L + ((t - (newest - WINDOW_MS)) / WINDOW_MS) * (W - L);
        const y = H - B - (v / max) * (H - B - 6);
        return `${x.toFixed(1)},${y.toFixed(1)}`;
      });
      const attrs = { points: coords.join(' '), fill: 'none', stroke: color, 'stroke-width': 1.5,
                      'data-series': l.who, 'data-last': l.points[l.points.length - 1][1] };
      if (l.dashed) attrs['stroke-dasharray'] = '4 3';
      root.append(svg('polyline', attrs));
    }
    const item = document.createElement('li');
    const swatch = svg('svg', { width: 12, height: 12, viewBox: '0 0 12 12' });
    swatch.append(svg('rect', { width: 12, height: 12, fill: color }));
    item.append(swatch, ` ${l.who}`);
    legend.append(item);
  });
  figure.querySelector('svg')?.remove();
  figure.querySelector('ul')?.remove();
  figure.append(root, legend);
}

function render() {
  const live = liveNodes();
  renderHeader(live);
  renderTiles(live);
  renderTables(live);
  for (const chart of CHARTS) renderChart(chart, live);
}

function setState(state, text) {
  const el = $('poll-state');
  el.dataset.state = state;
  el.textContent = text;
}

async function poll() {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 5000);
  try {
    const answer = await fetch('/metrics.json', { cache: 'no-store', signal: abort.signal });
    if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
    record(await answer.json());
    polls += 1;
    $('poll-count').dataset.value = String(polls);
    $('poll-count').textContent = String(polls);
    setState('ok', 'live');
  } catch (e) {
    setState('error', `no answer from the server (${e.message}); retrying`);
  } finally {
    clearTimeout(timer);
  }
  render();
  setTimeout(poll, POLL_MS);
}

poll();
