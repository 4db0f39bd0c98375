"""Integration: several Shoal nodes as one gateway through NATS JetStream (issue 15), each line
of the README's cluster contract against real processes on loopback: nats-server with JetStream
(one server, or a 3-server cluster with an R3 stream), Shoal nodes, and HAProxy in TCP mode in
front of them health-checking /readyz (tests/integration/cluster_harness.py).

What is asserted, per test:
- a message published on any node (WebSocket or POST /publish) reaches every subscriber on
  every node, and every subscriber sees the same contiguous sequence numbers in the same order,
  with publishers on different nodes at once;
- `since` works against any node: a client that resumes on another node gets exactly what it
  missed, then live messages, with no duplicate;
- kill -9 of a node in the middle of a stream: its clients reconnect through HAProxy to the
  others and resume; nothing acknowledged is lost, nothing is duplicated;
- NATS unavailable: publishes are refused with `unavailable` (HTTP 503), /readyz and the link
  metric say so, subscribers keep their connections and get what is published once NATS is back;
- a node cut off from NATS while others publish catches up from the stream, and stopping one
  NATS server of three loses nothing acknowledged.

Every wait polls against a generous deadline; completion is decided by sequence numbers (a
subscriber is done once it holds the last acknowledged one), never by quiet time.
"""
import asyncio
import json
import signal
import unittest

import websockets

from cluster_harness import ClusterTestCase, wait_until
from harness import http_request

DEADLINE = 90.0  # seconds any single wait may take


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=4 * DEADLINE))


class Client:
    """A shoal.v1 connection whose reader files every message: answers by id, deliveries (seq,
    data) and gaps per topic. `closed` is set when the server closes it."""

    def __init__(self, ws):
        self.ws = ws
        self.answers = {}
        self.msgs = {}
        self.gaps = []
        self.other = []
        self.closed = asyncio.Event()
        self.changed = asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, url):
        ws = await websockets.connect(url + "/ws", subprotocols=["shoal.v1"], max_queue=None,
                                      max_size=None, open_timeout=DEADLINE)
        return cls(ws)

    async def _read(self):
        try:
            async for raw in self.ws:
                m = json.loads(raw)
                if m["op"] == "msg":
                    self.msgs.setdefault(m["topic"], []).append((m["seq"], m["data"]))
                elif m["op"] == "gap":
                    self.gaps.append(m)
                elif "id" in m:
                    self.answers[m["id"]] = m
                else:
                    self.other.append(m)
                self.changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed.set()
            self.changed.set()

    async def until(self, what, check):
        loop = asyncio.get_running_loop()
        end = loop.time() + DEADLINE
        while not check():
            if loop.time() > end:
                raise AssertionError(f"timed out waiting for {what}")
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), timeout=1)
            except asyncio.TimeoutError:
                pass

    async def request(self, req):
        await self.ws.send(json.dumps(req))
        await self.until(f"the answer to {req}", lambda: req["id"] in self.answers)
        return self.answers[req["id"]]

    async def subscribe(self, topic, since=None, id_=None):
        req = {"op": "sub", "topic": topic, "id": id_ or f"sub-{topic}-{since}"}
        if since is not None:
            req["since"] = since
        return await self.request(req)

    def seqs(self, topic):
        return [s for s, _ in self.msgs.get(topic, [])]

    async def until_seq(self, topic, last):
        await self.until(f"{topic} up to seq {last} (have {self.seqs(topic)[-1:]})",
                         lambda: self.seqs(topic)[-1:] and self.seqs(topic)[-1] >= last)

    async def close(self):
        await self.ws.close()
        await self.reader


async def publish_all(url, topic, count, tag, pipeline=64):
    """Publishes `count` messages ({"tag":..,"i":..}) with up to `pipeline` unanswered; returns
    the acks' seqs by i."""
    c = await Client.connect(url)
    seqs = {}
    for start in range(0, count, pipeline):
        batch = range(start, min(start + pipeline, count))
        for i in batch:
            await c.ws.send(json.dumps({"op": "pub", "topic": topic, "data": {"tag": tag, "i": i},
                                        "id": f"{tag}-{i}"}))
        for i in batch:
            await c.until(f"ack {tag}-{i}", lambda i=i: f"{tag}-{i}" in c.answers)
            a = c.answers[f"{tag}-{i}"]
            assert a["op"] == "ack", a
            seqs[i] = a["seq"]
    await c.close()
    return seqs


