"""The cluster section: bad input names its field and writes nothing; secrets stay in the
secrets file; v1 specs are untouched; the audit rules for clusters fire on weakened trees."""

from __future__ import annotations

import copy
import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from hardhouse.audit.drift import is_secret
from hardhouse.audit.merge import read_server_tree
from hardhouse.audit.rules import RULES
from hardhouse.cli import main
from hardhouse.render import render, write_files
from hardhouse.spec import load_spec
from hardhouse.spec.errors import SpecError
from tests.helpers import PASSWORDS, VALID_SPEC, write_password_file

SECRETS = {
    name: secrets.token_urlsafe(24) for name in ("CH_CLUSTER_PASSWORD", "CH_INTERSERVER_PASSWORD", "CH_ZK_PASSWORD")
}
ENVIRON = {**PASSWORDS, **SECRETS, "CH_CLUSTER_SECRET": secrets.token_urlsafe(24)}
SECRETS_FILE = "config.d/zz-hardhouse-cluster-secrets.xml"


def cluster_spec(version: str = "18.16") -> dict[str, Any]:
    spec = copy.deepcopy(VALID_SPEC)
    spec["clickhouse_version"] = version
    spec["listen_hosts"] = ["10.0.0.11"]
    spec["ports"] = {**spec["ports"], "native": 9000}
    spec["tls"]["ca_certificate"] = "/etc/clickhouse-server/tls/ca.crt"
    spec["users"].append({"name": "cluster", "password_env": "CH_CLUSTER_PASSWORD", "networks": ["10.0.0.0/24"]})
    spec["cluster"] = {
        "name": "logs",
        "replica": "ch1.logs.example",
        "shards": [
            {
                "replicas": [
                    {"host": "ch1.logs.example", "address": "10.0.0.11"},
                    {"host": "ch2.logs.example", "address": "10.0.0.12"},
                ]
            }
        ],
        "user": "cluster",
        "password_env": "CH_CLUSTER_PASSWORD",
        "interserver": {"user": "replication", "password_env": "CH_INTERSERVER_PASSWORD"},
        "zookeeper": {"nodes": [{"host": "zk1.logs.example"}], "user": "clickhouse", "password_env": "CH_ZK_PASSWORD"},
    }
    return spec


def problems_of(spec: dict[str, Any], environ: dict[str, str] = ENVIRON) -> list[str]:
    with pytest.raises(SpecError) as error:
        render(load_spec(spec), environ)
    return [str(problem) for problem in error.value.problems]


def test_a_v1_spec_renders_no_cluster_file() -> None:
    files = render(load_spec(VALID_SPEC), PASSWORDS)
    assert not [f for f in files if "cluster" in f.path or f.secret]


def test_the_plaintext_secrets_are_in_the_secrets_file_only() -> None:
    files = render(load_spec(cluster_spec()), ENVIRON)
    holders = {f.path for f in files if any(secret in f.content for secret in SECRETS.values())}
    assert holders == {SECRETS_FILE}
    [secret_file] = [f for f in files if f.secret]
    assert secret_file.path == SECRETS_FILE and secret_file.mode == 0o640
    for value in SECRETS.values():
        assert value in secret_file.content  # the server needs each one


def test_render_lists_the_secrets_file_without_its_content(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(cluster_spec()))
    result = CliRunner().invoke(main, ["render", "--spec", str(spec_file), "--out", str(tmp_path / "out")], env=ENVIRON)
    assert result.exit_code == 0, result.output
    assert f"{SECRETS_FILE}  (0640, plaintext secrets" in result.output
    assert not any(value in result.output for value in ENVIRON.values())
    assert (tmp_path / "out" / SECRETS_FILE).stat().st_mode & 0o777 == 0o640


