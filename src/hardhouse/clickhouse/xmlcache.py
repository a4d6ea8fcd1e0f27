"""Parsed configuration files kept by content, so that a file read again is copied, not parsed.

A deploy judges each host's tree four times (its users before going live, the audit, the
drift's expected tree, the users the spec does not declare), and a fleet's hosts share most of
their files (the package's config.xml and users.xml, hardhouse's rendered files): parsing was a
fifth of the deploy process's CPU in a 20-host re-proof. A file's tree is kept under the
SHA-256 of its bytes and the name it is shown as (its nodes' origins carry that name), and each
caller gets its own deep copy: the merge changes the trees it is given.

What a parse refuses is never kept, and a kept tree larger than the caller's element budget is
parsed again, so that the refusal and its message are the parser's own. Bounded: files up to
MAX_FILE_BYTES, MAX_KEPT_BYTES of them in all, the least recently used dropped first.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from hardhouse.clickhouse.xmltree import MAX_DEPTH, MAX_ELEMENTS, Element, count_elements, parse_bytes

MAX_FILE_BYTES = 256 * 1024  # larger files are parsed every time (no fleet shares such a file)
MAX_KEPT_BYTES = 8 * 1024 * 1024  # of source bytes kept; their trees take about ten times that

_lock = threading.Lock()  # the deploy's helper child parses from several threads
_kept: OrderedDict[tuple[bytes, str, int], tuple[Element, int, int]] = OrderedDict()
_kept_bytes = 0


def parse_kept(data: bytes, shown_as: str, *, max_depth: int = MAX_DEPTH, max_elements: int = MAX_ELEMENTS) -> Element:
    """parse_bytes(data, shown_as, ...), from a kept copy when these bytes were parsed before."""
    global _kept_bytes
    if len(data) > MAX_FILE_BYTES:
        return parse_bytes(data, shown_as, max_depth=max_depth, max_elements=max_elements)
    key = (hashlib.sha256(data).digest(), shown_as, max_depth)
    with _lock:
        kept = _kept.get(key)
        if kept is not None:
            _kept.move_to_end(key)
    if kept is not None and kept[1] <= max_elements:
        return kept[0].copy()
    root = parse_bytes(data, shown_as, max_depth=max_depth, max_elements=max_elements)
    if kept is None:
        with _lock:
            if key not in _kept:
                _kept[key] = (root.copy(), count_elements(root), len(data))
                _kept_bytes += len(data)
                while _kept_bytes > MAX_KEPT_BYTES:
                    _, (_, _, size) = _kept.popitem(last=False)
                    _kept_bytes -= size
    return root
