"""Integration: client authentication with JWTs, per-topic permissions and rate limits (README
"Security"), against the real server with 2 shards.

Keys are made at run time (an HMAC secret, an EC P-256, an RSA and an Ed25519 key pair) and
tokens are signed with PyJWT or by hand (for the forgeries PyJWT refuses to make). Covers the
token in the Authorization header, the query and a first message, every refusal on the upgrade
with its reason, refresh, the 4001 close at expiry, permission patterns on subscribe, resume and
publish, HTTP publish with a JWT, anonymous clients, key reload on SIGHUP, and the rate limits.
"""
import asyncio
import base64
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import jwt
import websockets
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from harness import Server, free_port, http_request, run_loadgen

ISSUER = "https://id.example.test"
AUDIENCE = "shoal"
SECRET = "an-hmac-secret-of-at-least-thirty-two-bytes-for-tests"


def run(coro, timeout=90):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(sub=(), pub=(), ttl=300, **extra):
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-42", "iat": now, "exp": now + ttl,
            "shoal": {"sub": list(sub), "pub": list(pub)}}
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


class Keys:
    """The test's keys on disk (the server reads them) and in memory (the tests sign with them)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="shoal-auth-")
        self.secret_path = os.path.join(self.dir, "hs1.key")
        with open(self.secret_path, "w") as f:
            f.write(SECRET + "\n")
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ed = ed25519.Ed25519PrivateKey.generate()
        self.paths = {}
        for kid, key in (("ec1", self.ec), ("rsa1", self.rsa), ("ed1", self.ed)):
            pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
            self.paths[kid] = os.path.join(self.dir, kid + ".pem")
            with open(self.paths[kid], "wb") as f:
                f.write(pem)
        with open(self.paths["rsa1"], "rb") as f:
            self.rsa_public_pem = f.read()

    def flags(self):
        return ("--jwt-secret-file", self.secret_path,
                "--jwt-public-key-file", self.paths["ec1"],
                "--jwt-public-key-file", self.paths["rsa1"],
                "--jwt-public-key-file", self.paths["ed1"],
                "--jwt-issuer", ISSUER, "--jwt-audience", AUDIENCE)

    def hs256(self, body, kid="hs1"):
        return jwt.encode(body, SECRET, algorithm="HS256", headers={"kid": kid})

    def es256(self, body):
        return jwt.encode(body, self.ec, algorithm="ES256", headers={"kid": "ec1"})

    def rs256(self, body):
        return jwt.encode(body, self.rsa, algorithm="RS256", headers={"kid": "rsa1"})

    def eddsa(self, body):
        return jwt.encode(body, self.ed, algorithm="EdDSA", headers={"kid": "ed1"})

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def hand_signed(header, body, key):
    """A token signed with HMAC-SHA256 over any key bytes (PyJWT refuses a PEM as a secret)."""
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(body).encode())
    sig = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(sig)


def upgrade_request(port, path="/ws", token=None, query_token=None, protocol="shoal.v1"):
    """A raw upgrade request: (status, headers, body)."""
    headers = {"Upgrade": "websocket", "Connection": "Upgrade",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Protocol": protocol}
    if token is not None:
        headers["Authorization"] = "Bearer " + token
    if query_token is not None:
        path += "?token=" + query_token
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1"] + [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1])
        hdrs = {}
        for line in head.decode().split("\r\n")[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if status != 101:
            length = int(hdrs.get("content-length", "0"))
            while len(rest) < length:
                chunk = s.recv(65536)
                if not chunk:
                    break
                rest += chunk
        return status, hdrs, rest


async def connect(server, token=None, query_token=None):
    url = server.url + "/ws" + (f"?token={query_token}" if query_token else "")
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return await websockets.connect(url, subprotocols=["shoal.v1"], extra_headers=headers,
                                    max_size=None, max_queue=None, ping_interval=None)


async def ask(ws, **msg):
    """Sends a request and returns the next message that is not a delivery."""
    await ws.send(json.dumps(msg))
    while True:
        reply = json.loads(await asyncio.wait_for(ws.recv(), 15))
        if reply["op"] != "msg":
            return reply


async def closed_with(ws, timeout=20):
    """Reads until the server closes; returns the close code."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except websockets.ConnectionClosed as e:
        return e.code


