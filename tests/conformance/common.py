"""Shared helpers for Shoal's own RFC 6455 conformance suite (raw TCP against /echo).

Puts ../integration on sys.path and re-exports its helpers (ServerTest from harness.py,
RawClient/frame/close_payload from rawws.py), then adds what every conformance module needs:

* frame_with_length(): frames whose length field is encoded in a form the caller picks, to build
  non-minimal and out-of-range encodings that rawws.frame() never produces;
* strict readers: every frame the server sends is checked (unmasked, RSV clear, minimal length
  encoding, control frames final and <= 125 bytes, close bodies well formed);
* ConformanceTest: a ServerTest (one server per class) with assertions for echoes, pongs, the
  close code of a failed connection, the server closing TCP, and a bystander connection that
  must keep working while another connection on the same server fails.

Run with /usr/bin/python3 and SHOAL_BIN pointing at the binary, from this directory.
"""
import contextlib
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from harness import ServerTest  # noqa: E402
from rawws import RawClient, close_payload, frame  # noqa: E402,F401  (re-exported)

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CONTROL_OPS = (CLOSE, PING, PONG)
MiB = 1 << 20

# Close codes that may appear on the wire (RFC 6455 §7.4 and the IANA registry, which added
# 1012-1014); 1005, 1006 and 1015 never may.
SENDABLE_CLOSE_CODES = set(range(1000, 1004)) | set(range(1007, 1015)) | set(range(3000, 5000))


