"""Integration: shoal-loadgen's JWT options (issue 16) against a small fake server in this
process, which records each upgrade request and answers the auth message as a test tells it.
It checks where the token goes (header, query, first message), which connection gets which token
of a --token-file (also across --processes), and that every way of not opening is counted by a
clear reason within a bounded wait. The gateway's own checking of tokens is not tested here."""
import base64
import hashlib
import json
import os
import socket
import struct
import subprocess
import tempfile
import threading
import unittest

from harness import LOADGEN, run_loadgen
from rawws import frame

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class FakeServer:
    """Accepts WebSocket upgrades on 127.0.0.1. `answer` is what follows a client's first
    message: "authed", "refuse" (error unauthorized, then a close), "close", "other" (an op that
    is neither), "silent"; or "http401" to refuse the upgrade itself. Requests (request line and
    headers) and first messages are kept in order of arrival."""

    def __init__(self, answer="authed"):
        self.answer = answer
        self.requests, self.first_messages = [], []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path="/ws"):
        return f"ws://127.0.0.1:{self.port}{path}"

    def close(self):
        self.sock.close()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _read_message(conn, buf):
        """One masked client frame: (opcode, payload, rest of buf)."""
        def need(n):
            nonlocal buf
            while len(buf) < n:
                chunk = conn.recv(65536)
                if not chunk:
                    raise ConnectionError("closed")
                buf += chunk
        need(2)
        n, at = buf[1] & 0x7F, 2
        if n == 126:
            need(4)
            n, at = struct.unpack("!H", buf[2:4])[0], 4
        need(at + 4 + n)
        key = buf[at:at + 4]
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(buf[at + 4:at + 4 + n]))
        return buf[0] & 0x0F, payload, buf[at + 4 + n:]

    def _serve(self, conn):
        with conn:
            try:
                buf = b""
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.decode().split("\r\n")
                headers = dict((k.strip().lower(), v.strip())
                               for k, v in (line.split(":", 1) for line in lines[1:]))
                with self.lock:
                    self.requests.append((lines[0], headers))
                if self.answer == "http401":
                    conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n")
                    return
                accept = base64.b64encode(hashlib.sha1(
                    headers["sec-websocket-key"].encode() + GUID).digest())
                conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                             b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
                opcode, payload, buf = self._read_message(conn, buf)
                with self.lock:
                    self.first_messages.append((opcode, payload.decode()))
                close_1008 = frame(0x8, struct.pack("!H", 1008), mask=False)
                reply = {
                    "authed": frame(0x1, b'{"op":"authed","sub":"lg"}', mask=False),
                    "refuse": frame(0x1, b'{"op":"error","code":"unauthorized","reason":"bad'
                                         b' signature"}', mask=False) + close_1008,
                    "close": close_1008,
                    "other": frame(0x1, b'{"op":"hello"}', mask=False),
                    "silent": b"",
                }[self.answer]
                conn.sendall(reply)
                while conn.recv(65536):
                    pass
            except (OSError, ConnectionError, ValueError):
                return


