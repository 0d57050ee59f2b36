"""Run Debian's PostgreSQL binaries as the `postgres` user, and find a cluster's processes.

The server refuses to run as root, so every binary runs as `postgres` (directly when we already
are that user). Files the server reads are owned by it.
"""
from __future__ import annotations

import functools
import os
import pwd
import shutil
import subprocess
from pathlib import Path
from typing import Mapping, Sequence, TypedDict

from stack.local import process as executor
from stack.local.rds.errors import PostgresError

PG_BIN = Path(os.environ.get("GAMEDAY_PG_BIN", "/usr/lib/postgresql/15/bin"))
POSTGRES_USER = "postgres"


def binary(name: str) -> str:
    """Path of a PostgreSQL program; raises PostgresError when the package is missing."""
    path = PG_BIN / name
    if not path.exists():
        raise PostgresError(f"PostgreSQL program {path} not found; install Debian's postgresql-15 "
                            f"(`make setup`) or set GAMEDAY_PG_BIN to its bin directory")
    return str(path)


@functools.cache
def version() -> str:
    """The PostgreSQL version the binaries run, such as 15.18."""
    out = subprocess.run([binary("postgres"), "--version"], capture_output=True, text=True, check=True).stdout
    return out.split()[-1].split("-")[0].split("(")[0]


def _account() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(POSTGRES_USER)
    except KeyError:
        raise PostgresError(f"no user {POSTGRES_USER!r} on this machine; install Debian's postgresql package") from None


class _Identity(TypedDict, total=False):
    """The keyword arguments of subprocess that run a program as postgres (none when we are postgres)."""

    user: int
    group: int
    extra_groups: list[int]


def _as_postgres() -> _Identity:
    account = _account()
    if os.geteuid() == account.pw_uid:
        return {}
    if os.geteuid() != 0:
        raise PostgresError(f"PostgreSQL must run as {POSTGRES_USER!r}; run the local stack as root or as {POSTGRES_USER!r} "
                            f"(current uid {os.geteuid()})")
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def give_to_postgres(path: Path, mode: int = 0o700) -> None:
    """Create ``path`` (if needed), owned by postgres with ``mode``."""
    path.mkdir(parents=True, exist_ok=True)
    account = _account()
    if os.geteuid() == 0:
        os.chown(path, account.pw_uid, account.pw_gid)
    path.chmod(mode)


def write_postgres_file(path: Path, text: str, mode: int = 0o600) -> None:
    """Write ``text`` atomically to a file the server owns (rename over the old one)."""
    temporary = path.with_name(f".{path.name}.gameday-tmp")
    temporary.unlink(missing_ok=True)
    # Created with ``mode`` (O_EXCL: never an old file of looser mode): a passfile or pwfile is never
    # readable by others, not even between the write and a later chmod.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    account = _account()
    if os.geteuid() == 0:
        os.chown(temporary, account.pw_uid, account.pw_gid)
    temporary.chmod(mode)  # the umask may have narrowed a wider mode the caller asked for
    temporary.replace(path)


def run(args: Sequence[str], timeout_s: float, env: Mapping[str, str] | None = None, what: str = "") -> str:
    """Run a PostgreSQL program as postgres; returns stdout; raises PostgresError with its stderr."""
    full_env = dict(os.environ, LC_ALL="C", **(env or {}))
    try:
        result = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout_s, env=full_env,
                                stdin=subprocess.DEVNULL, cwd="/", **_as_postgres())
    except subprocess.TimeoutExpired:
        # Not the arguments: an error message names the program, never its command line.
        raise PostgresError(f"{what or Path(args[0]).name} did not finish within {timeout_s:.1f} s") from None
    if result.returncode != 0:
        raise PostgresError(f"{what or Path(args[0]).name} failed with exit code {result.returncode}: "
                            f"{(result.stderr or result.stdout).strip()[-2000:]}")
    return result.stdout


def spawn(args: Sequence[str], log: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a long-running PostgreSQL program as postgres, in its own session, its output in ``log``.

    Its own session keeps a Ctrl-C at the supervisor's terminal from reaching the server: the part
    stops servers in its own order.
    """
    return executor.start(args, log, env=dict(os.environ, LC_ALL="C", **(env or {})), cwd="/", start_new_session=True,
                          **_as_postgres())


def cluster_pids(data_dir: Path) -> list[int]:
    """Every process of the cluster in ``data_dir``: postgres chdirs into its data directory.

    This finds the postmaster's children too, even after the postmaster itself was killed.
    """
    target = str(data_dir.resolve()) if data_dir.exists() else str(data_dir)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "cwd") == target and (entry / "comm").read_text().strip().startswith("postgres"):
                found.append(int(entry.name))
        except (FileNotFoundError, PermissionError, ProcessLookupError, NotADirectoryError):
            continue
    return found


def remove_tree(path: Path) -> None:
    """Remove ``path`` and everything under it; nothing if it is gone.

    rm(1), not shutil.rmtree: a cluster is about a thousand files, and rmtree walks them in Python, holding the
    supervisor's GIL (0.1 s a cluster alone; about 1 s for a stack's clusters at `stack down`, which removes
    them in parallel threads), where rm takes 0.02 s beside it. shutil is the fallback where rm failed.
    """
    try:
        subprocess.run(["rm", "-rf", "--one-file-system", "--", str(path)], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120, check=True)
    except (OSError, subprocess.SubprocessError):
        shutil.rmtree(path, ignore_errors=True)
