"""Integration: one shoal per listening address (gateway/listen_guard.hpp). A second shoal
started by mistake on a port a live one holds refuses to start, naming the holder, and leaves the
first one serving; with --share-listeners true it starts beside it (a zero-downtime upgrade),
takes the address over once the old one has exited, and from then on refuses a third."""
import os
import select
import signal
import subprocess
import time
import unittest

from harness import Server, http_get, io_flags

DEADLINE = 60


def binary():
    return os.environ.get("SHOAL_BIN", "build/asan/gateway/shoal")


def start_plain(port, *flags):
    return subprocess.Popen([binary(), "--listen", f"127.0.0.1:{port}", "--shards", "2",
                             *io_flags(), *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def read_until(proc, text, deadline=DEADLINE):
    """Reads the process's stderr (without blocking past the deadline) until `text` appears;
    returns everything read."""
    seen = b""
    end = time.monotonic() + deadline
    while text.encode() not in seen:
        left = end - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{text!r} not in the log within {deadline} s: {seen.decode()}")
        ready, _, _ = select.select([proc.stderr], [], [], min(left, 0.5))
        if ready:
            chunk = os.read(proc.stderr.fileno(), 65536)
            if not chunk:
                raise AssertionError(f"the process ended before {text!r}: {seen.decode()}")
            seen += chunk
    return seen.decode()


def refused(port):
    """Starts a shoal on `port` that must refuse; returns its stderr."""
    proc = start_plain(port)
    _, err = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 1, f"exit {proc.returncode}: {err.decode()}"
    return err.decode()


class ListenGuard(unittest.TestCase):
    def test_a_second_shoal_on_the_same_port_refuses_to_start(self):
        first = Server()
        try:
            err = refused(first.port)
            self.assertIn(f"listen on 127.0.0.1:{first.port}: another shoal "
                          f"(pid {first.proc.pid}) already listens there", err)
            self.assertIn("--share-listeners true", err)
            self.assertEqual(http_get(first.port, "/healthz")[0], 200)  # undisturbed
        finally:
            self.assertEqual(first.stop(), 0)

    def test_share_listeners_takes_over_once_the_old_one_exits(self):
        old = Server()
        new = start_plain(old.port, "--share-listeners", "true")
        try:
            read_until(new, f"sharing 127.0.0.1:{old.port} (pid {old.proc.pid}) with another shoal")
            read_until(new, "listening on")
            old.signal(signal.SIGTERM)
            code, _ = old.wait(timeout=DEADLINE)
            self.assertEqual(code, 0)
            read_until(new, "this one alone holds its addresses now")
            self.assertEqual(http_get(old.port, "/healthz")[0], 200)  # the new one serves
            err = refused(old.port)  # and is now the one a third instance runs into
            self.assertIn(f"another shoal (pid {new.pid}) already listens there", err)
        finally:
            new.send_signal(signal.SIGTERM)
            new.communicate(timeout=DEADLINE)
            old.stop()


if __name__ == "__main__":
    unittest.main()
