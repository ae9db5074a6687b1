"""Several hosts on this machine: Linux network namespaces joined by a bridge, each with its own /tmp.

A :class:`Cluster` makes a "switch" namespace holding a bridge, and one namespace
per :class:`Host`, joined to the bridge by a veth pair (private addresses
``10.77.<n>.0/24``, only inside these namespaces: nothing is routed out, and a
host's 127.0.0.1 is its own). Every command a host runs goes through
``ip netns exec`` and ``unshare --mount --uts --pid``, which give it

* the host's hostname, resolved by every host through a shared ``/etc/hosts``
  (bind-mounted over the real one inside the namespaces only);
* a private ``/tmp``: the host's folder ``<base>/<host>/tmp`` bind-mounted over
  it, so what one host writes in /tmp no other host (nor the driver) sees;
* its own processes: a command sees only the processes of its own run on that host
  (Ray finds "its" node by looking for raylet processes on the machine);
* its own ``HOME`` (Ray's token lives in ``~/.ray``) and working directory.

Everything else is the one file system of this machine: a folder meant as
shared storage (``<base>/shared``) is seen at the same path by every host,
as an NFS mount would be; so is the virtual environment (the same install on
every node). Everything is named with :data:`PREFIX` and the owner's pid, so
:func:`sweep_leftovers` can remove what a killed earlier run left (namespaces,
their processes and folders) without touching a live run's.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

PREFIX = "tkcl"
_NAME_RE = re.compile(rf"^{PREFIX}(?P<pid>\d+)-(?P<host>[a-z0-9]+)$")
SWITCH = "net"
INIT_MARK = f"{PREFIX}-host-init"
#: A host's pid 1: like a machine's init, it reaps the processes whose parents died (a crashed daemon's
#: children), or they would stay zombies and look alive to whoever checks a pid.
_INIT = """
import os, time
while True:
    try:
        os.wait()
    except ChildProcessError:
        time.sleep(0.2)