def test_secrets_from_owner_only_files(tmp_path: Path) -> None:
    spec = cluster_spec()
    spec["cluster"]["interserver"] = {
        "user": "replication",
        "password_file": str(write_password_file(tmp_path / "interserver", SECRETS["CH_INTERSERVER_PASSWORD"])),
    }
    files = render(load_spec(spec), ENVIRON)
    assert SECRETS["CH_INTERSERVER_PASSWORD"] in next(f for f in files if f.secret).content
    loose = write_password_file(tmp_path / "loose", SECRETS["CH_INTERSERVER_PASSWORD"], mode=0o644)
    spec["cluster"]["interserver"]["password_file"] = str(loose)
    assert any(p.startswith("cluster.interserver.password_file: the file's mode is 0644") for p in problems_of(spec))


def drop(path: str):  # type: ignore[no-untyped-def]
    def mutate(spec: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = spec
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[last]

    return mutate


def put(path: str, value: Any):  # type: ignore[no-untyped-def]
    def mutate(spec: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = spec
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return mutate


BAD = [
    pytest.param(
        put("cluster.shards.0.replicas.1", {"host": "ch1.logs.example", "address": "10.0.0.12"}),
        "cluster.shards[0].replicas[1].host: replica 'ch1.logs.example' is listed twice",
        id="replica listed twice",
    ),
    pytest.param(
        put("cluster.shards", [{"replicas": [{"host": "ch1.logs.example", "address": "10.0.0.11"}]}, {"replicas": []}]),
        "cluster.shards[1].replicas: this shard has no replica",
        id="shard without replicas",
    ),
    pytest.param(
        drop("cluster.interserver.password_env"),
        "cluster.interserver: the interserver port has no credentials",
        id="interserver without credentials",
    ),
    pytest.param(
        put("ports.interserver_http", 9009),
        "ports.interserver_http: the plaintext interserver port is open",
        id="plaintext interserver beside https",
    ),
    pytest.param(
        put("cluster.secret_env", "CH_CLUSTER_SECRET"),
        "cluster.secret_env: the shared cluster secret for Distributed queries",
        id="secret on 18.16",
    ),
    pytest.param(
        put("cluster.interserver.old", {"user": "replication_old", "password_env": "CH_ZK_PASSWORD"}),
        "cluster.interserver.old: rotating interserver credentials without downtime",
        id="rotation on 18.16",
    ),
    pytest.param(
        put("cluster.keeper", {"user": "clickhouse", "password_env": "CH_ZK_PASSWORD"}),
        "cluster.keeper: both zookeeper and keeper are given",
        id="zookeeper and keeper",
    ),
    pytest.param(
        drop("cluster.zookeeper.password_env"), "cluster.zookeeper: ZooKeeper has no identity", id="no identity"
    ),
    pytest.param(
        put("cluster.replica", "ch9.logs.example"), "cluster.replica: 'ch9.logs.example' is not", id="not a replica"
    ),
    pytest.param(
        put("listen_hosts", ["10.0.0.99"]),
        "cluster.shards[0].replicas[0].address: this node's address",
        id="not listening",
    ),
    pytest.param(put("cluster.user", "nobody"), "cluster.user: user 'nobody' is not declared", id="unknown user"),
    pytest.param(
        drop("cluster.user"),
        "cluster.user: Distributed queries would log in to the other nodes as default",
        id="no user",
    ),
    pytest.param(
        put("ports.native", None), "ports.native: ClickHouse 18.16's replication registers", id="18.16 without tcp_port"
    ),
    pytest.param(drop("tls.ca_certificate"), "tls.ca_certificate: a cluster needs the CA", id="no CA"),
    pytest.param(
        put("cluster.shards.0.replicas.0.host", "ch1.<x>"), "cluster.shards[0].replicas[0].host: ", id="host name"
    ),
    pytest.param(put("cluster.name", "logs><x"), "cluster.name: cluster name", id="cluster name"),
]


@pytest.mark.parametrize(("mutate", "expected"), BAD)
def test_bad_cluster_input_exits_2_naming_the_field_and_writes_nothing(tmp_path: Path, mutate, expected: str) -> None:  # type: ignore[no-untyped-def]
    spec = cluster_spec()
    mutate(spec)
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["render", "--spec", str(spec_file), "--out", str(out)], env=ENVIRON)
    assert result.exit_code == 2, result.output
    assert expected in result.output, result.output
    assert not out.exists()
    assert not any(value in result.output for value in ENVIRON.values())


def test_an_unset_secret_is_named_and_a_wrong_cluster_password_refused() -> None:
    environ = {k: v for k, v in ENVIRON.items() if k != "CH_ZK_PASSWORD"}
    assert problems_of(cluster_spec(), environ) == [
        "cluster.zookeeper.password_env: environment variable CH_ZK_PASSWORD is not set. "
        "Fix: export CH_ZK_PASSWORD before rendering"
    ]
    spec = cluster_spec()
    spec["cluster"]["password_env"] = "CH_INTERSERVER_PASSWORD"
    [problem] = problems_of(spec)
    assert problem.startswith("cluster.password_env: it is not the password of user 'cluster'")


def test_a_weak_interserver_password_is_refused() -> None:
    [problem] = problems_of(cluster_spec(), {**ENVIRON, "CH_INTERSERVER_PASSWORD": "replication"})
    assert problem.startswith("cluster.interserver.password_env: the password has 11 characters")


def test_modern_targets_take_the_secret_rotation_and_keeper() -> None:
    spec = cluster_spec("24.8")
    spec["ports"]["native"] = None
    cluster = spec["cluster"]
    del cluster["user"], cluster["password_env"], cluster["zookeeper"]
    cluster["secret_env"] = "CH_CLUSTER_SECRET"
    cluster["interserver"]["old"] = {"user": "replication_old", "password_env": "CH_ZK_PASSWORD"}
    cluster["keeper"] = {"user": "clickhouse", "password_env": "CH_ZK_PASSWORD"}
    files = {f.path: f for f in render(load_spec(spec), ENVIRON)}
    secrets_xml = files[SECRETS_FILE].content
    assert f"<secret>{ENVIRON['CH_CLUSTER_SECRET']}</secret>" in secrets_xml and "<old>" in secrets_xml
    assert "<secure>1</secure>" in secrets_xml
    node = files["config.d/zz-hardhouse-cluster.xml"].content
    assert "<tcp_port_secure>9281</tcp_port_secure>" in node and "<secure>true</secure>" in node
    assert not any(value in node for value in ENVIRON.values())


# ---------------------------------------------------------------- audit


def audit_tree(tmp_path: Path, files):  # type: ignore[no-untyped-def]
    stock = Path("/etc/clickhouse-server")
    if not (stock / "config.xml").exists():
        pytest.skip("Debian's clickhouse-server configuration is not installed")
    tmp_path.mkdir(parents=True)
    (tmp_path / "config.xml").write_bytes((stock / "config.xml").read_bytes())
    (tmp_path / "users.xml").write_bytes((stock / "users.xml").read_bytes())
    write_files(files, tmp_path)
    return read_server_tree(tmp_path, assume_no_default_include=True)  # Debian's server has no /etc/metrika.xml


def rule_findings(tree) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    names = (
        "remote-servers-insecure",
        "interserver-tls-unverified",
        "zookeeper-anonymous",
        "interserver-unauthenticated",
    )
    found = {name: [f.problem for f in RULES[name](tree)] for name in names}
    return {name: problems for name, problems in found.items() if problems}


def test_audit_passes_the_cluster_render_and_fails_a_weakened_one(tmp_path: Path) -> None:
    files = render(load_spec(cluster_spec()), ENVIRON)
    assert rule_findings(audit_tree(tmp_path / "hardened", files)) == {}
    weakened = []
    for file in files:
        content = file.content
        if file.secret:
            content = content.replace("<secure>1</secure>", "")
            content = content.split("<identity>")[0] + content.split("</identity>")[1]
            start, end = (
                content.index("<interserver_http_credentials"),
                content.index("</interserver_http_credentials>"),
            )
            content = content[:start] + content[end + len("</interserver_http_credentials>") :]
        elif file.path.endswith("cluster.xml"):
            content = content.replace(
                "<verificationMode>strict</verificationMode>", "<verificationMode>none</verificationMode>"
            )
        weakened.append(type(file)(file.path, content, file.mode, file.secret))
    found = rule_findings(audit_tree(tmp_path / "weakened", weakened))
    assert set(found) == {
        "remote-servers-insecure",
        "interserver-tls-unverified",
        "zookeeper-anonymous",
        "interserver-unauthenticated",
    }
    assert len(found["remote-servers-insecure"]) == 2  # one per replica


def test_drift_never_shows_a_cluster_secret() -> None:
    for path in (
        "interserver_http_credentials.password",
        "interserver_http_credentials.old.password",
        "remote_servers.logs.shard.replica.password",
        "remote_servers.logs.secret",
        "zookeeper.identity",
    ):
        assert is_secret(path), path


def audit_json(tree: Path, spec_file: Path, env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["audit", str(tree), "--spec", str(spec_file), "--json"], env=env)
    return result.exit_code, result.output


def test_drift_compares_the_cluster_and_never_shows_its_secrets(tmp_path: Path) -> None:
    spec = cluster_spec()
    files = render(load_spec(spec), ENVIRON)
    tree = tmp_path / "tree"
    audit_tree(tree, files)
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(spec))
    clean = {k: None for k in ENVIRON}
    code, output = audit_json(tree, spec_file, {**clean, **ENVIRON})
    assert '"rule": "drift"' not in output, output
    # unset secrets: stand-ins are rendered, the secret leaves are not compared, and it is said
    code, output = audit_json(tree, spec_file, {**clean, **PASSWORDS})
    assert '"rule": "drift"' not in output and "the cluster's secrets" in output, output
    # a hand edit of a secret and of the cluster: both are drift; neither secret is shown
    secrets_xml = tree / SECRETS_FILE
    planted = secrets.token_urlsafe(24)
    text = secrets_xml.read_text().replace(ENVIRON["CH_INTERSERVER_PASSWORD"], planted)
    secrets_xml.write_text(text.replace("<host>ch2.logs.example</host>", "<host>attacker.example</host>"))
    code, output = audit_json(tree, spec_file, {**clean, **ENVIRON})
    assert "interserver_http_credentials.password" in output and "attacker.example" in output, output
    assert not any(value in output for value in (*ENVIRON.values(), planted))


