"""Integration: the admin listener (--admin-listen): /healthz, /readyz and /metrics only, outside
limits.max_connections and with a descriptor in reserve, so an operator (a balancer's health
check, Prometheus) still gets an answer when the public port is full: at max_connections, and at
the open-file limit."""
import resource
import socket
import unittest

from cluster_harness import wait_until
from harness import Server, free_port, http_request
from rawws import RawClient

DEADLINE = 60


def low_file_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


def ask(sock, path):
    """One request on a keep-alive connection: (status, body)."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        if not sep:
            continue
        length = int([l for l in head.split(b"\r\n")
                      if l.lower().startswith(b"content-length")][0].split(b":")[1])
        if len(body) >= length:
            return int(head.split(b" ")[1]), body[:length].decode()


def metric(sock, name):
    _, body = ask(sock, "/metrics")
    return sum(int(line.rsplit(" ", 1)[1]) for line in body.splitlines()
               if line.startswith(name + "{"))



class AdminListener(unittest.TestCase):
    def test_serves_the_operator_endpoints_only(self):
        admin = free_port()
        server = Server("--admin-listen", f"127.0.0.1:{admin}")
        try:
            for path in ("/healthz", "/readyz", "/metrics"):
                self.assertEqual(http_request(admin, path)[0], 200, path)
            for path, method in (("/ws", "GET"), ("/echo", "GET"), ("/publish/t", "POST"),
                                 ("/nothing", "GET")):
                status, _, body = http_request(admin, path, method, body=b"{}")
                self.assertEqual(status, 404, path)
                self.assertIn(b"serves /healthz, /readyz, /metrics, /metrics.json and /status only", body)
            self.assertEqual(http_request(server.port, "/healthz")[0], 200)  # public: as before
        finally:
            self.assertEqual(server.stop(), 0)

    def test_answers_when_the_public_port_is_at_max_connections(self):
        admin = free_port()
        server = Server("--admin-listen", f"127.0.0.1:{admin}", "--max-connections", "3")
        try:
            held = [RawClient(server.port) for _ in range(3)]
            with self.assertRaises((ConnectionError, OSError)):
                RawClient(server.port, timeout=5)  # the public port is full
            with socket.create_connection(("127.0.0.1", admin), timeout=10) as op:
                self.assertEqual(ask(op, "/readyz"), (200, "ready\n"))
                wait_until("the refusal counted",
                     lambda: metric(op, "shoal_connections_refused_total") >= 1)
                self.assertEqual(metric(op, "shoal_connections"), 4)  # 3 clients and this one
            for c in held:
                c.close()
        finally:
            self.assertEqual(server.stop(), 0)

    def test_answers_at_the_open_file_limit_on_its_reserve(self):
        admin = free_port()
        server = Server("--admin-listen", f"127.0.0.1:{admin}", shards=1,
                        preexec_fn=low_file_limit)
        extra = []
        try:
            probe = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            for _ in range(80):  # more than the 64 descriptors the server may hold
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", server.port))
                extra.append(s)
            wait_until("the public listener paused at EMFILE",
                 lambda: metric(probe, "shoal_accept_paused_total") > 0)
            # Whether an operator comes in on the reserve or on a descriptor that happened to be
            # free for a moment, it must be answered, again and again, while clients wait in the
            # backlog (the reserve's use is counted, but not asserted: which of the two it was
            # depends on timing).
            for round_ in range(3):
                with socket.create_connection(("127.0.0.1", admin), timeout=DEADLINE) as op:
                    op.settimeout(DEADLINE)
                    self.assertEqual(ask(op, "/healthz"), (200, "ok\n"), f"round {round_}")
                    self.assertGreater(metric(op, "shoal_accept_paused_total"), 0)
            probe.close()
        finally:
            for s in extra:
                s.close()
            self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main()
