"""The deploy files, checked as far as this machine allows (no systemd as PID 1, no container
runtime, no Kubernetes): deploy/shoal.service with `systemd-analyze verify` and `security
--offline`, and its SystemCallFilter against the system calls shoal really makes (strace);
deploy/container/Containerfile's fields, package names and healthcheck command; the Kubernetes
manifests in deploy/k8s; the sysctl keys of deploy/TUNING.md. Every config file in them is
validated by the shoal binary itself (--print-config), and the timeouts they must outlast are
read from it, so a changed default cannot leave a file behind."""
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import tomllib
import unittest
from pathlib import Path

import yaml

from harness import Server, free_port, http_get, io_flags
from rawws import RawClient, frame

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
UNIT = DEPLOY / "shoal.service"
CONTAINERFILE = DEPLOY / "container" / "Containerfile"
CONTAINER_CONFIG = DEPLOY / "container" / "shoal.toml"
K8S = DEPLOY / "k8s" / "shoal.yaml"
TUNING = DEPLOY / "TUNING.md"
DEADLINE = 60


def binary(var="SHOAL_BIN", default="build/asan/gateway/shoal"):
    path = Path(os.environ.get(var, REPO / default))
    return str(path if path.is_absolute() else Path.cwd() / path)


def seconds(duration):
    """A Shoal duration ("250ms", "5s", "2m", or integer milliseconds) or a systemd time span
    ("30s", "1min", "1min 30s", bare seconds) in seconds."""
    if isinstance(duration, int):
        return duration / 1000
    units = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", duration):
        total += float(number) * units[unit or "s"]
    return total


def effective_config(toml_path=None):
    """The configuration shoal runs with for this file (None: the embedded defaults), as shoal
    prints it; fails if shoal refuses the file."""
    args = [binary()] + (["--config", str(toml_path)] if toml_path else []) + ["--print-config"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=DEADLINE)
    assert proc.returncode == 0, f"{' '.join(args)}: exit {proc.returncode}: {proc.stderr}"
    return tomllib.loads(proc.stdout)


def port_of(address):
    return int(address.rsplit(":", 1)[1])


# --- systemd -------------------------------------------------------------------------------

def parse_unit(text):
    """{section: [(key, value), ...]}: repeated keys kept in order, as systemd reads them."""
    sections, current = {}, None
    for raw in re.sub(r"\\\n", " ", text).splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


def unit_value(section, key):
    values = [v for k, v in section if k == key]
    assert values, f"{key} missing"
    return values[-1]


def syscall_group(name, cache={}):
    """Every system call in a systemd syscall group or name, groups expanded recursively."""
    if not name.startswith("@"):
        return {name}
    if name not in cache:
        out = subprocess.run(["systemd-analyze", "syscall-filter", name], capture_output=True,
                             text=True, check=True).stdout
        calls = set()
        for line in out.splitlines()[1:]:
            entry = line.strip()
            if entry and not entry.startswith("#"):
                calls |= syscall_group(entry)
        cache[name] = calls
    return cache[name]


def allowed_syscalls(service):
    """What SystemCallFilter= lines leave allowed: the first (an allow list) minus every '~'
    line, as systemd combines them."""
    allowed = None
    for key, value in service:
        if key != "SystemCallFilter":
            continue
        deny = value.startswith("~")
        names = set()
        for entry in value.lstrip("~").split():
            names |= syscall_group(entry)
        if deny:
            assert allowed is not None, "a deny list before the allow list"
            allowed -= names
        elif allowed is None:
            allowed = names
        else:
            allowed |= names
    return allowed


