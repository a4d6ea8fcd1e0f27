"""ClickHouse version profiles and the features each one has.

A spec names its target with `clickhouse_version` ("major.minor"). The renderer asks
`has(version, feature)` instead of comparing numbers itself, so every version gate lives
in the FEATURES table below, with the version it needs and how that was checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple


class Version(NamedTuple):
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


VERSION_PATTERN = re.compile(r"^(\d{1,2})\.(\d{1,2})$")

# 18.16 is Debian bookworm's server, the one that runs live on this project's machines.
LEGACY = Version(18, 16)
# 22.8 is the oldest LTS still met in the field; 26.x is what chdb-core embeds.
MODERN_MIN = Version(22, 8)
MODERN_MAX_MAJOR = 26

SUPPORTED_TEXT = "18.16, or 22.8 through 26.x"


def parse_version(text: str) -> Version:
    """Parse "major.minor"; raise ValueError with the fix when it is not a supported one."""
    match = VERSION_PATTERN.match(text.strip())
    if not match:
        raise ValueError(f'"{text}" is not of the form major.minor (e.g. "24.8")')
    version = Version(int(match.group(1)), int(match.group(2)))
    if version != LEGACY and not (MODERN_MIN <= version and version.major <= MODERN_MAX_MAJOR):
        raise ValueError(f"ClickHouse {version} is not a supported target ({SUPPORTED_TEXT})")
    return version


@dataclass(frozen=True)
class Feature:
    since: Version
    what: str
    verified: str


# Each entry: the oldest supported profile that has the feature, and how we know.
FEATURES: dict[str, Feature] = {
    "mysql_port": Feature(
        MODERN_MIN, "the MySQL compatibility port (mysql_port)", "absent from 18.16's config.xml"
    ),
    "postgresql_port": Feature(
        MODERN_MIN,
        "the PostgreSQL compatibility port (postgresql_port)",
        "absent from 18.16's config.xml",
    ),
    "grpc_port": Feature(MODERN_MIN, "the gRPC port (grpc_port)", "absent from 18.16's config.xml"),
    "access_management": Feature(
        MODERN_MIN,
        "SQL-driven access management (access_management)",
        "18.16 has no SQL RBAC; parsed by the embedded 26.9 engine",
    ),
}


def has(version: Version, feature: str) -> bool:
    return version >= FEATURES[feature].since


def needs_message(feature: str, version: Version) -> str:
    """The sentence that tells a user which version a feature needs."""
    info = FEATURES[feature]
    return f"{info.what} needs ClickHouse {info.since} or later; clickhouse_version is {version}"
