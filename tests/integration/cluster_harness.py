"""Real nats-server (JetStream), HAProxy and Shoal nodes on loopback for the cluster tests (issue 15).

Every process gets free ports on 127.0.0.1 and writes its output to a log file in a temp dir;
ClusterTestCase creates that dir, stops every process it started (SIGKILL at the latest), prints
the logs' tails when a test failed and removes the dir, whatever happened. Readiness is polled
with generous deadlines, never assumed after a sleep. Set SHOAL_KEEP_LOGS=1 to keep the dir.
Missing nats-server or haproxy is a failure, not a skip: deploy/setup.sh installs both.
"""
import collections
import csv
import ctypes
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from harness import Server, free_port, http_request

DEADLINE = 60  # seconds; the machine may be a busy 2-core one running other suites
LOG_TAIL_LINES = 40


class MissingTool(RuntimeError):
    pass


def find_tool(name, env):
    """Path of `name` from $env, PATH, or /usr/sbin (where Debian puts nats-server and haproxy)."""
    path = os.environ.get(env) or shutil.which(
        name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin"]))
    if not path or not os.access(path, os.X_OK):
        raise MissingTool(f"{name} is not installed (looked in PATH, /usr/local/sbin and /usr/sbin;"
                          f" ${env} names another): deploy/setup.sh installs it from Debian's"
                          f" '{name}' package")
    return path


def free_ports(n):
    """n distinct free ports (each socket held until all are chosen)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def die_with_parent():
    """preexec_fn: SIGKILL the child if the test process dies without cleaning up."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def accepts(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_until(what, check, deadline=DEADLINE, logs=()):
    """Polls check() until it returns a true value, which it returns; on timeout fails with the
    tails of `logs` (objects with log_tail())."""
    end = time.monotonic() + deadline
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            tails = "".join(f"\n--- {p.log_name}\n{p.log_tail()}" for p in logs)
            raise AssertionError(f"{what}: not within {deadline} s{tails}")
        time.sleep(0.1)


def http_json(port, path, timeout=5):
    """(status, parsed JSON or None) from 127.0.0.1:port; (None, None) if it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None
    except (OSError, ValueError):
        return None, None


class Process:
    """A child process whose stdout and stderr go to `log_dir/<log_name>.log`."""

    def __init__(self, log_dir, log_name):
        self.log_name = log_name
        self.log_path = os.path.join(log_dir, f"{log_name}.log")
        self.proc = None

    def spawn(self, args, env=None):
        self.args = args
        with open(self.log_path, "ab") as out:
            out.write(f"=== {' '.join(args)}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
                                         env=env)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines=LOG_TAIL_LINES):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode(errors="replace")
        except OSError:
            return "(no log)\n"
        return "\n".join(text.splitlines()[-lines:]) + "\n"

    def check_alive(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.log_name} exited with {self.proc.returncode}:\n"
                                 f"{self.log_tail()}")

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Signals and waits; SIGKILL if it outlives `timeout`. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self):
        return self.stop(signal.SIGKILL)


NatsRoutes = collections.namedtuple("NatsRoutes", "name urls")


class NatsServer(Process):
    """One nats-server: `-js` with its own store dir, client and monitoring ports on 127.0.0.1.
    In a cluster (cluster_of=NatsRoutes) the constructor waits only for the ports: JetStream
    needs a quorum, so NatsCluster waits for the meta leader once every member runs."""

    def __init__(self, js=True, store_dir=None, cluster_of=None, *, log_dir, name=None,
                 port=None, monitor_port=None, cluster_port=None):
        self.name = name or f"nats-{port or free_port()}"
        super().__init__(log_dir, self.name)
        self.binary = find_tool("nats-server", "SHOAL_NATS_SERVER")
        self.js = js
        self.store_dir = store_dir or os.path.join(log_dir, f"{self.name}-store")
        self.cluster_of = cluster_of
        need = [p for p in (port, monitor_port) if p is None]
        fresh = iter(free_ports(len(need)))
        self.port = port or next(fresh)
        self.monitor_port = monitor_port or next(fresh)
        self.cluster_port = cluster_port
        if cluster_of and not cluster_port:
            raise ValueError("a cluster member needs its cluster_port")
        self.start()

    @property
    def url(self):
        return f"nats://127.0.0.1:{self.port}"

    def command(self):
        args = [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-m", str(self.monitor_port),
                "--server_name", self.name]
        if self.js:
            args += ["-js", "-sd", self.store_dir]
        if self.cluster_of:
            args += ["--cluster_name", self.cluster_of.name,
                     "--cluster", f"nats://127.0.0.1:{self.cluster_port}",
                     "--routes", ",".join(self.cluster_of.urls)]
        return args

    def start(self):
        self.spawn(self.command())
        try:
            self.wait_listening()
            if not self.cluster_of:
                self.wait_ready()
        except BaseException:
            self.kill()
            raise

    def restart(self):
        """Stops it if it runs, then starts it again on the same ports and store dir."""
        self.stop()
        self.start()

    def wait_listening(self):
        def listening():
            self.check_alive()
            return accepts(self.port) and http_json(self.monitor_port, "/varz")[0] == 200
        wait_until(f"{self.name} accepting on {self.port}", listening, logs=[self])

    def jsz(self):
        """The monitoring port's /jsz, or None."""
        status, body = http_json(self.monitor_port, "/jsz")
        return body if status == 200 else None

    def healthy(self):
        """/healthz answers 200: with JetStream, only once JetStream is enabled and current."""
        return http_json(self.monitor_port, "/healthz")[0] == 200

    def meta_leader(self):
        """The JetStream meta leader this server knows of (a server name), or None."""
        jsz = self.jsz() or {}
        return (jsz.get("meta_cluster") or {}).get("leader") or None

    def wait_ready(self):
        def ready():
            self.check_alive()
            if not self.healthy():
                return False
            if not self.js:
                return True
            if not self.cluster_of:
                return "config" in (self.jsz() or {})  # JetStream enabled, with its limits
            return self.meta_leader() is not None
        wait_until(f"{self.name} ready" + (" with JetStream" if self.js else ""), ready,
                   logs=[self])


def nats_request(url, subject, payload, timeout=10):
    """One request over the NATS text protocol (no client library needed): publishes `payload`
    (bytes) to `subject` with a reply inbox and returns the first reply's payload."""
    host, _, port = url.removeprefix("nats://").rpartition(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        f = s.makefile("rb")
        f.readline()  # INFO {...}
        s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB _INBOX.harness 1\r\n'
                  + f"PUB {subject} _INBOX.harness {len(payload)}\r\n".encode() + payload
                  + b"\r\n")
        while line := f.readline():
            if line.startswith(b"PING"):
                s.sendall(b"PONG\r\n")
            elif line.startswith(b"-ERR"):
                raise AssertionError(f"{url}: {line.decode().strip()}")
            elif line.startswith(b"MSG "):
                size = int(line.split()[-1])
                return f.read(size + 2)[:size]
        raise AssertionError(f"{url} closed before replying on {subject}")


def create_stream(url, name, subjects, replicas=1):
    """Creates a JetStream file stream through the JetStream API; returns the API's answer."""
    config = {"name": name, "subjects": subjects, "storage": "file", "num_replicas": replicas}
    answer = json.loads(nats_request(url, f"$JS.API.STREAM.CREATE.{name}",
                                     json.dumps(config).encode()))
    if "error" in answer:
        raise AssertionError(f"creating stream {name}: {answer['error']}")
    return answer


class NatsCluster:
    """n nats-servers routed to each other as one JetStream cluster (its meta group elects a
    leader once a quorum runs). members[i] is a NatsServer; urls lists every client URL."""

    def __init__(self, n=3, *, log_dir, name="shoal"):
        ports = free_ports(3 * n)
        cluster_ports = ports[2 * n:]
        routes = NatsRoutes(name, [f"nats://127.0.0.1:{p}" for p in cluster_ports])
        self.members = []
        try:
            for i in range(n):
                self.members.append(NatsServer(
                    True, os.path.join(log_dir, f"nats-{i + 1}-store"), routes, log_dir=log_dir,
                    name=f"nats-{i + 1}", port=ports[i], monitor_port=ports[n + i],
                    cluster_port=cluster_ports[i]))
            self.wait_ready()
        except BaseException:
            self.kill_all()
            raise

    @property
    def urls(self):
        return [m.url for m in self.members]

    def running(self):
        return [m for m in self.members if m.running]

    def leader(self):
        """The meta leader's name if every running member names the same running member and
        counts every member (dead ones too) in the meta group."""
        live = self.running()
        metas = [(m.jsz() or {}).get("meta_cluster") or {} for m in live]
        names = {meta.get("leader") for meta in metas}
        sizes = {meta.get("cluster_size") for meta in metas}
        if len(names) == 1 and sizes == {len(self.members)}:
            (name,) = names
            if name in {m.name for m in live}:
                return name
        return None

    def meshed(self):
        """True if every running member has a route to every other running one (/routez): a
        member reached only through another loses the cluster with it (a CI run saw the two left
        after the leader's death never elect one, one of them with no quorum)."""
        live = self.running()
        ids = {}
        for m in live:
            status, varz = http_json(m.monitor_port, "/varz")
            if status != 200 or not varz:
                return False
            ids[m.name] = varz.get("server_id")
        for m in live:
            status, body = http_json(m.monitor_port, "/routez")
            if status != 200 or not body:
                return False
            peers = {r.get("remote_id") for r in body.get("routes") or []}
            if not {ids[o.name] for o in live if o is not m} <= peers:
                return False
        return True

    def wait_ready(self):
        """Until the running members are fully meshed, agree on a running meta leader of the
        whole group and all answer /healthz; returns the leader's name."""
        def ready():
            for m in self.running():
                m.check_alive()
            leader = self.leader()
            return leader if leader and self.meshed() and all(m.healthy() for m in self.running()) else None
        return wait_until("JetStream meta leader elected", ready, logs=self.members)

    def member(self, name):
        return next(m for m in self.members if m.name == name)

    def stop(self, i):
        return self.members[i].stop()

    def kill(self, i):
        return self.members[i].kill()

    def restart(self, i):
        """Starts member i again (same ports, same store) and waits for the cluster."""
        self.members[i].restart()
        return self.wait_ready()

    def kill_all(self):
        for m in self.members:
            m.kill()


HAPROXY_TEMPLATE = """\
# Generated by tests/integration/cluster_harness.py; deploy/cluster/haproxy.cfg has the same
# defaults and backend settings (test_cluster_harness checks that they do not drift apart).
global
    maxconn 4096
    stats socket {socket} mode 600 level admin

defaults
    mode tcp
    option redispatch
    retries 2
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    timeout client-fin 30s
    timeout server-fin 30s
    timeout check 2s

frontend shoal
    bind 127.0.0.1:{port}
    default_backend shoal_nodes

backend shoal_nodes
    balance leastconn
    option httpchk
    http-check send meth GET uri /readyz
    http-check expect status 200
    # With the nodes on --proxy-protocol (Haproxy(send_proxy_v2=True)), this line replaces the next:
    # default-server inter 500ms fall 2 rise 1 send-proxy-v2
    default-server inter 500ms fall 2 rise 1{server_options}
{servers}
"""


class Haproxy(Process):
    """HAProxy in TCP mode in front of Shoal nodes, checking each node's /readyz on its admin
    port. backends: (host, port, admin_port) or (name, host, port, admin_port); names default to
    node-1, node-2, ... The runtime API is on a unix socket in log_dir."""

    def __init__(self, backends, *, log_dir, port=None, send_proxy_v2=False, config_file=None):
        """config_file: run that file (deploy/haproxy.cfg) instead of the template, its
        addresses given through the SHOAL_* environment variables it reads."""
        super().__init__(log_dir, "haproxy")
        self.binary = find_tool("haproxy", "SHOAL_HAPROXY")
        self.port = port or free_port()
        self.socket_path = os.path.join(log_dir, "haproxy.sock")
        self.config_path = config_file or os.path.join(log_dir, "haproxy.cfg")
        self.names = []
        servers = []
        env = dict(os.environ, SHOAL_FRONTEND=f"127.0.0.1:{self.port}",
                   SHOAL_HAPROXY_SOCKET=self.socket_path, SHOAL_HAPROXY_MAXCONN="4096")
        for i, b in enumerate(backends):
            name, host, port_, admin = b if len(b) == 4 else (f"node-{i + 1}", *b)
            self.names.append(name)
            servers.append(f"    server {name} {host}:{port_} check port {admin}")
            env[f"SHOAL_NODE{i + 1}"] = f"{host}:{port_}"
            env[f"SHOAL_NODE{i + 1}_ADMIN"] = str(admin)
        if not config_file:
            with open(self.config_path, "w") as f:
                f.write(HAPROXY_TEMPLATE.format(
                    socket=self.socket_path, port=self.port, servers="\n".join(servers),
                    server_options=" send-proxy-v2" if send_proxy_v2 else ""))
        check = subprocess.run([self.binary, "-c", "-f", self.config_path], capture_output=True,
                               text=True, timeout=60, env=env)
        if check.returncode != 0:
            raise AssertionError(f"haproxy -c refused {self.config_path}:\n{check.stdout}"
                                 f"{check.stderr}")
        self.spawn([self.binary, "-f", self.config_path, "-db"], env=env)
        try:
            def up():
                self.check_alive()
                return accepts(self.port) and os.path.exists(self.socket_path)
            wait_until(f"haproxy accepting on {self.port}", up, logs=[self])
        except BaseException:
            self.kill()
            raise

    @property
    def url(self):
        return f"ws://127.0.0.1:{self.port}"

    def command(self, line):
        """One runtime API command on the stats socket; returns its answer."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(self.socket_path)
            s.sendall(line.encode() + b"\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return data.decode(errors="replace")

    def servers(self):
        """The backend's servers as HAProxy sees them: name -> `show stat` row (a dict with
        'status' UP, DOWN, 'UP 1/2', ..., 'scur' sessions now, 'stot' sessions in total)."""
        text = self.command("show stat").lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        return {r["svname"]: r for r in rows
                if r.get("pxname") == "shoal_nodes" and r["svname"] not in ("BACKEND", "FRONTEND")}

    def states(self):
        """name -> status ('UP', 'DOWN', 'UP 1/2' while going down, ...)."""
        return {name: row["status"] for name, row in self.servers().items()}

    def up(self):
        return sorted(n for n, s in self.states().items() if s == "UP")

    def wait_states(self, want, logs=()):
        """Until every server named in `want` (name -> 'UP' or 'DOWN') has that status."""
        def reached():
            self.check_alive()
            states = self.states()
            return all(states.get(n) == s for n, s in want.items())
        wait_until(f"haproxy servers {want} (now {self.states()})", reached,
                   logs=[self, *logs])

    def wait_up(self, n, logs=()):
        """Until at least n servers are UP; returns their names."""
        def reached():
            self.check_alive()
            up = self.up()
            return up if len(up) >= n else None
        return wait_until(f"{n} haproxy servers UP", reached, logs=[self, *logs])


class ShoalNode(Server):
    """harness.Server plus the cluster flags: --nats for each URL, --node-name, and an admin
    listener on a free port (the balancer's health checks and /metrics). With no URLs and no
    name it is a plain node with an admin port, which today's binary runs too."""

    def __init__(self, nats_urls, name, *flags, log_dir, shards=2, port=None, admin_port=None):
        self.name = name
        self.admin_port = admin_port or free_port()
        self.log_name = f"shoal-{name or self.admin_port}"
        self.init_flags = [*(f for u in nats_urls for f in ("--nats", u)),
                           *(["--node-name", name] if name else []),
                           "--admin-listen", f"127.0.0.1:{self.admin_port}", *flags]
        self.shards = shards
        self.log_path = os.path.join(log_dir, f"{self.log_name}.log")
        super().__init__(*self.init_flags, shards=shards, port=port, log=self.log_path,
                         preexec_fn=die_with_parent)

    @property
    def running(self):
        return self.proc.poll() is None

    def log_tail(self, lines=LOG_TAIL_LINES):
        with open(self.log_path, "rb") as f:
            return "\n".join(f.read().decode(errors="replace").splitlines()[-lines:]) + "\n"

    def kill(self):
        """SIGKILL: no drain, no goodbye to clients or to NATS."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        return self.proc.returncode

    def restart(self):
        """Stops it if it runs, then starts it again with the same flags and ports."""
        self.stop()
        Server.__init__(self, *self.init_flags, shards=self.shards, port=self.port,
                        log=self.log_path, preexec_fn=die_with_parent)

    def ready(self):
        """/readyz on the admin port answers 200 (503 while the link to NATS is down)."""
        try:
            return http_request(self.admin_port, "/readyz", timeout=5)[0] == 200
        except OSError:
            return False

    def wait_ready(self):
        wait_until(f"{self.log_name} ready", self.ready, logs=[self])

    def metrics(self):
        """/metrics from the admin port: series ('name{labels}' or 'name') -> value."""
        status, _, body = http_request(self.admin_port, "/metrics", timeout=10)
        if status != 200:
            raise AssertionError(f"{self.log_name} /metrics answered {status}")
        series = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                series[key] = float(value)
        return series

    def metric(self, name):
        """The sum of metric `name` over its label sets (e.g. over shards)."""
        return sum(v for k, v in self.metrics().items()
                   if k == name or k.startswith(name + "{"))


class ClusterTestCase(unittest.TestCase):
    """Per test: a temp dir for logs and stores, and factories that start processes and register
    their cleanup. Cleanups run last-in first-out: processes stop, then logs of a failed test are
    printed, then the dir goes."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="shoal-cluster-")
        self.addCleanup(self._remove_tmp)
        self.started = []
        self.addCleanup(self._print_logs_if_failed)

    def _remove_tmp(self):
        if os.environ.get("SHOAL_KEEP_LOGS"):
            print(f"\nlogs kept in {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _failed(self):
        """Whether this test has failed so far (unittest's result, reached while it runs)."""
        result = getattr(getattr(self, "_outcome", None), "result", None)
        return any(test is self for test, _ in
                   getattr(result, "failures", []) + getattr(result, "errors", []))

    def _print_logs_if_failed(self):
        if self._failed() or os.environ.get("SHOAL_KEEP_LOGS"):
            for p in self.started:
                print(f"\n--- {self.id()}: {p.log_name} (last {LOG_TAIL_LINES} lines)\n"
                      f"{p.log_tail()}", file=sys.stderr, end="")

    def _started(self, p, stop):
        self.started.append(p)
        self.addCleanup(stop)
        return p

    def nats(self, js=True, **kw):
        n = NatsServer(js, log_dir=self.tmp, **kw)
        return self._started(n, n.stop)

    def nats_cluster(self, n=3, **kw):
        cluster = NatsCluster(n, log_dir=self.tmp, **kw)
        for m in cluster.members:
            self._started(m, m.kill)
        return cluster

    def haproxy(self, backends, **kw):
        h = Haproxy(backends, log_dir=self.tmp, **kw)
        return self._started(h, h.stop)

    def shoal(self, nats_urls=(), name=None, *flags, **kw):
        node = ShoalNode(list(nats_urls), name, *flags, log_dir=self.tmp, **kw)
        return self._started(node, node.stop)
