"""Integration: /echo driven by Python's `websockets` client against the real server (2 shards).

Covers the handshake, text and binary echo up to 16 MiB, fragmented messages, ping/pong, close
codes in both directions, subprotocol choice, Origin refusal and the message size limit.
"""
import asyncio
import os
import unittest

import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatusCode

from harness import ServerTest

MiB = 1 << 20


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


class Echo(ServerTest):
    flags = ("--max-message-size", str(16 * MiB + 16))

    def test_text_and_binary_round_trip(self):
        async def go():
            async with websockets.connect(self.server.url + "/echo") as ws:
                await ws.send("hello, shoal ✓")
                self.assertEqual(await ws.recv(), "hello, shoal ✓")
                await ws.send(b"\x00\x01\x02\xff")
                self.assertEqual(await ws.recv(), b"\x00\x01\x02\xff")
                await ws.send("")
                self.assertEqual(await ws.recv(), "")
        run(go())

    def test_large_messages_up_to_16_mib(self):
        async def go():
            async with websockets.connect(self.server.url + "/echo", max_size=None) as ws:
                for size in (125, 126, 65535, 65536, MiB, 16 * MiB):
                    payload = os.urandom(size)
                    await ws.send(payload)
                    self.assertEqual(await ws.recv(), payload, size)
                text = "é" * (4 * MiB)  # 8 MiB of two-byte UTF-8
                await ws.send(text)
                self.assertEqual(await ws.recv(), text)
        run(go())

    def test_fragmented_message_is_reassembled(self):
        async def go():
            async with websockets.connect(self.server.url + "/echo") as ws:
                await ws.send(iter(["frag", "men", "ted ✓"]))
                self.assertEqual(await ws.recv(), "fragmented ✓")
                await ws.send(iter([b"a" * 70000, b"b" * 3]))
                self.assertEqual(await ws.recv(), b"a" * 70000 + b"bbb")
        run(go())

    def test_many_messages_keep_order(self):
        async def go():
            async with websockets.connect(self.server.url + "/echo") as ws:
                for i in range(2000):
                    await ws.send(f"m{i}")
                for i in range(2000):
                    self.assertEqual(await ws.recv(), f"m{i}")
        run(go())

    def test_ping_gets_pong_with_same_payload(self):
        async def go():
            async with websockets.connect(self.server.url + "/echo") as ws:
                waiter = await ws.ping(b"are you there")
                await asyncio.wait_for(waiter, 5)
        run(go())

    def test_client_close_code_is_echoed(self):
        async def go():
            ws = await websockets.connect(self.server.url + "/echo")
            await ws.close(code=4001, reason="bye")
            self.assertEqual(ws.close_code, 4001)
        run(go())

    def test_subprotocol_is_chosen_from_the_offer(self):
        async def go():
            async with websockets.connect(self.server.url + "/echo",
                                          subprotocols=["chat", "shoal.v1"]) as ws:
                self.assertEqual(ws.subprotocol, "shoal.v1")
            async with websockets.connect(self.server.url + "/echo", subprotocols=["chat"]) as ws:
                self.assertIsNone(ws.subprotocol)
        # A client that requires a subprotocol we do not speak gets none and may fail itself.
        run(go())

    def test_message_over_the_limit_closes_with_1009(self):
        async def go():
            async with websockets.connect(self.server.url + "/echo", max_size=None) as ws:
                await ws.send(b"x" * (16 * MiB + 17))
                with self.assertRaises(ConnectionClosed) as cm:
                    await ws.recv()
                self.assertEqual(cm.exception.rcvd.code, 1009)
        run(go())

    def test_invalid_utf8_text_closes_with_1007(self):
        async def go():
            async with websockets.connect(self.server.url + "/echo") as ws:
                # websockets refuses to send invalid text itself; write a raw frame instead.
                await ws.write_frame(True, 0x1, b"ok \xff\xfe")
                with self.assertRaises(ConnectionClosed) as cm:
                    await ws.recv()
                self.assertEqual(cm.exception.rcvd.code, 1007)
        run(go())

    def test_unknown_path_refuses_the_upgrade_with_404(self):
        async def go():
            with self.assertRaises(InvalidStatusCode) as cm:
                await websockets.connect(self.server.url + "/nope")
            self.assertEqual(cm.exception.status_code, 404)
        run(go())


class OriginAllowList(ServerTest):
    flags = ("--allowed-origin", "https://app.example.com")

    def test_allowed_origin_is_accepted(self):
        async def go():
            async with websockets.connect(self.server.url + "/echo",
                                          origin="https://app.example.com") as ws:
                await ws.send("hi")
                self.assertEqual(await ws.recv(), "hi")
        run(go())

    def test_other_origin_is_refused_with_403(self):
        async def go():
            with self.assertRaises(InvalidStatusCode) as cm:
                await websockets.connect(self.server.url + "/echo", origin="https://evil.example")
            self.assertEqual(cm.exception.status_code, 403)
        run(go())


if __name__ == "__main__":
    unittest.main()
