"""Where users.d takes grants, the cluster check queries through cluster() only as an owner
whose table functions include remote: any other owner is refused (REMOTE is a source grant,
given only as users[].table_functions names it), so the check says it was not run."""

from __future__ import annotations

from hardhouse.spec import load_spec
from hardhouse.verify.cluster import _may_use_remote
from tests.spec.test_cluster_spec import cluster_spec


def owners_spec(version: str, table_functions: list[str]):  # type: ignore[no-untyped-def]
    data = cluster_spec(version)
    data["users"][0]["table_functions"] = table_functions if version != "18.16" else []
    for reader in data["users"][1:]:
        reader["profile"] = "readonly"  # 18.16's readers are read-only profiles
    data["log_databases"] = {
        "applogs": {
            "tables": {"events": {"columns": {"ts": "DateTime", "message": "String"}, "time_column": "ts"}},
            "owners": [data["users"][0]["name"]],
            "readers": [user["name"] for user in data["users"][1:]],
            "retention_days": None,
        }
    }
    return load_spec(data)


def test_an_owner_naming_remote_is_the_one_that_queries_through_the_cluster() -> None:
    spec = owners_spec("24.8", ["remote"])
    owner = spec.users[0].name
    assert _may_use_remote(spec, {"applogs": owner}) == {"applogs": owner}


def test_an_owner_without_remote_is_not_used_where_grants_exist() -> None:
    spec = owners_spec("24.8", ["url"])
    assert _may_use_remote(spec, {"applogs": spec.users[0].name}) == {}


def test_before_grants_every_owner_may_query_through_the_cluster() -> None:
    spec = owners_spec("18.16", [])
    assert _may_use_remote(spec, {"applogs": spec.users[0].name}) == {"applogs": spec.users[0].name}
