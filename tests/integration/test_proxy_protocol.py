"""Integration: the PROXY protocol (v1 and v2) on the plain listeners (server.proxy_protocol),
behind hand-written headers and behind a real HAProxy with send-proxy-v2: the address in the
header is the client's for the per-address limits, a connection without a valid header or from
outside server.proxy_trusted is closed, and the admin listener takes no header.
"""
import socket
import struct
import tempfile
import time
import unittest

from cluster_harness import Haproxy
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


if __name__ == "__main__":
    unittest.main()
