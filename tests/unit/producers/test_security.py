"""Kafka security settings: validation naming the variable, aiokafka's arguments, no secrets."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from stepmetrics.producers.errors import SettingsError
from stepmetrics.producers.security import ENV_VARS, KafkaSecurity
from stepmetrics.producers.settings import ENV_VARS as SDK_ENV_VARS
from stepmetrics.producers.settings import ProducerSettings
from tests.support.tls import Certificates

PASSWORD = "pa55-w0rd-never-shown"  # noqa: S105 (a test secret)
USER = "svc-user-never-shown"
SASL = {
    "STEPMETRICS_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "STEPMETRICS_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "STEPMETRICS_KAFKA_SASL_USERNAME": USER,
    "STEPMETRICS_KAFKA_SASL_PASSWORD": PASSWORD,
}


def test_the_default_is_plaintext() -> None:
    security = KafkaSecurity.from_env({})
    assert security.aiokafka_kwargs() == {"security_protocol": "PLAINTEXT"}
    assert security.ssl_context() is None


def test_the_sdk_reads_the_security_variables() -> None:
    assert ENV_VARS <= SDK_ENV_VARS
    settings = ProducerSettings.from_env(
        {**SASL, "STEPMETRICS_KAFKA_SECURITY_PROTOCOL": "sasl_plaintext"}
    )
    assert settings.security.protocol == "SASL_PLAINTEXT"
    assert settings.security.sasl_password == PASSWORD


def test_sasl_ssl_gives_aiokafka_every_argument(certs: Certificates) -> None:
    env = {
        **SASL,
        "STEPMETRICS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "STEPMETRICS_KAFKA_SSL_CAFILE": str(certs.ca),
        "STEPMETRICS_KAFKA_SSL_CERTFILE": str(certs.client_cert),
        "STEPMETRICS_KAFKA_SSL_KEYFILE": str(certs.client_key),
    }
    kwargs = KafkaSecurity.from_env(env).aiokafka_kwargs()
    context = kwargs.pop("ssl_context")
    assert kwargs == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": USER,
        "sasl_plain_password": PASSWORD,
    }
    assert isinstance(context, ssl.SSLContext)
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert any("stepmetrics test CA" in str(ca["subject"]) for ca in context.get_ca_certs())


@pytest.mark.parametrize(
    ("env", "named"),
    [
        (
            {**SASL, "STEPMETRICS_KAFKA_SASL_MECHANISM": "GSSAPI"},
            "STEPMETRICS_KAFKA_SASL_MECHANISM='GSSAPI'",
        ),
        ({**SASL, "STEPMETRICS_KAFKA_SASL_MECHANISM": ""}, "STEPMETRICS_KAFKA_SASL_MECHANISM"),
        (
            {**SASL, "STEPMETRICS_KAFKA_SASL_USERNAME": ""},
            "STEPMETRICS_KAFKA_SASL_USERNAME is required",
        ),
        (
            {**SASL, "STEPMETRICS_KAFKA_SASL_PASSWORD": ""},
            "STEPMETRICS_KAFKA_SASL_PASSWORD is required",
        ),
        # Credentials without a SASL protocol would be ignored: refused instead.
        (
            {**SASL, "STEPMETRICS_KAFKA_SECURITY_PROTOCOL": "SSL"},
            "STEPMETRICS_KAFKA_SASL_MECHANISM is set",
        ),
        (
            {"STEPMETRICS_KAFKA_SASL_PASSWORD": PASSWORD},
            "STEPMETRICS_KAFKA_SASL_PASSWORD is set, but it is used only with",
        ),
        (
            {"STEPMETRICS_KAFKA_SSL_CAFILE": "/etc/hostname"},
            "STEPMETRICS_KAFKA_SSL_CAFILE is set, but it is used only with",
        ),
    ],
)
def test_bad_combinations_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match="^" + named.replace("(", r"\(")) as refused:
        KafkaSecurity.from_env(env)
    assert PASSWORD not in str(refused.value)
    assert USER not in str(refused.value)


def test_a_missing_ca_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    env = {
        "STEPMETRICS_KAFKA_SECURITY_PROTOCOL": "SSL",
        "STEPMETRICS_KAFKA_SSL_CAFILE": str(missing),
    }
    with pytest.raises(
        SettingsError, match=r"STEPMETRICS_KAFKA_SSL_CAFILE=.*nope\.pem.*readable file"
    ):
        KafkaSecurity.from_env(env)
    with pytest.raises(SettingsError, match=r"STEPMETRICS_KAFKA_SSL_CAFILE=.*readable file"):
        KafkaSecurity.from_env({**env, "STEPMETRICS_KAFKA_SSL_CAFILE": str(tmp_path)})  # a dir


def test_a_file_that_is_not_pem_fails_at_start_up(tmp_path: Path) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate\n")
    env = {"STEPMETRICS_KAFKA_SECURITY_PROTOCOL": "SSL", "STEPMETRICS_KAFKA_SSL_CAFILE": str(junk)}
    with pytest.raises(SettingsError, match="STEPMETRICS_KAFKA_SSL_CAFILE could not be loaded"):
        KafkaSecurity.from_env(env)


@pytest.mark.parametrize(("given", "missing"), [("CERTFILE", "KEYFILE"), ("KEYFILE", "CERTFILE")])
def test_a_certificate_needs_its_key(certs: Certificates, given: str, missing: str) -> None:
    path = certs.client_cert if given == "CERTFILE" else certs.client_key
    env = {
        "STEPMETRICS_KAFKA_SECURITY_PROTOCOL": "SSL",
        f"STEPMETRICS_KAFKA_SSL_{given}": str(path),
    }
    with pytest.raises(SettingsError, match=f"STEPMETRICS_KAFKA_SSL_{missing} is required"):
        KafkaSecurity.from_env(env)


def test_a_key_that_does_not_match_the_certificate_is_refused(certs: Certificates) -> None:
    env = {
        "STEPMETRICS_KAFKA_SECURITY_PROTOCOL": "SSL",
        "STEPMETRICS_KAFKA_SSL_CERTFILE": str(certs.client_cert),
        "STEPMETRICS_KAFKA_SSL_KEYFILE": str(certs.server_key),
    }
    with pytest.raises(
        SettingsError, match="STEPMETRICS_KAFKA_SSL_CERTFILE, STEPMETRICS_KAFKA_SSL_KEYFILE"
    ):
        KafkaSecurity.from_env(env)


def test_secrets_stay_out_of_reprs() -> None:
    security = KafkaSecurity.from_env(SASL)
    settings = ProducerSettings(security=security)
    for text in (repr(security), str(security), repr(settings)):
        assert PASSWORD not in text
        assert USER not in text
    assert "SCRAM-SHA-512" in repr(security)
