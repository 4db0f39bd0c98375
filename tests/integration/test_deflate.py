"""permessage-deflate (RFC 7692) against the real server (2 shards): negotiation as seen on the
wire, compressed frames built by hand (fragmented, invalid, bombs, RSV1 where it must not be),
round trips with Python's websockets client with and without context takeover, and the
compress-once broadcast counted in /metrics.
"""
import asyncio
import json
import os
import subprocess
import unittest
import zlib

import websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from harness import LOADGEN, Server, ServerTest, http_get, http_request, run_loadgen
from rawws import RawClient, close_payload, frame

TEXT, BINARY, CONT, CLOSE, PING = 0x1, 0x2, 0x0, 0x8, 0x9
RSV1 = 4  # rsv argument of frame(): bit 0x40 of the first byte


def deflate(data, wbits=15):
    """One message as permessage-deflate sends it: raw DEFLATE, sync flush, tail cut (§7.2.1)."""
    c = zlib.compressobj(wbits=-wbits)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def inflate(data):
    return zlib.decompressobj(wbits=-15).decompress(data + b"\x00\x00\xff\xff")


def metric_sum(port, name):
    _, _, body = http_get(port, "/metrics")
    return sum(int(line.split()[-1]) for line in body.decode().splitlines()
               if line.startswith(name + "{"))


def offer(port, value, path="/echo"):
    """The server's Sec-WebSocket-Extensions answer to `value` (None if it sent none)."""
    c = RawClient(port, path, headers={"Sec-WebSocket-Extensions": value})
    try:
        return c.headers.get("sec-websocket-extensions")
    finally:
        c.close()


def params(answer):
    """'permessage-deflate; a; b=1' -> {'a': None, 'b': '1'} (asserting the name)."""
    name, *rest = [p.strip() for p in answer.split(";")]
    assert name == "permessage-deflate", answer
    out = {}
    for p in rest:
        k, _, v = p.partition("=")
        out[k] = v or None
    return out


