"""How every stepmetrics Kafka client connects to a secured broker: TLS, SASL.

One definition for all of them: the SDK's producer, the worker (faust, its
dead-letter producer) and the topic administration read the same
`STEPMETRICS_KAFKA_*` variables into a `KafkaSecurity`, which hands aiokafka
its own keyword arguments (`aiokafka_kwargs`) unchanged. It lives in the SDK,
the lowest layer that connects to Kafka; the worker and the stack import it.

Everything is checked when the settings are built (at start-up), naming the
variable. The password never appears in a repr, a log line or an error.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from stepmetrics.envvars import EnvVar, bad_value, read_env
from stepmetrics.producers.errors import SettingsError

PROTOCOLS: Final = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS: Final = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
_TLS: Final = frozenset({"SSL", "SASL_SSL"})
_SASL: Final = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})


def _upper(raw: str) -> str:
    return raw.strip().upper()


def _path(raw: str) -> str:
    return raw.strip()


SECURITY_PROTOCOL: Final = EnvVar(
    "STEPMETRICS_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT", _upper, ", ".join(PROTOCOLS)
)
SASL_MECHANISM: Final = EnvVar(
    "STEPMETRICS_KAFKA_SASL_MECHANISM", "", _upper, ", ".join(MECHANISMS)
)
SASL_USERNAME: Final = EnvVar("STEPMETRICS_KAFKA_SASL_USERNAME", "", str, "a user name")
SASL_PASSWORD: Final = EnvVar("STEPMETRICS_KAFKA_SASL_PASSWORD", "", str, "a password")
SSL_CAFILE: Final = EnvVar("STEPMETRICS_KAFKA_SSL_CAFILE", "", _path, "a readable PEM file")
SSL_CERTFILE: Final = EnvVar("STEPMETRICS_KAFKA_SSL_CERTFILE", "", _path, "a readable PEM file")
SSL_KEYFILE: Final = EnvVar("STEPMETRICS_KAFKA_SSL_KEYFILE", "", _path, "a readable PEM file")
# field -> variable
_ENV: Final[dict[str, EnvVar[Any]]] = {
    "protocol": SECURITY_PROTOCOL,
    "sasl_mechanism": SASL_MECHANISM,
    "sasl_username": SASL_USERNAME,
    "sasl_password": SASL_PASSWORD,
    "ssl_cafile": SSL_CAFILE,
    "ssl_certfile": SSL_CERTFILE,
    "ssl_keyfile": SSL_KEYFILE,
}
ENV_VARS: Final[frozenset[str]] = frozenset(v.name for v in _ENV.values())
_FILES: Final = ("ssl_cafile", "ssl_certfile", "ssl_keyfile")


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    """How to reach a secured Kafka; the default is plaintext, no authentication.

    Attributes:
        protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (Kafka's names).
        sasl_mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL only).
        sasl_username: the SASL user (SASL only; kept out of repr).
        sasl_password: the SASL password (SASL only; kept out of repr).
        ssl_cafile: CA bundle that signed the brokers' certificates; "" uses
            the system's CAs. Broker host names are always checked.
        ssl_certfile: client certificate (PEM) for mutual TLS; needs keyfile.
        ssl_keyfile: the client certificate's private key (PEM, unencrypted).
    """

    protocol: str = SECURITY_PROTOCOL.default
    sasl_mechanism: str = SASL_MECHANISM.default
    sasl_username: str = field(default=SASL_USERNAME.default, repr=False)
    sasl_password: str = field(default=SASL_PASSWORD.default, repr=False)
    ssl_cafile: str = SSL_CAFILE.default
    ssl_certfile: str = SSL_CERTFILE.default
    ssl_keyfile: str = SSL_KEYFILE.default

    def __post_init__(self) -> None:
        _require(SECURITY_PROTOCOL, self.protocol, self.protocol in PROTOCOLS, ", ".join(PROTOCOLS))
        if self.protocol in _SASL:
            self._check_sasl()
        else:
            for name in ("sasl_mechanism", "sasl_username", "sasl_password"):
                if getattr(self, name):
                    self._unused(name, "SASL_PLAINTEXT or SASL_SSL")
        if self.protocol in _TLS:
            self._check_files()
            self.ssl_context()  # a file that is not PEM fails now, at start-up
        else:
            for name in _FILES:
                if getattr(self, name):
                    self._unused(name, "SSL or SASL_SSL")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> KafkaSecurity:
        """Read the `STEPMETRICS_KAFKA_*` security variables; unset or empty = default.

        Raises:
            SettingsError: a value is not allowed or the combination is
                incomplete; the message names the variable (never the password).
        """
        return cls(**read_env(_ENV, environ, SettingsError))

    @property
    def tls(self) -> bool:
        """Whether connections are encrypted (SSL or SASL_SSL)."""
        return self.protocol in _TLS

    @property
    def sasl(self) -> bool:
        """Whether clients authenticate with SASL (SASL_PLAINTEXT or SASL_SSL)."""
        return self.protocol in _SASL

    def ssl_context(self) -> ssl.SSLContext | None:
        """A client TLS context (CA verification and host name check on); None without TLS.

        Raises:
            SettingsError: a file is not a usable certificate, key or CA bundle.
        """
        if not self.tls:
            return None
        from aiokafka.helpers import create_ssl_context  # lazy: keeps `import` of the SDK light

        try:
            context: ssl.SSLContext = create_ssl_context(
                cafile=self.ssl_cafile or None,
                certfile=self.ssl_certfile or None,
                keyfile=self.ssl_keyfile or None,
            )
        except (ssl.SSLError, OSError) as exc:
            names = [_ENV[n].name for n in _FILES if getattr(self, n)]
            raise SettingsError(
                f"{', '.join(names) or 'the system CA store'} could not be loaded "
                f"as a CA bundle / certificate and key: {type(exc).__name__}: {exc}"
            ) from exc
        return context

    def aiokafka_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of aiokafka's producer, consumer and admin client."""
        kwargs: dict[str, Any] = {"security_protocol": self.protocol}
        if self.tls:
            kwargs["ssl_context"] = self.ssl_context()
        if self.sasl:
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = self.sasl_password
        return kwargs

    def _check_sasl(self) -> None:
        mechanism = self.sasl_mechanism
        if mechanism not in MECHANISMS:
            allowed = (
                f"one of {', '.join(MECHANISMS)} with {SECURITY_PROTOCOL.name}={self.protocol}"
            )
            _require(SASL_MECHANISM, mechanism, False, allowed)
        for name in ("sasl_username", "sasl_password"):
            if not getattr(self, name):
                _missing(name, f"{SASL_MECHANISM.name}={mechanism}")

    def _check_files(self) -> None:
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            given, missing = ("ssl_certfile", "ssl_keyfile")[:: 1 if self.ssl_certfile else -1]
            _missing(missing, f"{_ENV[given].name} set")
        for name in _FILES:
            path = getattr(self, name)
            if path and not (os.path.isfile(path) and os.access(path, os.R_OK)):
                _require(_ENV[name], path, False, "a readable file (missing or unreadable)")

    def _unused(self, field_name: str, protocols: str) -> None:
        # Names the variable, never its value: it may be a secret.
        raise SettingsError(
            f"{_ENV[field_name].name} is set, but it is used only with "
            f"{SECURITY_PROTOCOL.name}={protocols} (it is {self.protocol})"
        )


def _require(var: EnvVar[Any], value: object, ok: bool, allowed: str) -> None:
    if not ok:
        raise SettingsError(bad_value(var.name, value, allowed))


def _missing(field_name: str, because: str) -> None:
    raise SettingsError(f"{_ENV[field_name].name} is required (it is empty) with {because}")
