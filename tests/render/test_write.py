"""Rendered files go in place all at once or not at all: on any failure the output directory
is byte-for-byte what it was, whatever filesystems its subdirectories live on."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hardhouse.render import RenderedFile, write_files
from hardhouse.render import write as write_module
from hardhouse.render.write import WriteError
from tests.helpers import PASSWORDS, VALID_SPEC, require


def snapshot(root: Path) -> dict[str, tuple[str, Any]]:
    """Every path under root: its kind and content (files: bytes and mode; links: target)."""
    if not root.exists():
        return {}
    found: dict[str, tuple[str, Any]] = {}
    for path in sorted(root.rglob("*")):
        relative = str(path.relative_to(root))
        if path.is_symlink():
            found[relative] = ("link", os.readlink(path))
        elif path.is_dir():
            found[relative] = ("dir", None)
        else:
            found[relative] = ("file", (path.read_bytes(), path.stat().st_mode & 0o777))
    return found


def rendered(tag: str) -> list[RenderedFile]:
    return [
        RenderedFile("config.d/zz-hardhouse-listen.xml", f"<clickhouse><!-- {tag} listen --></clickhouse>\n"),
        RenderedFile("config.d/zz-hardhouse-ports.xml", f"<clickhouse><!-- {tag} ports --></clickhouse>\n"),
        RenderedFile("users.d/zz-hardhouse-users.xml", f"<clickhouse><!-- {tag} users --></clickhouse>\n"),
    ]


def previous(out: Path) -> None:
    """An earlier render (with a file the next one drops) beside someone else's file."""
    write_files([*rendered("old"), RenderedFile("users.d/zz-hardhouse-quotas.xml", "<clickhouse/>\n")], out)
    (out / "config.d" / "other-team.xml").write_text("<clickhouse/>\n")


@pytest.mark.parametrize("failing_call", [1, 2, 3])
def test_a_failed_rename_leaves_the_directory_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing_call: int
) -> None:
    previous(tmp_path)
    before = snapshot(tmp_path)
    real, calls = os.replace, []

    def replace(source: Any, target: Any) -> None:
        calls.append(target)
        if len(calls) == failing_call:
            raise OSError(28, "No space left on device", str(target))
        real(source, target)

    monkeypatch.setattr(write_module.os, "replace", replace)
    with pytest.raises(WriteError) as raised:
        write_files(rendered("new"), tmp_path)
    assert raised.value.restored and snapshot(tmp_path) == before


def test_a_failed_removal_of_a_stale_file_leaves_the_directory_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    previous(tmp_path)
    before = snapshot(tmp_path)

    def unlink(self: Path, missing_ok: bool = False) -> None:
        if self.name == "zz-hardhouse-quotas.xml":
            raise OSError(13, "Permission denied", str(self))
        os.unlink(self) if not missing_ok or self.exists() or self.is_symlink() else None

    monkeypatch.setattr(write_module.Path, "unlink", unlink)
    with pytest.raises(WriteError):
        write_files(rendered("new"), tmp_path)
    monkeypatch.undo()
    assert snapshot(tmp_path) == before


def test_a_failed_first_render_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(write_module.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(5, "Input/output error")))
    with pytest.raises(WriteError):
        write_files(rendered("new"), tmp_path / "etc" / "clickhouse-server")
    assert snapshot(tmp_path) == {}


def test_a_symlink_in_the_way_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    (tmp_path / "out" / "users.d").mkdir(parents=True)
    (tmp_path / "out" / "users.d" / "zz-hardhouse-users.xml").symlink_to(victim)
    write_files(rendered("new"), tmp_path / "out")
    assert victim.read_text() == "keep me\n"
    assert not (tmp_path / "out" / "users.d" / "zz-hardhouse-users.xml").is_symlink()


def _write_many(out: str, tag: str, rounds: int) -> None:
    for _ in range(rounds):
        files = (
            rendered(tag)
            if tag == "a"
            else rendered(tag)[:2] + [RenderedFile("users.d/zz-hardhouse-profiles.xml", "<clickhouse/>\n")]
        )
        write_files(files, out)


def test_concurrent_renders_into_one_directory_never_mix(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_write_many, args=(str(tmp_path), tag, 40)) for tag in ("a", "b")]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
        assert writer.exitcode == 0
    names = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("zz-hardhouse-*")}
    contents = {p.read_text() for p in (tmp_path / "config.d").glob("zz-hardhouse-*")}
    assert names in (
        {"config.d/zz-hardhouse-listen.xml", "config.d/zz-hardhouse-ports.xml", "users.d/zz-hardhouse-users.xml"},
        {"config.d/zz-hardhouse-listen.xml", "config.d/zz-hardhouse-ports.xml", "users.d/zz-hardhouse-profiles.xml"},
    )
    assert len({c.split()[1] for c in contents}) == 1  # every config.d file from the same render
    assert not list(tmp_path.rglob("*.hardhouse-tmp"))


# ---------------------------------------------------------------- real mounts (root)


def render_in_namespace(tmp_path: Path, mount_options: str) -> subprocess.CompletedProcess[str]:
    """`hardhouse render` with OUT/users.d on a tmpfs of its own, in a private mount namespace."""
    require(
        os.geteuid() == 0 and shutil.which("unshare") is not None,
        "needs root and unshare(1) for a private mount namespace",
    )
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(VALID_SPEC))
    out = tmp_path / "out"
    script = (
        f'mount -t tmpfs -o size=1m,{mount_options} tmpfs "$1/users.d" && '
        f'exec "$2" -m hardhouse render --spec "$3" --out "$1"'
    )
    return subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
            str(out),
            sys.executable,
            str(spec),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **PASSWORDS},
        timeout=60,
    )


@pytest.mark.root
def test_users_d_on_its_own_filesystem_renders(tmp_path: Path) -> None:
    (tmp_path / "out" / "users.d").mkdir(parents=True)
    result = render_in_namespace(tmp_path, "rw")
    assert result.returncode == 0, result.stderr
    assert "Rendered" in result.stdout and not list((tmp_path / "out").rglob("*.hardhouse-tmp"))


@pytest.mark.root
def test_a_read_only_users_d_changes_nothing_and_says_so(tmp_path: Path) -> None:
    out = tmp_path / "out"
    previous(out)
    before = snapshot(out)
    result = render_in_namespace(tmp_path, "ro")
    assert result.returncode == 2 and "nothing was changed" in result.stderr, result.stderr
    assert snapshot(out) == before
