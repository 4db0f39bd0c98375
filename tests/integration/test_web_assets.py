"""Integration: the files of gateway/web/ embedded in the binary (the JavaScript client, the
demo, the status page) and /metrics.json: every file byte for byte with its content type, a
strong ETag from its SHA-256, 304 on If-None-Match, HEAD, nosniff and CSP; folders redirect to
their slash; /metrics.json per shard and in total, moving with traffic, without contents; the
admin listener's share; each node of a cluster naming itself and its link; server.status_page
off (and back on through SIGHUP)."""
import hashlib
import json
import os
import signal
import tempfile
import time
import unittest

from cluster_harness import wait_until
from harness import Server, free_port, http_request
from rawws import RawClient, frame

WEB = os.path.join(os.path.dirname(__file__), "..", "..", "gateway", "web")
DEADLINE = 60
TYPES = {".js": "text/javascript; charset=utf-8", ".html": "text/html; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".ts": "text/plain; charset=utf-8",
         ".svg": "image/svg+xml"}


def web_files():
    """{url path: bytes} for every file under gateway/web/."""
    files = {}
    for root, _, names in os.walk(WEB):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                files["/" + os.path.relpath(path, WEB).replace(os.sep, "/")] = f.read()
    return files


def metrics_json(port):
    status, headers, body = http_request(port, "/metrics.json")
    assert status == 200, status
    assert headers["content-type"] == "application/json", headers
    return json.loads(body)



