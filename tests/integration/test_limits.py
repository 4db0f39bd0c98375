"""Integration: the server at its limits: the open-file limit (EMFILE) and max_connections.
At EMFILE a shard pauses accepting, counts it, and keeps serving the connections it has."""
import resource
import socket
import time
import unittest

from harness import Server
from rawws import RawClient, frame


def low_file_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


def metric(port, name, sock=None):
    """Sums a metric over shards, asked over an existing keep-alive connection."""
    sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while True:
        data += sock.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        if not head:
            continue
        length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0].split(b":")[1])
        if len(body) >= length:
            break
    total = 0
    for line in body.decode().splitlines():
        if line.startswith(name + "{"):
            total += int(line.rsplit(" ", 1)[1])
    return total


class OpenFileLimit(unittest.TestCase):
    def test_emfile_pauses_accept_and_keeps_serving(self):
        server = Server(preexec_fn=low_file_limit)
        try:
            probe = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            client = RawClient(server.port)
            extra = []
            for _ in range(80):  # more than the 64 descriptors the server may hold
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", server.port))
                extra.append(s)
            time.sleep(0.5)
            # The connections it already has keep working.
            client.send(frame(0x1, b"still served"))
            self.assertEqual(client.recv_frame(), (True, 0x1, b"still served"))
            self.assertGreater(metric(server.port, "shoal_accept_paused_total", probe), 0)
            # Freeing descriptors lets the waiting peers in.
            for s in extra:
                s.close()
            time.sleep(0.5)
            late = RawClient(server.port)
            late.send(frame(0x1, b"late"))
            self.assertEqual(late.recv_frame(), (True, 0x1, b"late"))
            late.close()
            client.close()
            probe.close()
        finally:
            self.assertEqual(server.stop(), 0)


class MaxConnections(unittest.TestCase):
    def test_connections_over_the_limit_are_refused(self):
        server = Server("--max-connections", "3")
        try:
            held = [RawClient(server.port) for _ in range(3)]
            with self.assertRaises((ConnectionError, OSError)):
                RawClient(server.port, timeout=2)
            held[0].close()
            time.sleep(0.2)
            RawClient(server.port).close()
            for c in held[1:]:
                c.close()
        finally:
            self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main()
