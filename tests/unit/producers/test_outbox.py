"""The sender's outbox: order, acknowledgement, give-up and the flush watermark."""

from __future__ import annotations

from stepmetrics.producers.batcher import Outgoing
from stepmetrics.producers.events import SEQ_WINDOW
from stepmetrics.producers.outbox import FlushRequest, Outbox


def envelope(seq: int, values: int = 1) -> Outgoing:
    return Outgoing(seq, b"exec-1", f"envelope-{seq}".encode(), values, seq)


def filled(*seqs: int) -> tuple[Outbox, list[Outgoing]]:
    outbox = Outbox()
    envelopes = [envelope(seq) for seq in seqs]
    outbox.add(envelopes)
    return outbox, envelopes


def test_envelopes_come_out_oldest_first() -> None:
    outbox, first = filled(0, 1)
    later = [envelope(2), envelope(3)]
    outbox.add(later)
    assert list(outbox) == first + later
    assert len(outbox) == 4


def test_acknowledged_envelopes_leave_and_the_others_stay_unchanged() -> None:
    outbox, (e0, _, e2) = filled(0, 1, 2)
    outbox.settle({1})
    kept = list(outbox)
    assert kept == [e0, e2]
    # A retry re-sends the very same bytes: same objects, same identity.
    assert kept[0] is e0
    assert kept[1] is e2
    assert kept[1].data == b"envelope-2"


def test_giving_up_counts_the_values_held_and_empties_the_outbox() -> None:
    outbox = Outbox()
    outbox.add([envelope(0, values=1), envelope(1, values=3), envelope(2, values=5)])
    outbox.settle({0})
    assert outbox.give_up() == 8
    assert len(outbox) == 0
    assert outbox.give_up() == 0


def test_a_flush_waits_for_what_was_added_before_it_not_after() -> None:
    outbox, _ = filled(0, 1)
    request = FlushRequest()
    outbox.add_flush(request)
    outbox.arm_flushes()
    outbox.add([envelope(2)])  # after the flush: must not hold it up
    outbox.settle({0})
    outbox.complete_flushes()
    assert not request.done.is_set()
    outbox.settle({1})
    outbox.complete_flushes()
    assert request.done.is_set()
    assert request.ok
    assert [out.number for out in outbox] == [2]


def test_a_later_flush_waits_for_the_envelopes_added_before_it() -> None:
    outbox, _ = filled(0)
    early, late = FlushRequest(), FlushRequest()
    outbox.add_flush(early)
    outbox.arm_flushes()
    outbox.add([envelope(1)])
    outbox.add_flush(late)
    outbox.arm_flushes()
    outbox.settle({0})
    outbox.complete_flushes()
    assert early.ok
    assert not late.done.is_set()
    outbox.settle({1})
    outbox.complete_flushes()
    assert late.ok


def test_an_unarmed_flush_is_not_completed_even_by_an_empty_outbox() -> None:
    # Until armed, what it waits for may still sit in the buffer, undrained.
    outbox = Outbox()
    request = FlushRequest()
    outbox.add_flush(request)
    outbox.complete_flushes()
    assert not request.done.is_set()
    outbox.arm_flushes()
    outbox.complete_flushes()
    assert request.ok


def test_an_envelope_that_failed_holds_up_the_flush() -> None:
    outbox, _ = filled(0, 1)
    request = FlushRequest()
    outbox.add_flush(request)
    outbox.arm_flushes()
    outbox.settle({1})  # seq 0 failed and waits for a retry
    outbox.complete_flushes()
    assert not request.done.is_set()


def test_abandoned_flushes_are_released_unsuccessfully() -> None:
    outbox, _ = filled(0)
    armed, unarmed = FlushRequest(), FlushRequest()
    outbox.add_flush(armed)
    outbox.arm_flushes()
    outbox.add_flush(unarmed)
    outbox.abandon_flushes()
    for request in (armed, unarmed):
        assert request.done.is_set()
        assert not request.ok


def test_waiting_for_a_flush() -> None:
    completed = FlushRequest()
    completed.ok = True
    completed.done.set()
    assert completed.wait(None, lambda: True)
    pending = FlushRequest()
    assert not pending.wait(0.0, lambda: True)  # timed out
    assert not pending.wait(None, lambda: False)  # the sender thread is gone


def test_no_envelope_leaves_a_window_past_the_oldest_unsettled_of_its_execution() -> None:
    outbox = Outbox()
    e1 = [Outgoing(n, b"e1", b"d", 1, 10 + n) for n in range(SEQ_WINDOW + 2)]
    e2 = [Outgoing(len(e1), b"e2", b"d", 1, 500)]
    outbox.add([*e1, *e2])
    assert outbox.sendable() == [*e1[:SEQ_WINDOW], *e2]
    outbox.settle({1})  # the oldest (seq 10) stays unsettled: the window stays
    assert outbox.sendable() == [e1[0], *e1[2:SEQ_WINDOW], *e2]
    outbox.settle({0})
    assert outbox.sendable() == [*e1[2:], *e2]
