"""Integration: delivery guarantees of the shoal.v1 endpoint under pipelined load, across shards
(issue 14: messages lost between shards under a publish burst).

Each test starts its own server with 2 shards and drives it with raw clients (rawws.RawClient)
that write whole request streams without waiting for answers while one select loop reads every
connection. What is asserted: every request with an id gets exactly one answer, in request order
per connection; every subscriber, on either shard, gets every message of its topics exactly once
and in sequence with no gap notice unless it was a slow consumer; a gap notice arrives even when
no later message follows; `--history-bytes 0` serves live traffic and answers resumes `too_old`.

Deterministic by construction: connections are spread over the shards by learning each one's
shard from the per-shard gauge, topic names are many enough to be homed on both shards, and every
wait polls against a generous deadline. Completion is decided by barriers, never by quiet time: a
connection's answers are complete once the acks of publishes sent after them, to topics homed on
both shards, are in; a subscriber's stream is complete once a marker published after the burst
has reached it (a topic's deliveries arrive in sequence order).
"""
import itertools
import json
import re
import select
import threading
import time
import unittest
from collections import Counter, defaultdict

from harness import Server, http_get
from rawws import RawClient, frame

DEADLINE = 60.0  # seconds any single wait may take before the test fails
MiB = 1 << 20
GENEROUS = str(256 * MiB)  # a slow-consumer limit no test traffic reaches: no policy applies

# Publishes per publisher in the bursts of 4 pipelining publishers: 60,000 in all, several times
# the 16,384 entries of a cross-shard mailbox (gateway/server.cpp). Measured on today's server
# (2 cores, ASan): at 5,000 each it kept up on a quiet machine, at 10,000 it lost deliveries in
# most runs, at 15,000 and 20,000 in every run. A passing run takes 4-5 s (20,000: 5-7 s, and
# 20 s on a machine busy with other builds).
BURST = 15_000

# Barrier topics: eight names, so that both shards home some whatever the hash (today's
# std::hash puts 5 on shard 0 and 3 on shard 1).
BARRIER_TOPICS = [f"barrier.{i}" for i in range(8)]


def encode(*requests):
    """Masked text frames, one per request: a dict goes as compact JSON, a str as it is (for
    malformed requests)."""
    return b"".join(
        frame(0x1, (r if isinstance(r, str) else json.dumps(r, separators=(",", ":"))).encode())
        for r in requests)


class Peer:
    """A shoal.v1 connection. A request stream may be written by a background thread
    (write_async) while pump() files what arrives: answers (messages with an id), deliveries and
    gap notices per topic, and everything in arrival order."""

    def __init__(self, port, rcvbuf=None):
        self.raw = RawClient(port, "/ws", {"Sec-WebSocket-Protocol": "shoal.v1"},
                             timeout=DEADLINE, rcvbuf=rcvbuf)
        assert self.raw.headers.get("sec-websocket-protocol") == "shoal.v1", self.raw.headers
        self.shard = None           # learnt by DeliveryTest.open_spread
        self.inbox = []             # every message, decoded, in arrival order
        self.answers = []           # messages with an id, in arrival order
        self.deliveries = defaultdict(list)  # topic -> msg messages, in arrival order
        self.gaps = defaultdict(list)        # topic -> gap notices, in arrival order
        self.ended = None           # why the server ended the connection, once it did
        self._writer = None
        self._write_error = None

    def fileno(self):
        return self.raw.sock.fileno()

    def send(self, *requests):
        self.raw.sock.sendall(encode(*requests))

    def write_async(self, data):
        """Writes `data` from a thread, so that this connection's answers are read meanwhile
        (the server stops reading a connection whose answers are not read)."""
        def write():
            try:
                self.raw.sock.sendall(data)
            except OSError as e:
                self._write_error = e
        self._writer = threading.Thread(target=write, daemon=True)
        self._writer.start()

    def writer_done(self):
        if self._write_error:
            raise AssertionError(f"writing the request stream failed: {self._write_error!r}")
        return self._writer is None or not self._writer.is_alive()

    def pump(self):
        """Reads what the socket has (called when select says it is readable)."""
        try:
            chunk = self.raw.sock.recv(1 << 20)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.ended = self.ended or "the server closed TCP"
            return
        self.raw.buf += chunk
        texts = []
        for fin, opcode, payload in self.raw.take_frames():
            if opcode == 0x8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                self.ended = f"the server sent Close {code} {payload[2:]!r}"
            elif opcode == 0x1:
                assert fin, "the server fragments no message"
                texts.append(payload)
            # else a ping: heartbeats are off (--ping-interval 0); nothing else is expected
        # One JSON array per read: the same values as a loads() per message, a fraction of
        # the interpreter time (a burst brings hundreds of thousands of messages).
        for msg in json.loads(b"[" + b",".join(texts) + b"]"):
            self.inbox.append(msg)
            if "id" in msg:
                self.answers.append(msg)
            elif msg["op"] == "msg":
                self.deliveries[msg["topic"]].append(msg)
            elif msg["op"] == "gap":
                self.gaps[msg["topic"]].append(msg)

    def last_seq(self, topic):
        got = self.deliveries[topic]
        return got[-1]["seq"] if got else 0

    def close(self):
        self.raw.close()


