"""Integration: a zero-downtime upgrade (issue 18). A second shoal starts on the same port with
--share-listeners, the first gets SIGTERM, drains and exits, and clients connecting without pause
through all of it never see a failed connect. Runs in a network namespace of its own
(`unshare --net`), so that net.ipv4.tcp_migrate_req, which README "Operations" recommends for
upgrades (connections queued on a closing listener move to the new one), can be set for it
without touching the machine's.
"""
import json
import os
import subprocess
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


class Handover(unittest.TestCase):
    def test_no_connect_fails_while_a_new_shoal_takes_over(self):
        binary = os.environ.get("SHOAL_BIN", "build/asan/gateway/shoal")
        io = os.environ.get("SHOAL_IO", "epoll")
        proc = subprocess.run(
            ["unshare", "--net", "bash", "-c",
             'ip link set lo up && exec /usr/bin/python3 "$0" "$@"',
             os.path.join(HERE, "handover_driver.py"), binary, io, "1"],
            capture_output=True, text=True, timeout=240)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        self.assertEqual(r["failed"], {}, r)
        self.assertGreater(r["ok_before_sigterm"], 0, r)
        self.assertGreater(r["ok"], r["ok_before_sigterm"], r)  # and after it, against B
        self.assertGreater(r["b_accepted"], 0, r)
        self.assertEqual((r["a_exit"], r["b_exit"]), (0, 0), r)


if __name__ == "__main__":
    unittest.main()
