"""The zero-downtime upgrade, driven inside a network namespace of its own (test_handover.py
starts it under `unshare --net`): shoal A serves 127.0.0.1:PORT, clients connect and upgrade
without pause, shoal B starts on the same port with --share-listeners, A gets SIGTERM and
drains, and the clients go on against B. Prints one JSON line: connects that succeeded, those
that failed (by reason), and how many B accepted.

argv: shoal binary, io backend, net.ipv4.tcp_migrate_req value to set in this namespace.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

BINARY, IO, MIGRATE = sys.argv[1], sys.argv[2], sys.argv[3]
PORT, ADMIN_A, ADMIN_B = 18080, 19081, 19082
UPGRADE = (b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")

with open("/proc/sys/net/ipv4/tcp_migrate_req", "w") as f:
    f.write(MIGRATE)
logs = tempfile.mkdtemp(prefix="shoal-handover-")


def start(name, admin, *flags):
    log = open(os.path.join(logs, name + ".log"), "wb")
    proc = subprocess.Popen([BINARY, "--listen", f"127.0.0.1:{PORT}", "--admin-listen",
                             f"127.0.0.1:{admin}", "--shards", "2", "--io", IO, "--drain", "1s",
                             *flags], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with open(log.name, "rb") as f:
            if b"listening on" in f.read():
                return proc, log.name
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    with open(log.name, "rb") as f:
        raise SystemExit(f"{name} did not start: {f.read().decode(errors='replace')}")


def accepted(admin):
    with socket.create_connection(("127.0.0.1", admin), timeout=10) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return sum(int(l.rsplit(b" ", 1)[1]) for l in data.split(b"\n")
               if l.startswith(b"shoal_connections_accepted_total{"))


a, a_log = start("a", ADMIN_A)
stop = threading.Event()
counts = {"ok": 0, "failed": {}}
lock = threading.Lock()


def client():
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", PORT), timeout=10) as s:
                s.sendall(UPGRADE)
                got = s.recv(4096)
            ok = got.startswith(b"HTTP/1.1 101")
            reason = "" if ok else (got.split(b"\r\n")[0].decode(errors="replace") or "closed")
        except OSError as e:
            ok, reason = False, type(e).__name__
        with lock:
            if ok:
                counts["ok"] += 1
            else:
                counts["failed"][reason] = counts["failed"].get(reason, 0) + 1


threads = [threading.Thread(target=client) for _ in range(int(os.environ.get("HANDOVER_CLIENTS", "16")))]
for t in threads:
    t.start()
time.sleep(1)
b, b_log = start("b", ADMIN_B, "--share-listeners", "true")
time.sleep(0.5)
before_term = counts["ok"]
a.send_signal(signal.SIGTERM)
a_code = a.wait(timeout=60)
time.sleep(1)  # and on against B alone
stop.set()
for t in threads:
    t.join()
result = {"ok": counts["ok"], "ok_before_sigterm": before_term, "failed": counts["failed"],
          "a_exit": a_code, "b_accepted": accepted(ADMIN_B)}
b.send_signal(signal.SIGTERM)
result["b_exit"] = b.wait(timeout=60)
print(json.dumps(result))