def metrics(port):
    status, _, body = http_request(port, "/metrics")
    assert status == 200
    return body.decode()


def metric_sum(port, name, label=None):
    total = 0
    for line in metrics(port).splitlines():
        if line.startswith(name + "{") and (label is None or label in line):
            total += int(line.rsplit(" ", 1)[1])
    return total


class AuthTest(unittest.TestCase):
    extra_flags = ("--jwt-clock-skew", "0s", "--handshake-timeout", "2s",
                   "--publish-token", "static-backend-token", "--max-header-bytes", "65536")

    @classmethod
    def setUpClass(cls):
        cls.keys = Keys()
        cls.server = Server(*cls.keys.flags(), *cls.extra_flags)

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        cls.keys.close()
        assert code == 0, f"shoal exited with {code}"


class TokenOnUpgrade(AuthTest):
    def test_header_token_grants_its_topics_only(self):
        token = self.keys.es256(claims(sub=["prices.>", "user.42.*"], pub=["chat.room1"]))

        async def go():
            ws = await connect(self.server, token=token)
            self.assertEqual((await ask(ws, op="sub", topic="prices.btc", id=1))["op"], "subscribed")
            denied = await ask(ws, op="sub", topic="admin.secrets", id=2)
            self.assertEqual((denied["op"], denied["code"], denied["id"]), ("error", "unauthorized", 2))
            # The connection stays open and usable after a refusal.
            self.assertEqual((await ask(ws, op="pub", topic="chat.room1", data=1))["op"], "ack")
            denied = await ask(ws, op="pub", topic="prices.btc", data=1)
            self.assertEqual(denied["code"], "unauthorized")
            # A resume is a subscribe: checked the same way.
            denied = await ask(ws, op="sub", topic="user.43.orders", since=0)
            self.assertEqual(denied["code"], "unauthorized")
            self.assertEqual((await ask(ws, op="sub", topic="user.42.orders", since=0))["op"], "subscribed")
            await ws.close()
        run(go())

    def test_query_token_and_every_key_type(self):
        body = claims(sub=["a.b"])
        for token in (self.keys.hs256(body), self.keys.rs256(body), self.keys.eddsa(body),
                      self.keys.es256(body)):
            async def go():
                ws = await connect(self.server, query_token=token)
                self.assertEqual((await ask(ws, op="sub", topic="a.b"))["op"], "subscribed")
                await ws.close()
            run(go())

    def test_refusals_say_why(self):
        port = self.server.port
        good = claims(sub=["x"])
        header = {"alg": "HS256", "typ": "JWT", "kid": "hs1"}
        valid = self.keys.hs256(good)
        forged = valid[:-4] + ("AAAA" if not valid.endswith("AAAA") else "BBBB")
        cases = {
            "token signature": forged,
            "alg none": b64(json.dumps({"alg": "none"}).encode()) + "." +
                        b64(json.dumps(good).encode()) + ".",
            # HS256 "signed" with the RSA public key, the classic algorithm confusion.
            "alg_confusion": hand_signed({"alg": "HS256", "kid": "rsa1"}, good, self.keys.rsa_public_pem),
            "expired": self.keys.hs256(claims(sub=["x"], ttl=-60)),
            "not yet valid": self.keys.hs256(claims(sub=["x"], nbf=int(time.time()) + 3600)),
            "issuer": self.keys.hs256(claims(sub=["x"], iss="https://evil.example")),
            "audience": self.keys.hs256(claims(sub=["x"], aud="someone-else")),
            "too_large": self.keys.hs256(claims(sub=["x"], pad="p" * 9000)),
            "base64": "%%%.***.!!!",
            "unknown kid": hand_signed(dict(header, kid="nobody"), good, SECRET.encode()),
        }
        for name, token in cases.items():
            with self.subTest(name):
                status, hdrs, body = upgrade_request(port, token=token)
                self.assertEqual(status, 401, body)
                self.assertIn('error="invalid_token"', hdrs["www-authenticate"])
                self.assertTrue(body.strip(), "a one-line reason")
                self.assertNotIn(b"\n", body.strip())
        # The reasons are counted by kind.
        text = metrics(port)
        for reason in ("bad_signature", "alg_none", "alg_not_allowed", "expired", "not_yet_valid",
                       "wrong_issuer", "wrong_audience", "too_large", "unknown_kid"):
            self.assertIn(f'reason="{reason}"', text)

    def test_two_ways_at_once_is_a_bad_request(self):
        token = self.keys.hs256(claims(sub=["x"]))
        status, hdrs, _ = upgrade_request(self.server.port, token=token, query_token=token)
        self.assertEqual(status, 400)
        self.assertIn("invalid_request", hdrs["www-authenticate"])

    def test_echo_needs_a_token(self):
        status, hdrs, _ = upgrade_request(self.server.port, path="/echo", protocol="x")
        self.assertEqual(status, 401)
        self.assertIn("Bearer", hdrs["www-authenticate"])
        token = self.keys.hs256(claims())

        async def go():
            ws = await websockets.connect(self.server.url + "/echo",
                                          extra_headers={"Authorization": f"Bearer {token}"})
            await ws.send("hello")
            self.assertEqual(await asyncio.wait_for(ws.recv(), 10), "hello")
            await ws.close()
        run(go())

    def test_token_without_claim_may_only_connect(self):
        body = claims()
        del body["shoal"]
        token = self.keys.hs256(body)

        async def go():
            ws = await connect(self.server, token=token)
            self.assertEqual((await ask(ws, op="sub", topic="a"))["code"], "unauthorized")
            self.assertEqual((await ask(ws, op="pub", topic="a", data=1))["code"], "unauthorized")
            await ws.close()
        run(go())