def pump_until(peers, done, what, timeout=DEADLINE, fail=True):
    """Reads every peer until done() holds. Past `timeout` fails the test naming `what` (or,
    with fail=False, returns False). A peer the server closes fails it at once."""
    end = time.monotonic() + timeout
    by_fd = {p.fileno(): p for p in peers}
    while not done():
        for p in peers:
            if p.ended:
                shard = "unknown" if p.shard is None else p.shard
                raise AssertionError(f"while waiting for {what}: {p.ended} (a connection on shard {shard})")
        left = end - time.monotonic()
        if left <= 0:
            if fail:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
            return False
        readable, _, _ = select.select(list(by_fd), [], [], min(left, 0.2))
        for fd in readable:
            by_fd[fd].pump()
    return True


def ws_per_shard(port):
    """The per-shard gauge shoal_websocket_connections, as {shard label: open connections}."""
    _, _, body = http_get(port, "/metrics")
    counts = {}
    for line in body.decode().splitlines():
        m = re.match(r'shoal_websocket_connections\{shard="(\d+)"\} (\d+)', line)
        if m:
            counts[m.group(1)] = int(m.group(2))
    return counts


def wait_gauge(port, want, what):
    end = time.monotonic() + DEADLINE
    while True:
        counts = ws_per_shard(port)
        if want(counts):
            return counts
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for the connection gauge: {what} ({counts})")
        time.sleep(0.01)


def answer_summary(answers):
    return dict(Counter((a["op"], a.get("code")) for a in answers))


def pub_stream(topic, items, id_prefix):
    """Publish requests for `items` (each a data value) to `topic`, ids f"{id_prefix}{k}"."""
    return [{"op": "pub", "topic": topic, "data": d, "id": f"{id_prefix}{k}"}
            for k, d in enumerate(items)]