class SystemdUnit(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.text = UNIT.read_text()
        cls.unit = parse_unit(cls.text)
        cls.service = cls.unit["Service"]

    def test_the_fields_that_matter(self):
        s = lambda key: unit_value(self.service, key)
        self.assertEqual(s("Type"), "notify")
        self.assertEqual(s("ExecStart"), "/usr/local/bin/shoal --config /etc/shoal/shoal.toml")
        self.assertEqual(s("ExecReload"), "/bin/kill -HUP $MAINPID")
        self.assertEqual(s("LimitNOFILE"), "1048576")
        self.assertEqual(s("Restart"), "on-failure")
        self.assertGreater(seconds(s("RestartSec")), 0)
        self.assertGreater(seconds(s("WatchdogSec")), 1)
        # Not root: a dynamic user, or a named one.
        self.assertTrue(s("DynamicUser") == "yes" if ("DynamicUser", "yes") in self.service
                        else s("User") not in ("root", "0"))
        self.assertIn(("WantedBy", "multi-user.target"), self.unit["Install"])

    def test_stop_timeout_outlasts_the_drain(self):
        # SIGKILL must not cut a drain short: the stop timeout exceeds drain + deadline (the
        # drain lies within the deadline, so this is generous) of shoal's own defaults.
        t = effective_config()["timeouts"]
        needed = seconds(t["drain"]) + seconds(t["shutdown_deadline"])
        self.assertGreater(seconds(unit_value(self.service, "TimeoutStopSec")), needed)

    def test_hardening(self):
        expected = {
            "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
            "PrivateTmp": "yes", "PrivateDevices": "yes", "CapabilityBoundingSet": "",
            "AmbientCapabilities": "", "SystemCallArchitectures": "native",
            "MemoryDenyWriteExecute": "yes", "LockPersonality": "yes", "RestrictRealtime": "yes",
            "RestrictNamespaces": "yes", "ProtectKernelTunables": "yes",
            "ProtectKernelModules": "yes", "ProtectControlGroups": "yes",
            "SystemCallErrorNumber": "EPERM",
        }
        for key, value in expected.items():
            with self.subTest(key=key):
                self.assertEqual(unit_value(self.service, key), value)
        self.assertEqual(set(unit_value(self.service, "RestrictAddressFamilies").split()),
                         {"AF_INET", "AF_INET6", "AF_UNIX"})

    def test_syscall_filter_keeps_io_uring_and_the_limits(self):
        allowed = allowed_syscalls(self.service)
        for call in ("io_uring_setup", "io_uring_enter", "io_uring_register", "setrlimit",
                     "prlimit64", "sched_setaffinity", "epoll_pwait", "accept4", "eventfd2"):
            self.assertIn(call, allowed)

    def installable_copy(self, tmp):
        """The unit with ExecStart on the built binary (verify checks that it is executable)."""
        path = Path(tmp) / "shoal.service"
        path.write_text(self.text.replace("ExecStart=/usr/local/bin/shoal",
                                          f"ExecStart={binary()}"))
        return path

    def test_systemd_analyze_verify(self):
        # Runs offline (no systemd as PID 1 needed). Unknown keys and bad values are warnings
        # with exit 0, so any output at all fails the test.
        with tempfile.TemporaryDirectory() as tmp:
            path = self.installable_copy(tmp)
            proc = subprocess.run(["systemd-analyze", "verify", "--man=no", str(path)],
                                  capture_output=True, text=True, timeout=DEADLINE)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(proc.stdout + proc.stderr, "")
            # And it does catch a typo.
            path.write_text(path.read_text().replace("Type=notify", "Type=notify\nProtectHom=yes"))
            proc = subprocess.run(["systemd-analyze", "verify", "--man=no", str(path)],
                                  capture_output=True, text=True, timeout=DEADLINE)
            self.assertIn("Unknown key", proc.stdout + proc.stderr)

    def test_systemd_analyze_security_exposure(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = self.installable_copy(tmp)
            proc = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager",
                                   str(path)], capture_output=True, text=True, timeout=DEADLINE)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        level = re.search(r"Overall exposure level for shoal.service: (\d+\.\d+)", proc.stdout)
        self.assertIsNotNone(level, proc.stdout)
        self.assertLessEqual(float(level.group(1)), 2.0, proc.stdout)  # 1.7 when written

    def test_shoal_makes_no_system_call_the_filter_refuses(self):
        # Everything a session does, under strace: start (with sd_notify and a watchdog),
        # the public and admin listeners, a WebSocket publish and delivery, SIGHUP, a drain.
        allowed = allowed_syscalls(self.service)
        with tempfile.TemporaryDirectory() as tmp:
            notify_path = os.path.join(tmp, "notify.sock")
            notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            notify.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)  # to learn shoal's pid
            notify.bind(notify_path)
            notify.settimeout(DEADLINE)
            summary = os.path.join(tmp, "strace.txt")
            port, admin = free_port(), free_port()
            env = dict(os.environ, NOTIFY_SOCKET=notify_path, WATCHDOG_USEC="200000",
                       ASAN_OPTIONS="detect_leaks=0")  # LeakSanitizer cannot run under ptrace
            proc = subprocess.Popen(
                ["strace", "-f", "-c", "-o", summary, binary(), "--listen", f"127.0.0.1:{port}",
                 "--admin-listen", f"127.0.0.1:{admin}", "--shards", "2", *io_flags()],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                start_new_session=True)  # strace and shoal in one group, killed together
            try:
                end = time.monotonic() + DEADLINE
                while True:
                    self.assertLess(time.monotonic(), end, "no READY=1")
                    data, ancillary, _, _ = notify.recvmsg(4096, socket.CMSG_SPACE(12))
                    if b"READY=1" in data:
                        break
                # Signals go to shoal, the sender of READY=1, not to strace (its parent).
                shoal_pid = struct.unpack("i", ancillary[0][2][:4])[0]
                self.assertNotEqual(shoal_pid, proc.pid)
                self.assertEqual(http_get(admin, "/metrics")[0], 200)
                client = RawClient(port, "/ws", headers={"Sec-WebSocket-Protocol": "shoal.v1"},
                                   timeout=DEADLINE)
                client.send(frame(0x1, b'{"op":"sub","topic":"t"}'))
                client.send(frame(0x1, b'{"op":"pub","topic":"t","data":1}'))
                seen = b""
                while b'"op":"msg"' not in seen:
                    seen += client.recv_frame()[2]
                os.kill(shoal_pid, signal.SIGHUP)
                os.kill(shoal_pid, signal.SIGTERM)
                self.assertEqual(client.expect_close()[0], 1001)
                client.close()
                _, err = proc.communicate(timeout=DEADLINE)
                self.assertEqual(proc.returncode, 0, err.decode(errors="replace"))
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.communicate()
                notify.close()
            made = set()
            for line in Path(summary).read_text().splitlines():
                fields = line.split()
                if len(fields) >= 5 and fields[0][0].isdigit() and fields[-1] != "total":
                    made.add(fields[-1])
        self.assertIn("sched_setaffinity", made)  # the summary was read
        self.assertEqual(made - allowed, set(), f"refused by SystemCallFilter; made: {sorted(made)}")


