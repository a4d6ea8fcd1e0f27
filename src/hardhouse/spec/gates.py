"""A field asked for on a target that lacks its feature: the refusal every section's
cross-checks give, worded from hardhouse.clickhouse.versions."""

from __future__ import annotations

from hardhouse.clickhouse import versions
from hardhouse.spec.errors import Problem


def needs(feature: str, version: versions.Version, path: str, fix: str) -> Problem | None:
    """None where the target has the feature, else the problem at path with fix."""
    if versions.has(version, feature):
        return None
    return Problem(path, versions.needs_message(feature, version), fix)
