"""Integration: the shoal.v1 pub/sub endpoint /ws and the HTTP publish API, against the real
server with 2 shards, driven by Python's `websockets` and raw sockets.

Covers ordering across shards, acknowledgements, HTTP publishing, resume after reconnect
(replay and "too old"), invalid topics and bad JSON, and the three slow-consumer policies
while a fast subscriber on the same topic misses nothing.
"""
import asyncio
import json
import socket
import unittest

import websockets

from harness import Server, ServerTest, http_get, http_request

KiB = 1 << 10


def run(coro, timeout=90):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def connect(server):
    return await websockets.connect(server.url + "/ws", subprotocols=["shoal.v1"], max_size=None,
                                    max_queue=None)


async def request(ws, **msg):
    await ws.send(json.dumps(msg))


async def expect(ws, op, timeout=10):
    """Reads until a message with the given op; returns it (fails on an error message)."""
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if msg["op"] == op:
            return msg
        if msg["op"] == "error":
            raise AssertionError(f"server error: {msg}")


async def subscribe(ws, topic, **extra):
    await request(ws, op="sub", topic=topic, **extra)
    return await expect(ws, "subscribed")


def http_publish(port, topic, body, content_type="application/json", token=None):
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    status, _, payload = http_request(port, f"/publish/{topic}", "POST", headers, body)
    return status, payload


