"""Throwaway PostgreSQL cluster for the test suite.

Self-contained (stdlib + SQLAlchemy, the latter imported lazily so that
:func:`find_bindir` also works from interpreters without SQLAlchemy, e.g. the
one running nox)::

    with PgCluster() as pg:
        pg.create_database("pdca_test")
        engine = sqlalchemy.create_engine(pg.url_for("pdca_test"))

The server listens only on a unix socket inside a private temporary directory
(``listen_addresses=''``), runs with durability switched off, and accepts the
superuser ``pdca`` without a password. When the current process is root the
PostgreSQL binaries are run as the ``postgres`` OS user (``initdb`` refuses to
run as root); root can still connect over the socket.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["PgCluster", "find_bindir"]

_DEBIAN_PG_ROOT = Path("/usr/lib/postgresql")
_INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found. Install Debian's "
    "'postgresql' package (apt-get install postgresql), or set PDCA_PG_BINDIR to the "
    "directory containing initdb."
)
# sun_path is 108 bytes on Linux; leave room for "/.s.PGSQL.NNNNN" and its ".lock".
_MAX_SOCKDIR_LEN = 107 - len("/.s.PGSQL.65535.lock")
_STARTUP_TIMEOUT = 60  # seconds, passed to pg_ctl -t


def _has_initdb(bindir: Path) -> bool:
    return (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file()


def _version_key(path: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin -> numeric sort key ("9.6" < "15").
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))


def find_bindir() -> Path:
    """Locate the directory holding ``initdb`` and ``pg_ctl``.

    Order: ``$PDCA_PG_BINDIR``; ``pg_config --bindir`` (if it contains
    initdb); the highest version under ``/usr/lib/postgresql/*/bin``.
    Raises :class:`RuntimeError` if none is found.
    """
    env = os.environ.get("PDCA_PG_BINDIR")
    if env:
        bindir = Path(env).expanduser()
        if not _has_initdb(bindir):
            raise RuntimeError(f"PDCA_PG_BINDIR={env!r} does not contain initdb and pg_ctl.")
        return bindir

    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=30
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out and _has_initdb(Path(out)):
            return Path(out)

    candidates = [p for p in _DEBIAN_PG_ROOT.glob("*/bin") if _has_initdb(p)]
    if candidates:
        return max(candidates, key=_version_key)

    raise RuntimeError(_INSTALL_HINT)


