"""scripts/system-deps.sh: says exactly what to install when it cannot install it."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(bin_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/bash", str(ROOT / "scripts" / "system-deps.sh")],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
        env={"PATH": str(bin_dir)},  # nothing but our stand-ins
    )


def _tool(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def test_missing_redis_as_non_root_says_what_to_install(tmp_path: Path) -> None:
    _tool(tmp_path, "id", "echo 1000")
    result = _run(tmp_path)
    assert result.returncode == 1
    assert "missing system packages: redis-server" in result.stderr
    assert "sudo apt-get install redis-server" in result.stderr


def test_present_tools_need_nothing(tmp_path: Path) -> None:
    _tool(tmp_path, "id", "echo 1000")
    for name in ("redis-server", "stunnel4", "openssl"):
        _tool(tmp_path, name, "exit 0")
    result = _run(tmp_path)
    assert (result.returncode, result.stderr) == (0, "")


def test_missing_tls_tools_are_named(tmp_path: Path) -> None:
    _tool(tmp_path, "id", "echo 1000")
    _tool(tmp_path, "redis-server", "exit 0")
    result = _run(tmp_path)
    assert result.returncode == 1
    assert "missing system packages: stunnel4 openssl" in result.stderr
    assert "sudo apt-get install stunnel4 openssl" in result.stderr
