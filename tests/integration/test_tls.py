"""TLS listeners (wss://, https://) against the real server, 2 shards, with certificates the
tests make with the openssl CLI: echo and pub/sub with Python's websockets over TLS, SNI
choosing among certificates (exact and wildcard names), session resumption by ticket, old
protocol versions refused, plain HTTP on the TLS port, a client stalling mid-handshake, SIGHUP
reload under traffic (and a bad reload keeping the old certificates), and start-up errors for
files that cannot serve.
"""
import asyncio
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest
import warnings

import websockets

from certs import TestCA
from harness import LOADGEN, Server, free_port, http_get, run_loadgen

BINARY = os.environ.get("SHOAL_BIN", "build/asan/gateway/shoal")


def metric_sum(port, name):
    _, _, body = http_get(port, "/metrics")
    return sum(int(line.split()[-1]) for line in body.decode().splitlines()
               if line.startswith(name + "{"))


def peer_common_name(port, ctx, server_name):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname=server_name) as t:
            return dict(x[0] for x in t.getpeercert()["subject"])["commonName"]


def https_get(port, ctx, path, server_name="localhost", session=None):
    """One HTTP/1.1 request over TLS: returns (status line, session, session_reused)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname=server_name, session=session) as t:
            t.sendall(f"GET {path} HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := t.recv(65536):
                data += chunk
            return data.split(b"\r\n")[0].decode(), t.session, t.session_reused


class TlsServer(unittest.TestCase):
    extra_flags = ()

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="shoal-tls-")
        cls.ca = TestCA(cls.dir)
        cls.cert, cls.key = cls.ca.issue("localhost", "localhost")
        cls.sni_b = cls.ca.combined("b", "b.test")
        cls.sni_wild = cls.ca.combined("wild", "*.wild.test")
        cls.tls_port = free_port()
        cls.server = Server("--tls-listen", f"127.0.0.1:{cls.tls_port}", "--tls-cert", cls.cert,
                            "--tls-key", cls.key, "--tls-sni-cert", cls.sni_b,
                            "--tls-sni-cert", cls.sni_wild, *cls.extra_flags)
        cls.ctx = ssl.create_default_context(cafile=cls.ca.cert)

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)
        assert code == 0, f"shoal exited with {code}"

    @property
    def wss(self):
        return f"wss://localhost:{self.tls_port}"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


class Basics(TlsServer):
    def test_echo_over_wss(self):
        async def go():
            async with websockets.connect(f"{self.wss}/echo", ssl=self.ctx, max_size=None) as ws:
                for m in ["héllo", os.urandom(70000), b"\x00" * (1 << 20), "x" * 300000]:
                    await ws.send(m)
                    self.assertEqual(await ws.recv(), m)
        run(go())

    def test_pubsub_over_wss_across_shards(self):
        async def go():
            subs = [await websockets.connect(f"{self.wss}/ws", ssl=self.ctx, subprotocols=["shoal.v1"])
                    for _ in range(4)]
            for ws in subs:
                await ws.send(json.dumps({"op": "sub", "topic": "tls.t"}))
                self.assertEqual(json.loads(await ws.recv())["op"], "subscribed")
            # A plain ws:// subscriber on the same topic sees the same order.
            plain = await websockets.connect(f"{self.server.url}/ws", subprotocols=["shoal.v1"])
            await plain.send(json.dumps({"op": "sub", "topic": "tls.t"}))
            await plain.recv()
            for n in range(200):
                await subs[n % 2].send(json.dumps({"op": "pub", "topic": "tls.t", "data": n}))
            for ws in subs + [plain]:
                got = []
                while len(got) < 200:
                    m = json.loads(await ws.recv())
                    if m["op"] == "msg":
                        got.append((m["seq"], m["data"]))
                self.assertEqual([s for s, _ in got], list(range(1, 201)))
                order = [d for _, d in got]
                if ws is subs[0]:
                    first = order
                self.assertEqual(order, first)
            for ws in subs + [plain]:
                await ws.close()
        run(go())

    def test_http_endpoints_over_tls_and_the_handshake_counts(self):
        before = metric_sum(self.server.port, "shoal_tls_handshakes_total")
        status, _, _ = https_get(self.tls_port, self.ctx, "/healthz")
        self.assertEqual(status, "HTTP/1.1 200 OK")
        self.assertEqual(metric_sum(self.server.port, "shoal_tls_handshakes_total"), before + 1)

    def test_sni_picks_the_certificate(self):
        self.assertEqual(peer_common_name(self.tls_port, self.ctx, "localhost"), "localhost")
        self.assertEqual(peer_common_name(self.tls_port, self.ctx, "b.test"), "b.test")
        self.assertEqual(peer_common_name(self.tls_port, self.ctx, "api.wild.test"), "*.wild.test")
        # An unknown name gets the default certificate, which the client then refuses.
        with self.assertRaises(ssl.SSLCertVerificationError):
            peer_common_name(self.tls_port, self.ctx, "unknown.test")

    def test_session_resumption_by_ticket(self):
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            with self.subTest(version=version):
                ctx = ssl.create_default_context(cafile=self.ca.cert)
                ctx.minimum_version = ctx.maximum_version = version
                _, session, reused = https_get(self.tls_port, ctx, "/healthz")
                self.assertFalse(reused)
                status, _, reused = https_get(self.tls_port, ctx, "/healthz", session=session)
                self.assertEqual(status, "HTTP/1.1 200 OK")
                self.assertTrue(reused)

    def test_old_protocol_versions_are_refused(self):
        ctx = ssl.create_default_context(cafile=self.ca.cert)
        with warnings.catch_warnings():  # the client side deprecates them too
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        with self.assertRaises((ssl.SSLError, ConnectionResetError)):
            peer_common_name(self.tls_port, ctx, "localhost")

    def test_plain_http_on_the_tls_port_is_closed(self):
        before = metric_sum(self.server.port, "shoal_tls_handshakes_failed_total")
        with socket.create_connection(("127.0.0.1", self.tls_port), timeout=5) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            try:
                while chunk := s.recv(4096):
                    data += chunk
            except ConnectionResetError:
                pass
        self.assertNotIn(b"200", data)  # at most a TLS alert, never an HTTP answer
        deadline = time.monotonic() + 5
        while metric_sum(self.server.port, "shoal_tls_handshakes_failed_total") == before:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)


class Loadgen(TlsServer):
    """shoal-loadgen over wss://, verifying the certificate against the test CA."""

    def test_echo_and_pubsub_over_wss(self):
        r = run_loadgen("echo", "--url", f"{self.wss}/echo", "--ca", self.ca.cert,
                         "--connections", "10", "--inflight", "2", "--size", "200",
                         "--duration", "1", "--threads", "1")
        self.assertGreater(r["sent"], 0)
        self.assertEqual(r["received"], r["sent"])
        r = run_loadgen("pubsub", "--url", f"{self.wss}/ws", "--ca", self.ca.cert,
                         "--subscribers", "20", "--topics", "2", "--publishers", "2", "--burst", "16",
                         "--size", "100", "--duration", "1", "--threads", "2")
        self.assertGreater(r["expected"], 0)
        self.assertEqual(r["delivered"], r["expected"])
        self.assertEqual(r["order_violations"], 0)

    def test_an_untrusted_certificate_fails_the_run(self):
        proc = subprocess.run([LOADGEN, "echo", "--url", f"{self.wss}/echo", "--connections", "1",
                               "--duration", "1", "--warmup-timeout", "3"],  # system CAs only
                              capture_output=True, text=True, timeout=60)
        self.assertNotEqual(proc.returncode, 0)