class EmbeddedFiles(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.admin = free_port()
        cls.server = Server("--admin-listen", f"127.0.0.1:{cls.admin}")

    @classmethod
    def tearDownClass(cls):
        assert cls.server.stop() == 0

    def test_every_file_byte_for_byte_with_type_and_strong_etag(self):
        files = web_files()
        self.assertIn("/status.html", files)
        for path, data in files.items():
            status, headers, body = http_request(self.server.port, path)
            self.assertEqual(status, 200, path)
            self.assertEqual(body, data, path)
            self.assertEqual(headers["content-type"], TYPES[os.path.splitext(path)[1]], path)
            self.assertEqual(headers["etag"], '"' + hashlib.sha256(data).hexdigest()[:32] + '"', path)
            self.assertEqual(headers["cache-control"], "no-cache", path)
            self.assertEqual(headers["x-content-type-options"], "nosniff", path)
            policy = headers["content-security-policy"]
            self.assertIn("default-src 'none'", policy, path)
            self.assertIn("frame-ancestors 'none'", policy, path)
            if path.endswith(".html"):
                self.assertIn("script-src 'self'", policy)
                self.assertIn("connect-src 'self'", policy)
                self.assertNotIn("unsafe-inline", policy)

    def test_if_none_match_head_and_methods(self):
        port = self.server.port
        status, headers, body = http_request(port, "/status.js")
        tag = headers["etag"]
        for value in (tag, "W/" + tag, f'"other", {tag}', "*"):
            status, h, b = http_request(port, "/status.js", headers={"If-None-Match": value})
            self.assertEqual((status, b), (304, b""), value)
            self.assertEqual(h["etag"], tag)
            self.assertEqual(h["cache-control"], "no-cache")
        status, _, b = http_request(port, "/status.js", headers={"If-None-Match": '"other"'})
        self.assertEqual((status, b), (200, body))
        status, h, b = http_request(port, "/status.js", method="HEAD")
        self.assertEqual((status, b, int(h["content-length"]), h["etag"]), (200, b"", len(body), tag))
        status, h, _ = http_request(port, "/status.js", method="POST", body=b"x")
        self.assertEqual((status, h["allow"]), (405, "GET, HEAD"))
        for path in ("/status.js/", "/nothing.js", "/", "/../status.js", "/STATUS"):
            self.assertEqual(http_request(port, path)[0], 404, path)

    def test_status_page_and_folders(self):
        port = self.server.port
        status, headers, body = http_request(port, "/status")
        self.assertEqual((status, headers["content-type"]), (200, "text/html; charset=utf-8"))
        self.assertEqual(body, web_files()["/status.html"])
        folders = {p.rsplit("/", 1)[0] for p in web_files() if p.endswith("/index.html")}
        for folder in folders:
            status, headers, _ = http_request(port, folder + "?room=a")
            self.assertEqual((status, headers["location"]), (301, folder + "/?room=a"), folder)
            status, _, body = http_request(port, folder + "/")
            self.assertEqual((status, body), (200, web_files()[folder + "/index.html"]), folder)

    def test_admin_listener_serves_the_status_page_and_json_only(self):
        self.assertEqual(http_request(self.admin, "/status")[0], 200)
        self.assertEqual(http_request(self.admin, "/status.js")[0], 200)
        self.assertEqual(http_request(self.admin, "/favicon.svg")[0], 200)
        self.assertEqual(metrics_json(self.admin)["server"]["shards"], 2)
        for path in web_files():
            if not path.startswith("/status.") and path != "/favicon.svg":
                self.assertEqual(http_request(self.admin, path)[0], 404, path)

    def test_metrics_json_moves_with_traffic_and_holds_no_contents(self):
        port = self.server.port
        before = metrics_json(port)
        self.assertEqual(len(before["shards"]), 2)
        self.assertIsNone(before["cluster"])
        self.assertLess(abs(before["server"]["time_ms"] / 1000 - time.time()), 60)
        for name in ("connections", "websocket_connections", "messages_in", "messages_out",
                     "deliveries", "bytes_in", "bytes_out", "drops", "gaps", "buffered_bytes",
                     "paused_reads", "closes"):
            self.assertIn(name, before["total"])
            self.assertIn(name, before["shards"][1])
        sub = RawClient(port, "/ws", headers={"Sec-WebSocket-Protocol": "shoal.v1"})
        pub = RawClient(port, "/ws", headers={"Sec-WebSocket-Protocol": "shoal.v1"})
        try:
            sub.send(frame(1, b'{"op":"sub","topic":"private.topic-name"}'))
            self.assertIn(b"subscribed", sub.recv_frame()[2])
            for i in range(5):
                pub.send(frame(1, b'{"op":"pub","topic":"private.topic-name","data":"secret-%d"}' % i))
            for _ in range(5):
                self.assertIn(b"secret-", sub.recv_frame()[2])
            wait_until("the messages counted", lambda: metrics_json(port)["total"]["deliveries"]
                 >= before["total"]["deliveries"] + 5)
            status, _, body = http_request(port, "/metrics.json")
            after = json.loads(body)
            self.assertNotIn(b"secret", body)
            self.assertNotIn(b"topic-name", body)
            self.assertGreaterEqual(after["total"]["messages_in"], before["total"]["messages_in"] + 6)
            self.assertGreaterEqual(after["total"]["websocket_connections"], 2)
            self.assertGreater(after["server"]["uptime_ms"], before["server"]["uptime_ms"])
            for name, total in after["total"].items():
                if isinstance(total, int) and name != "shard_queue_limit_bytes":
                    self.assertEqual(total, sum(s[name] for s in after["shards"]), name)
        finally:
            sub.close()
            pub.close()


class Clustered(unittest.TestCase):
    def test_each_node_names_itself_and_its_link(self):
        from cluster_harness import NatsServer
        folder = tempfile.mkdtemp(prefix="shoal-web-cluster-")
        nats = NatsServer(log_dir=folder)
        nodes = []
        try:
            for name in ("node-a", "node-b"):
                nodes.append(Server("--nats", nats.url, "--node-name", name,
                                    log=os.path.join(folder, f"{name}.log")))
            for node, name in zip(nodes, ("node-a", "node-b")):
                wait_until(f"{name}'s link up", lambda: metrics_json(node.port)["cluster"]["link_up"])
                self.assertEqual(metrics_json(node.port)["cluster"]["node"], name)
            nats.stop()
            wait_until("the link down", lambda: not metrics_json(nodes[0].port)["cluster"]["link_up"])
        finally:
            for node in nodes:
                node.stop()
            nats.kill()


class StatusPageOff(unittest.TestCase):
    def test_off_then_on_through_sighup(self):
        folder = tempfile.mkdtemp(prefix="shoal-web-")
        config = os.path.join(folder, "shoal.toml")
        log = os.path.join(folder, "shoal.log")
        with open(config, "w") as f:
            f.write("[server]\nstatus_page = false\n")
        admin = free_port()
        server = Server("--config", config, "--admin-listen", f"127.0.0.1:{admin}", log=log)
        try:
            for port in (server.port, admin):
                for path in ("/status", "/status.js", "/metrics.json"):
                    self.assertEqual(http_request(port, path)[0], 404, (port, path))
                self.assertEqual(http_request(port, "/metrics")[0], 200)
            with open(config, "w") as f:
                f.write("[server]\nstatus_page = true\n")
            server.signal(signal.SIGHUP)
            wait_until("the page back after SIGHUP", lambda: http_request(server.port, "/status")[0] == 200)
            self.assertEqual(http_request(admin, "/metrics.json")[0], 200)
            with open(log, errors="replace") as f:
                self.assertIn("server.status_page", f.read())
        finally:
            self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main()