def test_the_example_cluster_spec_renders() -> None:
    spec = load_spec(yaml.safe_load((Path(__file__).parents[2] / "examples" / "cluster.yaml").read_text()))
    files = render(spec, ENVIRON)
    assert [f.path for f in files if f.secret] == [SECRETS_FILE]


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("cluster.interserver.https_port", 70000, "cluster.interserver.https_port: 70000 is not a TCP port"),
        ("cluster.zookeeper.nodes.0.port", 0, "cluster.zookeeper.nodes[0].port: 0 is not a TCP port"),
        (
            "cluster.interserver.https_port",
            8443,
            "cluster.interserver.https_port: port 8443 is also used by ports.https",
        ),
    ],
)
def test_cluster_ports_are_ports(path: str, value: int, expected: str) -> None:
    spec = cluster_spec()
    put(path, value)(spec)
    with pytest.raises(SpecError) as error:
        load_spec(spec)
    assert any(str(problem).startswith(expected) for problem in error.value.problems), error.value


@pytest.mark.parametrize(
    ("value", "says"),
    [("x7Qp\x01Lm9Zr3Tn6Vb5Yc1", "control character"), (" x7QpLm9Zr3Tn6Vb5Yc1", "whitespace")],
)
def test_a_secret_that_xml_cannot_carry_as_is_is_refused(value: str, says: str) -> None:
    [problem] = problems_of(cluster_spec(), {**ENVIRON, "CH_INTERSERVER_PASSWORD": value})
    assert problem.startswith("cluster.interserver.password_env: ") and says in problem
    assert value.strip() not in problem
