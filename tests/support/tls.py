"""A throwaway CA and a TLS broker: stunnel4 in front of the plain test broker.

Tansu's own TLS does not work (/work/shared/BROKER.md), so the harness puts
Debian's `stunnel4` in front of it: stunnel accepts TLS on port B and forwards
to the broker's plain listener on port A, and the broker advertises B, so
that clients reconnect through TLS after bootstrap. Certificates come from
the `openssl` command (both installed by scripts/system-deps.sh).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepmetrics.stack.errors import StackError
from stepmetrics.stack.services import (
    LOOPBACK,
    ManagedProcess,
    free_port,
    spawn,
    start_broker,
    wait_for_port,
)

# Names the server certificate is valid for; anything else fails the host check.
SERVER_NAMES = "IP:127.0.0.1,DNS:localhost"
_DAYS = "2"


@dataclass(frozen=True)
class Certificates:
    """PEM files: a CA, a server and a client certificate it signed, and an unrelated CA."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path


def make_certificates(directory: Path) -> Certificates:
    """Generate the CA, the server (`SERVER_NAMES`) and client certificates in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = _self_signed(directory, "ca", "stepmetrics test CA")
    other_ca, _ = _self_signed(directory, "other-ca", "an unrelated CA")
    server = _signed(directory, "server", ca, ca_key, f"subjectAltName={SERVER_NAMES}")
    client = _signed(directory, "client", ca, ca_key, "extendedKeyUsage=clientAuth")
    return Certificates(ca, *server, *client, other_ca)


@dataclass
class TlsBroker:
    """The plain broker, and stunnel serving it over TLS at `address` (what it advertises)."""

    broker: ManagedProcess
    stunnel: ManagedProcess
    address: str

    def stop(self) -> None:
        self.stunnel.stop()
        self.broker.stop()


def start_tls_broker(
    workdir: Path, certs: Certificates, *, require_client_cert: bool, timeout: float = 15.0
) -> TlsBroker:
    """Start a broker behind stunnel; `require_client_cert`: mutual TLS (verify = 2)."""
    plain, tls = free_port(), free_port()
    broker = start_broker(workdir, plain, advertised_port=tls, timeout=timeout)
    run_dir = workdir / "stunnel"
    run_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        "foreground = yes",
        "pid =",
        "[kafka]",
        f"accept = {LOOPBACK}:{tls}",
        f"connect = {LOOPBACK}:{plain}",
        f"cert = {certs.server_cert}",
        f"key = {certs.server_key}",
    ]
    if require_client_cert:
        lines += [f"CAfile = {certs.ca}", "verify = 2"]
    config = run_dir / "stunnel.conf"
    config.write_text("\n".join(lines) + "\n")
    try:
        stunnel = spawn("stunnel", [_stunnel_binary(), str(config)], run_dir, f"{LOOPBACK}:{tls}")
        wait_for_port(stunnel, tls, timeout)
    except BaseException:
        broker.stop()
        raise
    return TlsBroker(broker, stunnel, f"{LOOPBACK}:{tls}")


def _stunnel_binary() -> str:
    found = shutil.which("stunnel4") or shutil.which("stunnel")
    if found is None:
        raise StackError("stunnel4 not found: run scripts/system-deps.sh (make does)")
    return found


def _openssl(*args: str) -> None:
    binary = shutil.which("openssl")
    if binary is None:
        raise StackError("openssl not found: run scripts/system-deps.sh (make does)")
    subprocess.run([binary, *args], check=True, capture_output=True, timeout=30)


def _key(path: Path) -> None:
    _openssl(
        "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path)
    )


def _self_signed(directory: Path, name: str, subject: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    _key(key)
    _openssl(
        "req", "-x509", "-new", "-key", str(key), "-out", str(cert), "-days", _DAYS,
        "-subj", f"/CN={subject}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return cert, key


def _signed(
    directory: Path, name: str, ca: Path, ca_key: Path, extension: str
) -> tuple[Path, Path]:
    cert, key, csr = (directory / f"{name}{ext}" for ext in (".pem", ".key", ".csr"))
    extfile = directory / f"{name}.ext"
    extfile.write_text(f"basicConstraints=CA:FALSE\n{extension}\n")
    _key(key)
    _openssl("req", "-new", "-key", str(key), "-out", str(csr), "-subj", f"/CN=stepmetrics {name}")
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(cert), "-days", _DAYS, "-extfile", str(extfile),
    )  # fmt: skip
    return cert, key


def client_security(client: Any) -> dict[str, Any]:
    """What an aiokafka client (`producer.client`, `consumer._client`) was built with,
    as `comparable(...)` of the kwargs (aiokafka keeps them private)."""
    found: dict[str, Any] = {"security_protocol": client._security_protocol}
    if client._ssl_context is not None:
        found["ssl_context"] = client._ssl_context
    if client._security_protocol.startswith("SASL"):
        found["sasl_mechanism"] = client._sasl_mechanism
        found["sasl_plain_username"] = client._sasl_plain_username
        found["sasl_plain_password"] = client._sasl_plain_password
    return comparable(found)


def comparable(kwargs: dict[str, Any]) -> dict[str, Any]:
    """aiokafka security kwargs with the SSL context replaced by what it verifies with."""
    context = kwargs.get("ssl_context")
    if context is None:
        return kwargs
    cas = sorted(str(ca["subject"]) for ca in context.get_ca_certs())
    summary = (context.verify_mode, context.check_hostname, cas)
    return {**kwargs, "ssl_context": summary}