class ClusterBase(ClusterTestCase):
    def nodes(self, nats_urls, n, *flags):
        nodes = [self.shoal(nats_urls, f"node-{i + 1}", *flags) for i in range(n)]
        for node in nodes:
            node.wait_ready()
        return nodes

    def assert_contiguous(self, seqs, first, last, who):
        self.assertEqual(seqs, list(range(first, last + 1)),
                         f"{who}: not exactly {first}..{last} once each, in order")


class OneNatsServer(ClusterBase):
    def test_publishes_on_every_node_reach_every_node_in_one_order(self):
        nats = self.nats()
        nodes = self.nodes([nats.url], 3)
        topic = "prices.btc"
        per_node = 300

        async def scenario():
            subs = [await Client.connect(n.url) for n in nodes for _ in range(2)]
            for s in subs:
                answer = await s.subscribe(topic)
                self.assertEqual(answer["op"], "subscribed", answer)
                self.assertEqual(answer["seq"], 0)
            acks = await asyncio.gather(*(publish_all(n.url, topic, per_node, f"n{i}")
                                          for i, n in enumerate(nodes)))
            # And one HTTP publish, answered with its sequence number once stored.
            status, _, body = http_request(nodes[1].port, f"/publish/{topic}", "POST",
                                           {"Content-Type": "application/json"}, b'{"http":1}')
            self.assertEqual(status, 200, body)
            http_seq = json.loads(body)["seq"]
            total = 3 * per_node + 1
            all_acks = sorted([s for a in acks for s in a.values()] + [http_seq])
            self.assert_contiguous(all_acks, 1, total, "the acks of every publisher")
            for a in acks:  # each publisher's messages keep its order
                self.assertEqual([a[i] for i in range(per_node)], sorted(a.values()))
            for s in subs:
                await s.until_seq(topic, total)
            reference = subs[0].msgs[topic]
            for i, s in enumerate(subs):
                self.assert_contiguous(s.seqs(topic), 1, total, f"subscriber {i}")
                self.assertEqual(s.msgs[topic], reference, f"subscriber {i} saw another order")
                self.assertEqual(s.gaps, [])
            by_seq = dict(reference)
            for tag, a in zip(("n0", "n1", "n2"), acks):
                for i, seq in a.items():
                    self.assertEqual(by_seq[seq], {"tag": tag, "i": i})
            self.assertEqual(by_seq[http_seq], {"http": 1})
            for s in subs:
                await s.close()

        run(scenario())
        for n in nodes:
            self.assertEqual(n.metric("shoal_internal_gaps_total"), 0)
            self.assertEqual(n.metric("shoal_cluster_lost_total"), 0)

    def test_resume_on_another_node_gets_exactly_what_was_missed(self):
        nats = self.nats()
        a, b, c = self.nodes([nats.url], 3)
        topic = "game.room7"

        async def scenario():
            await publish_all(a.url, topic, 40, "before")
            reader = await Client.connect(b.url)
            self.assertEqual((await reader.subscribe(topic, since=0))["seq"], 40)
            await reader.until_seq(topic, 40)
            self.assert_contiguous(reader.seqs(topic), 1, 40, "the first reader")
            await reader.close()
            await publish_all(a.url, topic, 25, "while-away")
            # Node c never had the topic: its history comes from JetStream.
            back = await Client.connect(c.url)
            answer = await back.subscribe(topic, since=40)
            self.assertEqual(answer["seq"], 65)
            await back.until_seq(topic, 65)
            await publish_all(b.url, topic, 5, "live")
            await back.until_seq(topic, 70)
            self.assert_contiguous(back.seqs(topic), 41, 70, "the resumed reader")
            self.assertEqual(back.msgs[topic][0][1], {"tag": "while-away", "i": 0})
            # A resume from the very start, and one already in step, on a third node.
            full = await Client.connect(a.url)
            self.assertEqual((await full.subscribe(topic, since=0))["seq"], 70)
            await full.until_seq(topic, 70)
            self.assert_contiguous(full.seqs(topic), 1, 70, "the full resume")
            self.assertEqual(full.msgs[topic][40:], back.msgs[topic], "the two nodes' copies differ")
            for cl in (back, full):
                await cl.close()

        run(scenario())

    def test_nats_unavailable_refuses_publishes_and_keeps_subscribers(self):
        nats = self.nats()
        a, b = self.nodes([nats.url], 2)
        topic = "orders.7"

        async def scenario():
            sub = await Client.connect(b.url)
            await sub.subscribe(topic)
            await publish_all(a.url, topic, 3, "up")
            await sub.until_seq(topic, 3)
            nats.stop()
            wait_until("a's /readyz to fail", lambda: not a.ready())
            self.assertEqual(a.metric("shoal_cluster_link_up"), 0)
            pub = await Client.connect(a.url)
            answer = await pub.request({"op": "pub", "topic": topic, "data": 1, "id": "down"})
            self.assertEqual(answer["op"], "error", answer)
            self.assertEqual(answer["code"], "unavailable")
            status, hdrs, _ = http_request(a.port, f"/publish/{topic}", "POST",
                                           {"Content-Type": "application/json"}, b"2")
            self.assertEqual(status, 503)
            self.assertEqual(hdrs.get("retry-after"), "1")
            answer = await pub.request({"op": "sub", "topic": "never.seen", "id": "sub-down"})
            self.assertEqual(answer["code"], "unavailable", answer)
            nats.start()  # same store: the stream and its history are back
            wait_until("both nodes ready again", lambda: a.ready() and b.ready())
            self.assertFalse(sub.closed.is_set(), "the subscriber lost its connection")
            answer = await pub.request({"op": "pub", "topic": topic, "data": 3, "id": "back"})
            self.assertEqual(answer, {"op": "ack", "topic": topic, "seq": 4, "id": "back"})
            await sub.until_seq(topic, 4)
            self.assert_contiguous(sub.seqs(topic), 1, 4, "the subscriber")
            self.assertEqual(sub.gaps, [])
            await pub.close()
            await sub.close()

        run(scenario())
        self.assertGreaterEqual(a.metric("shoal_cluster_disconnects_total"), 1)
        self.assertGreaterEqual(a.metric("shoal_cluster_publish_failures_total"), 2)


