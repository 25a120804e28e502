"""Post-commit hooks on a store pdca opened itself (the host-session case is in
test_host_embedding.py)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import pdca
from test_rollover import build_year

OFFICE = pdca.Actor("office", role="system")  # the office's scripts


def listen(store: pdca.Store) -> list[tuple[str, dict[str, Any]]]:
    heard: list[tuple[str, dict[str, Any]]] = []
    for name in pdca.HOOK_EVENTS:
        store.subscribe(name, lambda n: heard.append((n.name, dict(n.data))))
    return heard


def test_each_kind_of_change_is_heard_after_commit(
    store: pdca.Store, clock: pdca.FixedClock
) -> None:
    build_year(store, clock, 2025, 2, doing=frozenset({0, 1}))
    heard = listen(store)
    with store.unit_of_work(OFFICE) as uow:
        fnd = uow.add_finding("B000", "2025", "I1", "会议记录缺页", checkpoint="daily")
        uow.enter_score("B000", "2025", "I1", "year-end", "panel", 8, assessor="考评组")
        uow.rectify(fnd.id, plan="补记", owner="委员")  # type: ignore[arg-type]
        uow.verify(fnd.id, verified_by="考评组")  # type: ignore[arg-type]
        uow.begin_check("B000", "2025")
        assert heard == []  # nothing is committed yet
    names = [n for n, _ in heard]
    assert names == [
        "finding.opened",
        "score.entered",
        "finding.resolved",
        "cycle.changed",
    ]
    opened, score, resolved, changed = (d for _, d in heard)
    assert opened["org"] == "B000"
    assert opened["description"] == "会议记录缺页"
    assert resolved["finding_id"] == fnd.id == opened["finding_id"]
    assert score["org"] == "B000"
    assert score["item"] == "I1"
    assert score["score_id"] > 0
    assert (changed["from_state"], changed["to_state"], changed["event"]) == (
        "doing",
        "checking",
        "check",
    )


def test_work_rolled_back_is_never_heard(store: pdca.Store, clock: pdca.FixedClock) -> None:
    build_year(store, clock, 2025, 1, doing=frozenset({0}))
    heard = listen(store)
    with pytest.raises(pdca.NotFound), store.unit_of_work(OFFICE) as uow:  # noqa: PT012
        uow.begin_check("B000", "2025")
        uow.begin_check("B999", "2025")
    assert heard == []
    with store.unit_of_work(OFFICE) as uow:
        assert uow.cycle("B000", "2025").state == "doing"


def test_a_failing_subscriber_is_logged_and_the_others_still_run(
    store: pdca.Store, clock: pdca.FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    build_year(store, clock, 2025, 1, doing=frozenset({0}))

    def broken(note: pdca.Notification) -> None:
        raise RuntimeError("the host's mailer is down")

    store.subscribe("cycle.changed", broken)
    heard = listen(store)
    with (
        caplog.at_level(logging.ERROR, logger="pdca.hooks"),
        store.unit_of_work(OFFICE) as uow,
    ):
        uow.begin_check("B000", "2025")
    assert [n for n, _ in heard] == ["cycle.changed"]
    assert "the host's mailer is down" in caplog.text
    with store.unit_of_work(OFFICE) as uow:  # the change itself stands
        assert uow.cycle("B000", "2025").state == "checking"


def test_rollover_finished_and_cancel(store: pdca.Store, clock: pdca.FixedClock) -> None:
    build_year(store, clock, 2025, 3)
    reports: list[dict[str, Any]] = []
    sub = store.subscribe("rollover.finished", lambda n: reports.append(dict(n.data)))
    changes = store.subscribe("cycle.changed", lambda n: reports.append({"changed": n.data}))
    changes.cancel()  # the rollover's set-based batches notify once, at the end
    store.rollover("2025", "2026", "S-2026", dry_run=True)
    assert reports == []  # a dry run changes nothing
    report = store.rollover("2025", "2026", "S-2026")
    assert reports == [report.as_dict()]
    assert reports[0]["cycles_opened"] == 3
    sub.cancel()
    store.rollover("2025", "2026", "S-2026")
    assert len(reports) == 1


def test_unknown_events_and_callbacks_are_refused(store: pdca.Store) -> None:
    with pytest.raises(pdca.ValidationError, match="unknown hook event") as err:
        store.subscribe("cycle.exploded", print)
    assert err.value.field == "event"
    with pytest.raises(pdca.ValidationError, match="callable"):
        store.subscribe("cycle.changed", "print")  # type: ignore[arg-type]


def test_advance_many_notifies_each_cycle_it_moved(
    store: pdca.Store, clock: pdca.FixedClock
) -> None:
    build_year(store, clock, 2025, 3, doing=frozenset({0, 1, 2}))
    with store.unit_of_work(OFFICE) as uow:
        uow.begin_check("B001", "2025")
    heard = listen(store)
    with store.unit_of_work(OFFICE) as uow:
        outcome = dict(uow.advance_many("2025", "check"))
        assert heard == []
    assert outcome["B001"] is not None  # already checking: refused, so not heard
    assert [(d["org"], d["from_state"], d["to_state"]) for _, d in heard] == [
        ("B000", "doing", "checking"),
        ("B002", "doing", "checking"),
    ]


def test_a_score_import_notifies_each_entry_after_commit(
    store: pdca.Store, clock: pdca.FixedClock, tmp_path: Any
) -> None:
    from pdca.io.score_files import import_scores

    build_year(store, clock, 2025, 2, doing=frozenset({0, 1}))
    sheet = tmp_path / "scores.csv"
    sheet.write_text(
        "org,period,item,checkpoint,method,assessor,value\n"
        "B000,2025,I1,year-end,panel,考评组,8\n"
        "B001,2025,I2,year-end,panel,考评组,9\n",
        encoding="utf-8",
    )
    heard = listen(store)
    with store.unit_of_work(pdca.Actor("考核办", role="assessor")) as uow:
        import_scores(uow, sheet)
        assert heard == []
    assert [(n, d["org"], d["item"], d["points"]) for n, d in heard] == [
        ("score.entered", "B000", "I1", "8"),
        ("score.entered", "B001", "I2", "9"),
    ]
    assert all(d["score_id"] > 0 and d["cycle_id"] > 0 for _, d in heard)