class TokenInFirstMessage(AuthTest):
    def test_auth_message_then_requests(self):
        token = self.keys.eddsa(claims(sub=["room.*"], pub=["room.*"]))

        async def go():
            ws = await connect(self.server)
            early = await ask(ws, op="sub", topic="room.1", id="early")
            self.assertEqual((early["code"], early["id"]), ("unauthorized", "early"))
            authed = await ask(ws, op="auth", token=token, id=7)
            self.assertEqual((authed["op"], authed["sub"], authed["id"]), ("authed", "user-42", 7))
            self.assertGreater(authed["exp"], time.time())
            self.assertEqual((await ask(ws, op="sub", topic="room.1"))["op"], "subscribed")
            self.assertEqual((await ask(ws, op="pub", topic="room.1", data="hi"))["op"], "ack")
            await ws.close()
        run(go())

    def test_bad_first_token_closes_1008(self):
        async def go():
            ws = await connect(self.server)
            reply = await ask(ws, op="auth", token="not.a.jwt")
            self.assertEqual((reply["op"], reply["code"]), ("error", "unauthorized"))
            self.assertEqual(await closed_with(ws), 1008)
        run(go())

    def test_no_token_in_time_closes_1008(self):
        async def go():
            ws = await connect(self.server)
            self.assertEqual(await closed_with(ws), 1008)  # --handshake-timeout 2s
        run(go())

    def test_refresh_keeps_the_connection_past_expiry(self):
        async def go():
            ws = await connect(self.server, token=self.keys.hs256(claims(sub=["t"], ttl=3)))
            self.assertEqual((await ask(ws, op="sub", topic="t"))["op"], "subscribed")
            fresh = self.keys.hs256(claims(sub=["t"], ttl=600))
            self.assertEqual((await ask(ws, op="auth", token=fresh))["op"], "authed")
            # A failed refresh keeps the token the connection has.
            self.assertEqual((await ask(ws, op="auth", token="x.y.z"))["code"], "unauthorized")
            await asyncio.sleep(4.5)  # past the first token's expiry
            self.assertEqual((await ask(ws, op="pub", topic="t", data=1))["code"], "unauthorized")
            self.assertEqual((await ask(ws, op="sub", topic="t"))["op"], "subscribed")
            await ws.close()
        run(go())

    def test_expiry_closes_4001(self):
        async def go():
            ws = await connect(self.server, token=self.keys.hs256(claims(sub=["t"], ttl=2)))
            self.assertEqual((await ask(ws, op="sub", topic="t"))["op"], "subscribed")
            started = time.monotonic()
            self.assertEqual(await closed_with(ws, timeout=30), 4001)
            self.assertGreaterEqual(time.monotonic() - started, 0.5)
        run(go())
        deadline = time.monotonic() + 10
        while metric_sum(self.server.port, "shoal_auth_expired_total") == 0:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.1)

    def test_refresh_with_fewer_topics_unsubscribes(self):
        async def go():
            ws = await connect(self.server, token=self.keys.hs256(claims(sub=["a", "b"])))
            for t in ("a", "b"):
                self.assertEqual((await ask(ws, op="sub", topic=t))["op"], "subscribed")
            await ws.send(json.dumps({"op": "auth", "token": self.keys.hs256(claims(sub=["a"]))}))
            seen = [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(2)]
            self.assertIn({"op": "unsubscribed", "topic": "b"}, seen)
            self.assertIn("authed", [m["op"] for m in seen])
            await ws.close()
        run(go())