class Negotiation(ServerTest):
    flags = ("--permessage-deflate",)

    def test_plain_offer_gets_the_cheap_mode(self):
        got = params(offer(self.server.port, "permessage-deflate"))
        self.assertEqual(got, {"server_no_context_takeover": None, "client_no_context_takeover": None})

    def test_client_max_window_bits_without_value_is_accepted(self):
        got = params(offer(self.server.port, "permessage-deflate; client_max_window_bits"))
        self.assertIn("server_no_context_takeover", got)
        self.assertIn("client_no_context_takeover", got)
        if "client_max_window_bits" in got:
            self.assertTrue(8 <= int(got["client_max_window_bits"]) <= 15)

    def test_server_max_window_bits_is_honoured(self):
        got = params(offer(self.server.port, "permessage-deflate; server_max_window_bits=10"))
        self.assertEqual(got.get("server_max_window_bits"), "10")

    def test_malformed_offer_is_declined_and_the_next_accepted(self):
        answer = offer(self.server.port,
                       "permessage-deflate; bogus_param, permessage-deflate; server_max_window_bits=7, "
                       "permessage-deflate; server_max_window_bits=12")
        self.assertEqual(params(answer).get("server_max_window_bits"), "12")

    def test_only_unacceptable_offers_get_no_extension(self):
        for value in ("permessage-deflate; server_max_window_bits",  # needs a value (§7.1.2.1)
                      "permessage-deflate; server_no_context_takeover=1",
                      "permessage-deflate; client_max_window_bits=16",
                      "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                      "x-webkit-deflate-frame"):
            with self.subTest(value=value):
                self.assertIsNone(offer(self.server.port, value))

    def test_syntax_error_in_the_header_is_refused(self):
        status, _, body = http_request(self.server.port, "/echo", headers={
            "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Extensions": 'permessage-deflate; x="unterminated'})
        self.assertEqual(status, 400)
        self.assertIn(b"Extensions", body)

    def test_pubsub_endpoint_offers_it_too(self):
        self.assertIsNotNone(offer(self.server.port, "permessage-deflate", "/ws"))


class PerEndpoint(ServerTest):
    flags = ("--deflate-endpoint", "/ws")

    def test_only_the_configured_endpoint_accepts(self):
        self.assertIsNone(offer(self.server.port, "permessage-deflate", "/echo"))
        self.assertIsNotNone(offer(self.server.port, "permessage-deflate", "/ws"))


class Off(ServerTest):
    def test_off_by_default_and_rsv1_is_then_a_protocol_error(self):
        self.assertIsNone(offer(self.server.port, "permessage-deflate"))
        c = RawClient(self.server.port)
        c.send(frame(TEXT, deflate(b"hello" * 20), rsv=RSV1))
        self.assertEqual(c.expect_close()[0], 1002)
        c.close()


class Frames(ServerTest):
    """Hand-built compressed frames on /echo, cheap mode (no context takeover either way)."""
    flags = ("--permessage-deflate", "--max-message-size", "1048576")

    def client(self):
        c = RawClient(self.server.port, headers={"Sec-WebSocket-Extensions": "permessage-deflate"})
        self.assertIsNotNone(c.headers.get("sec-websocket-extensions"))
        return c

    def test_compressed_message_is_echoed_compressed(self):
        c = self.client()
        message = json.dumps({"price": 101.25, "book": ["x" * 40] * 10}).encode()
        c.send(frame(TEXT, deflate(message), rsv=RSV1))
        fin, op, payload = c.recv_frame()
        self.assertTrue(fin)
        self.assertEqual(op, TEXT)
        self.assertEqual(inflate(payload), message)
        self.assertLess(len(payload), len(message))
        c.close()

    def test_rsv1_is_set_on_compressed_replies_only(self):
        c = self.client()
        c.sock.settimeout(5)
        c.send(frame(TEXT, b"short"))  # below deflate.min_size: echoed plain
        c._need(2)
        self.assertEqual(c.buf[0] & 0x40, 0)
        self.assertEqual(c.recv_frame()[2], b"short")
        c.send(frame(BINARY, bytes(1000)))  # uncompressed message on a deflate connection
        c._need(2)
        self.assertEqual(c.buf[0] & 0x40, 0x40)
        self.assertEqual(inflate(c.recv_frame()[2]), bytes(1000))
        c.close()

    def test_fragmented_compressed_message(self):
        c = self.client()
        message = ("fragmented é " * 500).encode()
        data = deflate(message)
        thirds = [data[:10], data[10:len(data) // 2], data[len(data) // 2:]]
        c.send(frame(TEXT, thirds[0], fin=False, rsv=RSV1))
        c.send(frame(PING, b"between"))  # control frames may come between fragments
        c.send(frame(CONT, thirds[1], fin=False))
        c.send(frame(CONT, thirds[2]))
        _, op, payload = c.recv_frame()
        self.assertEqual((op, payload), (0xA, b"between"))
        _, op, payload = c.recv_frame()
        self.assertEqual(op, TEXT)
        self.assertEqual(inflate(payload), message)
        c.close()

    def test_empty_compressed_message(self):
        c = self.client()
        c.send(frame(BINARY, b"\x00", rsv=RSV1))  # RFC 7692 §7.2.3.6: an empty message
        _, op, payload = c.recv_frame()
        self.assertEqual((op, payload), (BINARY, b""))
        c.close()

    def test_rsv1_on_a_continuation_is_1002(self):
        c = self.client()
        c.send(frame(TEXT, deflate(b"a" * 100)[:5], fin=False, rsv=RSV1))
        c.send(frame(CONT, b"xx", rsv=RSV1))
        self.assertEqual(c.expect_close()[0], 1002)
        c.close()

    def test_rsv1_on_a_control_frame_is_1002(self):
        c = self.client()
        c.send(frame(PING, b"", rsv=RSV1))  # control frames are never compressed (§6.1)
        self.assertEqual(c.expect_close()[0], 1002)
        c.close()

    def test_invalid_compressed_data_is_1007(self):
        c = self.client()
        c.send(frame(BINARY, b"\xff\xff\xff\xff garbage", rsv=RSV1))
        self.assertEqual(c.expect_close()[0], 1007)
        c.close()

    def test_compressed_invalid_utf8_is_1007(self):
        c = self.client()
        c.send(frame(TEXT, deflate(b"valid then \xc3\x28 invalid"), rsv=RSV1))
        self.assertEqual(c.expect_close()[0], 1007)
        c.close()

    def test_inflate_bomb_is_1009_and_others_are_not_disturbed(self):
        bystander = self.client()
        bomb = deflate(bytes(64 << 20))  # 64 MiB of zeros in ~64 KiB
        self.assertLess(len(bomb), 1 << 20)
        for fragmented in (False, True):
            with self.subTest(fragmented=fragmented):
                c = self.client()
                if fragmented:
                    c.send(frame(BINARY, bomb[:1000], fin=False, rsv=RSV1))
                    c.send(frame(CONT, bomb[1000:]))
                else:
                    c.send(frame(BINARY, bomb, rsv=RSV1))
                self.assertEqual(c.expect_close()[0], 1009)
                c.close()
        message = b"still here " * 20
        bystander.send(frame(TEXT, deflate(message), rsv=RSV1))
        self.assertEqual(inflate(bystander.recv_frame()[2]), message)
        bystander.close()

    def test_message_at_the_limit_inflates(self):
        c = self.client()
        message = bytes(1 << 20)
        c.send(frame(BINARY, deflate(message), rsv=RSV1))
        self.assertEqual(inflate(c.recv_frame()[2]), message)
        c.send(frame(BINARY, deflate(message + b"!"), rsv=RSV1))
        self.assertEqual(c.expect_close()[0], 1009)
        c.close()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


class PythonClient(ServerTest):
    """Python websockets with its default offer (client_max_window_bits), cheap mode."""
    flags = ("--permessage-deflate", "--max-message-size", "16777216")

    def test_echo_round_trips(self):
        async def go():
            async with websockets.connect(f"{self.server.url}/echo", max_size=None) as ws:
                self.assertIn("permessage-deflate",
                              ws.response_headers.get("Sec-WebSocket-Extensions", ""))
                for m in ["x", "é" * 10000, os.urandom(100000), bytes(16 << 20),
                          json.dumps({"k": list(range(5000))})]:
                    await ws.send(m)
                    self.assertEqual(await ws.recv(), m)
        run(go())

    def test_broadcast_is_compressed_once_for_every_subscriber(self):
        async def go():
            subs = []
            for i in range(4):
                ws = await websockets.connect(f"{self.server.url}/ws", subprotocols=["shoal.v1"])
                await ws.send(json.dumps({"op": "sub", "topic": "deflate.once"}))
                self.assertEqual(json.loads(await ws.recv())["op"], "subscribed")
                subs.append(ws)
            plain = await websockets.connect(f"{self.server.url}/ws", subprotocols=["shoal.v1"],
                                             compression=None)
            await plain.send(json.dumps({"op": "sub", "topic": "deflate.once"}))
            await plain.recv()
            compressed_before = metric_sum(self.server.port, "shoal_deflate_compressed_total")
            shared_before = metric_sum(self.server.port, "shoal_deflate_shared_sends_total")
            messages = [{"n": n, "book": [[100 + n, 5]] * 20} for n in range(10)]
            for m in messages:
                status, _, _ = http_request(self.server.port, "/publish/deflate.once", "POST",
                                            {"Content-Type": "application/json"},
                                            json.dumps(m).encode())
                self.assertEqual(status, 200)
            for ws in subs + [plain]:
                got = [json.loads(await ws.recv()) for _ in messages]
                self.assertEqual([g["data"] for g in got], messages)
                self.assertEqual([g["seq"] for g in got], list(range(1, 11)))
            compressed = metric_sum(self.server.port, "shoal_deflate_compressed_total") - compressed_before
            shared = metric_sum(self.server.port, "shoal_deflate_shared_sends_total") - shared_before
            self.assertEqual(compressed, len(messages))  # once per message, not per subscriber
            self.assertEqual(shared, len(messages) * len(subs))
            for ws in subs + [plain]:
                await ws.close()
        run(go())

    def test_resume_replays_history_published_before_any_compressed_subscriber(self):
        async def go():
            for n in range(3):
                http_request(self.server.port, "/publish/deflate.resume", "POST",
                             {"Content-Type": "application/json"},
                             json.dumps({"n": n, "pad": "p" * 100}).encode())
            async with websockets.connect(f"{self.server.url}/ws", subprotocols=["shoal.v1"]) as ws:
                await ws.send(json.dumps({"op": "sub", "topic": "deflate.resume", "since": 0}))
                self.assertEqual(json.loads(await ws.recv())["op"], "subscribed")
                got = [json.loads(await ws.recv())["data"]["n"] for _ in range(3)]
                self.assertEqual(got, [0, 1, 2])
        run(go())


class ContextTakeover(ServerTest):
    """Both sides keep their context: a compressor and a decompressor per connection."""
    flags = ("--permessage-deflate", "--deflate-server-context-takeover", "true",
             "--deflate-client-context-takeover", "true")

    def test_negotiates_takeover_and_round_trips(self):
        async def go():
            factory = ClientPerMessageDeflateFactory(client_max_window_bits=True)
            async with websockets.connect(f"{self.server.url}/echo", extensions=[factory],
                                          compression=None, max_size=None) as ws:
                answer = params(ws.response_headers["Sec-WebSocket-Extensions"])
                self.assertNotIn("server_no_context_takeover", answer)
                self.assertNotIn("client_no_context_takeover", answer)
                # Repeated content: later messages refer back into earlier ones.
                for n in range(50):
                    m = json.dumps({"n": n, "same": "the same text every time " * 8})
                    await ws.send(m)
                    self.assertEqual(await ws.recv(), m)
                await ws.send(os.urandom(200000))  # incompressible, still correct
                self.assertEqual(len(await ws.recv()), 200000)
        run(go())

    def test_client_may_still_decline_takeover(self):
        answer = params(offer(self.server.port, "permessage-deflate; server_no_context_takeover; "
                                                "client_no_context_takeover"))
        self.assertIn("server_no_context_takeover", answer)
        self.assertIn("client_no_context_takeover", answer)

    def test_broadcast_to_takeover_connections_is_compressed_per_connection(self):
        async def go():
            subs = []
            for _ in range(3):
                ws = await websockets.connect(f"{self.server.url}/ws", subprotocols=["shoal.v1"])
                await ws.send(json.dumps({"op": "sub", "topic": "deflate.ctx"}))
                await ws.recv()
                subs.append(ws)
            before = metric_sum(self.server.port, "shoal_deflate_compressed_total")
            for n in range(5):
                await subs[0].send(json.dumps({"op": "pub", "topic": "deflate.ctx",
                                               "data": {"n": n, "pad": "q" * 200}}))
            for ws in subs:
                got = []
                while len(got) < 5:
                    m = json.loads(await ws.recv())
                    if m["op"] == "msg":
                        got.append(m["data"]["n"])
                self.assertEqual(got, list(range(5)))
            after = metric_sum(self.server.port, "shoal_deflate_compressed_total")
            self.assertGreaterEqual(after - before, 5 * len(subs))
            for ws in subs:
                await ws.close()
        run(go())


class Loadgen(ServerTest):
    """shoal-loadgen --deflate: every message it sends is compressed, everything it gets inflated."""
    flags = ("--permessage-deflate",)

    def test_echo_with_compression_answers_everything(self):
        before = metric_sum(self.server.port, "shoal_deflate_inflated_total")
        r = run_loadgen("echo", "--url", self.server.url + "/echo", "--connections", "10",
                    "--inflight", "2", "--size", "300", "--duration", "1", "--threads", "1",
                    "--deflate")
        self.assertGreater(r["sent"], 0)
        self.assertEqual(r["received"], r["sent"])
        self.assertGreaterEqual(metric_sum(self.server.port, "shoal_deflate_inflated_total") - before,
                                r["sent"])

    def test_pubsub_with_compression_is_compressed_once_per_message(self):
        before = metric_sum(self.server.port, "shoal_deflate_compressed_total")
        shared_before = metric_sum(self.server.port, "shoal_deflate_shared_sends_total")
        r = run_loadgen("pubsub", "--url", self.server.url + "/ws", "--subscribers", "30",
                    "--topics", "1", "--publishers", "1", "--burst", "16", "--size", "200",
                    "--duration", "1", "--threads", "1", "--deflate")
        self.assertGreater(r["expected"], 0)
        self.assertEqual(r["delivered"], r["expected"])
        self.assertEqual(r["order_violations"], 0)
        self.assertEqual(metric_sum(self.server.port, "shoal_deflate_compressed_total") - before,
                         r["sent"])  # the acks are shorter than deflate.min_size
        self.assertEqual(metric_sum(self.server.port, "shoal_deflate_shared_sends_total") - shared_before,
                         r["delivered"])

    def test_refuses_a_server_that_declines(self):
        plain = Server()  # deflate off
        try:
            proc = subprocess.run([LOADGEN, "echo", "--url", plain.url + "/echo", "--connections", "1",
                                   "--duration", "1", "--deflate", "--warmup-timeout", "3"],
                                  capture_output=True, text=True, timeout=60)
            self.assertNotEqual(proc.returncode, 0)
            self.assertIn("declined permessage-deflate", proc.stdout + proc.stderr)
        finally:
            plain.stop()


if __name__ == "__main__":
    unittest.main()
