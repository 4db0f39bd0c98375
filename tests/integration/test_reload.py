"""Integration: SIGHUP reloads the configuration file (issue 18): what can change while running
is applied to new connections (origins, rate limits, the publish token, the log level) and named
in the log; what needs a restart is named and left as it was; a file that does not load keeps the
running configuration whole.
"""
import asyncio
import json
import os
import signal
import tempfile
import time
import unittest

import websockets

from harness import Server, http_request


def origin_status(port, origin):
    """The status of an upgrade on /echo with `origin`."""
    import socket
    req = (f"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           f"Origin: {origin}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(req)
        return int(s.recv(4096).split(b" ")[1])


class Reload(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="shoal-reload-")
        self.config = os.path.join(self.dir, "shoal.toml")
        self.log = os.path.join(self.dir, "shoal.log")
        self.write("")
        self.server = Server("--config", self.config, log=self.log)

    def tearDown(self):
        self.assertEqual(self.server.stop(), 0)

    def write(self, text):
        with open(self.config, "w") as f:
            f.write(text)

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def reload_and_wait(self, expect):
        """SIGHUP, then until the log has `expect` once more than before."""
        before = self.log_text().count(expect)
        self.server.signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while self.log_text().count(expect) <= before:
            self.assertLess(time.monotonic(), deadline, f"no '{expect}' in:\n{self.log_text()[-2000:]}")
            time.sleep(0.05)

    def test_applies_what_it_can_and_names_the_rest(self):
        port = self.server.port
        self.assertEqual(origin_status(port, "https://evil.example"), 101)
        self.write('[security]\nallowed_origins = ["https://app.example"]\n'
                   '[limits]\nmessages_per_second = 3\nrate_limit_strikes = 1000\nmax_connections = 5000\n'
                   '[backpressure]\npolicy = "close"\n'
                   '[pubsub]\npublish_token = "reloaded-token"\n')
        self.reload_and_wait("SIGHUP: applied")
        text = self.log_text()
        self.assertIn("security.allowed_origins", text)
        self.assertIn("limits.messages_per_second", text)
        self.assertIn("backpressure.policy", text)
        self.assertIn("need a restart: limits.max_connections", text)
        # Shards take the new settings between loop passes: poll for it.
        deadline = time.monotonic() + 20
        while origin_status(port, "https://evil.example") != 403:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        self.assertEqual(origin_status(port, "https://app.example"), 101)
        status, _, _ = http_request(port, "/publish/t", "POST",
                                    {"Content-Type": "application/json",
                                     "Authorization": "Bearer reloaded-token"}, b"1")
        self.assertEqual(status, 200)
        self.assertEqual(http_request(port, "/publish/t", "POST",
                                      {"Content-Type": "application/json"}, b"1")[0], 401)

        async def flood():  # a new session gets the new rate limit
            ws = await websockets.connect(self.server.url + "/ws", subprotocols=["shoal.v1"],
                                          origin="https://app.example")
            for i in range(10):
                await ws.send(json.dumps({"op": "pub", "topic": "t", "data": i}))
            replies = [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(10)]
            await ws.close()
            return [r.get("code", r["op"]) for r in replies]
        self.assertIn("rate_limited", asyncio.run(asyncio.wait_for(flood(), 60)))

    def test_a_bad_file_keeps_the_running_configuration(self):
        self.write('[security]\nallowed_origins = ["https://app.example"]\n')
        self.reload_and_wait("SIGHUP: applied")
        self.write('[security]\nallowed_origins = ["not an origin"]\n')
        self.reload_and_wait("SIGHUP: keeping the running configuration")
        self.write('[limits\nbroken')
        self.reload_and_wait("SIGHUP: keeping the running configuration")
        deadline = time.monotonic() + 20
        while origin_status(self.server.port, "https://evil.example") != 403:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        self.assertEqual(origin_status(self.server.port, "https://app.example"), 101)

    def test_unchanged_says_so(self):
        self.reload_and_wait("SIGHUP: the configuration is unchanged")


if __name__ == "__main__":
    unittest.main()
