"""The programs the harness spawns (`python -m <module> <spec-json>`).

Benchmarked client code runs in a child process so its CPU and memory are
its own, as in production. Each constant names one child's module.
"""

from typing import Final

STEP: Final = f"{__name__}.step"
FLEET: Final = f"{__name__}.fleet"
FACADE: Final = f"{__name__}.facade"
HTTP_LOAD: Final = f"{__name__}.http_load"
MLFLOW_PEER: Final = f"{__name__}.mlflow_peer"
RAW_PIPELINE: Final = f"{__name__}.raw_pipeline"
FANIN_STEP: Final = f"{__name__}.fanin_step"
PEER_BEST: Final = f"{__name__}.peer_best"

__all__ = [
    "FACADE",
    "FANIN_STEP",
    "FLEET",
    "HTTP_LOAD",
    "MLFLOW_PEER",
    "PEER_BEST",
    "RAW_PIPELINE",
    "STEP",
]
