"""Integration: the cluster harness itself (cluster_harness.py), with today's gateway: a JetStream
nats-server that restarts on its own store, a 3-server JetStream cluster that keeps a meta leader
when one member dies, HAProxy spreading WebSocket connections over two Shoal nodes and leaving a
node that stopped, and the checks of deploy/cluster (its HAProxy config and its script)."""
import asyncio
import os
import re
import signal
import subprocess
import sys
import unittest

import websockets

# Runnable from the repository root too (python3 -m unittest tests/integration/test_...py).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_harness import (HAPROXY_TEMPLATE, ClusterTestCase, create_stream, find_tool,
                             wait_until)

DEPLOY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy", "cluster")


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


async def open_echoes(url, n):
    """n WebSocket connections to url/echo, opened one after another, each checked to echo."""
    conns = []
    for i in range(n):
        ws = await websockets.connect(url + "/echo", open_timeout=30)
        conns.append(ws)
        await ws.send(f"hello {i}")
        assert await ws.recv() == f"hello {i}"
    return conns


async def close_all(conns):
    for ws in conns:
        await ws.close()


class Nats(ClusterTestCase):
    def test_single_server_has_jetstream_and_restarts_on_its_store(self):
        nats = self.nats()
        self.assertTrue(nats.url.startswith("nats://127.0.0.1:"))
        jsz = nats.jsz()
        self.assertEqual(jsz["config"]["store_dir"], os.path.join(nats.store_dir, "jetstream"))
        create_stream(nats.url, "HARNESS", ["harness.>"])
        self.assertEqual(nats.jsz()["streams"], 1)

        port = nats.port
        nats.kill()
        self.assertFalse(nats.running)
        nats.restart()
        self.assertEqual(nats.port, port)
        self.assertEqual(nats.jsz()["streams"], 1)  # read back from the same store dir

    def test_cluster_elects_a_meta_leader_and_survives_losing_a_member(self):
        cluster = self.nats_cluster(3)
        leader = cluster.leader()
        self.assertIn(leader, [m.name for m in cluster.members])
        for m in cluster.members:
            self.assertEqual(m.jsz()["meta_cluster"]["cluster_size"], 3)
        create_stream(cluster.urls[0], "HARNESS", ["harness.>"], replicas=3)

        # Kill the leader itself: the two left are a quorum and elect one of them.
        victim = [m.name for m in cluster.members].index(leader)
        cluster.kill(victim)
        new_leader = cluster.wait_ready()
        self.assertNotEqual(new_leader, leader)

        cluster.restart(victim)
        self.assertEqual(len(cluster.running()), 3)
        self.assertIn(cluster.leader(), [m.name for m in cluster.members])


class Balancer(ClusterTestCase):
    """HAProxy in front of two plain Shoal nodes (an admin port each, no NATS yet)."""

    def start(self):
        nodes = [self.shoal(), self.shoal()]
        haproxy = self.haproxy([("127.0.0.1", n.port, n.admin_port) for n in nodes])
        haproxy.wait_up(2, logs=nodes)
        return nodes, haproxy

    @staticmethod
    def websockets_on(node):
        return node.metric("shoal_websocket_connections")

    def test_connections_are_spread_over_both_nodes(self):
        nodes, haproxy = self.start()

        async def go():
            conns = await open_echoes(haproxy.url, 4)
            try:
                def all_four_counted():
                    counts = [self.websockets_on(n) for n in nodes]
                    return counts if sum(counts) == 4 else None
                counts = wait_until("the nodes count all four connections", all_four_counted,
                                    logs=[haproxy, *nodes])
                self.assertEqual(counts, [2, 2])  # leastconn alternates
                for n in nodes:
                    self.assertGreaterEqual(n.metric("shoal_messages_in_total"), 2)
                sessions = {name: int(row["scur"]) for name, row in haproxy.servers().items()}
                self.assertEqual(sessions, {"node-1": 2, "node-2": 2})
            finally:
                await close_all(conns)
        run(go())

    def test_a_node_that_stops_is_marked_down_and_skipped(self):
        nodes, haproxy = self.start()
        gone, left = nodes
        gone.signal(signal.SIGTERM)
        haproxy.wait_states({"node-1": "DOWN", "node-2": "UP"}, logs=nodes)
        code, _ = gone.wait()
        self.assertEqual(code, 0)

        async def go():
            conns = await open_echoes(haproxy.url, 4)
            try:
                wait_until("all four connections on the node left",
                           lambda: self.websockets_on(left) == 4, logs=[haproxy, left])
                self.assertEqual(int(haproxy.servers()["node-2"]["scur"]), 4)
            finally:
                await close_all(conns)
        run(go())


def config_sections(text):
    """HAProxy config -> {section header: [setting lines]}, comments and blanks dropped."""
    sections, current = {}, None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if not raw[0].isspace():
            current = line
            sections[current] = []
        else:
            sections[current].append(re.sub(r"\s+", " ", line))
    return sections


class DeployCluster(unittest.TestCase):
    """deploy/cluster: the local cluster's files are valid and match what the tests run."""

    def test_haproxy_accepts_the_config(self):
        haproxy = find_tool("haproxy", "SHOAL_HAPROXY")
        check = subprocess.run([haproxy, "-c", "-f", os.path.join(DEPLOY, "haproxy.cfg")],
                               capture_output=True, text=True, timeout=60)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

    def test_config_has_the_settings_the_tests_run_with(self):
        with open(os.path.join(DEPLOY, "haproxy.cfg")) as f:
            deployed = config_sections(f.read())
        tested = config_sections(HAPROXY_TEMPLATE.format(socket="s", port=1, servers="",
                                                         server_options=""))
        self.assertEqual(deployed["defaults"], tested["defaults"])
        without_servers = lambda lines: [l for l in lines if not l.startswith("server ")]
        self.assertEqual(without_servers(deployed["backend shoal_nodes"]),
                         without_servers(tested["backend shoal_nodes"]))
        self.assertIn("server node-1 127.0.0.1:8081 check port 9081",
                      deployed["backend shoal_nodes"])

    def test_run_script_parses(self):
        check = subprocess.run(["bash", "-n", os.path.join(DEPLOY, "run.sh")],
                               capture_output=True, text=True, timeout=60)
        self.assertEqual(check.returncode, 0, check.stderr)


if __name__ == "__main__":
    unittest.main()
