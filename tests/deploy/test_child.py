"""run_child: a real `python -m MODULE` child, JSON in and out, bounded in time."""

from __future__ import annotations

from hardhouse.deploy.child import run_child


def test_the_childs_json_answer_comes_back() -> None:
    assert run_child("json.tool", {"ok": True, "checks": []}, 30) == ({"ok": True, "checks": []}, "")


def test_a_child_that_fails_says_why_in_its_last_lines() -> None:
    answer, why = run_child("hardhouse.no_such_module", {}, 30)
    assert answer is None and "No module named hardhouse.no_such_module" in why


def test_a_child_that_does_not_answer_in_time_is_given_up() -> None:
    assert run_child("tests.deploy.child_sleeps", {}, 1) == (None, "no answer within 1 s")


def test_an_answer_that_is_not_an_object_is_refused() -> None:
    answer, why = run_child("json.tool", [1, 2], 30)
    assert answer is None and "not an object" in why
