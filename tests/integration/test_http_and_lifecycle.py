"""Integration: the plain HTTP endpoints, handshake refusals, heartbeats and graceful shutdown
of the real server (2 shards)."""
import asyncio
import os
import signal
import socket
import tempfile
import time
import unittest

import websockets
from websockets.exceptions import ConnectionClosed

from harness import Server, ServerTest, http_get
from rawws import RawClient, close_payload, frame


class HttpEndpoints(ServerTest):
    def test_healthz_and_readyz(self):
        self.assertEqual(http_get(self.server.port, "/healthz")[0], 200)
        status, _, body = http_get(self.server.port, "/readyz")
        self.assertEqual((status, body), (200, b"ready\n"))

    def test_metrics_are_prometheus_text_per_shard(self):
        status, headers, body = http_get(self.server.port, "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/plain"))
        text = body.decode()
        self.assertIn('shoal_connections{shard="0"}', text)
        self.assertIn('shoal_connections{shard="1"}', text)
        self.assertIn("# TYPE shoal_messages_in_total counter", text)

    def test_unknown_path_is_404_and_wrong_method_405(self):
        self.assertEqual(http_get(self.server.port, "/nope")[0], 404)
        status, headers, _ = http_get(self.server.port, "/healthz", method="DELETE")
        self.assertEqual(status, 405)
        self.assertIn("GET", headers["allow"])

    def test_plain_get_on_websocket_path_is_426(self):
        status, headers, _ = http_get(self.server.port, "/echo")
        self.assertEqual(status, 426)
        self.assertEqual(headers["sec-websocket-version"], "13")

    def test_wrong_version_is_426_and_bad_key_400(self):
        hs = {"Upgrade": "websocket", "Connection": "Upgrade"}
        status, headers, _ = http_get(self.server.port, "/echo", headers={
            **hs, "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "8"})
        self.assertEqual((status, headers["sec-websocket-version"]), (426, "13"))
        status, _, body = http_get(self.server.port, "/echo", headers={
            **hs, "Sec-WebSocket-Key": "c2hvcnQ=", "Sec-WebSocket-Version": "13"})
        self.assertEqual(status, 400)
        self.assertIn(b"RFC 6455", body)

    def test_oversized_header_is_431_and_server_keeps_serving(self):
        status, _, _ = http_get(self.server.port, "/healthz", headers={"X-Big": "a" * 20000})
        self.assertEqual(status, 431)
        self.assertEqual(http_get(self.server.port, "/healthz")[0], 200)

    def test_keep_alive_serves_several_requests(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=5) as s:
            req = f"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".encode()
            s.sendall(req * 3)
            data = b""
            while data.count(b"ok\n") < 3:
                chunk = s.recv(4096)
                self.assertTrue(chunk, "connection closed early")
                data += chunk
            self.assertEqual(data.count(b"HTTP/1.1 200"), 3)


class Heartbeat(ServerTest):
    flags = ("--ping-interval", "200ms", "--pong-timeout", "300ms", "--handshake-timeout", "300ms")

    def test_silent_peer_is_pinged_then_closed(self):
        client = RawClient(self.server.port)
        fin, op, payload = client.recv_frame()
        self.assertEqual(op, 0x9, "expected a server ping")
        # Never answer: the server must give up within ping interval + pong timeout.
        started = time.monotonic()
        self.assertTrue(client.wait_eof(timeout=5))
        self.assertLess(time.monotonic() - started, 3)
        client.close()

    def test_answering_peer_stays_connected(self):
        client = RawClient(self.server.port)
        for _ in range(3):
            fin, op, payload = client.recv_frame()
            self.assertEqual(op, 0x9)
            client.send(frame(0xA, payload))
        client.send(frame(0x1, b"still here"))
        self.assertEqual(client.recv_frame(), (True, 0x1, b"still here"))
        client.close()

    def test_handshake_timeout_closes_a_silent_socket(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=5) as s:
            s.sendall(b"GET /echo HTTP/1.1\r\n")  # and nothing more
            started = time.monotonic()
            self.assertEqual(s.recv(100), b"")
            self.assertLess(time.monotonic() - started, 4)


class GracefulShutdown(unittest.TestCase):
    def test_sigterm_drains_with_1001_and_readyz_503(self):
        server = Server("--drain", "1s", "--shutdown-deadline", "5s")
        try:
            probe = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            probe.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertIn(b" 200 ", probe.recv(4096))

            async def go():
                clients = [await websockets.connect(server.url + "/echo") for _ in range(6)]
                server.signal(signal.SIGTERM)
                await asyncio.sleep(0.05)
                # A load balancer's keep-alive probe now sees 503 and is told to close.
                probe.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
                answer = probe.recv(4096)
                self.assertIn(b" 503 ", answer)
                self.assertIn(b"Connection: close", answer)
                codes = []
                for ws in clients:
                    with self.assertRaises(ConnectionClosed) as cm:
                        await asyncio.wait_for(ws.recv(), 10)
                    codes.append(cm.exception.rcvd.code if cm.exception.rcvd else None)
                return codes
            codes = asyncio.run(go())
            probe.close()
            self.assertEqual(codes, [1001] * 6)
            code, err = server.wait(timeout=15)
            self.assertEqual(code, 0, err)
        finally:
            server.stop()


if __name__ == "__main__":
    unittest.main()
