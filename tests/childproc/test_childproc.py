"""hardhouse.childproc: the protocol every child speaks, both ends, against a real child process
(tests/childproc/echo_child.py) over real pipes."""

from __future__ import annotations

import io
import threading

import pytest

from hardhouse.childproc import (
    LONG_REPLY,
    NOT_A_REPLY,
    Child,
    ChildEnded,
    ChildFailed,
    NoAnswerInTime,
    ProtocolError,
    Refused,
    Reply,
    Request,
    decode_reply,
    decode_request,
    encode,
    serve,
)

ECHO = "tests.childproc.echo_child"


def test_messages_go_through_one_line_each_and_come_back_equal() -> None:
    request = Request(7, "verify", {"spec": {"a": "b\nc"}, "address": "127.0.0.1"})
    line = encode(request)
    assert line.count(b"\n") == 1 and line.endswith(b"\n")
    assert decode_request(line) == request
    for reply in (Reply(7, answer={"ok": True}), Reply(7, error="why"), Reply(7, answer=[1], part=True)):
        assert decode_reply(encode(reply)) == reply


@pytest.mark.parametrize(
    "line",
    [
        b"not json",
        b"[1, 2]",
        b'{"id": "7", "kind": "k", "body": {}}',
        b'{"id": true, "kind": "k", "body": {}}',
        b'{"id": 1, "kind": 3, "body": {}}',
        b'{"id": 1, "kind": "k", "body": []}',
        b'{"id": 1, "kind": "k"}',
    ],
)
def test_a_line_that_is_not_a_request_is_refused(line: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_request(line)


def test_a_reply_without_an_answer_part_or_error_is_refused() -> None:
    with pytest.raises(ProtocolError, match="answer, a part or an error"):
        decode_reply(b'{"id": 1}')
    with pytest.raises(ProtocolError, match="id is a number"):
        decode_reply(b'{"id": "1", "answer": 1}')


def _served(handlers: dict, *lines: bytes, max_request: int = 1024) -> list[Reply]:
    out = io.BytesIO()
    serve(handlers, io.BytesIO(b"".join(lines)), out, max_request=max_request)
    return [decode_reply(line) for line in out.getvalue().splitlines()]


def test_serve_answers_refuses_and_reports_each_request_and_goes_on() -> None:
    def refuse(body: dict) -> None:
        raise Refused("not this one")

    def crash(body: dict) -> None:
        raise KeyError("spec")

    handlers = {"echo": lambda body: body, "refuse": refuse, "crash": crash, "parts": lambda body: iter([1])}
    replies = _served(
        handlers,
        encode(Request(1, "echo", {"a": 1})),
        b"garbage\n",
        encode(Request(2, "refuse", {})),
        encode(Request(3, "crash", {})),
        encode(Request(4, "rm -rf", {})),
        encode(Request(5, "echo", {"b": 2})),
    )
    assert replies == [
        Reply(1, answer={"a": 1}),
        Reply(None, error="a line that is not JSON"),
        Reply(2, error="not this one"),  # a Refused says why as it is
        Reply(3, error="KeyError: 'spec'"),  # anything else names its type
        Reply(4, error="unknown request kind 'rm -rf'"),
        Reply(5, answer={"b": 2}),
    ]


def test_serve_sends_a_generators_values_as_parts_then_the_end() -> None:
    def parts(body: dict):  # type: ignore[no-untyped-def]
        yield from range(body["count"])

    assert _served({"parts": parts}, encode(Request(1, "parts", {"count": 2}))) == [
        Reply(1, answer=0, part=True),
        Reply(1, answer=1, part=True),
        Reply(1, answer=None),
    ]


def test_serve_stops_at_a_request_longer_than_its_bound() -> None:
    long = encode(Request(1, "echo", {"x": "y" * 2000}))
    replies = _served({"echo": lambda body: body}, long, encode(Request(2, "echo", {})), max_request=1024)
    assert replies == [Reply(None, error="a request longer than 1024 bytes")]


@pytest.fixture
def child() -> Child:
    child = Child(ECHO, ("4",), max_reply=64 * 1024, name="the echo child")
    yield child
    child.close(timeout=2)


def test_a_kept_child_answers_concurrent_requests_by_id(child: Child) -> None:
    results: list[tuple[object, str]] = []
    threads = [threading.Thread(target=lambda n=n: results.append(child.call("echo", {"n": n}, 30))) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answer["n"] for answer, _ in results) == list(range(8))  # type: ignore[index]


def test_a_kept_child_streams_parts_and_reports_refusals(child: Child) -> None:
    assert list(child.submit("parts", {"count": 3}).parts(30)) == [{"part": 0}, {"part": 1}, {"part": 2}]
    with pytest.raises(ChildFailed, match="^not this one$"):
        list(child.submit("refuse", {}).parts(30))
    assert child.call("crash", {}, 30) == (None, "KeyError: 'spec'")
    assert child.call("big", {"size": 10}, 30) == (None, "big answered str, not an object")


def test_what_a_library_prints_on_stdout_does_not_break_the_replies(child: Child) -> None:
    assert child.call("chatter", {}, 30) == ({"ok": True}, "")
    assert child.call("echo", {"after": 1}, 30) == ({"after": 1}, "")


@pytest.mark.slow
def test_a_request_given_up_on_fails_alone(child: Child) -> None:
    assert child.call("slow", {"seconds": 3}, 0.5) == (None, "no answer within 0.5 s")
    assert child.call("echo", {"still": "here"}, 30) == ({"still": "here"}, "")


def test_a_reply_longer_than_the_bound_ends_the_child_and_fails_what_it_holds(child: Child) -> None:
    assert child.call("echo", {}, 30) == ({}, "")
    answer, why = child.call("big", {"size": 100 * 1024}, 30)
    assert answer is None and why == "the echo child ended (a reply longer than 65536 bytes)"
    # Later requests learn why at once.
    assert child.call("echo", {}, 30) == (None, why)


def test_a_child_that_dies_fails_every_request_with_its_last_words() -> None:
    child = Child(ECHO, name="the echo child")  # one at a time: die ends the process
    try:
        answer, why = child.call("die", {}, 30)
        assert answer is None and why == "the echo child ended (about to die)"
    finally:
        child.close(timeout=2)


def test_a_strict_child_is_ended_by_a_line_that_is_not_a_reply() -> None:
    child = Child(ECHO, name="the echo child", strict=True, keep_stderr=False)
    try:
        assert child.call("echo", {"n": 1}, 30) == ({"n": 1}, "") and child.running
        with pytest.raises(ChildEnded, match="^the echo child ended \\(a line that is not a reply\\)$"):
            list(child.submit("chatter", {}).parts(30))
        assert child.cut_off == NOT_A_REPLY and not child.running
    finally:
        child.close(timeout=2)


def test_what_ended_a_request_is_typed(child: Child) -> None:
    with pytest.raises(NoAnswerInTime, match="no answer within 0.2 s"):
        list(child.submit("slow", {"seconds": 1}).parts(0.2))
    with pytest.raises(ChildFailed) as refused:
        list(child.submit("refuse", {}).parts(30))
    assert type(refused.value) is ChildFailed  # the child's own refusal: it stays
    with pytest.raises(ChildEnded):
        list(child.submit("big", {"size": 100 * 1024}).parts(30))
    assert child.cut_off == LONG_REPLY
    with pytest.raises(ChildEnded):  # later requests too
        list(child.submit("echo", {}).parts(30))
