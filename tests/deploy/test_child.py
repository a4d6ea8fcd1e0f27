"""The deploy's helper: a real `python -m hardhouse.deploy.service` child (hardhouse.childproc), bounded in time."""

from __future__ import annotations

import threading

import pytest

from hardhouse.childproc import Child

HELPER = "hardhouse.deploy.service"  # one child for the whole deploy run


def test_the_service_answers_many_concurrent_calls_from_one_child() -> None:
    service = Child(HELPER, name="the deploy's helper process")
    try:
        results: list[tuple[object, str]] = []
        threads = [
            threading.Thread(
                target=lambda: results.append(service.call("verify", {"spec": {}, "address": "127.0.0.1"}, 60))
            )
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # Each request was answered (here: refused, the spec is empty), by one process.
        assert len(results) == 8 and all(answer is None and "SpecError" in why for answer, why in results)
        assert service._process is not None and service._process.poll() is None
    finally:
        service.close()


def test_an_unknown_handler_is_refused_and_the_service_goes_on() -> None:
    service = Child(HELPER, name="the deploy's helper process")
    try:
        answer, why = service.call("rm -rf", {}, 60)
        assert answer is None and why == "unknown request kind 'rm -rf'"
        answer, why = service.call("provision", {"spec": {}}, 60)
        assert answer is None and why.startswith("the provision request has fields") and "missing ['address']" in why
        answer, why = service.call("provision", {"spec": {}, "address": "127.0.0.1"}, 60)
        assert answer is None and "SpecError" in why
    finally:
        service.close()


def test_a_service_that_dies_says_why() -> None:
    service = Child("hardhouse.no_such_module", name="the deploy's helper process")
    try:
        answer, why = service.call("verify", {}, 30)
        assert answer is None and why.startswith("the deploy's helper process ended (")
        assert "No module named hardhouse.no_such_module" in why
    finally:
        service.close()


@pytest.mark.slow
def test_a_service_that_does_not_answer_in_time_is_given_up() -> None:
    service = Child("tests.deploy.child_sleeps")
    try:
        assert service.call("verify", {}, 1) == (None, "no answer within 1 s")
    finally:
        service.close(timeout=1)


@pytest.mark.slow
def test_a_fresh_helper_asked_everything_at_once_answers_each_without_an_import_error() -> None:
    """The deploy asks "load", then a host's provisioning and verification, at once: the child's
    threads import the spec package from different ends. Unserialized, Python handed one of them
    a half-initialized module (ImportError: partially initialized module) in most attempts."""
    for _ in range(5):
        service = Child(HELPER, name="the deploy's helper process")
        try:
            body = {"spec": {}, "address": "127.0.0.1"}
            pending = [service.submit("load", {}), service.submit("provision", body), service.submit("verify", body)]
            answers = [p.wait(120) for p in pending]
        finally:
            service.close(timeout=0)
        assert answers[0] == ({}, "")
        # Both refuse the empty spec, as the spec model does: not as an import.
        assert all(answer is None and why.startswith("SpecError") for answer, why in answers[1:]), answers