class Patterns(AuthTest):
    def test_each_pattern_form(self):
        token = self.keys.hs256(claims(sub=["prices.>", "user.42.*", "chat.room1", "*.news", "feeds/*/live"]))
        expected = {
            "prices.btc": True, "prices.btc.usd": True, "prices": False,
            "user.42.orders": True, "user.42.a.b": False, "user.43.orders": False, "user.42": False,
            "chat.room1": True, "chat.room2": False, "chat/room1": False,
            "sport.news": True, "news": False, "a.b.news": False,
            "feeds/eu/live": True, "feeds.eu.live": False,
        }

        async def go():
            ws = await connect(self.server, token=token)
            for topic, allowed in expected.items():
                reply = await ask(ws, op="sub", topic=topic)
                self.assertEqual(reply["op"] == "subscribed", allowed, (topic, reply))
            await ws.close()
        run(go())


class HttpPublish(AuthTest):
    def test_jwt_or_static_token(self):
        port = self.server.port
        allowed = self.keys.hs256(claims(pub=["news.*"]))

        def post(topic, token):
            headers = {"Content-Type": "application/json"}
            if token:
                headers["Authorization"] = "Bearer " + token
            return http_request(port, f"/publish/{topic}", "POST", headers, b'{"v":1}')

        self.assertEqual(post("news.eu", allowed)[0], 200)
        status, hdrs, _ = post("sport.eu", allowed)
        self.assertEqual(status, 403)
        self.assertIn("insufficient_scope", hdrs["www-authenticate"])
        self.assertEqual(post("sport.eu", "static-backend-token")[0], 200)
        self.assertEqual(post("news.eu", None)[0], 401)
        self.assertEqual(post("news.eu", self.keys.hs256(claims(pub=["news.*"], ttl=-60)))[0], 401)


