"""Integration: the I/O backends. The server says which one runs; `auto` (the default) runs
io_uring where the kernel has it (Linux 6.1+) and epoll elsewhere, saying why; io_uring falls back
to epoll, with a warning naming the reason, where the kernel refuses io_uring (simulated here with a
seccomp filter that makes io_uring_setup fail with ENOSYS, as on a kernel built without it); and
a provided-buffer ring that runs dry under load slows receiving down without losing a byte; and a
shard quiet after a burst gives its receive buffers' pages back, and receives intact afterwards.
"""
import asyncio
import ctypes
import os
import re
import time
import unittest

import websockets

from harness import Server, http_request

SYS_IO_URING_SETUP = 425  # x86_64 and aarch64 share the generic number
ENOSYS = 38


def deny_io_uring():
    """preexec_fn: installs a seccomp filter answering io_uring_setup with ENOSYS."""
    libc = ctypes.CDLL(None, use_errno=True)

    class sock_filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                    ("k", ctypes.c_uint)]

    class sock_fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(sock_filter))]

    program = (sock_filter * 4)(
        sock_filter(0x20, 0, 0, 0),                       # ld [nr]
        sock_filter(0x15, 0, 1, SYS_IO_URING_SETUP),      # jeq io_uring_setup
        sock_filter(0x06, 0, 0, 0x00050000 | ENOSYS),     # ret ERRNO(ENOSYS)
        sock_filter(0x06, 0, 0, 0x7FFF0000),              # ret ALLOW
    )
    prog = sock_fprog(len(program), program)
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
    if libc.prctl(22, 2, ctypes.byref(prog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")


async def echo_round_trips(url, clients, message, rounds):
    async def one():
        async with websockets.connect(url + "/echo", max_size=None) as ws:
            for _ in range(rounds):
                await ws.send(message)
                if await ws.recv() != message:
                    return False
        return True
    return await asyncio.gather(*(one() for _ in range(clients)))


def metric(port, name):
    status, _, body = http_request(port, "/metrics")
    assert status == 200
    return sum(float(v) for v in re.findall(rf"^{name}{{[^}}]*}} (\S+)$", body.decode(), re.M))


def per_shard(port, name):
    status, _, body = http_request(port, "/metrics")
    assert status == 200
    return {shard: float(v) for shard, v in
            re.findall(rf'^{name}{{shard="(\d+)"}} (\S+)$', body.decode(), re.M)}


class BackendTest(unittest.TestCase):
    def run_and_log(self, *flags, preexec_fn=None):
        server = Server(*flags, preexec_fn=preexec_fn)
        try:
            ok = asyncio.run(echo_round_trips(server.url, 3, "ping", 5))
        finally:
            server.signal()
            code, err = server.wait()
        self.assertEqual(code, 0, err)
        self.assertEqual(ok, [True] * 3)
        return err

    def test_the_log_names_the_backend_that_runs(self):
        for io in ("epoll", "io_uring"):
            with self.subTest(io=io):
                err = self.run_and_log("--io", io)
                refused = re.search(r"io_uring unavailable \((io_uring_setup: [^)]*)\)", err)
                if io == "io_uring" and refused:  # this machine's kernel or sandbox says no
                    self.skipTest(f"io_uring refused here ({refused.group(1)}); the *.io_uring "
                                  "suites ran on the epoll fallback")
                self.assertIn(f"with 2 shards ({io},", err)
                self.assertNotIn("io_uring unavailable", err)

    def test_io_uring_falls_back_to_epoll_where_the_kernel_refuses_it(self):
        err = self.run_and_log("--io", "io_uring", preexec_fn=deny_io_uring)
        self.assertIn("warn: io_uring unavailable (io_uring_setup: Function not implemented): using epoll",
                      err)
        self.assertIn("with 2 shards (epoll,", err)

    def test_auto_runs_io_uring_where_the_kernel_has_it_else_epoll_saying_why(self):
        err = self.run_and_log("--io", "auto")
        if "io_uring unavailable" in err:  # refused here, or a kernel before 6.1: an info line
            self.assertRegex(err, r"info: io_uring unavailable \([^)]+\): using epoll")
            self.assertIn("with 2 shards (epoll,", err)
        else:
            self.assertIn("with 2 shards (io_uring,", err)
        err = self.run_and_log("--io", "auto", preexec_fn=deny_io_uring)
        self.assertIn("info: io_uring unavailable (io_uring_setup: Function not implemented): using epoll",
                      err)
        self.assertIn("with 2 shards (epoll,", err)

    def test_a_dry_buffer_ring_slows_receiving_without_losing_bytes(self):
        # Two 512-byte buffers per shard for 40 clients sending 64 KiB messages: receives keep
        # stopping for lack of buffers and must resume, in order, with every byte.
        server = Server("--io", "io_uring", "--io-uring-buffers", "2", "--io-uring-buffer-size", "512")
        try:
            message = os.urandom(64 * 1024)
            ok = asyncio.run(echo_round_trips(server.url, 40, message, 4))
            self.assertEqual(ok, [True] * 40)
            self.assertGreater(metric(server.port, "shoal_receive_buffers_dry_total"), 0)
            # The server is still fine for a newcomer.
            self.assertEqual(asyncio.run(echo_round_trips(server.url, 1, "after", 1)), [True])
        finally:
            self.assertEqual(server.stop(), 0)

    def test_a_quiet_shard_trims_its_receive_buffers_and_receives_intact_after(self):
        # A burst touches the buffers; a connection held across the trim then echoes big
        # messages (several buffers each) through trimmed buffers, byte for byte.
        server = Server("--io", "io_uring")
        try:
            burst = os.urandom(48 * 1024)
            self.assertEqual(asyncio.run(echo_round_trips(server.url, 20, burst, 2)), [True] * 20)

            async def held():
                async with websockets.connect(server.url + "/echo", max_size=None) as ws:
                    await ws.send("before")
                    self.assertEqual(await ws.recv(), "before")
                    # Every shard trims after that receive, so the held connection's does.
                    before = per_shard(server.port, "shoal_receive_buffer_trims_total")
                    self.assertEqual(len(before), 2)
                    deadline = time.monotonic() + 10
                    while any(after <= before[shard] for shard, after in
                              per_shard(server.port, "shoal_receive_buffer_trims_total").items()):
                        self.assertLess(time.monotonic(), deadline, "a shard did not trim in 10 s")
                        await asyncio.sleep(0.25)
                    for size in (5, 4096, 100 * 1024):
                        message = os.urandom(size)
                        await ws.send(message)
                        self.assertEqual(await ws.recv(), message)
            asyncio.run(held())
            self.assertGreater(metric(server.port, "shoal_receive_buffer_trimmed_bytes_total"), 0)
        finally:
            self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main()
