"""A raw-socket WebSocket client for tests that must send what real clients never would:
hand-built frames, broken handshakes, silence. Frames are masked as RFC 6455 §5.3 requires
unless a test asks otherwise.
"""
import base64
import os
import socket
import struct
import time


def frame(opcode, payload=b"", fin=True, rsv=0, mask=True, length=None):
    """Encodes one frame; `length` overrides the encoded length (to build invalid frames)."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n <= 0xFFFF:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    # XOR as one big integer: the same bytes as a per-byte loop, fast enough for bulk streams.
    n = len(payload)
    keys = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(keys, "big")).to_bytes(n, "big")
    return head + key + masked


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class RawClient:
    def __init__(self, port, path="/echo", headers=None, timeout=5, rcvbuf=None):
        """`rcvbuf` sets SO_RCVBUF before connecting (a small one makes a slow reader)."""
        self.sock = socket.socket()
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = self._read_until(b"\r\n\r\n")
        self.status = int(head.split(b" ")[1])
        self.headers = {}  # response headers, lower-case names
        for line in head.decode().split("\r\n")[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        if self.status != 101:
            raise RuntimeError(f"handshake refused: {head!r}")

    def _read_until(self, marker):
        while marker not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed during handshake")
            self.buf += chunk
        head, _, self.buf = self.buf.partition(marker)
        return head

    def send(self, data):
        self.sock.sendall(data)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk

    def take_frames(self):
        """The complete frames already received, as [(fin, opcode, payload)], without reading
        the socket (for callers that read it themselves, e.g. many clients under one select)."""
        frames, buf, at = [], self.buf, 0
        while len(buf) - at >= 2:
            n, off = buf[at + 1] & 0x7F, 2
            if n >= 126:
                off = 4 if n == 126 else 10
                if len(buf) - at < off:
                    break
                n = int.from_bytes(buf[at + 2:at + off], "big")
            if len(buf) - at < off + n:
                break
            assert not (buf[at + 1] & 0x80), "server frames must not be masked (RFC 6455 §5.1)"
            frames.append((bool(buf[at] & 0x80), buf[at] & 0x0F, buf[at + off:at + off + n]))
            at += off + n
        self.buf = buf[at:]
        return frames

    def recv_frame(self):
        """Returns (fin, opcode, payload); raises EOFError when the server closed TCP."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        n = b1 & 0x7F
        off = 2
        if n == 126:
            self._need(4)
            n = struct.unpack("!H", self.buf[2:4])[0]
            off = 4
        elif n == 127:
            self._need(10)
            n = struct.unpack("!Q", self.buf[2:10])[0]
            off = 10
        assert not (b1 & 0x80), "server frames must not be masked (RFC 6455 §5.1)"
        self._need(off + n)
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def expect_close(self):
        """Reads frames until a Close; returns its code (None when empty), then expects EOF."""
        while True:
            fin, op, payload = self.recv_frame()
            if op == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                return code, payload[2:]

    def wait_eof(self, timeout=5):
        """True if the server closes the TCP connection within `timeout` seconds."""
        self.sock.settimeout(timeout)
        end = time.monotonic() + timeout
        try:
            while time.monotonic() < end:
                if not self.sock.recv(65536):
                    return True
        except (ConnectionResetError, socket.timeout):
            return False
        return False

    def close(self):
        self.sock.close()