class PubSub(ServerTest):
    flags = ("--ring-size", "64")

    def test_subprotocol_is_negotiated(self):
        async def go():
            ws = await connect(self.server)
            self.assertEqual(ws.subprotocol, "shoal.v1")
            await ws.close()
        run(go())

    def test_every_subscriber_on_every_shard_sees_one_order(self):
        async def go():
            subs = [await connect(self.server) for _ in range(6)]  # spread over both shards
            for ws in subs:
                first = await subscribe(ws, "orders.one")
            base = first["seq"]
            pubs = [await connect(self.server) for _ in range(3)]
            n = 300
            for i in range(n):  # three publishers interleaved
                await request(pubs[i % 3], op="pub", topic="orders.one", data={"i": i}, id=i)
            acks = []
            for p in pubs:
                for _ in range(n // 3):
                    acks.append(await expect(p, "ack"))
            self.assertEqual(sorted(a["seq"] for a in acks), list(range(base + 1, base + n + 1)))
            orders = []
            for ws in subs:
                got = [await expect(ws, "msg") for _ in range(n)]
                self.assertEqual([m["seq"] for m in got], list(range(base + 1, base + n + 1)))
                orders.append([m["data"]["i"] for m in got])
            for o in orders[1:]:
                self.assertEqual(o, orders[0])
            for ws in subs + pubs:
                await ws.close()
        run(go())

    def test_http_publish_reaches_websocket_subscribers(self):
        async def go():
            ws = await connect(self.server)
            await subscribe(ws, "news/eu")
            status, body = http_publish(self.server.port, "news/eu", b'{"headline":"x","n":[1,2]}')
            self.assertEqual(status, 200)
            seq = json.loads(body)["seq"]
            msg = await expect(ws, "msg")
            self.assertEqual((msg["topic"], msg["seq"], msg["data"]), ("news/eu", seq, {"headline": "x", "n": [1, 2]}))
            status, _ = http_publish(self.server.port, "news/eu", "plain \"text\" ✓".encode(), "text/plain")
            self.assertEqual(status, 200)
            self.assertEqual((await expect(ws, "msg"))["data"], "plain \"text\" ✓")
            await ws.close()
        run(go())

    def test_http_publish_refusals(self):
        self.assertEqual(http_publish(self.server.port, "a..b", b"1")[0], 400)
        self.assertEqual(http_publish(self.server.port, "ok", b"{not json")[0], 400)
        self.assertEqual(http_get(self.server.port, "/publish/ok")[0], 405)

    def test_resume_replays_what_was_missed(self):
        async def go():
            ws = await connect(self.server)
            last = (await subscribe(ws, "resume.t"))["seq"]
            await ws.close()
            for i in range(5):
                http_publish(self.server.port, "resume.t", str(i).encode())
            ws = await connect(self.server)
            ack = await subscribe(ws, "resume.t", since=last)
            self.assertEqual(ack["seq"], last + 5)
            got = [await expect(ws, "msg") for _ in range(5)]
            self.assertEqual([m["data"] for m in got], [0, 1, 2, 3, 4])
            self.assertEqual([m["seq"] for m in got], list(range(last + 1, last + 6)))
            await ws.close()
        run(go())

    def test_resubscribe_in_flight_gets_its_own_replay(self):
        async def go():
            for i in range(3):
                http_publish(self.server.port, "resub.t", str(i).encode())
            ws = await connect(self.server)
            # The second sub replaces the first before the first is answered.
            await request(ws, op="sub", topic="resub.t")
            await request(ws, op="sub", topic="resub.t", since=0)
            got = [await expect(ws, "msg") for _ in range(3)]
            self.assertEqual([m["data"] for m in got], [0, 1, 2])
            await ws.close()
        run(go())

    def test_resume_from_beyond_the_history_is_too_old(self):
        async def go():
            ws = await connect(self.server)
            start = (await subscribe(ws, "old.t"))["seq"]
            await ws.close()
            for i in range(100):  # the ring holds 64
                http_publish(self.server.port, "old.t", str(i).encode())
            ws = await connect(self.server)
            await request(ws, op="sub", topic="old.t", since=start)
            await expect(ws, "subscribed")
            too_old = await expect(ws, "too_old")
            self.assertEqual(too_old["since"], start)
            self.assertEqual(too_old["oldest"], start + 100 - 64 + 1)
            await ws.close()
        run(go())

    def test_invalid_topic_and_bad_json_are_errors_not_disconnects(self):
        async def go():
            ws = await connect(self.server)
            await ws.send('{"op":"sub","topic":"bad topic!"}')
            err = json.loads(await ws.recv())
            self.assertEqual((err["op"], err["code"]), ("error", "bad_topic"))
            await ws.send("{nope")
            self.assertEqual(json.loads(await ws.recv())["code"], "bad_json")
            await ws.send('{"op":"dance","topic":"t"}')
            self.assertEqual(json.loads(await ws.recv())["code"], "bad_message")
            await request(ws, op="unsub", topic="never")
            self.assertEqual(json.loads(await ws.recv())["code"], "not_subscribed")
            await subscribe(ws, "still.works")
            await request(ws, op="unsub", topic="still.works", id="u1")
            self.assertEqual(await expect(ws, "unsubscribed"), {"op": "unsubscribed", "topic": "still.works", "id": "u1"})
            await ws.close()
        run(go())


class PublishAuthAndLimits(ServerTest):
    flags = ("--publish-token", "s3cret", "--max-topics-per-connection", "2")

    def test_publish_needs_the_bearer_token(self):
        self.assertEqual(http_publish(self.server.port, "t", b"1")[0], 401)
        self.assertEqual(http_publish(self.server.port, "t", b"1", token="wrong")[0], 401)
        self.assertEqual(http_publish(self.server.port, "t", b"1", token="s3cret")[0], 200)

    def test_topic_limit_per_connection_is_an_error(self):
        async def go():
            ws = await connect(self.server)
            await subscribe(ws, "one")
            await subscribe(ws, "two")
            await request(ws, op="sub", topic="three", id=3)
            err = json.loads(await ws.recv())
            self.assertEqual((err["code"], err["id"], err["topic"]), ("too_many_topics", 3, "three"))
            await subscribe(ws, "two")  # subscribing again to a held topic is not a new one
            await ws.close()
        run(go())


class ServerTopicLimit(ServerTest):
    # 2 shards: each holds at most 2 of the 4 topics (the topics its hash homes there).
    flags = ("--max-topics", "4")

    def test_new_topics_past_the_limit_are_refused_and_the_connection_goes_on(self):
        async def go():
            ws = await connect(self.server)
            accepted, refused = [], []
            for i in range(20):
                await request(ws, op="pub", topic=f"lim.{i}", data=i, id=i)
                msg = json.loads(await ws.recv())
                if msg["op"] == "ack":
                    accepted.append(msg["topic"])
                else:
                    self.assertEqual((msg["op"], msg["code"], msg["id"], msg["topic"]),
                                     ("error", "too_many_topics", i, f"lim.{i}"))
                    refused.append(msg["topic"])
            self.assertGreaterEqual(len(accepted), 2)
            self.assertLessEqual(len(accepted), 4)
            self.assertEqual(len(accepted) + len(refused), 20)
            # Known topics keep working; a new one is refused for subscribing too.
            await subscribe(ws, accepted[0])
            await request(ws, op="sub", topic=refused[0], id="r")
            err = json.loads(await ws.recv())
            self.assertEqual((err["code"], err["id"], err["topic"]), ("too_many_topics", "r", refused[0]))
            await request(ws, op="unsub", topic=refused[0])  # the refused one was forgotten
            self.assertEqual(json.loads(await ws.recv())["code"], "not_subscribed")
            await request(ws, op="pub", topic=accepted[0], data="still", id="s")
            self.assertEqual((await expect(ws, "ack"))["id"], "s")
            await ws.close()
            status, body = http_publish(self.server.port, refused[1], b"1")
            self.assertEqual(status, 503)
            self.assertIn(b"max_topics", body)
            _, _, metrics = http_get(self.server.port, "/metrics")
            refused_total = sum(int(line.split()[-1]) for line in metrics.decode().splitlines()
                                if line.startswith("shoal_publishes_refused_total"))
            self.assertEqual(refused_total, len(refused) + 1)
        run(go())


class HistoryBudget(ServerTest):
    # 8 KiB of history over 2 shards: 4 KiB for the shard homing the topic.
    flags = ("--ring-size", "1024", "--history-bytes", "8192")

    def test_history_is_bounded_in_bytes_and_resume_says_too_old(self):
        async def go():
            ws = await connect(self.server)
            start = (await subscribe(ws, "budget.t"))["seq"]
            await ws.close()
            for i in range(200):  # ~100 B frames: far more than 4 KiB
                http_publish(self.server.port, "budget.t", json.dumps("x" * 60 + str(i)).encode())
            ws = await connect(self.server)
            await request(ws, op="sub", topic="budget.t", since=start)
            await expect(ws, "subscribed")
            too_old = await expect(ws, "too_old")
            oldest = too_old["oldest"]
            held = start + 200 - oldest + 1
            self.assertGreater(held, 10)
            self.assertLess(held * 90, 4096 + 200, f"{held} messages held")
            # Resuming from within what is held replays exactly the rest, in order.
            await ws.close()
            ws = await connect(self.server)
            await request(ws, op="sub", topic="budget.t", since=oldest - 1)
            await expect(ws, "subscribed")
            seqs = [(await expect(ws, "msg"))["seq"] for _ in range(held)]
            self.assertEqual(seqs, list(range(oldest, start + 201)))
            await ws.close()
        run(go())


def slow_subscriber(port, topic):
    """A raw client with a tiny receive buffer that subscribes and then does not read."""
    import base64, os
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    from rawws import frame
    s.sendall(frame(0x1, json.dumps({"op": "sub", "topic": topic}).encode()))
    return s


def read_all_frames(sock, idle=2.0):
    """Reads until the server closes or goes quiet; returns [(opcode, payload)]."""
    sock.settimeout(idle)
    data = b""
    try:
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    data = data[data.index(b"\r\n\r\n") + 4:]
    frames = []
    while len(data) >= 2:
        n = data[1] & 0x7F
        off = 2
        if n == 126:
            n, off = int.from_bytes(data[2:4], "big"), 4
        elif n == 127:
            n, off = int.from_bytes(data[2:10], "big"), 10
        if len(data) < off + n:
            break
        frames.append((data[0] & 0x0F, data[off:off + n]))
        data = data[off + n:]
    return frames


class SlowConsumerBase:
    policy = "drop"
    count = 300
    size = 32 * KiB

    @classmethod
    def setUpClass(cls):
        # A long close timeout: the slow reader reads its backlog only after the burst, and
        # the close policy's Close frame sits behind that backlog.
        cls.server = Server("--policy", cls.policy, "--high-watermark", "1048576",
                            "--slow-consumer-limit", "2097152", "--close-timeout", "60s")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def publish_burst(self, topic):
        async def go():
            fast = await connect(self.server)
            await subscribe(fast, topic)
            slow = slow_subscriber(self.server.port, topic)
            await asyncio.sleep(0.3)  # let the slow subscription become active
            pub = await connect(self.server)
            blob = "x" * self.size
            got = []
            for i in range(self.count):
                # One at a time, and the fast subscriber reads each message before the next
                # publish: its output never holds more than one, so it stays under the limit
                # however long a busy machine stalls this process (reading in the background
                # was not enough: a stall of a second under TSan made it "slow" and it got a gap).
                await request(pub, op="pub", topic=topic, data={"i": i, "blob": blob})
                await expect(pub, "ack")
                got.append(await expect(fast, "msg", timeout=60))
            self.assertEqual([m["data"]["i"] for m in got], list(range(self.count)),
                             "the fast subscriber must miss nothing")
            await pub.close()
            await fast.close()
            return slow
        return run(go())


class SlowConsumerDrop(SlowConsumerBase, unittest.TestCase):
    policy = "drop"

    def test_slow_reader_gets_a_gap_notice_fast_reader_everything(self):
        slow = self.publish_burst("slow.drop")
        frames = read_all_frames(slow)
        msgs = [json.loads(p) for op, p in frames if op == 0x1]
        gaps = [m for m in msgs if m["op"] == "gap"]
        delivered = [m["data"]["i"] for m in msgs if m["op"] == "msg"]
        self.assertTrue(gaps, "expected a gap notice")
        self.assertLess(len(delivered), self.count)
        missing = set(range(self.count)) - set(delivered)
        reported = set()
        for g in gaps:
            reported |= set(range(g["from"] - 1, g["to"]))  # seq starts at 1 on a fresh topic
        self.assertEqual(missing, reported, "every skipped message is covered by a gap notice")
        self.assertEqual(delivered, sorted(delivered))
        slow.close()


class SlowConsumerClose(SlowConsumerBase, unittest.TestCase):
    policy = "close"

    def test_slow_reader_is_closed_with_1008(self):
        slow = self.publish_burst("slow.close")
        frames = read_all_frames(slow)
        closes = [p for op, p in frames if op == 0x8]
        self.assertTrue(closes, "expected a close frame")
        self.assertEqual(int.from_bytes(closes[0][:2], "big"), 1008)
        slow.close()


class SlowConsumerConflate(SlowConsumerBase, unittest.TestCase):
    policy = "conflate"

    def test_slow_reader_ends_with_the_newest_message(self):
        slow = self.publish_burst("slow.conflate")
        frames = read_all_frames(slow)
        delivered = [json.loads(p)["data"]["i"] for op, p in frames
                     if op == 0x1 and json.loads(p)["op"] == "msg"]
        self.assertLess(len(delivered), self.count)
        self.assertEqual(delivered[-1], self.count - 1, "the newest message is kept")
        self.assertEqual(delivered, sorted(delivered))
        slow.close()


if __name__ == "__main__":
    unittest.main()
