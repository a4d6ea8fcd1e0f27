"""The shared bounded reader (hardhouse.bounded_file) refuses what is not a regular file without
blocking, keeps its limit by the bytes it reads, and names the path as shown and the limit.
Each test would fail against a reader that trusted st_size, followed a link it was told not
to, or opened a FIFO blocking (the FIFO test runs under a timeout of its own)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hardhouse.bounded_file import CannotOpen, NotRegularFile, TooLarge, read_bounded
from tests.helpers import outcome_within


def test_a_regular_file_within_the_limit_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    assert read_bounded(path, 100) == b"x" * 100
    assert read_bounded(path, 1000) == b"x" * 100


def test_a_fifo_without_a_writer_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    refused = outcome_within(lambda: read_bounded(fifo, 10, shown_as="shown/fifo"))
    assert isinstance(refused, NotRegularFile)
    assert str(refused) == "shown/fifo: is a FIFO, not a regular file"


def test_a_device_is_refused_without_reading_it() -> None:
    with pytest.raises(NotRegularFile) as refused:
        read_bounded("/dev/zero", 10)
    assert str(refused.value) == "/dev/zero: is a character device, not a regular file"


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotRegularFile, match="is a directory, not a regular file"):
        read_bounded(tmp_path, 10)


def test_a_symbolic_link_is_followed_unless_the_caller_says_not_to(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"secret-free")
    link = tmp_path / "link"
    link.symlink_to(target)
    assert read_bounded(link, 100) == b"secret-free"
    with pytest.raises(NotRegularFile) as refused:
        read_bounded(link, 100, shown_as="link", follow_symlinks=False)
    assert str(refused.value) == "link: is a symbolic link, not a regular file"
    # A link to a device is judged by what it reaches, not by the link.
    (tmp_path / "zero").symlink_to("/dev/zero")
    with pytest.raises(NotRegularFile, match="character device"):
        read_bounded(tmp_path / "zero", 10)


def test_a_file_larger_than_the_limit_names_its_size_and_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"x" * 11)
    with pytest.raises(TooLarge) as refused:
        read_bounded(path, 10, shown_as="big.xml")
    assert (refused.value.size, refused.value.limit) == (11, 10)
    assert str(refused.value) == "big.xml: 11 bytes, larger than the limit of 10 bytes"


def test_a_file_growing_past_the_limit_after_fstat_is_refused_by_the_bytes_read(tmp_path: Path) -> None:
    path = tmp_path / "growing"
    path.write_bytes(b"x" * 5)

    def grow(info: os.stat_result) -> None:  # runs after fstat said 5 bytes, before the read
        assert info.st_size == 5
        with path.open("ab") as handle:
            handle.write(b"y" * 100)

    with pytest.raises(TooLarge) as refused:
        read_bounded(path, 10, judge=grow)
    assert refused.value.size is None
    assert str(refused.value) == f"{path}: larger than the limit of 10 bytes"


def test_a_file_whose_stat_size_is_zero_is_still_bounded() -> None:
    """/proc files say st_size 0 and have content: only counting the bytes read bounds them."""
    assert os.stat("/proc/self/status").st_size == 0
    with pytest.raises(TooLarge):
        read_bounded("/proc/self/status", 16)


def test_a_missing_file_says_so_and_a_judge_refusal_propagates(tmp_path: Path) -> None:
    with pytest.raises(CannotOpen) as refused:
        read_bounded(tmp_path / "absent", 10, shown_as="absent")
    assert refused.value.missing and str(refused.value) == "absent: does not exist"
    path = tmp_path / "f"
    path.write_bytes(b"x" * 50)

    class Mine(Exception):
        pass

    def refuse(info: os.stat_result) -> None:
        raise Mine

    with pytest.raises(Mine):  # judged before the size: the caller's policy comes first
        read_bounded(path, 10, judge=refuse)
