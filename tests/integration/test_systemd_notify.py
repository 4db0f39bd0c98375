"""Integration: readiness through sd_notify (gateway/service_notifier.hpp), as a Type=notify
systemd unit (deploy/shoal.service) sees it. The test plays the service manager: it binds the
Unix datagram socket named by NOTIFY_SOCKET, checks that READY=1 comes from the server's own pid
once every listener (public and admin) answers, that SIGTERM brings STOPPING=1, and that with
WATCHDOG_USEC the main loop pings WATCHDOG=1 at half the interval."""
import os
import signal
import socket
import struct
import tempfile
import threading
import time
import unittest

from harness import Server, free_port, http_get

DEADLINE = 60  # generous: the server may be an ASan build on a busy 2-core machine


class NotifySocket:
    """The service manager's end: a datagram socket that also receives the sender's credentials
    (SO_PASSCRED), as systemd does to check NotifyAccess=main."""

    def __init__(self):
        self.dir = tempfile.TemporaryDirectory(prefix="shoal-notify-")
        self.path = os.path.join(self.dir.name, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(self.path)
        self.messages = []  # (sender pid, {key: value}) in arrival order

    def env(self, **extra):
        env = dict(os.environ, NOTIFY_SOCKET=self.path)
        env.pop("WATCHDOG_USEC", None)
        env.pop("WATCHDOG_PID", None)
        env.update(extra)
        return env

    def receive(self, timeout):
        """One datagram within `timeout` seconds, or None."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            return None
        pid = None
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid, _, _ = struct.unpack("iII", payload[:12])
        fields = dict(line.split("=", 1) for line in data.decode().split("\n") if line)
        self.messages.append((pid, fields))
        return pid, fields

    def wait_for(self, key, deadline=DEADLINE):
        """Receives until a message with `key` arrives; returns (pid, fields)."""
        end = time.monotonic() + deadline
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {key} within {deadline} s; got {self.messages}")
            got = self.receive(left)
            if got and key in got[1]:
                return got

    def drain(self):
        """Takes every datagram already queued (call once the sender has exited)."""
        while self.receive(0.001):
            pass

    def count(self, key, value="1"):
        return sum(1 for _, f in self.messages if f.get(key) == value)

    def close(self):
        self.sock.close()
        self.dir.cleanup()


class SystemdNotify(unittest.TestCase):
    def setUp(self):
        self.notify = NotifySocket()
        self.addCleanup(self.notify.close)

    def start_in_background(self, *flags, env):
        """harness.Server waits for the port itself; run it in a thread so that this thread can
        take READY=1 the moment it is sent."""
        result = {}

        def start():
            try:
                result["server"] = Server(*flags, env=env)
            except Exception as e:  # reported by join_server
                result["error"] = e

        thread = threading.Thread(target=start, daemon=True)
        thread.start()
        self.addCleanup(self.stop_started, thread, result)
        return thread, result

    @staticmethod
    def stop_started(thread, result):
        thread.join(DEADLINE)
        if "server" in result:
            result["server"].stop()

    def join_server(self, thread, result):
        thread.join(DEADLINE)
        self.assertFalse(thread.is_alive(), "harness.Server did not return")
        if "error" in result:
            raise result["error"]
        return result["server"]

    def test_ready_once_listening_then_stopping_on_sigterm(self):
        admin = free_port()
        thread, result = self.start_in_background("--admin-listen", f"127.0.0.1:{admin}",
                                                  env=self.notify.env())
        pid, ready = self.notify.wait_for("READY")
        # READY=1 was sent: every listener must already take connections and every shard
        # answer, with no retry. Several connections so that both shards' sockets are used.
        self.assertEqual(http_get(admin, "/readyz")[0], 200)
        server = self.join_server(thread, result)
        for _ in range(8):
            status, _, body = http_get(server.port, "/healthz")
            self.assertEqual((status, body), (200, b"ok\n"))
        self.assertEqual(pid, server.proc.pid, "READY=1 must come from the main process")
        self.assertEqual(ready["READY"], "1")
        self.assertIn(f"127.0.0.1:{server.port}", ready.get("STATUS", ""))
        self.assertNotIn("WATCHDOG", ready)  # no WATCHDOG_USEC: no watchdog
        self.assertEqual(self.notify.count("READY"), 1)

        server.signal(signal.SIGTERM)
        pid, stopping = self.notify.wait_for("STOPPING")
        self.assertEqual(pid, server.proc.pid)
        self.assertEqual(stopping["STOPPING"], "1")
        self.assertIn("draining", stopping.get("STATUS", ""))
        code, err = server.wait(timeout=DEADLINE)
        self.assertEqual(code, 0, err)
        self.assertNotIn("systemd watchdog", err)

    def test_watchdog_pings_at_half_the_interval(self):
        thread, result = self.start_in_background(env=self.notify.env(WATCHDOG_USEC="200000"))
        _, ready = self.notify.wait_for("READY")
        self.assertEqual(ready.get("WATCHDOG"), "1")  # the first ping rides with READY=1
        server = self.join_server(thread, result)
        # Every 100 ms; five more within a minute tolerates any scheduling delay.
        started = time.monotonic()
        while self.notify.count("WATCHDOG") < 6:
            pid, _ = self.notify.wait_for("WATCHDOG")
            self.assertEqual(pid, server.proc.pid)
        self.assertLess(time.monotonic() - started, DEADLINE)
        server.signal(signal.SIGTERM)
        self.notify.wait_for("STOPPING")
        code, err = server.wait(timeout=DEADLINE)
        self.assertEqual(code, 0, err)
        self.assertIn("systemd watchdog: pinging every 100 ms", err)

    def test_no_watchdog_when_watchdog_pid_names_another_process(self):
        # systemd sets WATCHDOG_PID to the main process; a child that inherited the variables
        # from a wrapper must not ping on its behalf (sd_watchdog_enabled(3)).
        thread, result = self.start_in_background(
            env=self.notify.env(WATCHDOG_USEC="200000", WATCHDOG_PID="1"))
        _, ready = self.notify.wait_for("READY")
        self.assertNotIn("WATCHDOG", ready)
        server = self.join_server(thread, result)
        server.signal(signal.SIGTERM)
        self.notify.wait_for("STOPPING")
        code, err = server.wait(timeout=DEADLINE)
        self.assertEqual(code, 0, err)
        self.notify.drain()
        self.assertEqual(self.notify.count("WATCHDOG"), 0)
        self.assertNotIn("systemd watchdog", err)


if __name__ == "__main__":
    unittest.main()