class DeliveryTest(unittest.TestCase):
    """Helpers: a server per test (stopped and checked in clean-up), connections spread over its
    shards, barriers, markers and the checks of a subscriber's stream."""

    def start_server(self, *flags):
        # Heartbeat pings off: request streams are written by one thread while another reads,
        # and a pong would have to be spliced into the stream.
        server = Server("--ping-interval", "0", *flags)
        self.peers = []
        self.known = None  # per-shard WebSocket connections this test holds, as the gauge says
        self.addCleanup(self.stop_cleanly, server)
        return server

    def stop_cleanly(self, server):
        """The server must have survived the test and exit 0 without a sanitizer report."""
        for p in self.peers:
            p.close()
        alive = server.proc.poll() is None
        if alive:
            server.signal()
        code, err = server.wait(timeout=40)
        report = [l for l in err.splitlines() if "Sanitizer" in l or "runtime error" in l or
                  re.match(r"\s+#\d ", l)][:8]
        self.assertTrue(alive, f"the server died during the test (exit {code}): " + "\n".join(report))
        self.assertEqual(code, 0, f"the server exited with {code}: " + "\n".join(report))
        self.assertEqual(report, [], "sanitizer report")

    def open_peer(self, server, **peer_kw):
        peer = Peer(server.port, **peer_kw)
        self.peers.append(peer)
        return peer

    def open_spread(self, server, per_shard, **peer_kw):
        """Opens connections until every shard holds `per_shard` of them; returns those, each
        with its .shard. The kernel's SO_REUSEPORT hash picks the shard, so the test cannot;
        it learns each connection's shard from the per-shard gauge (every open and close is this
        test's own, one at a time, so each change of the gauge is the connection just opened)
        and closes the extras. 2**-60-unlikely to need more than 64 connections."""
        port = server.port
        if self.known is None:
            self.known = wait_gauge(port, lambda c: sum(c.values()) == 0, "no connections yet")
        kept = {shard: [] for shard in self.known}
        extras = []
        while not all(len(v) >= per_shard for v in kept.values()):
            if len(extras) >= 64:
                self.fail(f"64 extra connections and still not {per_shard} on every shard")
            peer = self.open_peer(server, **peer_kw)
            total = sum(self.known.values()) + 1
            now = wait_gauge(port, lambda c: sum(c.values()) == total, "one more connection")
            (peer.shard,) = [s for s in now if now[s] == self.known[s] + 1]
            self.known = now
            if len(kept[peer.shard]) < per_shard:
                kept[peer.shard].append(peer)
            else:
                extras.append(peer)
        for peer in extras:
            peer.close()
            self.peers.remove(peer)
            self.known[peer.shard] -= 1
        expected = dict(self.known)
        wait_gauge(port, lambda c: c == expected, "the extra connections to close")
        return [p for v in kept.values() for p in v]

    def subscribe(self, peers, topics):
        """Subscribes every peer to every topic (pipelined); returns {topic: subscribed seq},
        checking that all peers got the same."""
        for i, peer in enumerate(peers):
            peer.send(*({"op": "sub", "topic": t, "id": f"sub:{i}:{t}"} for t in topics))
        pump_until(peers, lambda: all(len(p.answers) >= len(topics) for p in peers),
                   "the subscribe answers")
        base = {}
        for peer in peers:
            for a in peer.answers:
                self.assertEqual(a["op"], "subscribed", a)
                self.assertEqual(base.setdefault(a["topic"], a["seq"]), a["seq"])
            peer.answers.clear()
        return base

    def burst(self, streams, readers):
        """Writes each (peer, requests) stream from its own thread, reads `readers` (and the
        writers) until every request is answered; returns {peer: its answers}."""
        writers = [peer for peer, _ in streams]
        want = {peer: len(peer.answers) + len(reqs) for peer, reqs in streams}
        for peer, reqs in streams:
            peer.write_async(encode(*reqs))
        everyone = list(dict.fromkeys(writers + readers))
        pump_until(everyone, lambda: all(p.writer_done() and len(p.answers) >= want[p]
                                         for p in writers), "an answer to every publish")
        return {peer: list(peer.answers) for peer in writers}

    def barrier(self, peer):
        """Publishes once to each barrier topic from `peer` and waits for the acks, which it
        removes from peer.answers. Answers of a connection come in request order (what these
        tests assert), and even where they do not, an answer is made either at once or by the
        topic's home shard, across a FIFO mailbox: either way every answer to an earlier request
        has arrived once these acks have."""
        tag = f"barrier:{len(peer.answers)}:"
        peer.send(*({"op": "pub", "topic": t, "data": "barrier", "id": tag + t}
                    for t in BARRIER_TOPICS))
        ids = {tag + t for t in BARRIER_TOPICS}
        pump_until([peer], lambda: ids <= {a["id"] for a in peer.answers}, "the barrier acks")
        peer.answers[:] = [a for a in peer.answers if a["id"] not in ids]

    def settle(self, publisher, subscribers, topics, others=()):
        """Waits until every subscriber has received, on every topic, a message published after
        everything else: deliveries of a topic arrive in sequence order, so from then on every
        earlier message of it has been delivered, or will never be. On a server that loses the
        marker too, another is published (this polls; it assumes no rate). `others` are read
        meanwhile but not waited for."""
        readers = [publisher, *subscribers, *others]
        end = time.monotonic() + DEADLINE
        for k in itertools.count():
            before = len(publisher.answers)
            publisher.send(*({"op": "pub", "topic": t, "data": {"marker": k},
                              "id": f"marker:{k}:{t}"} for t in topics))
            pump_until(readers, lambda: len(publisher.answers) >= before + len(topics), "the marker acks")
            acks = publisher.answers[before:]
            del publisher.answers[before:]
            self.assertEqual(answer_summary(acks), {("ack", None): len(topics)})
            seq = {a["topic"]: a["seq"] for a in acks}
            if pump_until(readers,
                          lambda: all(s.last_seq(t) >= seq[t] for s in subscribers for t in topics),
                          "the markers", timeout=min(2.0, max(0.0, end - time.monotonic())),
                          fail=False):
                return
            if time.monotonic() > end:
                raise AssertionError(f"no marker reached every subscriber within {DEADLINE:.0f} s")

    def stream_problems(self, sub, topic, base, published):
        """What is wrong with what `sub` received on `topic` after subscribing at seq `base`:
        `published` maps each publisher's key to the data values it sent, in order (data
        {"p": key, "i": index}; the interleaving of publishers is the server's choice). Markers
        count in the sequence check, not in the comparison. Returns (messages missing, findings);
        no findings when all is well."""
        findings = []
        gaps = sub.gaps[topic]
        if gaps:
            findings.append(f"{len(gaps)} gap notices {[(g['from'], g['to']) for g in gaps[:3]]}")
        seqs = [m["seq"] for m in sub.deliveries[topic]]
        if seqs != list(range(base + 1, base + 1 + len(seqs))):
            k = next((i for i, s in enumerate(seqs) if s != base + 1 + i), len(seqs))
            findings.append(f"seq not consecutive from {base + 1}: message {k} has seq "
                            f"{seqs[k] if k < len(seqs) else None}, not {base + 1 + k}")
        got = defaultdict(list)
        for m in sub.deliveries[topic]:
            if "marker" not in m["data"]:
                got[m["data"]["p"]].append(m["data"]["i"])
        missing = 0
        for key, items in published.items():
            want, have = [d["i"] for d in items], got[key]
            if have != want:
                lost = len(set(want) - set(have))
                missing += lost
                findings.append(f"publisher {key}: {len(have)} of {len(want)} received, {lost} "
                                f"missing, {len(have) - len(set(have))} twice"
                                f"{'' if have == sorted(have) else ', out of order'}")
        return missing, findings

    def assert_streams_complete(self, subs, topics, base, published):
        """Every subscriber got every message of every topic once, in order, and no gap notice.
        published: topic -> {publisher key -> data values in send order}."""
        bad, missing, by_shard = [], 0, Counter()
        for i, sub in enumerate(subs):
            for t in topics:
                lost, findings = self.stream_problems(sub, t, base[t], published[t])
                if findings:
                    bad.append(f"subscriber {i} (shard {sub.shard}) on {t}: " + "; ".join(findings))
                    missing += lost
                    by_shard[sub.shard] += 1
        if bad:
            self.fail(f"{len(bad)} of {len(subs) * len(topics)} subscriber streams incomplete, "
                      f"{missing} messages missing in all; incomplete streams by the "
                      f"subscriber's shard: {dict(by_shard)}; first:\n  " + "\n  ".join(bad[:6]))


