"""Starts the real `shoal` binary for integration tests and stops it again.

The binary comes from $SHOAL_BIN (ctest sets it); each server gets free ports on 127.0.0.1,
2 shards, the I/O backend named by $SHOAL_IO (ctest runs every suite on epoll and on io_uring),
and any extra flags the test passes. Run with /usr/bin/python3 (Debian's websockets).
"""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import unittest


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def io_flags():
    """The --io flag for the backend under test ($SHOAL_IO), or nothing for the default."""
    io = os.environ.get("SHOAL_IO")
    return ["--io", io] if io else []


class Server:
    """With `log` (a path), stdout and stderr are appended to that file instead of pipes, for
    long-running servers whose output must survive them (cluster_harness.py). `env` replaces the
    environment the server starts with (None: this process's)."""

    def __init__(self, *flags, shards=2, preexec_fn=None, port=None, log=None, env=None):
        self.port = port or free_port()
        self.log = log
        binary = os.environ.get("SHOAL_BIN", "build/asan/gateway/shoal")
        self.args = [binary, "--listen", f"127.0.0.1:{self.port}", "--shards", str(shards),
                     *([] if "--io" in flags else io_flags()), *flags]
        if log:
            with open(log, "ab") as out:
                self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT,
                                             preexec_fn=preexec_fn, env=env)
        else:
            self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         preexec_fn=preexec_fn, env=env)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                raise RuntimeError(f"shoal exited with {self.proc.returncode}: "
                                   f"{self._stderr_text(err)}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("shoal did not start listening within 20 s")

    @property
    def url(self):
        return f"ws://127.0.0.1:{self.port}"

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait(self, timeout=30):
        """Waits for exit; returns (exit code, stderr text)."""
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, self._stderr_text(err)

    def _stderr_text(self, err):
        if self.log:
            with open(self.log, "rb") as f:
                return f.read().decode(errors="replace")
        return err.decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.communicate()
        return self.proc.returncode


def http_request(port, path, method="GET", headers=None, body=b"", timeout=10):
    """A minimal HTTP/1.1 client over a raw socket, one request per connection:
    returns (status, headers dict with lower-case names, body bytes)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    status = int(status_line.split(" ")[1])
    hdrs = {}
    for line in header_lines:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, payload


LOADGEN = os.environ.get("SHOAL_LOADGEN_BIN", "build/asan/loadgen/shoal-loadgen")


def run_loadgen(*args, timeout=120):
    """Runs shoal-loadgen with `args` and --json; returns its report (fails on a non-zero exit)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        proc = subprocess.run([LOADGEN, *args, "--json", out.name], capture_output=True,
                              text=True, timeout=timeout)
        if proc.returncode != 0:
            raise AssertionError(f"shoal-loadgen failed ({proc.returncode}): {proc.stderr}")
        with open(out.name) as f:
            return json.load(f)


def http_get(port, path, method="GET", headers=None, timeout=5):
    return http_request(port, path, method, headers, timeout=timeout)


class ServerTest(unittest.TestCase):
    """Base class: one server per test class."""
    flags = ()

    @classmethod
    def setUpClass(cls):
        cls.server = Server(*cls.flags)

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        assert code == 0, f"shoal exited with {code}"
