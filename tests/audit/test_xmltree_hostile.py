"""Configuration trees that fight back, read by `hardhouse audit` in a child capped in memory
and time (tests.helpers.run_cli_capped): entity bombs, external entities, huge and endless
files, deep nesting, element floods (in one file and across files, and through includes),
binary junk, hostile file names, symbolic links out of the tree, FIFOs and too many files.
Each must end briefly with exit 2 and a message naming the file (and line), never a
traceback, an exhausted machine or a hang."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from hardhouse.audit.files import MAX_MERGE_FILES
from hardhouse.clickhouse.xmltree import DEFAULT_MAX_BYTES, MAX_DEPTH, MAX_ELEMENTS
from tests.helpers import assert_refused_briefly, run_cli_capped

# Each test runs the audit in a capped child; the floods and bombs take seconds.
pytestmark = pytest.mark.slow

USERS = "<yandex><users><default><password_sha256_hex>{}</password_sha256_hex></default></users></yandex>".format(
    "a" * 64
)


def tree(tmp_path: Path, config: bytes | str = "<yandex/>", files: dict[str, bytes | str] | None = None) -> Path:
    root = tmp_path / "etc"
    root.mkdir()
    for name, content in {"config.xml": config, "users.xml": USERS, **(files or {})}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def audit(root: Path) -> Any:
    return run_cli_capped("audit", str(root))


def read(result: Any) -> str:
    """The tree was read: the audit ran (its verdict does not matter here)."""
    output = (result.stdout + result.stderr).decode("utf-8", "replace")
    assert result.returncode in (0, 1), output[:2000]
    assert "Traceback" not in output
    return output


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE yandex [
  <!ENTITY a "lollollollollollollollollollol">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
  <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
  <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
  <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
  <!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
  <!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">
  <!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;">
  <!ENTITY i "&h;&h;&h;&h;&h;&h;&h;&h;&h;&h;">
]>
<yandex><listen_host>&i;</listen_host></yandex>
"""


def test_an_entity_bomb_is_refused_at_its_doctype(tmp_path: Path) -> None:
    assert_refused_briefly(
        audit(tree(tmp_path, files={"config.d/bomb.xml": BILLION_LAUGHS})),
        "config.d/bomb.xml:2: DOCTYPE declaration refused",
    )


def test_an_external_entity_is_never_fetched(tmp_path: Path) -> None:
    external = '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY p SYSTEM "file:///etc/passwd">]>\n<yandex>&p;</yandex>'
    output = assert_refused_briefly(audit(tree(tmp_path, external)), "config.xml:2: DOCTYPE declaration refused")
    assert "root:" not in output


def test_an_undeclared_entity_is_a_parse_error(tmp_path: Path) -> None:
    assert_refused_briefly(audit(tree(tmp_path, "<yandex>\n<a>&lol;</a></yandex>")), "config.xml:2: undefined entity")


def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    root = tree(tmp_path)
    big = root / "config.d" / "big.xml"
    big.parent.mkdir()
    with big.open("wb") as handle:  # sparse: 64 GiB claimed, nothing to read until someone tries
        handle.truncate(64 << 30)
    assert_refused_briefly(audit(root), "config.d/big.xml", f"larger than the limit of {DEFAULT_MAX_BYTES} bytes")


def test_a_device_or_fifo_as_config_is_refused_without_hanging(tmp_path: Path) -> None:
    root = tree(tmp_path)
    (root / "config.xml").unlink()
    os.mkfifo(root / "config.xml")
    assert_refused_briefly(audit(root), "config.xml: is a FIFO, not a regular file")


def test_a_fifo_in_config_d_is_skipped_as_clickhouse_does(tmp_path: Path) -> None:
    root = tree(tmp_path, files={"config.d/ok.xml": "<yandex/>"})
    os.mkfifo(root / "config.d" / "pipe.xml")
    read(audit(root))


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    depth = 200_000
    assert_refused_briefly(
        audit(tree(tmp_path, "<yandex>" + "<a>" * depth + "</a>" * depth + "</yandex>")),
        f"config.xml:1: elements nested deeper than {MAX_DEPTH} levels",
    )


def test_an_element_flood_is_refused(tmp_path: Path) -> None:
    flood = "<yandex>\n" + "<a/>" * (MAX_ELEMENTS + 1) + "</yandex>"
    assert len(flood) < DEFAULT_MAX_BYTES
    assert_refused_briefly(audit(tree(tmp_path, flood)), "config.xml:2: more than 1000000 elements")


def test_an_element_flood_across_files_is_refused(tmp_path: Path) -> None:
    part = "<yandex>" + "<a/>" * 400_000 + "</yandex>"
    output = assert_refused_briefly(
        audit(tree(tmp_path, files={f"config.d/{n}.xml": part for n in "abc"})),
        "config.d/c.xml",
        "all files of the configuration together",
    )
    assert "elements" in output


