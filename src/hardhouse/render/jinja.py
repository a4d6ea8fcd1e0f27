"""The one Jinja environment every concern's template is rendered with."""

from __future__ import annotations

from functools import cache

import jinja2


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("hardhouse.render", "templates"),
        undefined=jinja2.StrictUndefined,  # a missing value is a bug, never an empty element
        # every value in an XML template is XML-escaped; SQL templates get only identifiers and
        # types the spec has already restricted to characters that need no quoting
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("xml.j2",), disabled_extensions=("sql.j2",), default=True
        ),
        keep_trailing_newline=True,
        # The templates are the package's own files: no need to look at them again on each use.
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
