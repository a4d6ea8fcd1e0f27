"""Service: a real `python -m hardhouse.deploy.service` child, JSON lines in and out, bounded in time."""

from __future__ import annotations

import threading

from hardhouse.deploy.child import Service

# Service: one child for the whole deploy run (hardhouse.deploy.service).


def test_the_service_answers_many_concurrent_calls_from_one_child() -> None:
    service = Service()
    try:
        results: list[tuple[object, str]] = []
        threads = [
            threading.Thread(target=lambda: results.append(service.call("verify", {"spec": {}}, 60))) for _ in range(8)
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
    service = Service()
    try:
        answer, why = service.call("rm -rf", {}, 60)
        assert answer is None and "unknown handler 'rm -rf'" in why
        answer, why = service.call("provision", {"spec": {}}, 60)
        assert answer is None and "SpecError" in why
    finally:
        service.close()


def test_a_service_that_dies_says_why() -> None:
    service = Service(module="hardhouse.no_such_module")
    try:
        answer, why = service.call("verify", {}, 30)
        assert answer is None and "ended" in why and "No module named hardhouse.no_such_module" in why
    finally:
        service.close()


def test_a_service_that_does_not_answer_in_time_is_given_up() -> None:
    service = Service(module="tests.deploy.child_sleeps")
    try:
        assert service.call("verify", {}, 1) == (None, "no answer within 1 s")
    finally:
        service.close(timeout=1)
