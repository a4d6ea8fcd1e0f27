"""The hardening spec (public contract v1): the root model, HardeningSpec, made of one module
per section, and the order in which the sections' cross-checks run.

Each section module holds its pydantic models with every default and its reason (`why`), the
rules that span its fields, and what the section means for a target (decisions the cross-checks
and the renderer both take): hardhouse.spec.network (listen_hosts, ports, tls),
hardhouse.spec.users (users, quotas, password_hash, password_policy ...), hardhouse.spec.masking,
hardhouse.spec.log_databases, hardhouse.spec.cluster, hardhouse.spec.settings (profiles and their
locks, system_logs, server_limits), hardhouse.spec.http and hardhouse.spec.egress. Rules for
single strings live in hardhouse.spec.fields. The README's field reference is generated from
these Field declarations, in the order HardeningSpec lists them (hardhouse.spec.reference).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import field_validator

from hardhouse.clickhouse import versions
from hardhouse.spec import cluster, egress, log_databases, masking, network, redaction, settings, users
from hardhouse.spec.cluster import Cluster
from hardhouse.spec.declare import StrictModel, described
from hardhouse.spec.egress import Egress
from hardhouse.spec.errors import Problem, excerpt
from hardhouse.spec.fields import fail
from hardhouse.spec.gates import Gate
from hardhouse.spec.http import HttpSurface
from hardhouse.spec.log_databases import LogDatabases
from hardhouse.spec.masking import QueryMasking
from hardhouse.spec.network import ListenHosts, Ports, Tls
from hardhouse.spec.settings import Profiles, ServerLimits, SystemLogs
from hardhouse.spec.users import PasswordHash, PasswordPolicy, Quotas, UndeclaredUsers, Users

# The shape of a version, checked before parsing: "24.8\n" or " 24.8" is not canonical.
VERSION_SHAPE = re.compile(r"[0-9]{1,2}\.[0-9]{1,2}")


class HardeningSpec(StrictModel):
    clickhouse_version: str = described(
        description=f'target server, "major.minor" ({versions.SUPPORTED_TEXT})',
        why="features the target lacks are refused instead of silently ignored",
    )
    listen_hosts: ListenHosts = described(
        description="addresses the server listens on (IP addresses; an IPv6 zone such as %eth0 may follow)",
        why="the stock config listens wherever its packager chose; say where",
    )
    allow_all_interfaces: bool = described(
        False,
        description="permit 0.0.0.0, :: or ::ffff:0.0.0.0 in listen_hosts",
        why="listening on every interface is how the incident's server was exposed",
    )
    ports: Ports = described(default_factory=Ports, description="ports to open; null closes one")
    tls: Tls | None = described(None, description="TLS material and policy; required when a TLS port is open")
    default_user: Literal["remove", "lock"] = described(
        "remove",
        description="fate of the stock passwordless default user",
        why="the stock default user has no password and accepts any address",
    )
    undeclared_users: UndeclaredUsers = described(
        "refuse",
        description=(
            "users the host already has that the spec does not declare (an application's own, from users.xml or "
            "users.d; not default, which default_user decides): refuse fails the deploy before going live, naming "
            'each with its file:line; remove deletes them by name (remove="1"); keep leaves them, judged by every '
            "control like any user, so a failing one needs a waiver (hardhouse_waivers)"
        ),
        why="adopting hardhouse on a server must neither lock an application out nor leave it open without saying so",
    )
    users: Users = described(description="accounts, each with a password and networks")
    profiles: Profiles = described(
        default_factory=dict,
        description=(
            "settings profiles by name: {setting: value}, and optionally constraints: {setting: {min, max, "
            "readonly}} as in ClickHouse (22.8+); {} leaves a setting free"
        ),
    )
    quotas: Quotas = described(default_factory=dict, description="quotas by name (one interval each)")
    password_hash: PasswordHash = described(
        "auto",
        description=(
            "how passwords are stored: auto is scram_sha256 where the target reads it (26.9+) and the password is "
            "given as plaintext source, else sha256; bcrypt is refused (ClickHouse reads it only for SQL users)"
        ),
        why="PBKDF2 with 4096 rounds costs a stolen users.d file 4096 times more per guess than bare SHA-256",
    )
    refuse_insecure_auth: Annotated[
        bool | None,
        Gate("refuse_insecure_auth", "set refuse_insecure_auth: null (or false), or target a newer clickhouse_version"),
    ] = described(
        None,
        description=(
            "server-wide: refuse users with no password or a plaintext one (allow_no_password, "
            "allow_plaintext_password 0); null: where the target has it (22.8+)"
        ),
        why="a passwordless user added later by hand must stop the server, not open it",
    )
    query_masking: QueryMasking = described(
        default_factory=QueryMasking,
        description="masking of secrets in query logs and server logs",
    )
    log_databases: LogDatabases = described(
        default_factory=dict, description="log databases by name: tables, retention, who may write, read or own them"
    )
    cluster: Cluster | None = described(
        None,
        description="replicated cluster: shards and replicas, interserver HTTPS with credentials, remote_servers, "
        "ZooKeeper or Keeper; null: a single server",
    )
    lock_profile_settings: Annotated[
        bool | None,
        Gate(
            "settings_constraints",
            "set it to null or false; on 18.16 only readonly: 1 keeps a user from changing settings "
            "(and from writing), readonly: 2 does not stop SET; or target a newer clickhouse_version",
            note="; 18.16 stops at start on a profile with constraints",
        ),
    ] = described(
        None,
        description=(
            "every setting a profile sets becomes a constraint (a number n >= 1: min 1, max n; anything else: "
            "readonly), and log_queries 1 and format_display_secrets_in_show_and_select 0 are added locked; a "
            "profile's own constraints win; null: where the target has constraints (22.8+)"
        ),
        why="a limit the user can SET away is no limit: a leaked credential would lift it, or switch query logging off",
    )
    system_logs: SystemLogs = described(
        default_factory=SystemLogs, description="retention of the server's own log tables, and the login log"
    )
    server_limits: ServerLimits = described(
        default_factory=ServerLimits, description="limits against abuse: connections, queries, idle keep-alive"
    )
    http: HttpSurface = described(
        default_factory=HttpSurface, description="what the HTTP interface shows browsers and clients"
    )
    egress: Egress = described(
        default_factory=Egress, description="where table functions may reach: remote hosts, local files, crash reports"
    )
    password_policy: PasswordPolicy = described(
        default_factory=PasswordPolicy, description="server-side rules for passwords set through SQL"
    )

    @field_validator("clickhouse_version", mode="before")
    @classmethod
    def version_text(cls, value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise fail(
                f"{excerpt(value)} is a number, not a version string",
                'quote it, e.g. clickhouse_version: "24.8" (YAML reads 22.10 as 22.1)',
            )
        if isinstance(value, str):
            if not VERSION_SHAPE.fullmatch(value):
                raise fail(
                    f"{excerpt(value)} is not of the form major.minor",
                    f'use one of the supported targets: {versions.SUPPORTED_TEXT}, e.g. "24.8"',
                )
            try:
                versions.parse_version(value)
            except ValueError as error:
                raise fail(str(error), f"use one of the supported targets: {versions.SUPPORTED_TEXT}") from None
        return value

    @property
    def version(self) -> versions.Version:
        return versions.parse_version(self.clickhouse_version)

    def tls_ports_open(self) -> bool:
        return self.ports.https is not None or self.ports.native_tls is not None


# Each section's rules that span fields, run once the structure is valid, in the order their
# problems have always been reported in.
SECTION_CHECKS: tuple[Callable[[HardeningSpec], list[Problem]], ...] = (
    network.checks,
    users.checks,
    masking.checks,
    log_databases.checks,
    cluster.checks,
    settings.checks,
    log_databases.reader_limit_checks,
    redaction.checks,
    egress.checks,
    users.password_policy_checks,
)


def cross_checks(spec: HardeningSpec) -> list[Problem]:
    """Rules that span several fields; each problem names the field to change and how."""
    return [problem for check in SECTION_CHECKS for problem in check(spec)]
