"""Integration: the PROXY protocol (v1 and v2) on the plain listeners (server.proxy_protocol),
behind hand-written headers and behind a real HAProxy with send-proxy-v2: the address in the
header is the client's for the per-address limits, a connection without a valid header or from
outside server.proxy_trusted is closed, and the admin listener takes no header.
"""
import asyncio
import os
import shutil
import signal
import socket
import ssl
import struct
import tempfile
import time
import unittest

import websockets

from certs import TestCA
from cluster_harness import ClusterTestCase, Haproxy, wait_until
from harness import Server, free_port, http_request

UPGRADE = (b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           b"Sec-WebSocket-Protocol: shoal.v1\r\n\r\n")


def v1(source, port=40000):
    return f"PROXY TCP4 {source} 127.0.0.1 {port} 8080\r\n".encode()


def v2(source, port=40000):
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    addresses = socket.inet_aton(source) + socket.inet_aton("127.0.0.1") + struct.pack("!HH", port, 8080)
    return sig + bytes([0x21, 0x11]) + struct.pack("!H", len(addresses)) + addresses


def status_after(port, header, request=UPGRADE, split=False, keep=None):
    """Sends header + request (the header in two pieces if `split`); returns the HTTP status, or
    None if the server closed without answering. With `keep` (a list), the socket stays open in it."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    data = header + request
    if split:
        s.sendall(data[:5])
        time.sleep(0.05)
        s.sendall(data[5:])
    else:
        s.sendall(data)
    got = b""
    try:
        while b"\r\n" not in got:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    except ConnectionResetError:
        pass
    if keep is not None:
        keep.append(s)
    else:
        s.close()
    return int(got.split(b" ")[1]) if got.startswith(b"HTTP/1.1 ") else None


def metric(port, name):
    status, _, body = http_request(port, "/metrics")
    assert status == 200
    return sum(int(line.rsplit(" ", 1)[1]) for line in body.decode().splitlines()
               if line.startswith(name + "{"))


class ProxyHeaders(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.admin = free_port()
        cls.server = Server("--proxy-protocol", "true", "--max-connections-per-address", "2",
                            "--admin-listen", f"127.0.0.1:{cls.admin}", "--handshake-timeout", "2s")

    @classmethod
    def tearDownClass(cls):
        assert cls.server.stop() == 0

    def test_the_header_names_the_client_for_the_limits(self):
        held = []
        try:
            for header in (v1("203.0.113.7"), v2("203.0.113.7")):
                self.assertEqual(status_after(self.server.port, header, keep=held), 101)
            # Third from that client: over its cap. Another client behind the same balancer is not.
            self.assertEqual(status_after(self.server.port, v1("203.0.113.7")), 429)
            self.assertEqual(status_after(self.server.port, v2("198.51.100.1"), keep=held), 101)
        finally:
            for s in held:
                s.close()

    def test_a_header_split_over_reads(self):
        for header in (v1("192.0.2.10"), v2("192.0.2.11")):
            self.assertEqual(status_after(self.server.port, header, split=True), 101)

    def test_no_header_or_a_bad_one_is_closed(self):
        before = metric(self.admin, "shoal_proxy_refused_total")
        self.assertIsNone(status_after(self.server.port, b""))  # an HTTP request, no header
        self.assertIsNone(status_after(self.server.port, b"PROXY TCP4 999.1.1.1 1.1.1.1 1 2\r\n"))
        deadline = time.monotonic() + 10
        while metric(self.admin, "shoal_proxy_refused_total") < before + 2:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)

    def test_the_admin_listener_takes_no_header(self):
        self.assertEqual(http_request(self.admin, "/healthz")[0], 200)


class OneListener(unittest.TestCase):
    def test_proxy_listen_takes_headers_on_that_listener_only(self):
        behind = free_port()
        server = Server("--listen", f"127.0.0.1:{behind}", "--proxy-listen", f"127.0.0.1:{behind}")
        try:
            self.assertEqual(status_after(behind, v2("203.0.113.5")), 101)
            self.assertIsNone(status_after(behind, b""))  # that one needs the header
            self.assertEqual(status_after(server.port, b""), 101)  # the other one takes none
        finally:
            self.assertEqual(server.stop(), 0)


class OverTls(unittest.TestCase):
    """On a TLS listener the header comes before the TLS handshake, as HAProxy sends it in TCP
    mode in front of a TLS server."""

    def test_header_then_tls(self):
        tmp = tempfile.mkdtemp(prefix="shoal-proxy-tls-")
        ca = TestCA(tmp)
        cert, key = ca.issue("localhost", "localhost")
        tls_port, admin = free_port(), free_port()
        server = Server("--tls-listen", f"127.0.0.1:{tls_port}", "--tls-cert", cert, "--tls-key", key,
                        "--proxy-protocol", "true", "--max-connections-per-address", "1",
                        "--admin-listen", f"127.0.0.1:{admin}")
        ctx = ssl.create_default_context(cafile=ca.cert)
        held = []
        try:
            def over_tls(header, split=False):
                s = socket.create_connection(("127.0.0.1", tls_port), timeout=10)
                if split:
                    s.sendall(header[:7])
                    time.sleep(0.05)
                    s.sendall(header[7:])
                else:
                    s.sendall(header)
                t = ctx.wrap_socket(s, server_hostname="localhost")
                t.sendall(UPGRADE)
                got = t.recv(4096)
                held.append(t)
                return int(got.split(b" ")[1])

            self.assertEqual(over_tls(v2("203.0.113.9")), 101)
            self.assertEqual(over_tls(v1("203.0.113.9")), 429)  # the same client, over its cap
            self.assertEqual(over_tls(v1("203.0.113.10"), split=True), 101)
            # No header: the ClientHello is not one, and the connection is closed.
            with socket.create_connection(("127.0.0.1", tls_port), timeout=10) as s:
                with self.assertRaises((ssl.SSLError, OSError)):
                    ctx.wrap_socket(s, server_hostname="localhost")
            self.assertGreaterEqual(metric(admin, "shoal_proxy_refused_total"), 1)
        finally:
            for t in held:
                t.close()
            self.assertEqual(server.stop(), 0)
            shutil.rmtree(tmp, ignore_errors=True)


class TrustedSources(unittest.TestCase):
    def test_a_source_outside_the_trusted_networks_is_closed(self):
        admin = free_port()
        server = Server("--proxy-protocol", "true", "--proxy-trusted", "10.9.9.0/24",
                        "--admin-listen", f"127.0.0.1:{admin}")
        try:
            self.assertIsNone(status_after(server.port, v1("203.0.113.7")))
            self.assertGreaterEqual(metric(admin, "shoal_proxy_refused_total"), 1)
        finally:
            self.assertEqual(server.stop(), 0)
        server = Server("--proxy-protocol", "true", "--proxy-trusted", "127.0.0.0/8")
        try:
            self.assertEqual(status_after(server.port, v1("203.0.113.7")), 101)
        finally:
            self.assertEqual(server.stop(), 0)


class BehindHaproxy(unittest.TestCase):
    """A real HAProxy with send-proxy-v2: clients connecting from 127.0.0.2 and 127.0.0.3 are
    told apart by Shoal although every connection it accepts comes from HAProxy."""

    def test_clients_keep_their_addresses(self):
        admin = free_port()
        server = Server("--proxy-protocol", "true", "--max-connections-per-address", "1",
                        "--admin-listen", f"127.0.0.1:{admin}")
        logs = tempfile.TemporaryDirectory(prefix="shoal-proxy-")
        proxy = None
        held = []
        try:
            proxy = Haproxy([("127.0.0.1", server.port, admin)], log_dir=logs.name, send_proxy_v2=True)
            proxy.wait_up(1)

            def through_proxy(source):
                s = socket.socket()
                s.bind((source, 0))
                s.settimeout(10)
                s.connect(("127.0.0.1", proxy.port))
                s.sendall(UPGRADE)
                got = s.recv(4096)
                held.append(s)
                return int(got.split(b" ")[1]) if got.startswith(b"HTTP/1.1 ") else None

            self.assertEqual(through_proxy("127.0.0.2"), 101)
            self.assertEqual(through_proxy("127.0.0.3"), 101)
            self.assertEqual(through_proxy("127.0.0.2"), 429)  # that client's one connection is held
            self.assertGreaterEqual(metric(admin, "shoal_proxy_headers_total"), 3)
        finally:
            for s in held:
                s.close()
            if proxy:
                proxy.stop()
            self.assertEqual(server.stop(), 0)
            logs.cleanup()


DEPLOY_HAPROXY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy",
                              "haproxy.cfg")


class DeployHaproxyFile(unittest.TestCase):
    """deploy/haproxy.cfg has what the production set-up depends on (the drain test below runs it)."""

    def test_the_settings_that_matter(self):
        with open(DEPLOY_HAPROXY) as f:
            lines = [l.split("#", 1)[0].strip() for l in f]
        text = "\n".join(l for l in lines if l)
        for needed in ("mode tcp", "balance leastconn", "http-check send meth GET uri /readyz",
                       "http-check expect status 200", "timeout tunnel 1h", "send-proxy-v2",
                       "option redispatch"):
            self.assertIn(needed, text)
        # A node that drains ends its own sessions with 1001; HAProxy must not cut them first.
        self.assertNotIn("shutdown-sessions", text)


class DrainBehindHaproxy(ClusterTestCase):
    """Two nodes behind a real HAProxy running deploy/haproxy.cfg (send-proxy-v2, issue 18): four
    clients from four loopback addresses are four addresses to the nodes; when one node drains,
    its clients get 1001 and come back through HAProxy to the other node, still as themselves."""

    def test_drained_clients_reconnect_as_themselves(self):
        flags = ("--proxy-protocol", "true", "--proxy-trusted", "127.0.0.1/32",
                 "--max-connections-per-address", "4", "--drain", "500ms")
        nodes = [self.shoal((), None, *flags), self.shoal((), None, *flags)]
        lb = self.haproxy([("127.0.0.1", n.port, n.admin_port) for n in nodes],
                          config_file=DEPLOY_HAPROXY)
        lb.wait_up(2, logs=nodes)
        sources = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]

        async def connect(source):
            # A client of a balancer retries a connect that reached a node as it went away.
            deadline = time.monotonic() + 60
            while True:
                try:
                    return await websockets.connect(lb.url + "/echo", local_addr=(source, 0),
                                                    ping_interval=None)
                except (OSError, websockets.InvalidHandshake, websockets.ConnectionClosed):
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.1)

        async def go():
            clients = [await connect(s) for s in sources]
            tracked = lambda: sum(n.metric("shoal_addresses_tracked") for n in nodes)
            wait_until("each node counting its clients' own addresses", lambda: tracked() == 4,
                       logs=[lb, *nodes])
            self.assertGreaterEqual(sum(n.metric("shoal_proxy_headers_total") for n in nodes), 4)
            # Drain the node with the most clients; its clients see 1001 and reconnect.
            counts = [n.metric("shoal_websocket_connections") for n in nodes]
            gone, left = (nodes[0], nodes[1]) if counts[0] >= counts[1] else (nodes[1], nodes[0])
            gone.signal(signal.SIGTERM)
            # Once it has exited, every client it had has been sent its 1001.
            code, _ = await asyncio.get_running_loop().run_in_executor(None, gone.wait, 60)
            self.assertEqual(code, 0)
            codes = []
            for i, ws in enumerate(clients):
                try:
                    await ws.send("still here")
                    await asyncio.wait_for(ws.recv(), 10)
                except websockets.ConnectionClosed as e:
                    codes.append(e.code)
                    clients[i] = await connect(sources[i])
                    await clients[i].send("back")
                    self.assertEqual(await asyncio.wait_for(clients[i].recv(), 10), "back")
            self.assertEqual(codes, [1001] * len(codes))
            self.assertGreaterEqual(len(codes), 1)
            wait_until("every client on the node left", lambda: left.metric("shoal_websocket_connections") == 4,
                       logs=[lb, left])
            self.assertEqual(left.metric("shoal_addresses_tracked"), 4)
            for ws in clients:
                await ws.close()

        asyncio.run(asyncio.wait_for(go(), 120))


if __name__ == "__main__":
    unittest.main()
