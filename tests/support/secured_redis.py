"""TEST-ONLY: a redis-server that serves only TLS and only ACL users, with a throwaway CA.

`make_tls_files()` makes a CA and a server and a client certificate signed by
it (openssl, EC P-256, valid one day; the server's names 127.0.0.1 and
localhost). `start_secured_redis()` starts redis-server from a 0600 config
file with `port 0` (no plain TCP), `tls-port`, `tls-auth-clients yes` (mutual
TLS), the default user off and one `user` line per ACL user.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from stepmetrics.stack.services import LOOPBACK, ManagedProcess, redis_binary, spawn

_EC: Final = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
_START_TIMEOUT: Final = 15.0


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(cwd: Path, *args: str) -> None:
    binary = shutil.which("openssl")
    if binary is None:
        raise RuntimeError("openssl not found on PATH (Debian package openssl)")
    subprocess.run([binary, *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _signed(cwd: Path, name: str, extensions: str) -> None:
    _openssl(cwd, "req", *_EC, "-keyout", f"{name}.key", "-out", f"{name}.csr",
             "-subj", f"/CN=stepmetrics-test-{name}")  # fmt: skip
    (cwd / f"{name}.ext").write_text(extensions)
    _openssl(cwd, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "1", "-out", f"{name}.crt",
             "-extfile", f"{name}.ext")  # fmt: skip


def make_tls_files(directory: Path) -> TlsFiles:
    """A throwaway CA and the server and client certificates it signed, in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    _openssl(directory, "req", "-x509", *_EC, "-keyout", "ca.key", "-out", "ca.crt",
             "-days", "1", "-subj", "/CN=stepmetrics-test-ca")  # fmt: skip
    _signed(directory, "server", "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _signed(directory, "client", "extendedKeyUsage=clientAuth\n")
    return TlsFiles(
        ca=directory / "ca.crt",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
    )


def start_secured_redis(
    workdir: Path, port: int, tls: TlsFiles, users: list[str]
) -> ManagedProcess:
    """redis-server on TLS port `port` only, with `users` (ACL `user` lines without `user`)."""
    workdir.mkdir(parents=True, exist_ok=True)
    lines = [
        f"bind {LOOPBACK}",
        "port 0",
        f"tls-port {port}",
        f"tls-cert-file {tls.server_cert}",
        f"tls-key-file {tls.server_key}",
        f"tls-ca-cert-file {tls.ca}",
        "tls-auth-clients yes",
        f"dir {workdir}",
        'save ""',
        "appendonly no",
        "user default off",
        *(f"user {rule}" for rule in users),
    ]
    config = workdir / "redis.conf"
    config.touch(mode=0o600)
    config.write_text("\n".join(lines) + "\n")
    managed = spawn("redis", [str(redis_binary()), str(config)], workdir, f"127.0.0.1:{port}")
    _wait_tls(managed, port, tls)
    return managed


def _wait_tls(managed: ManagedProcess, port: int, tls: TlsFiles) -> None:
    context = ssl.create_default_context(cafile=str(tls.ca))
    context.load_cert_chain(str(tls.client_cert), str(tls.client_key))
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if not managed.alive():
            raise RuntimeError(f"redis-server exited: {managed.log_tail()}")
        try:
            with (
                socket.create_connection((LOOPBACK, port), timeout=0.5) as raw,
                context.wrap_socket(raw, server_hostname=LOOPBACK) as sock,
            ):
                sock.sendall(b"PING\r\n")
                if sock.recv(64):  # -NOAUTH: it answers
                    return
        except OSError:
            time.sleep(0.05)
    managed.stop()
    raise RuntimeError(f"secured redis-server did not answer: {managed.log_tail()}")