class KeyReload(unittest.TestCase):
    def test_sighup_reloads_the_secret(self):
        keys = Keys()
        server = Server("--jwt-secret-file", keys.secret_path)
        try:
            old = keys.hs256(claims(sub=["t"]))
            self.assertEqual(upgrade_request(server.port, token=old)[0], 101)
            new_secret = "a-new-secret-that-is-also-at-least-32-bytes-long"
            with open(keys.secret_path, "w") as f:
                f.write(new_secret)
            server.signal(signal.SIGHUP)
            new = jwt.encode(claims(sub=["t"]), new_secret, algorithm="HS256")
            deadline = time.monotonic() + 20
            while upgrade_request(server.port, token=new)[0] != 101:
                self.assertLess(time.monotonic(), deadline, "the new secret was not taken")
                time.sleep(0.1)
            self.assertEqual(upgrade_request(server.port, token=old)[0], 401)
            # A key file that no longer loads keeps the keys in force.
            with open(keys.secret_path, "w") as f:
                f.write("short")
            server.signal(signal.SIGHUP)
            time.sleep(0.5)
            self.assertEqual(upgrade_request(server.port, token=new)[0], 101)
        finally:
            self.assertEqual(server.stop(), 0)
            keys.close()


class Anonymous(unittest.TestCase):
    def test_anonymous_clients_get_the_anonymous_topics(self):
        keys = Keys()
        server = Server("--jwt-secret-file", keys.secret_path, "--auth-required", "false",
                        "--anonymous-subscribe", "public.>")
        try:
            async def go():
                ws = await connect(server)
                self.assertEqual((await ask(ws, op="sub", topic="public.news"))["op"], "subscribed")
                self.assertEqual((await ask(ws, op="sub", topic="private.x"))["code"], "unauthorized")
                self.assertEqual((await ask(ws, op="pub", topic="public.news", data=1))["code"], "unauthorized")
                # A token replaces an anonymous client's rights with its own: the subscription
                # it does not cover ends.
                await ws.send(json.dumps({"op": "auth", "token": keys.hs256(claims(sub=["private.x"]))}))
                seen = [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(2)]
                self.assertEqual(seen[0], {"op": "unsubscribed", "topic": "public.news"})
                self.assertEqual(seen[1]["op"], "authed")
                self.assertEqual((await ask(ws, op="sub", topic="private.x"))["op"], "subscribed")
                await ws.close()
            run(go())
        finally:
            self.assertEqual(server.stop(), 0)
            keys.close()


class RateLimits(unittest.TestCase):
    def test_over_the_limit_is_refused_then_closed_and_others_go_on(self):
        server = Server("--messages-per-second", "5", "--message-burst", "5",
                        "--rate-limit-strikes", "3")
        try:
            async def go():
                calm = await connect(server)
                flood = await connect(server)
                replies = []
                code = None
                try:  # 5 pass, 3 are refused, the next ends it; the rest is sent after the close
                    for i in range(60):
                        await flood.send(json.dumps({"op": "pub", "topic": "f", "data": i, "id": i}))
                except websockets.ConnectionClosed:
                    pass
                try:
                    while True:
                        replies.append(json.loads(await asyncio.wait_for(flood.recv(), 20)))
                except websockets.ConnectionClosed as e:
                    code = e.code
                self.assertEqual(code, 1008)
                ops = [r.get("code", r["op"]) for r in replies]
                self.assertGreaterEqual(ops.count("ack"), 5)
                self.assertGreaterEqual(ops.count("rate_limited"), 1)
                limited = next(r for r in replies if r.get("code") == "rate_limited")
                self.assertIsInstance(limited["id"], int)
                # Another connection is not touched by the flood.
                self.assertEqual((await ask(calm, op="pub", topic="f", data="calm"))["op"], "ack")
                await calm.close()
            run(go())
            self.assertGreaterEqual(metric_sum(server.port, "shoal_rate_limited_total"), 1)
            self.assertGreaterEqual(metric_sum(server.port, "shoal_rate_limit_closes_total"), 1)
        finally:
            self.assertEqual(server.stop(), 0)

    def test_within_the_limit_nothing_is_refused(self):
        server = Server("--messages-per-second", "1000", "--bytes-per-second", "1000000")
        try:
            async def go():
                ws = await connect(server)
                for i in range(50):
                    self.assertEqual((await ask(ws, op="pub", topic="ok", data=i))["op"], "ack")
                await ws.close()
            run(go())
        finally:
            self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main()