def test_an_include_bomb_is_refused(tmp_path: Path) -> None:
    layers = "".join(f'<l{n}><a incl="l{n + 1}"/><b incl="l{n + 1}"/></l{n}>' for n in range(40))
    root = tree(tmp_path, "", files={"subst.xml": f"<yandex>{layers}<l40>lol</l40></yandex>"})
    (root / "config.xml").write_text(f'<yandex>\n<include_from>{root}/subst.xml</include_from><x incl="l0"/></yandex>')
    assert_refused_briefly(audit(root), "subst.xml:1: includes make more than 100000 substitutions")


def test_an_include_loop_is_refused(tmp_path: Path) -> None:
    root = tree(tmp_path, "", files={"subst.xml": '<yandex><loop><again incl="loop"/></loop></yandex>'})
    (root / "config.xml").write_text(f'<yandex><include_from>{root}/subst.xml</include_from><x incl="loop"/></yandex>')
    assert_refused_briefly(audit(root), "includes nest the configuration deeper than 100 levels")


@pytest.mark.parametrize(
    ("junk", "line"),
    [
        (b"<yandex>\n<a>\xff\xfe\x00\x01</a></yandex>", 2),
        (b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)), 1),
        (b"<yandex>\n\n<a>caf\xe9</a></yandex>", 3),  # Latin-1 in a file that says nothing: not UTF-8
        (b"<yandex><a>\x1b[31m</a></yandex>", 1),  # control characters are not XML
        (b"", 1),
    ],
)
def test_binary_junk_is_a_clean_error_with_file_and_line(tmp_path: Path, junk: bytes, line: int) -> None:
    assert_refused_briefly(audit(tree(tmp_path, files={"config.d/junk.xml": junk})), f"config.d/junk.xml:{line}:")


def test_control_characters_in_a_file_name_are_refused(tmp_path: Path) -> None:
    root = tree(tmp_path)
    (root / "config.d").mkdir()
    (root / "config.d" / "zz\x1b[2K\rok.xml").write_text("<yandex><listen_host>0.0.0.0</listen_host></yandex>")
    output = assert_refused_briefly(audit(root), "control characters", "\\x1b")
    assert "\x1b" not in output


def test_a_symlink_out_of_the_tree_is_refused_by_name(tmp_path: Path) -> None:
    root = tree(tmp_path)
    (tmp_path / "elsewhere.xml").write_text("<yandex/>")
    (root / "config.d").mkdir()
    (root / "config.d" / "link.xml").symlink_to(tmp_path / "elsewhere.xml")
    assert_refused_briefly(audit(root), "config.d/link.xml: a symbolic link to", "outside the audited tree")


def test_a_symlink_to_a_device_is_refused(tmp_path: Path) -> None:
    root = tree(tmp_path)
    (root / "config.d").mkdir()
    (root / "config.d" / "zero.xml").symlink_to("/dev/zero")
    assert_refused_briefly(audit(root), "config.d/zero.xml: a symbolic link to /dev/zero")


def test_a_symlinked_merge_directory_out_of_the_tree_is_refused(tmp_path: Path) -> None:
    root = tree(tmp_path)
    (tmp_path / "outside").mkdir()
    (root / "config.d").symlink_to(tmp_path / "outside")
    assert_refused_briefly(audit(root), "config.d: a symbolic link to")


def test_a_symlink_inside_the_tree_is_followed(tmp_path: Path) -> None:
    root = tree(tmp_path, files={"shared/x.xml": "<yandex><display_name>via-link</display_name></yandex>"})
    (root / "config.d").mkdir()
    (root / "config.d" / "x.xml").symlink_to(root / "shared" / "x.xml")
    read(audit(root))


def test_a_dangling_symlink_is_refused(tmp_path: Path) -> None:
    root = tree(tmp_path)
    (root / "config.d").mkdir()
    (root / "config.d" / "gone.xml").symlink_to(root / "nothing.xml")
    assert_refused_briefly(audit(root), "config.d/gone.xml: a dangling symbolic link")


def test_too_many_merge_files_are_refused(tmp_path: Path) -> None:
    root = tree(tmp_path)
    (root / "conf.d").mkdir()
    for n in range(MAX_MERGE_FILES + 1):
        (root / "conf.d" / f"{n:04}.xml").write_text("<yandex/>")
    assert_refused_briefly(audit(root), f"conf.d: more than {MAX_MERGE_FILES} configuration files")


def test_an_include_file_outside_the_tree_is_not_read(tmp_path: Path) -> None:
    root = tree(tmp_path, '<yandex><include_from>/dev/zero</include_from><x incl="a"/></yandex>')
    read(audit(root))  # reported as not resolvable, never opened