def run_failing(*args, timeout=60):
    """Runs shoal-loadgen expecting exit code 1; returns (report, stderr)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        proc = subprocess.run([LOADGEN, *args, "--json", out.name], capture_output=True,
                              text=True, timeout=timeout)
        if proc.returncode != 1:
            raise AssertionError(f"expected exit 1, got {proc.returncode}: {proc.stderr}")
        with open(out.name) as f:
            return json.load(f), proc.stderr


class LoadgenToken(unittest.TestCase):
    def setUp(self):
        self.servers = []
        self.files = []

    def tearDown(self):
        for s in self.servers:
            s.close()
        for path in self.files:
            os.unlink(path)

    def server(self, answer="authed"):
        s = FakeServer(answer)
        self.servers.append(s)
        return s

    def token_file(self, text):
        with tempfile.NamedTemporaryFile("w", suffix=".tokens", delete=False) as f:
            f.write(text)
        self.files.append(f.name)
        return f.name

    def test_header_carries_the_token_file_round_robin_over_processes(self):
        # Connection i presents token i % 3 however the run is split: 7 connections over 2
        # processes of 2 threads each must give A, B, C, A, B, C, A.
        s = self.server()
        tokens = self.token_file("tok.A\n\n  tok.B\r\ntok.C\n")
        r = run_loadgen("connect", "--url", s.url("/echo"), "--connections", "7", "--processes",
                        "2", "--threads", "2", "--duration", "0.3", "--token-file", tokens)
        self.assertEqual((r["connections"], r["connect_errors"], r["processes"]), (7, 0, 2))
        self.assertEqual(r["open_failures"], {})
        got = sorted(h.get("authorization", "") for _, h in s.requests)
        self.assertEqual(got, sorted(["Bearer tok.A"] * 3 + ["Bearer tok.B"] * 2 + ["Bearer tok.C"] * 2))
        self.assertTrue(all(line.startswith("GET /echo HTTP/1.1") for line, _ in s.requests))

    def test_round_robin_over_urls_and_tokens_together(self):
        s = self.server()
        tokens = self.token_file("t1\nt2\nt3\n")
        run_loadgen("connect", "--url", s.url("/a"), "--url", s.url("/b?x=1"), "--connections",
                    "6", "--processes", "3", "--duration", "0.3", "--token-file", tokens,
                    "--token-in", "query")
        # Connection i: URL i % 2, token i % 3.
        expected = sorted(f"GET {('/a?', '/b?x=1&')[i % 2]}token=t{i % 3 + 1} HTTP/1.1"
                          for i in range(6))
        self.assertEqual(sorted(line for line, _ in s.requests), expected)
        self.assertFalse(any("authorization" in h for _, h in s.requests))

    def test_no_token_options_send_no_token(self):
        s = self.server()
        run_loadgen("connect", "--url", s.url("/echo"), "--connections", "2", "--duration", "0.3")
        self.assertEqual([line for line, _ in s.requests], ["GET /echo HTTP/1.1"] * 2)
        self.assertFalse(any("authorization" in h for _, h in s.requests))

    def test_message_opens_only_once_authed(self):
        s = self.server("authed")
        r = run_loadgen("connect", "--url", s.url(), "--connections", "3", "--duration", "0.3",
                        "--token", "a.b.c", "--token-in", "message")
        self.assertEqual((r["connections"], r["connect_errors"]), (3, 0))
        self.assertEqual(r["latency_us"]["count"], 3)
        self.assertEqual(s.first_messages, [(1, '{"op":"auth","token":"a.b.c"}')] * 3)
        self.assertFalse(any("authorization" in h or "token=" in line for line, h in s.requests))

    def test_pubsub_subscribes_after_authed(self):
        # The subscriber's subscribe must come after the auth message: the fake server sees the
        # auth message first on every connection (and then never confirms a subscription, so
        # the warm-up times out: exit 1).
        s = self.server("authed")
        _, stderr = run_failing("pubsub", "--url", s.url(), "--subscribers", "2", "--publishers",
                                "1", "--rate", "10", "--duration", "0.3", "--warmup-timeout", "1",
                                "--token", "p.q.r", "--token-in", "message")
        self.assertIn("warm-up did not finish", stderr)
        self.assertEqual(s.first_messages, [(1, '{"op":"auth","token":"p.q.r"}')] * 3)

    def test_every_refusal_is_a_failed_open_with_its_reason(self):
        for answer, reason, said in (
                ("http401", "HTTP 401", "upgrade refused: HTTP/1.1 401 Unauthorized"),
                ("refuse", "auth refused: unauthorized", '"code":"unauthorized"'),
                ("close", "closed during auth", "code 1008"),
                ("other", "auth: unexpected answer", '{"op":"hello"}')):
            with self.subTest(answer=answer):
                s = self.server(answer)
                r, stderr = run_failing("connect", "--url", s.url(), "--connections", "3",
                                        "--duration", "0.3", "--token", "a.b.c", "--token-in",
                                        "message", "--warmup-timeout", "10")
                self.assertEqual((r["connections"], r["connect_errors"]), (0, 3))
                self.assertEqual(r["open_failures"], {reason: 3})
                self.assertIn(said, stderr)

    def test_refusals_in_child_processes_fail_the_run_and_add_up(self):
        s = self.server("refuse")
        r, stderr = run_failing("connect", "--url", s.url(), "--connections", "5", "--processes",
                                "2", "--duration", "0.3", "--token", "a.b.c", "--token-in",
                                "message")
        self.assertEqual((r["processes"], r["connections"], r["connect_errors"]), (2, 0, 5))
        self.assertEqual(r["open_failures"], {"auth refused: unauthorized": 5})
        self.assertIn("a child process failed", stderr)

    def test_no_answer_ends_at_the_warmup_timeout(self):
        s = self.server("silent")
        r, stderr = run_failing("echo", "--url", s.url(), "--connections", "2", "--duration",
                                "0.3", "--token", "a.b.c", "--token-in", "message",
                                "--warmup-timeout", "1", timeout=20)
        self.assertIn("warm-up did not finish in 1 s", stderr)
        self.assertEqual((r["connections"], r["connect_errors"]), (0, 2))
        self.assertEqual(r["open_failures"], {"unanswered: auth": 2})

    def test_bad_token_flags_exit_2_with_a_clear_message(self):
        empty = self.token_file("\n   \n")
        bad = self.token_file("ok.token\nnot=ok\n")
        url = "ws://127.0.0.1:9/echo"
        for flags, said in (
                (["--token", "a", "--token-file", bad], "--token or --token-file, not both"),
                (["--token", "a", "--token-in", "cookie"], "--token-in must be header, query or message"),
                (["--token-in", "query"], "--token-in needs --token or --token-file"),
                (["--token", "a b"], "--token: character 2 is not base64url"),
                (["--token", ""], "--token is empty"),
                (["--token-file", empty], "no token in the file"),
                (["--token-file", bad], "line 2, column 4"),
                (["--token-file", "/nonexistent/tokens"], "cannot read: No such file")):
            with self.subTest(flags=flags):
                proc = subprocess.run([LOADGEN, "connect", "--url", url, "--duration", "1", *flags],
                                      capture_output=True, text=True, timeout=30)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertIn(said, proc.stderr)


if __name__ == "__main__":
    unittest.main()