class StalledHandshake(TlsServer):
    extra_flags = ("--handshake-timeout", "1s")

    def test_a_client_stalling_mid_handshake_is_dropped_and_others_carry_on(self):
        stalled = socket.create_connection(("127.0.0.1", self.tls_port), timeout=10)
        # The first bytes of a TLS record holding a ClientHello, and then nothing.
        stalled.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        started = time.monotonic()

        async def go():
            async with websockets.connect(f"{self.wss}/echo", ssl=self.ctx) as ws:
                for n in range(20):
                    await ws.send(f"meanwhile {n}")
                    self.assertEqual(await ws.recv(), f"meanwhile {n}")
        run(go())
        try:
            self.assertEqual(stalled.recv(4096), b"")
        except ConnectionResetError:
            pass
        self.assertLess(time.monotonic() - started, 5)
        stalled.close()


class MinimumVersion13(TlsServer):
    extra_flags = ("--tls-min-version", "1.3")

    def test_tls12_client_is_refused_when_13_is_the_minimum(self):
        ctx = ssl.create_default_context(cafile=self.ca.cert)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        with self.assertRaises((ssl.SSLError, ConnectionResetError)):
            peer_common_name(self.tls_port, ctx, "localhost")
        ctx13 = ssl.create_default_context(cafile=self.ca.cert)
        self.assertEqual(peer_common_name(self.tls_port, ctx13, "localhost"), "localhost")


