"""Throw-away servers on free ports of 127.0.0.1: a PostgreSQL cluster and a mosquitto broker.

Why here: the load tool and the tests both need real servers they start and stop themselves, never
the system services. PostgreSQL refuses to run as root, so as root the cluster is made and run as
the `postgres` user (`runuser`) in a temporary folder handed over to it; as any other user it runs
as that user. Debian puts the binaries in /usr/lib/postgresql/<version>/bin, off the PATH.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["ServerUnavailable", "TempMosquitto", "TempPostgres", "free_port", "postgres_bindir"]


class ServerUnavailable(RuntimeError):
    """The server's binaries are not installed (the caller skips or says what to install)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def postgres_bindir() -> Path:
    """Where initdb and pg_ctl live (newest Debian version first, then the PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise ServerUnavailable("PostgreSQL is not installed (apt-get install postgresql)")


class TempPostgres:
    """A PostgreSQL cluster in a temporary folder; `url(db)` for each database made by `create_db`.

    `durable=False` turns fsync off (tests: nothing here survives a power cut anyway); benchmarks keep
    the defaults so that their figures hold for a real server."""

    def __init__(self, durable: bool = True, user: str = "ppt") -> None:
        self.bindir = postgres_bindir()
        self.port = free_port()
        self.user = user
        self.durable = durable
        self.root = Path(tempfile.mkdtemp(prefix="ppt-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self._as: list[str] = []
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise ServerUnavailable(
                    "running as root needs the `postgres` user (apt-get install postgresql)"
                ) from exc
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self.root.chmod(0o755)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> TempPostgres:
        if not (self.data / "PG_VERSION").exists():
            self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", self.user,
                      "-E", "UTF8", "--no-sync")
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=50"
        if not self.durable:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                  "-o", opts, "start")
        return self

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{db}"

    def create_db(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")
            except subprocess.CalledProcessError:
                pass

    def cleanup(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class TempMosquitto:
    """mosquitto with a generated config for a fleet-sized load; keeps its port across restart()."""

    def __init__(self, workdir: Path | None = None, extra: list[str] | None = None) -> None:
        binary = shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None
        )
        if binary is None:
            raise ServerUnavailable("mosquitto is not installed (apt-get install mosquitto)")
        self.binary = binary
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="ppt-mosquitto-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.conf = self.workdir / "mosquitto.conf"
        self.log = self.workdir / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None
        lines = fleet_broker_config(self.workdir, self.port) + (extra or [])
        self.conf.write_text("\n".join(lines) + "\n")

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> TempMosquitto:
        deadline = time.monotonic() + timeout
        while True:
            self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            while time.monotonic() < deadline and self.proc.poll() is None:
                if _accepts(self.port):
                    return self
                time.sleep(0.02)
            if time.monotonic() >= deadline:
                self.kill()
                raise RuntimeError(f"mosquitto did not start on port {self.port}: see {self.log}")
            time.sleep(0.1)  # the port may linger for a moment after a kill

    def stop(self) -> None:
        """SIGTERM: mosquitto saves its persistence file first."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def restart(self) -> None:
        self.stop()
        self.start()


def fleet_broker_config(workdir: Path, port: int) -> list[str]:
    """The settings docs/fleet.md recommends, on a plain loopback listener (no TLS: local tests only)."""
    user = pwd.getpwuid(os.getuid()).pw_name
    return [
        f"user {user}",
        "persistence true",
        f"persistence_location {workdir}/",
        # A fleet: save once a second at most (and always on a clean stop), not on every message.
        "autosave_on_changes false",
        "autosave_interval 1",
        # Never drop a queued QoS 1 message for a collector that is busy or restarting. Not 0 ("no
        # limit"): mosquitto 2.0.x up to 2.0.16 stops delivering to a client with that setting.
        "max_queued_messages 1000000",
        "max_inflight_messages 20",
        f"log_dest file {workdir}/mosquitto.log",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "connection_messages false",
        "per_listener_settings false",
        "allow_anonymous true",
        f"listener {port} 127.0.0.1",
    ]
