#!/usr/bin/python3
"""Resident memory of the shoal process per idle WebSocket connection, and per connection once
each has subscribed to one topic. Opens N raw client sockets on /ws (one process, so N <=
~19,000 here), reads the server's RSS before and after. Kernel socket memory is not in RSS. The
baseline is taken after one connection has been upgraded and has subscribed, closed again: the
code that path runs (libcrypto's SHA-1 for the handshake: ~2 MB of its pages) is paged in once
per process, not per connection, and was counted as ~200 B per connection at 10,000 before.
Figures are given for RssAnon (the process's own memory: heap, buffers) and for VmRSS.

Both readings come 2.5 s after the last burst (the upgrades, then the subscribes): past one
ping interval, so idle connections have trimmed their buffers, and long enough for io_uring
shards to give their receive buffers back. A shard does that at its once-a-second sweep when the
second before it saw fewer receives than it has buffers (uring_backend::trim_buffers), so the
sweep that follows a burst may still count it and the next one trims: up to 2 s after the
burst's last receive. With 1.0 s after the subscribes, whether the io_uring reading included
the buffers' pages (256 buffers x one 4 KiB page a shard, by default) depended on where the
sweeps fell.

With a MODE other than plain the server runs with permessage-deflate and every client offers
it; the subscribe commands are then sent compressed (RSV1), so a connection that keeps a
decompressor of its own (client context takeover) has allocated it by the second reading.
  plain     no compression
  deflate   --permessage-deflate, the cheap mode (no context takeover either way)
  takeover  --permessage-deflate with context takeover on both sides
  tls       every client over TLS (a TLS listener with a throwaway certificate, made with the
            openssl CLI by tests/integration/certs.py), no compression

The binary may also be one of the reference servers of bench/compare.sh, to read them with the
same method in the same sitting (plain mode only; both answer `sub` on /ws as Shoal does):
build/release/bench/shoal-ref-beast (Boost.Beast, one thread) or bench/reference/node/server.mjs
(Node `ws`, run with `node`); bench/compare.sh installs what they need (libboost-dev, the node
packages) and builds the first. PORT (environment, default 18555) moves the listener, so that two
sittings on one machine do not meet.

usage: [PORT=18555] bench/idle_rss.py SHOAL_BINARY|REFERENCE [N=10000] [MODE=plain] [IO=auto]
"""
import base64
import os
import socket
import subprocess
import sys
import ssl
import tempfile
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from certs import TestCA  # noqa: E402

MODES = {
    "plain": [],
    "deflate": ["--permessage-deflate"],
    "takeover": ["--permessage-deflate", "--deflate-server-context-takeover", "true",
                 "--deflate-client-context-takeover", "true"],
    "tls": [],
}


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    mode = sys.argv[3] if len(sys.argv) > 3 else "plain"
    io = sys.argv[4] if len(sys.argv) > 4 else "auto"
    compressed = mode in ("deflate", "takeover")
    port = int(os.environ.get("PORT", "18555"))
    flags = list(MODES[mode])
    client_tls = None
    if mode == "tls":
        certs = tempfile.mkdtemp(prefix="shoal-rss-tls-")
        ca = TestCA(certs)
        cert, key = ca.issue("localhost", "localhost")
        flags += ["--tls-listen", f"127.0.0.1:{port + 1}", "--tls-cert", cert, "--tls-key", key]
        client_tls = ssl.create_default_context(cafile=ca.cert)
    if binary.endswith(".mjs") or os.path.basename(binary) == "shoal-ref-beast":
        assert mode == "plain", "the reference servers are read in plain mode only"
        command = (["node"] if binary.endswith(".mjs") else []) + [binary, str(port)]
        label = os.path.basename(binary)
    else:
        command = [binary, "--listen", f"127.0.0.1:{port}", "--shards", "2", "--ping-interval", "1s",
                   "--pong-timeout", "60s", "--io", io, *flags]
        label = f"io {io}"
    server = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    time.sleep(0.5)

    def rss():
        """(RssAnon, VmRSS) in bytes."""
        got = {}
        with open(f"/proc/{server.pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS", "RssAnon")):
                    got[line.split(":")[0]] = int(line.split()[1]) * 1024
        return got["RssAnon"], got["VmRSS"]

    def per(now, then):
        return (f"RssAnon {(now[0] - then[0]) / n:.0f} B, VmRSS {(now[1] - then[1]) / n:.0f} B "
                f"per connection")

    def connect():
        if client_tls:
            s = client_tls.wrap_socket(socket.create_connection(("127.0.0.1", port + 1)),
                                       server_hostname="localhost")
        else:
            s = socket.create_connection(("127.0.0.1", port))
        s.sendall(upgrade())
        return s

    def read_head(s):
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(4096)
        return data

    def upgrade():
        key = base64.b64encode(os.urandom(16)).decode()
        return (f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                + ("Sec-WebSocket-Extensions: permessage-deflate\r\n" if compressed else "")
                + "\r\n").encode()

    def frame(payload):
        first = 0x81
        if compressed:  # RFC 7692 §7.2.1: raw DEFLATE, sync flush, tail cut; RSV1 set
            c = zlib.compressobj(wbits=-15)
            payload = (c.compress(payload) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
            first |= 0x40
        key = os.urandom(4)
        return bytes([first, 0x80 | len(payload)]) + key + bytes(
            b ^ key[i % 4] for i, b in enumerate(payload))

    try:
        warm = connect()  # one connection through every code path first (see the top)
        read_head(warm)
        warm.sendall(frame(b'{"op":"sub","topic":"warm"}'))
        time.sleep(0.5)
        warm.close()
        time.sleep(0.5)
        base = rss()
        socks = [connect() for _ in range(n)]
        for s in socks:
            data = read_head(s)
        time.sleep(2.5)  # past one ping interval: idle connections trim their buffers
        idle = rss()
        if compressed:
            assert b"permessage-deflate" in data, "the server did not accept permessage-deflate"
        print(f"{label}, mode {mode}: {n} idle connections: {per(idle, base)}")
        for i, s in enumerate(socks):
            s.sendall(frame(b'{"op":"sub","topic":"t%d"}' % (i % 100)))
        time.sleep(2.5)  # see the top: io_uring shards trim their receive buffers when quiet
        subscribed = rss()
        print(f"after one subscription each (100 topics): {per(subscribed, base)}")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