class Reload(TlsServer):
    def test_sighup_reloads_certificates_without_dropping_connections(self):
        async def go():
            ws = await websockets.connect(f"{self.wss}/echo", ssl=self.ctx)
            await ws.send("before")
            self.assertEqual(await ws.recv(), "before")
            # New certificate at the same paths (another CN, same names).
            cert2, key2 = self.ca.issue("localhost2", "localhost", common_name="localhost-2")
            shutil.copy(cert2, self.cert)
            shutil.copy(key2, self.key)
            self.server.signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while peer_common_name(self.tls_port, self.ctx, "localhost") != "localhost-2":
                self.assertLess(time.monotonic(), deadline, "reload not seen")
                await ws.send("during")  # traffic on the old connection throughout
                self.assertEqual(await ws.recv(), "during")
                await asyncio.sleep(0.05)
            await ws.send("after")
            self.assertEqual(await ws.recv(), "after")
            # A broken file: the reload fails and the certificates in use stay.
            with open(self.key, "w") as f:
                f.write("not a key\n")
            self.server.signal(signal.SIGHUP)
            await asyncio.sleep(0.5)
            self.assertEqual(peer_common_name(self.tls_port, self.ctx, "localhost"), "localhost-2")
            await ws.send("still")
            self.assertEqual(await ws.recv(), "still")
            await ws.close()
        run(go())


class StartupErrors(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="shoal-tls-bad-")
        cls.ca = TestCA(cls.dir)
        cls.cert, cls.key = cls.ca.issue("good", "localhost")
        _, cls.other_key = cls.ca.issue("other", "localhost")
        cls.garbage = os.path.join(cls.dir, "garbage.pem")
        with open(cls.garbage, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def start(self, *flags):
        proc = subprocess.run([BINARY, "--listen", f"127.0.0.1:{free_port()}",
                               "--tls-listen", f"127.0.0.1:{free_port()}", *flags],
                              capture_output=True, text=True, timeout=30)
        return proc.returncode, proc.stderr

    def test_each_bad_file_is_a_start_up_error_naming_its_key(self):
        cases = [
            (("--tls-cert", "/nonexistent.pem", "--tls-key", self.key), "tls.cert: /nonexistent.pem: cannot open"),
            (("--tls-cert", self.cert, "--tls-key", "/nonexistent.key"), "tls.key: /nonexistent.key: cannot open"),
            (("--tls-cert", self.garbage, "--tls-key", self.key), "not a PEM certificate"),
            (("--tls-cert", self.cert, "--tls-key", self.garbage), "tls.key"),
            (("--tls-cert", self.cert, "--tls-key", self.other_key), "does not match the certificate"),
            (("--tls-cert", self.cert, "--tls-key", self.key, "--tls-chain", self.garbage), "tls.chain"),
            (("--tls-cert", self.cert, "--tls-key", self.key, "--tls-sni-cert", self.cert),
             "tls.sni_certificates"),  # a certificate without its key
            (("--tls-cert", self.cert), "tls.key: is required"),
        ]
        for flags, expected in cases:
            with self.subTest(flags=flags):
                code, err = self.start(*flags)
                self.assertEqual(code, 2, err)
                self.assertIn(expected, err)


if __name__ == "__main__":
    unittest.main()