# --- container -----------------------------------------------------------------------------

def parse_containerfile(text):
    """[(stage name or None, [(INSTRUCTION, arguments), ...]), ...], continuation lines joined
    and comments dropped."""
    lines = [l for l in text.splitlines() if not l.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    stages = []
    for line in joined.splitlines():
        if not line.strip():
            continue
        instruction, _, args = line.strip().partition(" ")
        instruction = instruction.upper()
        args = " ".join(args.split())
        if instruction == "FROM":
            m = re.fullmatch(r"(\S+)(?: AS (\S+))?", args, re.IGNORECASE)
            stages.append((m.group(2), [(instruction, m.group(1))]))
        else:
            stages[-1][1].append((instruction, args))
    return stages


def apt_packages(run_args):
    """The packages an `apt-get install` in a RUN names."""
    m = re.search(r"apt-get install (.*?)(?:&&|$)", run_args)
    return [w for w in m.group(1).split() if not w.startswith("-")] if m else []


def setup_sh_packages():
    text = (DEPLOY / "setup.sh").read_text()
    body = re.search(r"packages=\((.*?)\)", text, re.S).group(1)
    return set(body.split())


class Containerfile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stages = parse_containerfile(CONTAINERFILE.read_text())
        cls.runtime = cls.stages[-1][1]
        cls.config = effective_config(CONTAINER_CONFIG)

    def instructions(self, name, stage=None):
        return [args for ins, args in (stage or self.runtime) if ins == name]

    def test_two_stages_on_debian_12(self):
        self.assertEqual(len(self.stages), 2)
        self.assertEqual(self.stages[0][0], "build")
        for _, stage in self.stages:
            self.assertRegex(stage[0][1], r"^debian:(12|bookworm)(-slim)?$")

    def test_the_build_stage_builds_the_release_preset(self):
        runs = " ".join(self.instructions("RUN", self.stages[0][1]))
        self.assertIn("cmake --preset release", runs)
        self.assertRegex(runs, r"cmake --build --preset release .*--target shoal shoal-loadgen")
        # setup.sh-equivalent: nothing the project's own set-up does not install.
        packages = {p for r in self.instructions("RUN", self.stages[0][1]) for p in apt_packages(r)}
        self.assertTrue(packages)
        self.assertLessEqual(packages, setup_sh_packages())

    def test_runtime_runs_the_binaries_as_a_non_root_user(self):
        user = self.instructions("USER")[-1]
        self.assertNotIn(user.split(":")[0], ("root", "0"))
        self.assertRegex(user, r"^\d+(:\d+)?$")  # numeric: runAsNonRoot can check it
        copies = self.instructions("COPY")
        for name in ("shoal", "shoal-loadgen"):
            self.assertTrue(any(c.startswith("--from=build ") and c.endswith(f"/usr/local/bin/{name}")
                                and f"/{name} " in c for c in copies), copies)
        self.assertIn("deploy/container/shoal.toml /etc/shoal/shoal.toml", copies)
        self.assertEqual(json.loads(self.instructions("ENTRYPOINT")[-1]), ["/usr/local/bin/shoal"])
        self.assertEqual(json.loads(self.instructions("CMD")[-1]),
                         ["--config", "/etc/shoal/shoal.toml"])

    def test_the_default_config_listens_everywhere_and_exposes_its_ports(self):
        server = self.config["server"]
        self.assertEqual(server["listen"], ["0.0.0.0:8080"])
        self.assertEqual(len(server["admin_listen"]), 1)
        self.assertTrue(server["admin_listen"][0].startswith("0.0.0.0:"))
        exposed = {int(p.split("/")[0]) for e in self.instructions("EXPOSE") for p in e.split()}
        self.assertEqual(exposed, {port_of(a) for a in server["listen"] + server["admin_listen"]})

    def healthcheck(self):
        args = self.instructions("HEALTHCHECK")[-1]
        options, _, command = args.partition("CMD ")
        self.assertRegex(options, r"--timeout=\d+s")
        return json.loads(command)

    def test_healthcheck_asks_readyz_on_the_admin_port(self):
        command = " ".join(self.healthcheck())
        admin = port_of(self.config["server"]["admin_listen"][0])
        self.assertIn(f"/dev/tcp/127.0.0.1/{admin}", command)
        self.assertIn("GET /readyz ", command)

    def test_healthcheck_command_passes_against_shoal_and_fails_without_it(self):
        # The very command, run here with this test's admin port.
        admin_default = port_of(self.config["server"]["admin_listen"][0])
        admin = free_port()
        command = [a.replace(f"/{admin_default}", f"/{admin}") for a in self.healthcheck()]
        server = Server("--admin-listen", f"127.0.0.1:{admin}")
        try:
            check = subprocess.run(command, capture_output=True, text=True, timeout=DEADLINE)
            self.assertEqual(check.returncode, 0, check.stderr)
        finally:
            self.assertEqual(server.stop(), 0)
        check = subprocess.run(command, capture_output=True, text=True, timeout=DEADLINE)
        self.assertNotEqual(check.returncode, 0)

    def test_apt_leaves_no_cache_and_installs_no_recommends(self):
        for _, stage in self.stages:
            for run in self.instructions("RUN", stage):
                if "apt-get install" in run:
                    self.assertIn("--no-install-recommends", run)
                    self.assertIn("apt-get update", run)  # same layer: never a stale index
                    self.assertRegex(run, r"rm -rf /var/lib/apt/lists/\*")

    def test_runtime_has_no_build_tools(self):
        packages = [p for r in self.instructions("RUN") for p in apt_packages(r)]
        self.assertTrue(packages)
        for p in packages:
            self.assertFalse(p.endswith("-dev") or p in ("g++", "gcc", "cmake", "make"), p)

    def test_every_package_exists_in_debian(self):
        for _, stage in self.stages:
            for run in self.instructions("RUN", stage):
                for package in apt_packages(run):
                    with self.subTest(package=package):
                        proc = subprocess.run(["apt-cache", "show", package], capture_output=True)
                        self.assertEqual(proc.returncode, 0, proc.stderr.decode())

    def test_runtime_packages_cover_the_libraries_the_binaries_load(self):
        # Each shared library the built binaries load belongs to a Debian package the runtime
        # stage installs; libc and libgcc are in every Debian image, and the sanitizers'
        # runtimes only in the test build.
        installed = {p for r in self.instructions("RUN") for p in apt_packages(r)}
        binaries = [binary(), binary("SHOAL_LOADGEN_BIN", "build/asan/loadgen/shoal-loadgen")]
        release = REPO / "build" / "release" / "gateway" / "shoal"
        if release.exists():
            binaries.append(str(release))  # links mimalloc, which sanitizer builds do not
        for path in binaries:
            ldd = subprocess.run(["ldd", path], capture_output=True, text=True, check=True).stdout
            for lib in re.findall(r"=> (/\S+)", ldd):
                name = os.path.basename(lib)
                if re.match(r"lib(asan|ubsan|tsan|lsan)\.", name):
                    continue
                needed = subprocess.run(["readelf", "-d", path], capture_output=True,
                                        text=True).stdout
                if f"[{name}]" not in needed:
                    continue  # loaded by another library, not by ours
                owner = subprocess.run(["dpkg", "-S", os.path.realpath(lib)], capture_output=True,
                                       text=True)
                if owner.returncode != 0:
                    owner = subprocess.run(["dpkg", "-S", lib], capture_output=True, text=True)
                package = owner.stdout.split(":")[0]
                if package in ("libc6", "libgcc-s1"):
                    continue
                with self.subTest(binary=path, library=name):
                    self.assertIn(package, installed)


# --- Kubernetes ----------------------------------------------------------------------------

class Kubernetes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        docs = [d for d in yaml.safe_load_all(K8S.read_text()) if d is not None]
        cls.by_kind = {}
        for d in docs:
            cls.by_kind.setdefault(d["kind"], []).append(d)
        cls.deployment = cls.by_kind["Deployment"][0]
        cls.pod = cls.deployment["spec"]["template"]
        cls.container = cls.pod["spec"]["containers"][0]
        config_map = cls.by_kind["ConfigMap"][0]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "shoal.toml"
            path.write_text(config_map["data"]["shoal.toml"])
            cls.config = effective_config(path)  # also: shoal accepts it

    def container_port(self, port):
        """A probe's or Service's port (a name or a number) as the container port number."""
        if isinstance(port, int):
            return port
        for p in self.container["ports"]:
            if p["name"] == port:
                return p["containerPort"]
        self.fail(f"no container port named {port}")

    def test_every_kind_once(self):
        self.assertEqual({k: len(v) for k, v in self.by_kind.items()},
                         {"ConfigMap": 1, "Deployment": 1, "Service": 1, "PodDisruptionBudget": 1})

    def test_probes_use_the_admin_port_of_the_config(self):
        admin = [port_of(a) for a in self.config["server"]["admin_listen"]]
        self.assertEqual(len(admin), 1)
        ready = self.container["readinessProbe"]["httpGet"]
        live = self.container["livenessProbe"]["httpGet"]
        self.assertEqual(ready["path"], "/readyz")
        self.assertEqual(live["path"], "/healthz")
        self.assertEqual(self.container_port(ready["port"]), admin[0])
        self.assertEqual(self.container_port(live["port"]), admin[0])
        for address in self.config["server"]["listen"] + self.config["server"]["admin_listen"]:
            self.assertTrue(address.startswith("0.0.0.0:"), address)  # reachable from the kubelet

    def test_grace_period_outlasts_prestop_and_the_drain(self):
        command = self.container["lifecycle"]["preStop"]["exec"]["command"]
        self.assertEqual(command[0], "/bin/sleep")
        pre_stop = float(command[1])
        t = self.config["timeouts"]
        grace = self.pod["spec"]["terminationGracePeriodSeconds"]
        self.assertGreater(grace, pre_stop + seconds(t["drain"]) + seconds(t["shutdown_deadline"]))
        self.assertGreater(pre_stop, self.container["readinessProbe"]["periodSeconds"])

    def test_the_container_runs_the_config_map(self):
        self.assertEqual(self.container["args"], ["--config", "/etc/shoal/shoal.toml"])
        mount = next(m for m in self.container["volumeMounts"] if m["mountPath"] == "/etc/shoal")
        volume = next(v for v in self.pod["spec"]["volumes"] if v["name"] == mount["name"])
        self.assertEqual(volume["configMap"]["name"], self.by_kind["ConfigMap"][0]["metadata"]["name"])

    def test_security_context_and_resources(self):
        pod_sc = self.pod["spec"]["securityContext"]
        sc = self.container["securityContext"]
        self.assertTrue(pod_sc.get("runAsNonRoot") or sc.get("runAsNonRoot"))
        self.assertTrue(sc["readOnlyRootFilesystem"])
        self.assertFalse(sc["allowPrivilegeEscalation"])
        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
        # The image's user (Containerfile USER) and the pod's agree.
        user = parse_containerfile(CONTAINERFILE.read_text())[-1][1]
        uid = [a for i, a in user if i == "USER"][-1].split(":")[0]
        self.assertEqual(str(pod_sc["runAsUser"]), uid)
        resources = self.container["resources"]
        self.assertIn("memory", resources["requests"])
        self.assertIn("cpu", resources["requests"])
        self.assertIn("memory", resources["limits"])
        # One shard per requested CPU (the pod's affinity mask is the node's, not the request).
        self.assertEqual(self.config["server"]["shards"], int(resources["requests"]["cpu"]))

    def test_service_targets_the_public_container_port(self):
        service = self.by_kind["Service"][0]
        labels = self.pod["metadata"]["labels"]
        self.assertLessEqual(service["spec"]["selector"].items(), labels.items())
        public = {port_of(a) for a in self.config["server"]["listen"]}
        for p in service["spec"]["ports"]:
            self.assertEqual(p.get("protocol", "TCP"), "TCP")
            self.assertIn(self.container_port(p["targetPort"]), public)

    def test_pdb_selects_the_deployment_pods(self):
        pdb = self.by_kind["PodDisruptionBudget"][0]
        selector = pdb["spec"]["selector"]["matchLabels"]
        self.assertEqual(selector, self.deployment["spec"]["selector"]["matchLabels"])
        self.assertLessEqual(selector.items(), self.pod["metadata"]["labels"].items())
        self.assertTrue("maxUnavailable" in pdb["spec"] or "minAvailable" in pdb["spec"])


# --- TUNING.md -----------------------------------------------------------------------------

class Tuning(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.text = TUNING.read_text()

    def keys(self, text):
        return set(re.findall(r"`((?:net|fs|vm|kernel)\.[a-z0-9_.-]*[a-z0-9_])", text))

    def test_every_sysctl_exists_here_or_is_marked(self):
        marked_section = re.search(r"### Keys a container may not show\n(.*?)(?=\n#|\Z)",
                                   self.text, re.S).group(1)
        may_be_absent = self.keys(marked_section)
        self.assertTrue(may_be_absent)
        keys = self.keys(self.text)
        self.assertGreaterEqual(len(keys), 10)
        for key in sorted(keys):
            with self.subTest(key=key):
                exists = Path("/proc/sys", *key.split(".")).exists()
                self.assertTrue(exists or key in may_be_absent, f"{key}: not in /proc/sys")

    def test_the_unit_limit_and_the_memory_figures_agree(self):
        self.assertIn(f"| {unit_value(parse_unit(UNIT.read_text())['Service'], 'LimitNOFILE')} |",
                      self.text)
        results = (REPO / "bench" / "RESULTS.md").read_text()
        sizing = self.text.split("## Sizing a box", 1)[1]
        figures = re.findall(r"\| ([\d,]+ B)", sizing)
        self.assertGreaterEqual(len(figures), 4)
        for figure in figures:
            self.assertIn(figure, results)


if __name__ == "__main__":
    unittest.main()