class Delivery(DeliveryTest):
    def test_pipelined_burst_to_one_topic_reaches_every_subscriber(self):
        server = self.start_server("--slow-consumer-limit", GENEROUS)
        self.check_pipelined_burst(server, BURST)

    def test_a_tiny_queue_bound_holds_publishers_and_loses_nothing(self):
        # Every value the config accepts must work: with 1 byte allowed between shards, every
        # publish to the other shard holds its publisher until the queue empties. Slow, but
        # still every publish acknowledged and every message delivered, in order.
        server = self.start_server("--slow-consumer-limit", GENEROUS, "--queue-bytes", "1")
        self.check_pipelined_burst(server, 1500)
        metrics = http_get(server.port, "/metrics")[2].decode()
        held = sum(int(line.split()[-1]) for line in metrics.splitlines()
                   if line.startswith("shoal_publishers_held_total{"))
        self.assertGreater(held, 0, "publishers were held at the bound")
        self.assertNotRegex(metrics, r"shoal_internal_gaps_total\{[^}]*\} [1-9]")

    def check_pipelined_burst(self, server, n):
        topic = "burst.t"
        subs = self.open_spread(server, 4)  # 8 subscribers, 4 on each shard
        pubs = self.open_spread(server, 2)  # 4 publishers, 2 on each shard
        base = self.subscribe(subs, [topic])
        published = {p: [{"p": p, "i": i} for i in range(n)] for p in range(len(pubs))}
        streams = [(peer, pub_stream(topic, published[p], f"{p}:")) for p, peer in enumerate(pubs)]
        answers = self.burst(streams, subs)
        problems = []
        for p, (peer, reqs) in enumerate(streams):
            got = answers[peer]
            if answer_summary(got) != {("ack", None): n}:
                problems.append(f"publisher {p} (shard {peer.shard}): {answer_summary(got)}")
            if [a["id"] for a in got] != [r["id"] for r in reqs]:
                k = next((i for i, (a, r) in enumerate(zip(got, reqs)) if a["id"] != r["id"]),
                         min(len(got), len(reqs)))
                problems.append(f"publisher {p}: answer {k} is {got[k] if k < len(got) else None}"
                                f", where the answer to {reqs[k]['id']} was due")
        self.assertEqual(problems, [], "publishers' answers")
        seqs = sorted(a["seq"] for peer in pubs for a in answers[peer])
        self.assertEqual(seqs, list(range(base[topic] + 1, base[topic] + 1 + len(pubs) * n)))
        self.settle(pubs[0], subs, [topic])
        self.assert_streams_complete(subs, [topic], base, {topic: published})

    def test_hot_topic_does_not_cost_quiet_topics(self):
        server = self.start_server("--slow-consumer-limit", GENEROUS)
        n_hot, per_quiet = BURST, 3
        quiet = [f"quiet.{q:02d}" for q in range(99)]  # today's hash: 49 on shard 0, 50 on 1
        quiet_subs = self.open_spread(server, 2)
        hot_subs = self.open_spread(server, 4)  # the hot topic's deliveries cross shards too
        pubs = self.open_spread(server, 2)
        base = self.subscribe(quiet_subs, quiet)
        base.update(self.subscribe(hot_subs, ["hot"]))
        # Each quiet topic has one publisher, whose few publishes are spread evenly through its
        # flood of hot ones, so that they meet the flood in every mailbox.
        published = {t: {0: [{"p": 0, "i": i} for i in range(per_quiet)]} for t in quiet}
        streams = []
        for p, peer in enumerate(pubs):
            mine = [(t, d) for i in range(per_quiet) for t in quiet[p::len(pubs)]
                    for d in [published[t][0][i]]]
            hot = pub_stream("hot", [{"p": p, "i": i} for i in range(n_hot)], f"hot:{p}:")
            every = n_hot // len(mine)
            reqs = []
            for i, r in enumerate(hot):
                reqs.append(r)
                if i % every == 0 and i // every < len(mine):
                    t, d = mine[i // every]
                    reqs.append({"op": "pub", "topic": t, "data": d, "id": f"quiet:{t}:{d['i']}"})
            streams.append((peer, reqs))
        answers = self.burst(streams, quiet_subs + hot_subs)
        quiet_answers = [a for peer in pubs for a in answers[peer] if a["id"].startswith("quiet:")]
        self.assertEqual(answer_summary(quiet_answers), {("ack", None): len(quiet) * per_quiet},
                         "every quiet publish is acknowledged")
        self.settle(pubs[0], quiet_subs, quiet, others=hot_subs)
        self.assert_streams_complete(quiet_subs, quiet, base, published)

    def test_subscribe_then_unsubscribe_answers_both_in_order(self):
        server = self.start_server()
        topics = [f"pair.{i:02d}" for i in range(40)]  # today's hash: 15 on shard 0, 25 on 1
        peer = self.open_peer(server)
        reqs = []
        for t in topics:
            reqs += [{"op": "sub", "topic": t, "id": f"sub:{t}"},
                     {"op": "unsub", "topic": t, "id": f"unsub:{t}"}]
        peer.send(*reqs)
        self.barrier(peer)
        got = [(a["op"], a["id"]) for a in peer.answers]
        want = [("subscribed" if r["op"] == "sub" else "unsubscribed", r["id"]) for r in reqs]
        lost = [i for op, i in want if (op, i) not in got]
        self.assertEqual(got, want, f"{len(got)} answers for {len(reqs)} requests, "
                         f"{len(lost)} lost (first {lost[:5]}), {answer_summary(peer.answers)}")

    def test_answers_come_in_request_order(self):
        server = self.start_server()
        pub_topics = [f"mix.{i}" for i in range(8)]  # today's hash: 3 on shard 0, 5 on 1
        peer = self.open_peer(server)
        reqs, want = [], []
        for k in range(240):
            rid = f"r{k}"
            kind = k % 8
            if kind in (0, 2, 4, 6):
                reqs.append({"op": "pub", "topic": pub_topics[(k // 2) % 8], "data": k, "id": rid})
                want.append(("ack", None))
            elif kind == 1:
                reqs.append({"op": "sub", "topic": f"mixsub.{k:03d}", "id": rid})
                want.append(("subscribed", None))
            elif kind == 3:
                reqs.append({"op": "unsub", "topic": f"never.{k:03d}", "id": rid})
                want.append(("error", "not_subscribed"))
            elif kind == 5:
                reqs.append(f'{{"op":"dance","topic":"t","id":"{rid}"}}')
                want.append(("error", "bad_message"))
            else:
                reqs.append(f'{{"op":"pub","topic":"bad topic!","data":1,"id":"{rid}"}}')
                want.append(("error", "bad_topic"))
        peer.send(*reqs)
        self.barrier(peer)
        ids = [f"r{k}" for k in range(len(reqs))]
        got_ids = [a["id"] for a in peer.answers]
        self.assertEqual(sorted(Counter(got_ids).values()), [1] * len(ids),
                         "every request gets exactly one answer")
        first = next((i for i, (g, w) in enumerate(zip(got_ids, ids)) if g != w), None)
        self.assertEqual(got_ids, ids, f"answers out of request order, first at {first}: "
                         f"{peer.answers[first] if first is not None else None} where "
                         f"{reqs[first] if first is not None else None} was due")
        self.assertEqual([(a["op"], a.get("code")) for a in peer.answers], want)

    def test_history_bytes_zero_means_live_only(self):
        server = self.start_server("--history-bytes", "0")
        topic, n = "live.t", 300
        subs = self.open_spread(server, 2)
        pub = self.open_peer(server)
        base = self.subscribe(subs, [topic])
        published = {0: [{"p": 0, "i": i} for i in range(n)]}
        answers = self.burst([(pub, pub_stream(topic, published[0], "live:"))], subs)
        self.assertEqual(answer_summary(answers[pub]), {("ack", None): n})
        self.settle(pub, subs, [topic])
        self.assert_streams_complete(subs, [topic], base, {topic: published})
        # Nothing is kept, so a resume from before the last message is too old; the
        # subscription starts anyway.
        last = subs[0].last_seq(topic)
        late = self.open_peer(server)
        late.send({"op": "sub", "topic": topic, "since": last - 10, "id": "resume"})
        pump_until([late], lambda: any(m["op"] == "too_old" for m in late.inbox), "too_old")
        subscribed, too_old = late.inbox[:2]
        self.assertEqual((subscribed["op"], subscribed["id"], subscribed["seq"]),
                         ("subscribed", "resume", last))
        self.assertEqual((too_old["op"], too_old["topic"], too_old["since"]),
                         ("too_old", topic, last - 10))
        self.assertGreater(too_old["oldest"], last, "no message is held")
        self.assertEqual(late.deliveries[topic], [], "nothing is replayed")
        pub.send({"op": "pub", "topic": topic, "data": "after", "id": "after"})
        pump_until([pub, late], lambda: late.last_seq(topic) == last + 1, "the next message")
        self.assertIsNone(server.proc.poll(), "the server is still running")

    def test_gap_notice_arrives_without_a_later_message(self):
        limit = str(64 * 1024)
        server = self.start_server("--policy", "drop", "--high-watermark", limit,
                                   "--slow-consumer-limit", limit)
        # Slow readers, one on each shard: a 4 KiB receive buffer, not read during the burst.
        # Besides the slow-consumer limit, the server's kernel send buffer holds what the reader
        # has not taken, and autotuning grows it up to tcp_wmem's maximum: a burst of twice
        # that overruns the limit whatever the kernel does.
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            wmem_max = int(f.read().split()[2])
        size = 16 * 1024
        topic, n = "slow.t", 2 * wmem_max // size
        slow = self.open_spread(server, 1, rcvbuf=4096)
        pub = self.open_peer(server)
        base = self.subscribe(slow, [topic])[topic]
        blob = "x" * size
        answers = self.burst([(pub, pub_stream(topic, [{"i": i, "blob": blob} for i in range(n)],
                                               "slow:"))], readers=[])
        self.assertEqual(answer_summary(answers[pub]), {("ack", None): n})
        # No further publishes: what was skipped must be reported once the readers catch up.
        def accounted(peer):
            ends = [m["seq"] for m in peer.deliveries[topic]] + [g["to"] for g in peer.gaps[topic]]
            return max(ends, default=base)
        pump_until(slow, lambda: all(accounted(s) >= base + n for s in slow),
                   "deliveries and gap notices covering the whole burst")
        for s in slow:
            covered, delivered = [], 0
            for m in s.inbox:
                if m["op"] == "msg":
                    self.assertEqual(m["data"]["i"], m["seq"] - base - 1)
                    covered.append((m["seq"], m["seq"]))
                    delivered += 1
                elif m["op"] == "gap":
                    covered.append((m["from"], m["to"]))
            self.assertTrue(s.gaps[topic], f"shard {s.shard}: the burst should have overrun it")
            self.assertLess(delivered, n)
            starts = [a for a, _ in covered]
            ends = [b for _, b in covered]
            self.assertEqual(starts, [base + 1] + [b + 1 for b in ends[:-1]],
                             f"shard {s.shard}: messages and gaps cover the burst once, in order")
            self.assertEqual(ends[-1], base + n)


if __name__ == "__main__":
    unittest.main()