"""


def _ip(*args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=timeout)


def namespaces() -> list[str]:
    out = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def ns_pids(ns: str) -> list[int]:
    out = _ip("netns", "pids", ns, check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_namespace_processes(ns: str, grace: float = 5.0) -> list[int]:
    """SIGTERM every process in ``ns``, SIGKILL what is left after ``grace`` seconds; returns their pids."""
    pids = ns_pids(ns)
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        for pid in ns_pids(ns):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while ns_pids(ns) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not ns_pids(ns):
            break
    return pids


def delete_namespace(ns: str) -> None:
    kill_namespace_processes(ns)
    _ip("netns", "delete", ns, check=False)


def sweep_leftovers(base_root: Path) -> list[str]:
    """Remove the namespaces (with their processes and veths) and folders of earlier runs whose owner is gone."""
    removed = []
    for ns in namespaces():
        match = _NAME_RE.match(ns)
        if match and not _pid_alive(int(match["pid"])):
            delete_namespace(ns)
            removed.append(ns)
    if base_root.is_dir():
        for folder in base_root.iterdir():
            match = re.match(rf"^{PREFIX}(\d+)$", folder.name)
            if match and not _pid_alive(int(match[1])):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(str(folder))
    return removed


def can_run() -> str | None:
    """``None`` when namespaces can be made here, else why not (one line)."""
    if sys.platform != "linux":
        return f"network namespaces need Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return "network namespaces need root (run make test-cluster as root)"
    for tool in ("ip", "unshare", "java"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    probe = f"{PREFIX}{os.getpid()}-probe"
    try:
        made = _ip("netns", "add", probe, check=False)
        if made.returncode != 0:
            return f"'ip netns add' fails here: {made.stderr.strip()}"
        run = subprocess.run(["ip", "netns", "exec", probe, "unshare", "--mount", "--uts", "--pid", "--fork",
                              "--mount-proc", "true"],
                             capture_output=True, text=True, timeout=30)
        if run.returncode != 0:
            return f"'unshare --mount --uts --pid' fails inside a namespace: {run.stderr.strip()}"
    finally:
        _ip("netns", "delete", probe, check=False)
    return None


class Host:
    """One simulated machine: a namespace, an address, a hostname, its own /tmp, HOME and working directory."""

    def __init__(self, cluster: "Cluster", name: str, ip: str):
        self.cluster = cluster
        self.name = name
        self.ns = f"{cluster.tag}-{name}"
        self.ip = ip
        self.root = cluster.base / name
        self.tmp = self.root / "tmp"  # what the host sees as /tmp
        self.home = self.root / "home"
        self.work = self.root / "work"
        self.logs = cluster.base / "logs"
        self.procs: list[subprocess.Popen] = []
        self._init: subprocess.Popen | None = None
        self.init_pid = 0

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            "HOME": str(self.home), "TMPDIR": "/tmp", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "0"), "TOOLKIT_LOAD_PLUGINS": "",
            "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "RAY_USAGE_STATS_ENABLED": "0",
        }
        for key in ("JAVA_HOME", "TOOLKIT_POLARITY_DIR"):
            if key in os.environ:
                env[key] = os.environ[key]
        env.update(self.cluster.env)
        env.update(extra or {})
        return env

    def boot(self) -> None:
        """Start the host's first process: it holds the host's namespaces (pid, mount, UTS) for every later
        command, and, being the pid namespace's init, takes all of them down when it is killed."""
        setup = (f"hostname {shlex.quote(self.name)} && mount --make-rprivate / && "
                 f"mount --bind {shlex.quote(str(self.tmp))} /tmp && "
                 f"mount --bind {shlex.quote(str(self.cluster.hosts_file))} /etc/hosts && "
                 f"exec {shlex.quote(sys.executable)} -c {shlex.quote(_INIT)} {INIT_MARK}")
        self._init = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, "unshare", "--mount", "--uts", "--pid", "--fork", "--mount-proc",
             "--kill-child", "sh", "-c", setup], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True)

        def ready() -> int | None:
            if self._init.poll() is not None:
                raise AssertionError(f"host {self.name} did not start: {self._init.stderr.read().decode()}")
            children = Path(f"/proc/{self._init.pid}/task/{self._init.pid}/children").read_text().split()
            if not children:
                return None
            pid = int(children[0])  # the namespace's init; ready once it runs _INIT
            return pid if INIT_MARK.encode() in Path(f"/proc/{pid}/cmdline").read_bytes() else None

        self.init_pid = wait_for(ready, 30, f"host {self.name}", interval=0.05)

    def argv(self, command: Sequence[str]) -> list[str]:
        """``command`` as this host runs it: in its namespaces (network, pid, hostname, /tmp, /etc/hosts)."""
        return ["nsenter", "--target", str(self.init_pid), "--net", "--mount", "--uts", "--pid",
                f"--wd={self.work}", "--", *map(str, command)]

    def run(self, command: Sequence[str], timeout: float, env: dict[str, str] | None = None,
            check: bool = False) -> subprocess.CompletedProcess:
        """Run ``command`` to its end (at most ``timeout`` s; then every process it started is killed)."""
        proc = subprocess.Popen(self.argv(command), env=self.env(env), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate(timeout=30)
            raise AssertionError(f"{self.name}: {' '.join(map(str, command))} ran past {timeout:.0f} s\n"
                                 f"stdout: {out[-3000:]}\nstderr: {err[-3000:]}") from None
        result = subprocess.CompletedProcess(command, proc.returncode, out, err)
        if check and proc.returncode != 0:
            raise AssertionError(f"{self.name}: {' '.join(map(str, command))} exited {proc.returncode}\n"
                                 f"stdout: {out[-3000:]}\nstderr: {err[-3000:]}")
        return result

    def start(self, command: Sequence[str], log_name: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start a long-running ``command`` (a daemon in the foreground); its output goes to ``logs/<log_name>``."""
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.logs / log_name, "ab") as log:
            proc = subprocess.Popen(self.argv(command), env=self.env(env), stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.procs.append(proc)
        return proc

    def pids(self) -> list[int]:
        """The processes running on this host, less the two that hold its namespaces."""
        own = {self.init_pid, self._init.pid if self._init is not None else 0}
        return [pid for pid in ns_pids(self.ns) if pid not in own]

    def kill_processes(self, grace: float = 5.0) -> list[int]:
        """SIGTERM every process of this host (not the two that hold its namespaces), SIGKILL what is left
        after ``grace`` seconds; returns their pids. The host stays up for new commands."""
        pids = self.pids()
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
            for pid in self.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while self.pids() and time.monotonic() < deadline:
                time.sleep(0.1)
            if not self.pids():
                break
        self.procs = [proc for proc in self.procs if proc.poll() is None]
        return pids

    def crash(self) -> list[int]:
        """The machine goes down: SIGKILL every process of this host at once (the host itself stays up)."""
        pids = self.pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_for(lambda: not self.pids(), 30, f"the processes of {self.name} to die", interval=0.1)
        self.procs = [proc for proc in self.procs if proc.poll() is None]
        return pids

    def commands(self) -> list[str]:
        """The command lines of this host's processes."""
        found = []
        for pid in self.pids():
            try:
                raw = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:  # ended meanwhile
                continue
            found.append(raw.replace(b"\0", b" ").decode(errors="replace").strip())
        return found

    def stop_all(self, grace: float = 5.0) -> list[int]:
        """Stop every process of this host, its init last (which kills whatever is left in its pid
        namespace); returns the pids that were running."""
        pids = self.kill_processes(grace)
        if self._init is not None:
            self._init.kill()
            self._init.wait(timeout=10)
            self._init = None
        kill_namespace_processes(self.ns, grace=0.5)  # anything that entered the namespace from outside
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.procs.clear()
        return pids

    def tmp_entries(self) -> list[str]:
        """What is in this host's /tmp (names relative to it)."""
        return sorted(str(p.relative_to(self.tmp)) for p in self.tmp.iterdir()) if self.tmp.is_dir() else []


class Cluster:
    """Hosts joined by a bridge; :meth:`close` removes every namespace, link, process and folder it made."""

    def __init__(self, base_root: Path, network: str = "10.77.0.0/24"):
        self.tag = f"{PREFIX}{os.getpid()}"
        self.base_root = base_root
        self.base = base_root / self.tag
        self.shared = self.base / "shared"
        self.hosts_file = self.base / "hosts"
        self.network = ipaddress.ip_network(network)
        self.env: dict[str, str] = {}
        self.hosts: dict[str, Host] = {}
        self._switch = f"{self.tag}-{SWITCH}"
        self._made: list[str] = []

    def open(self) -> "Cluster":
        sweep_leftovers(self.base_root)
        if self.base.exists():
            shutil.rmtree(self.base)
        self.shared.mkdir(parents=True)
        self._add_ns(self._switch)
        _ip("-n", self._switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self._switch, "link", "set", "br0", "up")
        self._write_hosts()
        return self

    def _add_ns(self, ns: str) -> None:
        _ip("netns", "add", ns)
        self._made.append(ns)
        _ip("-n", ns, "link", "set", "lo", "up")

    def _write_hosts(self) -> None:
        lines = ["127.0.0.1 localhost"] + [f"{h.ip} {h.name}" for h in self.hosts.values()]
        self.hosts_file.write_text("\n".join(lines) + "\n")

    def add_host(self, name: str) -> Host:
        index = len(self.hosts) + 1
        host = Host(self, name, str(self.network.network_address + 10 + index))
        for folder in (host.tmp, host.home, host.work):
            folder.mkdir(parents=True)
        host.tmp.chmod(0o1777)
        self._add_ns(host.ns)
        port = f"v{self.tag[len(PREFIX):]}{index}"[:15]
        _ip("-n", self._switch, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", host.ns)
        _ip("-n", self._switch, "link", "set", port, "master", "br0", "up")
        _ip("-n", host.ns, "addr", "add", f"{host.ip}/{self.network.prefixlen}", "dev", "eth0")
        _ip("-n", host.ns, "link", "set", "eth0", "up")
        self.hosts[name] = host
        self._write_hosts()
        host.boot()
        return host

    def close(self) -> list[str]:
        """Kill every host's processes, delete the namespaces (their veths and the bridge go with them) and the
        folders; returns the namespaces that still had processes."""
        busy = []
        for host in self.hosts.values():
            if host.stop_all():
                busy.append(host.ns)
        for ns in reversed(self._made):
            delete_namespace(ns)
        if os.environ.get("TOOLKIT_CLUSTER_KEEP") != "1":  # 1: keep the folders (logs) to read after a failure
            shutil.rmtree(self.base, ignore_errors=True)
        return busy

    def __enter__(self) -> "Cluster":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()


def wait_for(predicate, timeout: float, what: str, interval: float = 0.5):
    """Poll ``predicate`` until it returns something true; fail after ``timeout`` seconds naming ``what``."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as exc:  # not up yet
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"{what} not ready within {timeout:.0f} s (last: {last!r:.300})")
