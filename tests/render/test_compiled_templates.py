"""The templates' compiled code kept between runs (hardhouse.render.jinja): a render from the
cache is the render compiled afresh, a changed or damaged entry is compiled again, and a cache
that cannot be made, read or written never fails a render."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest

from hardhouse.render import jinja, render
from hardhouse.spec import load_spec

compiled_cache = jinja.compiled_cache  # the real one (the tests point environment() at their own)


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the templates compiled from their text (not taken from the cache)."""
    compiled: list[str] = []
    original = jinja2.Environment.compile

    def counting(self: jinja2.Environment, source: str, name: str | None = None, *args: Any, **kwargs: Any) -> Any:
        compiled.append(str(name))
        return original(self, source, name, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    jinja.environment.cache_clear()
    yield compiled
    jinja.environment.cache_clear()


Render = Callable[[Path | None], list[tuple[str, str]]]


@pytest.fixture
def render_in(spec_dict: dict[str, Any], environ: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Render:
    """Render the spec as a new run would (a fresh environment()), its compiled templates kept in
    the directory given (None: no cache)."""

    def run(directory: Path | None) -> list[tuple[str, str]]:
        made = compiled_cache(str(directory)) if directory is not None else None
        monkeypatch.setattr(jinja, "compiled_cache", lambda: made)
        jinja.environment.cache_clear()
        return [(f.path, f.content) for f in render(load_spec(spec_dict), environ)]

    return run


def test_a_render_from_the_cache_is_the_render_compiled_afresh(
    render_in: Render, compiles: list[str], tmp_path: Path
) -> None:
    afresh = render_in(None)
    used = len(compiles)
    assert used > 5
    assert render_in(tmp_path) == afresh
    assert len(compiles) == 2 * used and len(os.listdir(tmp_path)) == used
    assert render_in(tmp_path) == afresh  # the next run
    assert len(compiles) == 2 * used  # nothing compiled: every template came from the cache


def test_a_damaged_entry_is_compiled_again(render_in: Render, compiles: list[str], tmp_path: Path) -> None:
    expected = render_in(tmp_path)
    used = len(compiles)
    entries = sorted(tmp_path.iterdir())
    entries[0].write_bytes(b"")
    entries[1].write_bytes(os.urandom(64))
    entries[2].write_bytes(entries[2].read_bytes()[:40])  # cut in the middle of its code
    assert render_in(tmp_path) == expected
    assert len(compiles) == used + 3


def test_a_cache_that_cannot_be_written_or_read_leaves_the_render_as_it_was(
    render_in: Render, compiles: list[str], tmp_path: Path
) -> None:
    expected = render_in(None)
    assert render_in(tmp_path / "gone") == expected  # a directory removed under the running process
    unreadable = tmp_path / "entries-are-directories"
    unreadable.mkdir()
    assert render_in(unreadable) == expected  # fills it
    for entry in unreadable.iterdir():
        entry.unlink()
        entry.mkdir()
    assert render_in(unreadable) == expected


def test_a_changed_template_is_compiled_again(tmp_path: Path) -> None:
    def environment(text: str) -> jinja2.Environment:
        return jinja2.Environment(
            loader=jinja2.DictLoader({"t.xml.j2": text}), bytecode_cache=compiled_cache(str(tmp_path))
        )

    assert environment("<a>{{ x }}</a>").get_template("t.xml.j2").render(x=1) == "<a>1</a>"
    assert environment("<b>{{ x }}</b>").get_template("t.xml.j2").render(x=1) == "<b>1</b>"


def test_a_cache_directory_someone_else_owns_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root, to give the directory to another user (CI runs as root)")
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    planted = tmp_path / f"_jinja2-cache-{os.getuid()}"
    planted.mkdir(mode=0o777)
    os.chown(planted, 65534, 65534)
    assert compiled_cache() is None
    planted.rmdir()
    assert isinstance(compiled_cache(), jinja2.FileSystemBytecodeCache)  # made by Jinja, 0700
    assert (planted.stat().st_mode & 0o777, planted.stat().st_uid) == (0o700, os.getuid())
