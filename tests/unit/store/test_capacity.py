"""`sum_used_memory`: one server's INFO reply, or a cluster's reply per node."""

from __future__ import annotations

import pytest

from stepmetrics.store.capacity import sum_used_memory


def test_one_server_reply_is_its_used_memory() -> None:
    assert sum_used_memory({"used_memory": 1_909_624, "used_memory_human": "1.82M"}) == 1_909_624


def test_a_reply_per_master_is_summed() -> None:
    reply = {"127.0.0.1:1": {"used_memory": 10}, "127.0.0.1:2": {"used_memory": 32}}
    assert sum_used_memory(reply) == 42


@pytest.mark.parametrize("reply", [{}, {"n1": {"used_memory": 1}, "n2": {"maxmemory": 0}}])
def test_a_reply_without_the_figure_is_refused(reply: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="INFO memory answered without used_memory"):
        sum_used_memory(reply)
