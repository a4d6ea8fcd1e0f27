"""hardhouse.clickhouse.xmlcache: a file parsed again gives what parsing it gives, as a tree of
its own; what a parse refuses is refused again, with the parser's own message."""

from __future__ import annotations

import pytest

from hardhouse.clickhouse import xmlcache
from hardhouse.clickhouse.xmltree import Element, Text, XmlInputError, copy_node, parse_bytes

DOCUMENT = b"<clickhouse>\n  <!-- note -->\n  <a x='1'>one</a>\n  <b><![CDATA[two]]></b>\n</clickhouse>\n"


@pytest.fixture(autouse=True)
def _empty_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xmlcache, "_kept", type(xmlcache._kept)())
    monkeypatch.setattr(xmlcache, "_kept_bytes", 0)


def _shape(node: object) -> object:
    """Everything a node holds, origins included, as plain values."""
    if isinstance(node, Element):
        return (node.tag, node.attrs, str(node.origin), node.unresolved, [_shape(c) for c in node.children])
    assert isinstance(node, Text) or hasattr(node, "value")
    return (type(node).__name__, node.value, str(node.origin), getattr(node, "cdata", None))


def test_a_kept_file_gives_the_parsers_tree_each_time() -> None:
    expected = _shape(parse_bytes(DOCUMENT, "config.xml"))
    first = xmlcache.parse_kept(DOCUMENT, "config.xml")
    second = xmlcache.parse_kept(DOCUMENT, "config.xml")
    assert _shape(first) == _shape(second) == expected
    assert len(xmlcache._kept) == 1


def test_each_caller_gets_its_own_tree() -> None:
    first = xmlcache.parse_kept(DOCUMENT, "config.xml")
    first.children.clear()  # the merge changes the trees it is given
    first.attrs["changed"] = "yes"
    second = xmlcache.parse_kept(DOCUMENT, "config.xml")
    assert _shape(second) == _shape(parse_bytes(DOCUMENT, "config.xml"))
    second.find("a").attrs["x"] = "2"  # type: ignore[union-attr]
    assert xmlcache.parse_kept(DOCUMENT, "config.xml").find("a").attrs == {"x": "1"}  # type: ignore[union-attr]


def test_the_name_shown_is_part_of_the_key() -> None:
    xmlcache.parse_kept(DOCUMENT, "config.xml")
    other = xmlcache.parse_kept(DOCUMENT, "config.d/copy.xml")
    assert other.origin.file == "config.d/copy.xml"
    assert {str(node.origin.file) for node in other.iter()} == {"config.d/copy.xml"}


def test_a_tree_over_the_callers_element_budget_is_refused_as_the_parser_refuses_it() -> None:
    xmlcache.parse_kept(DOCUMENT, "config.xml")  # kept: 3 elements
    with pytest.raises(XmlInputError) as from_parser:
        parse_bytes(DOCUMENT, "config.xml", max_elements=2)
    with pytest.raises(XmlInputError) as from_cache:
        xmlcache.parse_kept(DOCUMENT, "config.xml", max_elements=2)
    assert str(from_cache.value) == str(from_parser.value)


def test_a_refused_file_is_not_kept() -> None:
    hostile = b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    for _ in range(2):
        with pytest.raises(XmlInputError, match="refused"):
            xmlcache.parse_kept(hostile, "config.xml")
    assert len(xmlcache._kept) == 0


def test_bounded_in_bytes_least_recently_used_first(monkeypatch: pytest.MonkeyPatch) -> None:
    documents = [b"<c>" + bytes(str(n), "ascii") * 100 + b"</c>" for n in range(5)]
    monkeypatch.setattr(xmlcache, "MAX_KEPT_BYTES", 2 * len(documents[0]) + 10)
    for document in documents[:2]:
        xmlcache.parse_kept(document, "f.xml")
    xmlcache.parse_kept(documents[0], "f.xml")  # used again: the second is now the oldest
    xmlcache.parse_kept(documents[2], "f.xml")
    kept_texts = {copy_node(root).text for root, _, _ in xmlcache._kept.values()}  # type: ignore[union-attr]
    assert kept_texts == {"0" * 100, "2" * 100}
    assert xmlcache._kept_bytes <= xmlcache.MAX_KEPT_BYTES


def test_a_large_file_is_parsed_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xmlcache, "MAX_FILE_BYTES", 10)
    assert xmlcache.parse_kept(DOCUMENT, "config.xml").tag == "clickhouse"
    assert len(xmlcache._kept) == 0