class BehindHaproxy(ClusterBase):
    def test_kill_9_of_a_node_loses_nothing_acknowledged(self):
        nats = self.nats()
        nodes = self.nodes([nats.url], 3)
        lb = self.haproxy([("127.0.0.1", n.port, n.admin_port) for n in nodes])
        lb.wait_up(3, logs=nodes)
        topic = "ticker.eth"
        victim, survivor = nodes[0], nodes[1]
        end = {"seq": None}  # the last message's seq, once published

        async def connect_through_lb():
            # A connection HAProxy sent to the killed node before its health check noticed
            # fails; the client tries again, as any client of a balancer does.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + DEADLINE
            while True:
                try:
                    return await Client.connect(lb.url)
                except (OSError, websockets.InvalidHandshake, websockets.ConnectionClosed):
                    if loop.time() > deadline:
                        raise
                    await asyncio.sleep(0.2)

        async def follow():
            """A subscriber through HAProxy that, when its connection drops, reconnects and
            resumes from its last seq. Returns every seq it got, in order, and its reconnects."""
            seen, reconnects = [], 0
            while True:
                c = await connect_through_lb()
                try:
                    await c.subscribe(topic, since=seen[-1] if seen else 0)
                except (websockets.ConnectionClosed, AssertionError):
                    pass
                def complete():
                    got = seen + c.seqs(topic)
                    return end["seq"] is not None and got[-1:] == [end["seq"]]
                await c.until("the end marker or a close", lambda: c.closed.is_set() or complete())
                done = complete()
                seen += c.seqs(topic)
                if done:
                    await c.close()
                    return seen, reconnects
                reconnects += 1

        async def publisher(node, tag, count, acked):
            c = await Client.connect(node.url)
            try:
                for i in range(count):
                    await c.ws.send(json.dumps({"op": "pub", "topic": topic, "data": [tag, i],
                                                "id": f"{tag}{i}"}))
                    await asyncio.sleep(0.002)
            except websockets.ConnectionClosed:
                pass
            if node is victim:
                await c.until("the killed node's connection to close", c.closed.is_set)
            else:
                await c.until("every ack", lambda: len(c.answers) == count)
                await c.close()
            acked.update({(tag, int(k[1:])): v["seq"] for k, v in c.answers.items() if v["op"] == "ack"})

        async def scenario():
            followers = [asyncio.create_task(follow()) for _ in range(9)]
            loop = asyncio.get_running_loop()
            deadline = loop.time() + DEADLINE
            while any(n.metric("shoal_websocket_connections") < 2 for n in nodes):
                self.assertLess(loop.time(), deadline, "HAProxy did not spread the subscribers")
                await asyncio.sleep(0.2)
            acked = {}
            doomed = asyncio.create_task(publisher(victim, "v", 2000, acked))
            steady = asyncio.create_task(publisher(survivor, "s", 400, acked))
            # In the middle of the victim's stream: kill -9 (no drain, no goodbye).
            while victim.metric("shoal_cluster_published_total") < 50:
                self.assertLess(loop.time(), deadline, "the victim's publishes were not stored")
                await asyncio.sleep(0.05)
            victim.kill()
            await doomed
            await steady
            end["seq"] = (await publish_all(survivor.url, topic, 1, "end"))[0]
            results = await asyncio.gather(*followers)
            self.assertTrue(any(k[0] == "v" for k in acked), "the victim acknowledged nothing")
            everything = list(range(1, end["seq"] + 1))
            for i, (seen, _) in enumerate(results):
                self.assertEqual(seen, everything, f"follower {i}: missed or duplicated messages")
            self.assertTrue(any(r for _, r in results), "no follower was on the killed node")
            # Every acknowledged publish, the killed node's too, was delivered as acknowledged.
            check = await Client.connect(survivor.url)
            await check.subscribe(topic, since=0)
            await check.until_seq(topic, end["seq"])
            by_seq = dict(check.msgs[topic])
            for (tag, i), seq in acked.items():
                self.assertEqual(by_seq[seq], [tag, i])
            await check.close()

        run(scenario())
        lb.wait_states({"node-1": "DOWN"}, logs=nodes)


