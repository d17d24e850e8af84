"""Real servers the tests start themselves: a PostgreSQL server (Debian's binaries) and a two-node Ray cluster
(Ray's own CLI), each on free ports of 127.0.0.1 in a short temporary folder, each stopped however the test ends."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

POSTGRES_BINARIES = Path("/usr/lib/postgresql")
POSTGRES_USER, POSTGRES_PASSWORD = "effcnn", "effcnn-secret"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL server's bin folder, or None."""
    found = sorted(POSTGRES_BINARIES.glob("*/bin/initdb"), key=lambda path: int(path.parent.parent.name))
    return found[-1].parent if found else None


@dataclass(frozen=True)
class Postgres:
    port: int

    def url(self, user: str = POSTGRES_USER, password: str = POSTGRES_PASSWORD) -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/postgres"


@contextlib.contextmanager
def postgres_server(bin_dir: Path) -> Iterator[Postgres]:
    """initdb into a fresh folder and serve it on a free port with password logins over TCP.

    initdb refuses to run as root: as root the server runs as the ``postgres`` user, which owns its folder."""
    folder = Path(tempfile.mkdtemp(prefix="pg", dir="/tmp"))
    as_server = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        as_server = ["runuser", "-u", "postgres", "--"]
    (folder / "pw").write_text(POSTGRES_PASSWORD + "\n")
    if as_server:
        shutil.chown(folder / "pw", "postgres")
    data, port = folder / "data", free_port()
    run = lambda *command: subprocess.run([*as_server, *command], check=True, capture_output=True,  # noqa: E731
                                          text=True, timeout=120)
    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-U", POSTGRES_USER, f"--pwfile={folder / 'pw'}",
            "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8")
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w", "-t", "60",
            "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=100", "start")
        yield Postgres(port)
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*as_server, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                           capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class RayCluster:
    address: str
    env: dict[str, str]
    """The environment a driver joining the cluster needs (token authentication off: loopback only)."""


@contextlib.contextmanager
def ray_cluster_nodes(cpus_per_node: int = 1, nodes: int = 2) -> Iterator[RayCluster]:
    """A head and ``nodes - 1`` more nodes started with Ray's CLI (``ray start --block``) on 127.0.0.1.

    One temp folder, kept short since socket paths have a length limit: Ray sets it on the head and the
    other nodes of a machine share it. Teardown ends exactly the processes these nodes started (each node's
    process group, then any process naming the folder, such as Ray's workers), not other Ray clusters of the
    machine as ``ray stop`` would; it runs however the test ends."""
    ray_cli = str(Path(sys.executable).with_name("ray"))
    folder = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    port = free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    common = ["--block", "--node-ip-address", "127.0.0.1", "--num-cpus", str(cpus_per_node), "--num-gpus", "0",
              "--disable-usage-stats"]
    started: list[subprocess.Popen] = []

    def start(name: str, *args: str) -> None:
        log = folder / f"{name}.log"
        with open(log, "w") as out:
            started.append(subprocess.Popen([ray_cli, "start", *args, *common], stdout=out,
                                            stderr=subprocess.STDOUT, env=env, start_new_session=True))
        wait_for(lambda: "Ray runtime started" in log.read_text() or started[-1].poll() is not None, 180,
                 what=f"ray start ({name})")
        if started[-1].poll() is not None:
            raise RuntimeError(f"ray start ({name}) failed:\n{log.read_text()[-3000:]}")

    try:
        start("head", "--head", "--port", str(port), "--temp-dir", str(folder), "--include-dashboard", "false")
        for index in range(1, nodes):
            start(f"node{index}", "--address", f"127.0.0.1:{port}")
        yield RayCluster(f"127.0.0.1:{port}", env)
    finally:
        for process in reversed(started):
            _end_group(process)
        _end_naming(str(folder))
        shutil.rmtree(folder, ignore_errors=True)


def _end_group(process: subprocess.Popen, patience: float = 20) -> None:
    """SIGTERM the process group a node started in (Ray's graceful stop), SIGKILL what is left after a while."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(patience)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _end_naming(text: str) -> None:
    """SIGKILL the processes whose command line names ``text`` (a folder only this fixture's nodes use)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in command:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)


def wait_for(condition, timeout: float, every: float = 0.5, what: str = "condition"):
    """Poll ``condition()`` until it returns something truthy; its value, or AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
