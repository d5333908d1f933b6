"""TEST-ONLY: a redis-server that serves only TLS and only ACL users.

`start_secured_redis()` starts redis-server from a 0600 config file with
`port 0` (no plain TCP), `tls-port`, `tls-auth-clients yes` (mutual TLS), the
default user off and one `user` line per ACL user. Its certificates are the
throwaway CA of `tests.support.tls.make_certificates()` (the TLS broker's too).
"""

from __future__ import annotations

import socket
import ssl
import time
from pathlib import Path
from typing import Final

from stepmetrics.stack.services import LOOPBACK, ManagedProcess, redis_binary, spawn
from tests.support.tls import Certificates

_START_TIMEOUT: Final = 15.0


def start_secured_redis(
    workdir: Path, port: int, tls: Certificates, users: list[str]
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


def _wait_tls(managed: ManagedProcess, port: int, tls: Certificates) -> None:
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
