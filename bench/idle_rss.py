#!/usr/bin/python3
"""Resident memory of the shoal process per idle WebSocket connection, and per connection once
each has subscribed to one topic: a stop-gap measurement until shoal-loadgen's `connect`
scenario exists. Opens N raw client sockets on /ws (one process, so N <= ~19,000 here), reads
VmRSS of the server before and after. Kernel socket memory is not in VmRSS.

usage: bench/idle_rss.py SHOAL_BINARY [N=10000]
"""
import base64
import os
import socket
import subprocess
import sys
import time


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    port = 18555
    server = subprocess.Popen([binary, "--listen", f"127.0.0.1:{port}", "--shards", "2",
                               "--ping-interval", "1s", "--pong-timeout", "60s"],
                              stderr=subprocess.DEVNULL)
    time.sleep(0.5)

    def rss():
        with open(f"/proc/{server.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS"):
                    return int(line.split()[1]) * 1024

    def upgrade():
        key = base64.b64encode(os.urandom(16)).decode()
        return (f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()

    def frame(payload):
        key = os.urandom(4)
        return bytes([0x81, 0x80 | len(payload)]) + key + bytes(
            b ^ key[i % 4] for i, b in enumerate(payload))

    try:
        base = rss()
        socks = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(upgrade())
            socks.append(s)
        for s in socks:
            data = b""
            while b"\r\n\r\n" not in data:
                data += s.recv(4096)
        time.sleep(2.5)  # past one ping interval: idle connections trim their buffers
        idle = rss()
        print(f"{n} idle connections: VmRSS {base} -> {idle} bytes: "
              f"{(idle - base) / n:.0f} bytes per connection")
        for i, s in enumerate(socks):
            s.sendall(frame(b'{"op":"sub","topic":"t%d"}' % (i % 100)))
        time.sleep(1.0)
        subscribed = rss()
        print(f"after one subscription each (100 topics): {(subscribed - base) / n:.0f} bytes "
              f"per connection")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