class ThreeNatsServers(ClusterBase):
    def test_node_cut_off_catches_up_and_a_nats_server_may_stop(self):
        cluster = self.nats_cluster(3)
        a = self.shoal([cluster.members[0].url], "node-1", "--nats-replicas", "3")
        a.wait_ready()
        b = self.shoal([cluster.members[1].url], "node-2", "--nats-replicas", "3")
        b.wait_ready()
        topic = "feed.x"

        async def scenario():
            sub_a = await Client.connect(a.url)
            sub_b = await Client.connect(b.url)
            await sub_a.subscribe(topic)
            await sub_b.subscribe(topic)
            first = await publish_all(a.url, topic, 50, "one")
            await sub_b.until_seq(topic, max(first.values()))
            fetches_before = b.metric("shoal_cluster_fetches_total")
            # b's NATS server freezes (SIGSTOP): b hears nothing until its pings time out, then
            # reconnects to another member (learnt from the cluster). What a publishes
            # meanwhile never reaches b live: b must read it from the stream.
            frozen = cluster.members[1]
            frozen.proc.send_signal(signal.SIGSTOP)
            self.addCleanup(lambda: frozen.proc.poll() is None and frozen.proc.send_signal(signal.SIGCONT))
            acked = list(first.values())
            pub = await Client.connect(a.url)
            for i in range(100):
                answer = await pub.request({"op": "pub", "topic": topic, "data": i, "id": f"two-{i}"})
                if answer["op"] == "ack":
                    acked.append(answer["seq"])
                else:  # while the stream elects a leader, if the frozen one led it
                    self.assertEqual(answer["code"], "unavailable", answer)
            self.assertGreater(len(acked), 50, "nothing could be published with 2 of 3 servers")
            wait_until("b to leave the frozen server",
                       lambda: b.metric("shoal_cluster_disconnects_total") >= 1 and b.ready(),
                       logs=[b])
            # And then it is gone for good: stopping one NATS server of three loses nothing.
            frozen.kill()
            last = (await publish_all(b.url, topic, 1, "end"))[0]
            acked.append(last)
            for s in (sub_a, sub_b):
                await s.until_seq(topic, last)
                self.assertEqual(s.seqs(topic), list(range(1, last + 1)), "missed or duplicated")
                self.assertTrue(set(acked) <= set(s.seqs(topic)))
                self.assertEqual(s.gaps, [])
            self.assertGreater(b.metric("shoal_cluster_fetches_total"), fetches_before,
                               "b did not read what it missed from the stream")
            # Everything acknowledged is in the R3 stream: a fresh resume from the start.
            fresh = await Client.connect(b.url)
            await fresh.subscribe(topic, since=0, id_="fresh")
            await fresh.until_seq(topic, last)
            self.assertEqual(fresh.seqs(topic), list(range(1, last + 1)))
            for c in (pub, sub_a, sub_b, fresh):
                await c.close()

        run(scenario())
        self.assertEqual(b.metric("shoal_cluster_lost_total"), 0)


if __name__ == "__main__":
    unittest.main()