class AddressLimits(unittest.TestCase):
    """Per client address: a cap on connections held and on new connections per second. Every
    test client comes from 127.0.0.1, so the address is the same for all of them."""

    def test_connection_cap_per_address(self):
        server = Server("--max-connections-per-address", "3")
        try:
            async def go():
                held = [await connect(server) for _ in range(3)]
                status, hdrs, body = upgrade_request(server.port)
                self.assertEqual(status, 429, body)
                self.assertEqual(hdrs["retry-after"], "1")
                self.assertIn(b"max_connections_per_address", body)
                # The held connections work; closing one makes room again.
                self.assertEqual((await ask(held[0], op="sub", topic="t"))["op"], "subscribed")
                await held[0].close()
                deadline = time.monotonic() + 20
                while upgrade_request(server.port)[0] != 101:
                    self.assertLess(time.monotonic(), deadline, "the freed place was not given back")
                    await asyncio.sleep(0.05)
                for ws in held[1:]:
                    await ws.close()
            run(go())
            self.assertIn('shoal_address_refused_total{reason="too_many_connections"}', metrics(server.port))
        finally:
            self.assertEqual(server.stop(), 0)

    def test_connect_rate_per_address(self):
        admin = free_port()  # the operator port is not limited: /metrics answers there
        server = Server("--connects-per-address-per-second", "1", "--connect-burst-per-address", "5",
                        "--admin-listen", f"127.0.0.1:{admin}")
        try:
            statuses = [upgrade_request(server.port)[0] for _ in range(20)]
            # The burst passes (less the harness's own readiness probe, a connection too); the
            # rest, sent far faster than 1/s on any machine, mostly do not.
            self.assertEqual(statuses[:4], [101] * 4)
            self.assertIn(429, statuses[5:])
            text = metrics(admin)
            self.assertIn('shoal_address_refused_total{reason="too_many_handshakes"}', text)
        finally:
            self.assertEqual(server.stop(), 0)


class LoadgenWithTokens(AuthTest):
    """shoal-loadgen presents tokens the real server verifies, each of the three ways."""

    def test_every_placement_connects_and_publishes(self):
        tokens = [self.keys.hs256(claims(sub=["lg.*"], pub=["lg.*"])),
                  self.keys.es256(claims(sub=["lg.*"], pub=["lg.*"])),
                  self.keys.eddsa(claims(sub=["lg.*"], pub=["lg.*"]))]
        with tempfile.NamedTemporaryFile("w", suffix=".jwt") as f:
            f.write("\n".join(tokens) + "\n")
            f.flush()
            for where in ("header", "query", "message"):
                with self.subTest(where=where):
                    r = run_loadgen("pubsub", "--url", self.server.url + "/ws", "--subscribers", "6",
                                    "--publishers", "3", "--topics", "3", "--burst", "20",
                                    "--duration", "1", "--token-file", f.name, "--token-in", where)
                    self.assertEqual(r["connect_errors"], 0)
                    self.assertEqual(r["delivered"], r["expected"])
                    self.assertGreater(r["delivered"], 0)

    def test_refused_tokens_are_counted_by_reason(self):
        expired = self.keys.hs256(claims(sub=["lg.*"], ttl=-60))
        for where, reason in (("header", "HTTP 401"), ("message", "auth refused: unauthorized")):
            with self.subTest(where=where), tempfile.NamedTemporaryFile(suffix=".json") as out:
                proc = subprocess.run(
                    [os.environ.get("SHOAL_LOADGEN_BIN", "build/asan/loadgen/shoal-loadgen"), "connect",
                     "--url", self.server.url + "/ws", "--connections", "4", "--duration", "0.3",
                     "--token", expired, "--token-in", where, "--warmup-timeout", "10", "--json",
                     out.name], capture_output=True, text=True, timeout=60)
                self.assertNotEqual(proc.returncode, 0)
                with open(out.name) as f:
                    report = json.load(f)
                self.assertEqual(report["open_failures"], {reason: 4})