def _free_port() -> int:
    # The server does not listen on TCP; the port only names the socket file. Still pick
    # one nobody uses so that connection strings are unambiguous.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _check_can_run_as_postgres() -> None:
    import pwd

    if shutil.which("runuser") is None:
        raise RuntimeError("running as root requires 'runuser' (util-linux) to run initdb")
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError(
            "running as root but there is no 'postgres' OS user to run initdb as; "
            "install Debian's 'postgresql' package or run the tests as a non-root user"
        ) from None


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PgCluster:
    """A private PostgreSQL server in a temporary directory.

    Use as a context manager or call :meth:`start` / :meth:`stop` explicitly.
    :meth:`stop` is idempotent and is also registered with :mod:`atexit`.
    """

    def __init__(
        self,
        bindir: Path | str | None = None,
        *,
        user: str = "pdca",
        port: int | None = None,
        base_dir: Path | str | None = None,
    ) -> None:
        self.bindir = Path(bindir) if bindir is not None else find_bindir()
        self.user = user
        self.port = port if port is not None else _free_port()
        self._base_dir = base_dir
        self._as_postgres = os.geteuid() == 0
        self._tempdir: Path | None = None
        self._sockdir: Path | None = None
        self._extra_sockdir = False
        self._running = False
        self._owner_pid = os.getpid()

    # ----------------------------------------------------------------- paths

    @property
    def tempdir(self) -> Path:
        if self._tempdir is None:
            raise RuntimeError("PgCluster has not been started")
        return self._tempdir

    @property
    def datadir(self) -> Path:
        return self.tempdir / "data"

    @property
    def logfile(self) -> Path:
        return self.tempdir / "log"

    @property
    def sockdir(self) -> Path:
        if self._sockdir is None:
            raise RuntimeError("PgCluster has not been started")
        return self._sockdir

    @property
    def running(self) -> bool:
        return self._running

    # ------------------------------------------------------------------ URLs

    @property
    def url(self) -> str:
        """SQLAlchemy URL (``postgresql+psycopg``) for the ``postgres`` database."""
        return self.url_for("postgres")

    def url_for(self, dbname: str) -> str:
        """SQLAlchemy URL for database *dbname* over the unix socket."""
        from sqlalchemy.engine import URL

        url = URL.create(
            "postgresql+psycopg",
            username=self.user,
            database=dbname,
            query={"host": str(self.sockdir), "port": str(self.port)},
        )
        return url.render_as_string(hide_password=False)

    # ------------------------------------------------------------- lifecycle

    def start(self) -> Self:
        if self._running:
            return self
        if self._as_postgres:
            _check_can_run_as_postgres()
        self._owner_pid = os.getpid()
        atexit.register(self.stop)
        try:
            self._make_dirs()
            self._initdb()
            self._pg_ctl_start()
        except BaseException:
            self.stop()
            raise
        self._running = True
        return self

    def stop(self) -> None:
        """Stop the server (``-m immediate``) and delete its files. Idempotent."""
        atexit.unregister(self.stop)
        if self._tempdir is None or os.getpid() != self._owner_pid:
            return  # not started, already stopped, or a forked child: not ours to stop
        if (self.datadir / "postmaster.pid").exists():
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                self._run(
                    "pg_ctl", "stop", "-D", str(self.datadir), "-m", "immediate", "-w",
                    "-t", "30", check=False,
                )  # fmt: skip
        self._running = False
        shutil.rmtree(self._tempdir, ignore_errors=True)
        if self._extra_sockdir and self._sockdir is not None:
            shutil.rmtree(self._sockdir, ignore_errors=True)
        self._tempdir = self._sockdir = None
        self._extra_sockdir = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"running at {self._sockdir}:{self.port}" if self._running else "stopped"
        return f"<PgCluster {self.bindir} {state}>"

    # ------------------------------------------------------------- databases

    def create_database(self, name: str, template: str | None = None) -> None:
        """``CREATE DATABASE name [TEMPLATE template]``.

        The template must have no open connections (dispose its engines first).
        """
        sql = f"CREATE DATABASE {_quote_ident(name)}"
        if template is not None:
            sql += f" TEMPLATE {_quote_ident(template)}"
        self._execute(sql)

    def drop_database(self, name: str) -> None:
        """Drop database *name* if it exists, terminating its connections."""
        from sqlalchemy import text

        with self._admin_engine().connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            conn.execute(text(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)"))

    def _execute(self, sql: str) -> None:
        from sqlalchemy import text

        with self._admin_engine().connect() as conn:
            conn.execute(text(sql))

    def _admin_engine(self) -> Engine:
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        if not self._running:
            raise RuntimeError("PgCluster is not running")
        # NullPool: never keep a connection to "postgres" open between calls.
        return create_engine(self.url, isolation_level="AUTOCOMMIT", poolclass=NullPool)

    # -------------------------------------------------------------- internals

    def _make_dirs(self) -> None:
        base = self._base_dir
        if (
            base is None
            and self._as_postgres
            and not self._postgres_can_enter(Path(tempfile.gettempdir()))
        ):
            base = "/tmp"  # e.g. TMPDIR under /root, which postgres cannot traverse
        tmp = Path(tempfile.mkdtemp(prefix="pdca-pg-", dir=base))
        self._tempdir = tmp
        self._sockdir = tmp
        if len(str(tmp)) > _MAX_SOCKDIR_LEN:
            self._sockdir = Path(tempfile.mkdtemp(prefix="pdca-s-", dir="/tmp"))
            self._extra_sockdir = True
        if self._as_postgres:
            for d in {self._tempdir, self._sockdir}:
                shutil.chown(d, user="postgres", group="postgres")
            if not self._postgres_can_enter(tmp):
                raise RuntimeError(
                    f"the 'postgres' OS user cannot access {tmp}; pass base_dir= a directory "
                    "it can traverse"
                )

    def _postgres_can_enter(self, path: Path) -> bool:
        try:
            res = subprocess.run(
                ["runuser", "-u", "postgres", "--", "test", "-x", str(path)],
                capture_output=True,
                cwd="/",
                timeout=30,
            )
        except (OSError, subprocess.SubprocessError):
            return False
        return res.returncode == 0

    def _run(
        self, program: str, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(self.bindir / program), *args]
        if self._as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        # Ignore the caller's PG* settings (PGDATA, PGPORT, ...) and locale.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        res = subprocess.run(
            argv,
            cwd=self.tempdir,  # postgres may not be able to read the caller's cwd
            env=env,
            capture_output=True,
            text=True,
            timeout=_STARTUP_TIMEOUT + 30,
        )
        if check and res.returncode != 0:
            raise RuntimeError(
                f"{program} failed with exit code {res.returncode}:\n{res.stdout}{res.stderr}"
                + self._log_tail()
            )
        return res

    def _initdb(self) -> None:
        self._run(
            "initdb", "-D", str(self.datadir), "-U", self.user, "--auth=trust",
            "-E", "UTF8", "--no-locale", "--no-sync",
        )  # fmt: skip

    def _pg_ctl_start(self) -> None:
        options = " ".join(
            [
                f"-k {shlex.quote(str(self.sockdir))}",
                f"-p {self.port}",
                "-c listen_addresses=''",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=100",
            ]
        )
        self._run(
            "pg_ctl", "start", "-w", "-t", str(_STARTUP_TIMEOUT), "-D", str(self.datadir),
            "-l", str(self.logfile), "-o", options,
        )  # fmt: skip

    def _log_tail(self, lines: int = 40) -> str:
        try:
            text = self.logfile.read_text(encoding="utf-8", errors="replace")
        except (OSError, RuntimeError):
            return ""
        tail = "\n".join(text.splitlines()[-lines:])
        return f"\n--- server log tail ({self.logfile}) ---\n{tail}" if tail else ""
