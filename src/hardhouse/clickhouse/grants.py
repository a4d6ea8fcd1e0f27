"""GRANT queries users.d takes (23.6+): table functions by the source privilege each needs, and
the rights a users.xml user is denied unless its config turns them on.

Each table function (and the table engine of the same name) needs its source privilege;
ClickHouse groups them all under SOURCES. The names are the ones both 23.6 and 26.9 accept:
26.9 reports a missing one as "READ ON URL" but takes `GRANT URL ON *.*` (checked in embedded
26.9). NAMED COLLECTION CONTROL is 23.6's name; later releases keep it as an alias of NAMED
COLLECTION ADMIN.
"""

from __future__ import annotations

# Spec name (as users[].table_functions writes it) -> the source privilege.
SOURCE_PRIVILEGES: dict[str, str] = {
    "url": "URL",
    "file": "FILE",
    "s3": "S3",
    "remote": "REMOTE",
    "mysql": "MYSQL",
    "postgresql": "POSTGRES",
    "hdfs": "HDFS",
    "jdbc": "JDBC",
    "odbc": "ODBC",
    "sqlite": "SQLITE",
}

# ALL ON a database includes creating users and named collections scoped to it; a users.xml
# user without grants is denied both (access_management and named_collection_control, which
# hardhouse never turns on), so every GRANT ALL is followed by these.
NO_ACCESS_MANAGEMENT: tuple[str, ...] = (
    "REVOKE ACCESS MANAGEMENT ON *.*",
    "REVOKE NAMED COLLECTION CONTROL ON *.*",
)

# What a users.xml user with neither grants nor allow_databases holds, without the sources.
ALL_BUT_SOURCES: tuple[str, ...] = ("GRANT ALL ON *.*", *NO_ACCESS_MANAGEMENT, "REVOKE SOURCES ON *.*")


def database_grants(databases: list[str]) -> list[str]:
    """ALL on each database and nothing global: what an allow-list of databases should mean."""
    return [f"GRANT ALL ON {database}.*" for database in databases] + list(NO_ACCESS_MANAGEMENT)


def source_grants(table_functions: list[str]) -> list[str]:
    """GRANT queries for the named table functions, in the spec's order."""
    return [f"GRANT {SOURCE_PRIVILEGES[name]} ON *.*" for name in table_functions]
