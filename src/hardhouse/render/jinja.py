"""The one Jinja environment every concern's template is rendered with.

Compiling the templates costs about 2.5 ms each (30 ms for a sandbox host's twelve), in every
process that renders: a deploy's pyinfra process, while it plans the hosts and nothing else
works, and its helper. Jinja's own bytecode cache keeps them compiled between runs, in the
directory Jinja makes for this user (in the temporary directory, this user's alone, mode
0700: Jinja refuses any other). An entry names its template's path and is used only while the
template's text is the same; templates hold no values, so no secret is in it. A cache that
cannot be made, read or written leaves the render as it was, only slower.
"""

from __future__ import annotations

import hashlib
from functools import cache

import jinja2

# How the templates are compiled (with the autoescaping below): part of every cache entry's
# name, with Jinja's version, so a change to either never meets code compiled the old way.
OPTIONS = {"keep_trailing_newline": True, "trim_blocks": True, "lstrip_blocks": True}
AUTOESCAPED, NOT_ESCAPED = ("xml.j2",), ("sql.j2",)
COMPILED_AS = hashlib.sha256(repr((jinja2.__version__, sorted(OPTIONS.items()), AUTOESCAPED, NOT_ESCAPED)).encode())


class _Compiled(jinja2.FileSystemBytecodeCache):
    """Jinja's file cache, never failing a render: what it cannot read it compiles again, what
    it cannot write it leaves out."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # a damaged entry (pickle and marshal raise their own kinds)
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def compiled_cache(directory: str | None = None) -> jinja2.BytecodeCache | None:
    """The cache in `directory`, or in Jinja's directory for this user; None when Jinja finds
    no safe one (a directory of that name someone else owns or may write)."""
    try:
        return _Compiled(directory, f"__hardhouse_{COMPILED_AS.hexdigest()[:16]}_%s.cache")
    except (RuntimeError, OSError):
        return None


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("hardhouse.render", "templates"),
        undefined=jinja2.StrictUndefined,  # a missing value is a bug, never an empty element
        # every value in an XML template is XML-escaped; SQL templates get only identifiers and
        # types the spec has already restricted to characters that need no quoting
        autoescape=jinja2.select_autoescape(
            enabled_extensions=AUTOESCAPED, disabled_extensions=NOT_ESCAPED, default=True
        ),
        # The templates are the package's own files: no need to look at them again on each use.
        auto_reload=False,
        bytecode_cache=compiled_cache(),
        **OPTIONS,
    )