def frame_with_length(opcode, payload=b"", form=7, length=None, fin=True, rsv=0, mask=True):
    """One frame whose payload length is encoded as `form` (7, 16 or 64 bits) whatever its
    value, so non-minimal encodings can be built; `length` overrides the encoded value."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    mbit = 0x80 if mask else 0
    if form == 7:
        assert n <= 125
        head += bytes([mbit | n])
    elif form == 16:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def text(payload, fin=True, **kw):
    return frame(TEXT, payload.encode() if isinstance(payload, str) else payload, fin=fin, **kw)


def binary(payload, fin=True, **kw):
    return frame(BINARY, payload, fin=fin, **kw)


def cont(payload, fin=True, **kw):
    return frame(CONT, payload.encode() if isinstance(payload, str) else payload, fin=fin, **kw)


def ping(payload=b"", **kw):
    return frame(PING, payload, **kw)


def pong(payload=b"", **kw):
    return frame(PONG, payload, **kw)


def close_frame(code=None, reason=b"", **kw):
    body = b"" if code is None else close_payload(code, reason)
    return frame(CLOSE, body, **kw)


def describe(frame_tuple):
    fin, op, payload = frame_tuple
    shown = payload[:40] + (b"..." if len(payload) > 40 else b"")
    return f"(fin={fin}, opcode={op}, {len(payload)} bytes: {shown!r})"


def send_in_chunks(client, data, sizes, delay=0.0):
    """Sends `data` in pieces whose sizes cycle through `sizes`, with TCP_NODELAY."""
    client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    pos, i = 0, 0
    while pos < len(data):
        n = sizes[i % len(sizes)]
        client.send(data[pos:pos + n])
        pos += n
        i += 1
        if delay:
            time.sleep(delay)


class ServerFrameError(AssertionError):
    pass


def recv_frame_checked(client):
    """Like RawClient.recv_frame, but first checks the server's frame header against §5.2:
    RSV bits clear (no extension negotiated), minimal length encoding, no MSB in 64-bit lengths,
    control frames final and at most 125 bytes."""
    client._need(2)
    b0, b1 = client.buf[0], client.buf[1]
    n7 = b1 & 0x7F
    if b0 & 0x70:
        raise ServerFrameError(f"server frame has RSV bits set: first byte {b0:#04x}")
    if n7 == 126:
        client._need(4)
        n = struct.unpack("!H", client.buf[2:4])[0]
        if n < 126:
            raise ServerFrameError(f"server used a 16-bit length for {n} bytes (not minimal)")
    elif n7 == 127:
        client._need(10)
        n = struct.unpack("!Q", client.buf[2:10])[0]
        if n >> 63 or n <= 0xFFFF:
            raise ServerFrameError(f"server used a bad 64-bit length {n}")
    fin, op, payload = client.recv_frame()
    if op in CONTROL_OPS and (not fin or len(payload) > 125):
        raise ServerFrameError(f"bad control frame from server: {describe((fin, op, payload))}")
    if op not in (CONT, TEXT, BINARY) + CONTROL_OPS:
        raise ServerFrameError(f"server sent reserved opcode {op}")
    return fin, op, payload


def read_to_eof(client, timeout):
    """Reads until the server closes TCP; returns (how, extra bytes) where how is 'eof',
    'reset' or 'timeout'. Bytes already buffered by the client count as extra."""
    extra = client.buf
    client.buf = b""
    client.sock.settimeout(timeout)
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            chunk = client.sock.recv(65536)
            if not chunk:
                return "eof", extra
            extra += chunk
    except ConnectionResetError:
        return "reset", extra
    except socket.timeout:
        pass
    return "timeout", extra


class ConformanceTest(ServerTest):
    """One server per class; helpers for a test that talks raw WebSocket to /echo."""

    io_timeout = 5.0    # every read must make progress within this
    eof_timeout = 5.0   # the server must close TCP within this after its Close

    def setUp(self):
        self._clients = []

    def tearDown(self):
        for c in self._clients:
            with contextlib.suppress(OSError):
                c.close()

    # Connections ---------------------------------------------------------------------------

    def connect(self, timeout=None):
        c = RawClient(self.server.port, timeout=timeout or self.io_timeout)
        self._clients.append(c)
        return c

    def recv(self, client, what="a frame"):
        try:
            return recv_frame_checked(client)
        except socket.timeout:
            self.fail(f"timed out after {client.sock.gettimeout()} s waiting for {what}")
        except EOFError:
            self.fail(f"server closed TCP while we waited for {what}")
        except ConnectionResetError:
            self.fail(f"server reset TCP while we waited for {what}")

    def recv_message(self, client, what="an echoed message"):
        """Reads one whole data message (reassembling fragments); control frames are not
        expected here. Returns (opcode, payload)."""
        fin, op, payload = self.recv(client, what)
        self.assertIn(op, (TEXT, BINARY), f"expected {what}, got {describe((fin, op, payload))}")
        parts = [payload]
        while not fin:
            fin, cop, payload = self.recv(client, what + " (continuation)")
            self.assertEqual(cop, CONT, f"expected a continuation, got "
                                        f"{describe((fin, cop, payload))}")
            parts.append(payload)
        return op, b"".join(parts)

    # Assertions ----------------------------------------------------------------------------

    def assertEcho(self, client, op, payload, what=None):
        kind = "text" if op == TEXT else "binary"
        what = what or f"the echo of a {len(payload)}-byte {kind} message"
        got_op, got = self.recv_message(client, what)
        self.assertEqual(got_op, op, f"{what}: wrong opcode")
        if got != payload:
            self.fail(f"{what}: payload differs (got {len(got)} bytes {got[:40]!r}..., "
                      f"sent {len(payload)} bytes {payload[:40]!r}...)")

    def assertPong(self, client, payload):
        fin, op, got = self.recv(client, f"a pong for a {len(payload)}-byte ping")
        self.assertEqual(op, PONG, f"expected a pong, got {describe((fin, op, got))}")
        self.assertEqual(got, payload, "pong payload differs from the ping's")

    def assertRoundTrip(self, client, op=TEXT, payload=b"still alive"):
        client.send(frame(op, payload))
        self.assertEcho(client, op, payload)

    def recv_close(self, client, what):
        """Reads the next frame, which must be a Close; checks its body (§5.5.1, §7.4) and
        returns (code or None, reason bytes)."""
        fin, op, payload = self.recv(client, what)
        self.assertEqual(op, CLOSE, f"expected {what}, got {describe((fin, op, payload))}")
        self.assertNotEqual(len(payload), 1, "server Close body of 1 byte")
        if not payload:
            return None, b""
        code = struct.unpack("!H", payload[:2])[0]
        self.assertIn(code, SENDABLE_CLOSE_CODES, f"server sent close code {code}, which "
                                                  "must not appear on the wire")
        try:
            payload[2:].decode("utf-8")
        except UnicodeDecodeError:
            self.fail(f"server close reason is not UTF-8: {payload[2:]!r}")
        return code, payload[2:]

    def assertTcpClosed(self, client, after="its Close"):
        how, extra = read_to_eof(client, self.eof_timeout)
        self.assertEqual(extra, b"", f"server sent {len(extra)} more bytes after {after}: "
                                     f"{extra[:60]!r}")
        self.assertEqual(how, "eof", f"server did not close TCP cleanly within "
                                     f"{self.eof_timeout} s after {after} ({how})")

    def assertClosedWith(self, client, code, what=None):
        """The server's next frame is a Close with `code`, and then it closes TCP."""
        what = what or f"a Close with {code}"
        got, reason = self.recv_close(client, what)
        self.assertEqual(got, code, f"expected close code {code}, got {got} "
                                    f"(reason {reason!r})")
        self.assertTcpClosed(client)

    def assertCleanClose(self, client, code=1000):
        """Client-initiated closing handshake: we send Close(code), the server echoes the code
        and closes TCP."""
        client.send(close_frame(code))
        got, _ = self.recv_close(client, f"the answer to our Close {code}")
        self.assertEqual(got, code)
        self.assertTcpClosed(client)

    # Failing a connection while a bystander watches ---------------------------------------

    @contextlib.contextmanager
    def bystander(self):
        """A second connection, opened before the one that will fail, that must echo
        afterwards; a fresh connection must work too."""
        other = self.connect()
        self.assertRoundTrip(other, TEXT, b"before")
        yield other
        self.assertRoundTrip(other, TEXT, "after: the bystander still echoes ✓".encode())
        self.assertRoundTrip(other, BINARY, bytes(range(256)))
        fresh = self.connect()
        self.assertRoundTrip(fresh, TEXT, b"a new connection works")
        self.assertCleanClose(fresh)
        self.assertCleanClose(other)

    def expect_failure(self, data, code, replies=(), timeout=None):
        """Sends `data` in one write on a fresh connection (while a bystander connection is
        open) and expects the frames in `replies` (e.g. echoes of valid messages that came
        first, as (opcode, payload)), then a Close with `code`, then TCP closed."""
        with self.bystander():
            c = self.connect(timeout=timeout)
            c.send(data)
            for op, payload in replies:
                if op == PONG:
                    self.assertPong(c, payload)
                else:
                    self.assertEcho(c, op, payload)
            self.assertClosedWith(c, code)
            return c
