"""A throw-away PostgreSQL cluster for the tests and the database benchmark.

`start()` runs initdb into a fresh temporary folder, starts the server with `pg_ctl start -w` on
a free loopback port and a Unix socket in that folder, and returns a `PgServer` whose `stop()`
shuts it down and removes the folder. A test process killed before `stop()` (a CI timeout's
SIGKILL) leaves its server running: the next `start()` stops every cluster whose owning process
is gone (the pid in the folder's `owner` file), so they never pile up.

PostgreSQL refuses to run as root, and the tests and CI run as root: then every server command
runs as the `postgres` system user (Debian's package creates it) through `runuser`, in a folder
handed to that user.

Local connections over the socket are trusted (the set-up runs as the superuser); TCP
connections to 127.0.0.1 need a password (scram-sha-256), so a wrong password is really refused.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "postgres"
DEBIAN_BINDIR = Path("/usr/lib/postgresql")


def find_bindir() -> Path | None:
    """The folder holding initdb, pg_ctl and psql: Debian's versioned folder (newest first),
    `pg_config --bindir`, or PATH."""
    candidates = sorted(DEBIAN_BINDIR.glob("*/bin"), key=lambda p: p.parent.name, reverse=True)
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
            candidates.append(Path(out))
        except (OSError, subprocess.SubprocessError):
            pass
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    bindir: Path
    root: Path  # the temporary folder: data/ and the socket
    port: int
    run_as: str | None  # the system user the server runs as when we are root

    @property
    def socket_dir(self) -> Path:
        return self.root

    def url(self, database: str, user: str = SUPERUSER, password: str | None = None) -> str:
        """A TCP URL on the loopback address (password authentication)."""
        auth = user if password is None else f"{user}:{password}"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def socket_url(self, database: str, user: str = SUPERUSER) -> str:
        """A URL through the Unix socket in the temporary folder (trusted)."""
        return f"postgresql://{user}@/{database}?host={self.root}&port={self.port}"

    def _command(self, *args: str) -> list[str]:
        prefix = ["runuser", "-u", self.run_as, "--"] if self.run_as else []
        return [*prefix, *args]

    def run(self, tool: str, *args: str, input: str | None = None) -> str:
        """Run one of the cluster's tools (psql, createdb) as its owner; its stdout."""
        done = subprocess.run(
            self._command(str(self.bindir / tool), *args),
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.root,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def psql(self, sql: str, database: str = "postgres", *, data: str | None = None) -> str:
        """Run SQL as the superuser over the socket; stops at the first error. With `data`, the
        SQL is one command (e.g. COPY … FROM STDIN) and `data` its standard input."""
        command = ("-c", sql) if data is not None else ()
        return self.run(
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(self.root),
            "-p",
            str(self.port),
            "-U",
            SUPERUSER,
            "-d",
            database,
            *command,
            input=sql if data is None else data,
        )

    def stop(self) -> None:
        subprocess.run(
            self._command(str(self.bindir / "pg_ctl"), "stop", "-D", str(self.root / "data"))
            + ["-m", "fast", "-w"],
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def unavailable() -> str | None:
    """Why a cluster cannot be started here, or None."""
    if find_bindir() is None:
        return (
            "PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's "
            "'postgresql' package (scripts/install-system-deps.sh does)"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SUPERUSER)
        except KeyError:
            return "running as root and there is no 'postgres' system user to run the server as"
        if shutil.which("runuser") is None:
            return "running as root and runuser is missing (needed to start PostgreSQL)"
    return None


PREFIX = "reportgen-pg-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_orphans(bindir: Path, run_as: str | None) -> list[Path]:
    """Stop and remove the clusters whose owning test process has died; the folders removed.
    Another session's live cluster (its owner alive) is left alone."""
    reaped = []
    for root in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        try:
            owner = int((root / "owner").read_text())
        except (OSError, ValueError):
            continue  # not ours, or still being made
        if _alive(owner):
            continue
        server = PgServer(bindir, root, 0, run_as)
        if (root / "data" / "postmaster.pid").exists():
            subprocess.run(
                server._command(str(bindir / "pg_ctl"), "stop", "-D", str(root / "data"))
                + ["-m", "immediate", "-w"],
                capture_output=True,
                timeout=120,
            )
        shutil.rmtree(root, ignore_errors=True)
        reaped.append(root)
    return reaped


def start() -> PgServer:
    """A running cluster; raises RuntimeError when it cannot start (see `unavailable`)."""
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError(unavailable() or "no PostgreSQL")
    run_as = SUPERUSER if os.geteuid() == 0 else None
    reap_orphans(bindir, run_as)
    # Directly under /tmp: pytest's own temporary folders are private to root.
    root = Path(tempfile.mkdtemp(prefix=PREFIX))
    (root / "owner").write_text(str(os.getpid()))
    if run_as:
        entry = pwd.getpwnam(run_as)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    server = PgServer(bindir, root, _free_port(), run_as)
    try:
        server.run(
            "initdb",
            "-D",
            str(root / "data"),
            "-U",
            SUPERUSER,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={server.port} "
            f"-c unix_socket_directories={root} -c fsync=off -c full_page_writes=off "
            "-c synchronous_commit=off -c shared_buffers=64MB"
        )
        server.run(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(root / "data"),
            "-l",
            str(root / "server.log"),
            "-o",
            options,
        )
    except Exception:
        log = root / "server.log"
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {detail}") from None
    return server
