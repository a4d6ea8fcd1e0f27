"""Modern cluster renders (cluster secret, interserver rotation, Keeper over TLS) loaded into
ClickHouse 26.9's own config processor (chdb-core, embedded), and read back from its system
tables. The engine starts no Keeper, opens no port and replicates nothing: what is proven here is
that ClickHouse reads the rendered cluster, macros, interserver and Keeper settings as meant,
and that a weakened render reads differently under the same assertions."""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

import pytest
from lxml import etree

from hardhouse.embedded import run_as
from hardhouse.render import RenderedFile, render
from hardhouse.spec import load_spec

pytestmark = [pytest.mark.integration, pytest.mark.chdb]

ENVIRON = {
    name: secrets.token_urlsafe(24) for name in ("HH_ADMIN", "HH_SECRET", "HH_INTERSERVER", "HH_OLD", "HH_KEEPER")
}
HOSTS = ["ch1.logs.example", "ch2.logs.example", "ch3.logs.example"]
QUERIES = [
    "SELECT shard_num, replica_num, host_name, port, user FROM system.clusters WHERE cluster = 'logs' "
    "ORDER BY shard_num, replica_num",
    "SELECT macro, substitution FROM system.macros ORDER BY macro",
    "SELECT name, value FROM system.server_settings WHERE name IN "
    "('interserver_http_port', 'interserver_https_port', 'interserver_https_host', 'keeper_hosts') ORDER BY name",
]


def cluster_spec(**cluster: Any) -> dict[str, Any]:
    return {
        "clickhouse_version": "26.9",
        "listen_hosts": ["10.0.0.11"],
        "tls": {
            "certificate": "/etc/clickhouse-server/tls/server.crt",
            "private_key": "/etc/clickhouse-server/tls/server.key",
            "ca_certificate": "/etc/clickhouse-server/tls/ca.crt",
        },
        "users": [{"name": "admin", "password_env": "HH_ADMIN", "networks": ["127.0.0.1"]}],
        "cluster": {
            "name": "logs",
            "replica": HOSTS[0],
            "shards": [
                {"replicas": [{"host": HOSTS[0], "address": "10.0.0.11"}, {"host": HOSTS[1], "address": "10.0.0.12"}]},
                {"replicas": [{"host": HOSTS[2], "address": "10.0.0.13"}]},
            ],
            "secret_env": "HH_SECRET",
            "interserver": {
                "user": "replication",
                "password_env": "HH_INTERSERVER",
                "old": {"user": "replication_old", "password_env": "HH_OLD"},
            },
            "keeper": {"user": "clickhouse", "password_env": "HH_KEEPER"},
            **cluster,
        },
    }


def weaken(files: list[RenderedFile]) -> list[RenderedFile]:
    """Keeper clients in the clear, interserver over plaintext HTTP, Distributed over the plaintext port."""
    out = []
    for file in files:
        if "cluster" in file.path:
            root = etree.fromstring(file.content.encode())
            for element in root.findall("zookeeper/node/secure") + root.findall("remote_servers//replica/secure"):
                element.getparent().remove(element)
            for element in root.findall("remote_servers//replica/port"):
                element.text = "9000"
            for element in root.iterfind("interserver_https_port"):
                element.tag = "interserver_http_port"
            file = dataclasses.replace(file, content=etree.tostring(root, encoding="unicode"))
        out.append(file)
    return out


def read_back(files: list[RenderedFile]) -> list[list[dict[str, Any]]]:
    report = run_as(files, "admin", QUERIES, apply_sql=False)
    assert report.errors == [] and report.logged_in, (report.errors, report.login)
    assert all(outcome.ok for outcome in report.outcomes), report.outcomes
    return [outcome.rows for outcome in report.outcomes]


def problems(files: list[RenderedFile], user: str) -> list[str]:
    clusters, macros, settings = read_back(files)
    found = []
    if [(r["shard_num"], r["replica_num"], r["host_name"]) for r in clusters] != [
        (1, 1, HOSTS[0]),
        (1, 2, HOSTS[1]),
        (2, 1, HOSTS[2]),
    ]:
        found.append("cluster layout")
    if {r["port"] for r in clusters} != {9440} or {r["user"] for r in clusters} != {user}:
        found.append("distributed over native TLS")
    if macros != [
        {"macro": "cluster", "substitution": "logs"},
        {"macro": "replica", "substitution": HOSTS[0]},
        {"macro": "shard", "substitution": "01"},
    ]:
        found.append("macros")
    values = {r["name"]: r["value"] for r in settings}
    if values.get("interserver_http_port") != "0" or values.get("interserver_https_port") != "9010":
        found.append("interserver over HTTPS only")
    if values.get("interserver_https_host") != HOSTS[0]:
        found.append("interserver host")
    if values.get("keeper_hosts") != ",".join(f"secure://{host}:9281" for host in HOSTS):
        found.append("keeper over TLS")
    return found


def test_a_modern_cluster_render_reads_back_as_meant() -> None:
    # With the cluster secret, nodes present it instead of a user: ClickHouse lists the user as default.
    files = render(load_spec(cluster_spec()), ENVIRON)
    assert problems(files, "default") == []


def test_the_same_assertions_catch_a_weakened_modern_render() -> None:
    files = render(load_spec(cluster_spec()), ENVIRON)
    assert problems(weaken(files), "default") == [
        "distributed over native TLS",
        "interserver over HTTPS only",
        "keeper over TLS",
    ]


def test_a_per_shard_user_is_what_distributed_queries_log_in_as() -> None:
    spec = cluster_spec(secret_env=None, user="admin", password_env="HH_ADMIN")
    assert problems(render(load_spec(spec), ENVIRON), "admin") == []
