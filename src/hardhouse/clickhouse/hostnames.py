"""How a host is named wherever hardhouse reads a name: a cluster's replicas and ZooKeeper
nodes in the spec, and the probe's targets. One grammar for both: dot-separated labels of
letters, digits and '-' (not first or last), each at most 63 characters, at most 253 in all
(RFC 1123). The one difference is said where it is used: a probe target may also hold '_',
as names from container networks and /etc/hosts do, where a spec's name must be one that DNS
serves to every peer."""

from __future__ import annotations

import re

NAME_MAX = 253


def _pattern(extra: str) -> re.Pattern[str]:
    label = rf"[A-Za-z0-9{extra}](?:[A-Za-z0-9{extra}-]{{0,61}}[A-Za-z0-9{extra}])?"
    return re.compile(rf"{label}(?:\.{label})*")


DNS_NAME = _pattern("")
RESOLVER_NAME = _pattern("_")


def host_name_problem(text: str, *, underscore: bool = False) -> str | None:
    """Why text is not a host name, or None. underscore: also accept '_' in a label."""
    if not 1 <= len(text) <= NAME_MAX:
        return f"is not 1 to {NAME_MAX} characters long"
    if not (RESOLVER_NAME if underscore else DNS_NAME).fullmatch(text):
        return "is not a host name (labels of letters, digits and '-', joined by '.')"
    return None
