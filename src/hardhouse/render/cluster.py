"""The cluster section: what this node renders, and the plaintext secrets the server needs.

ClickHouse sends the interserver password, the per-shard password (or the cluster secret) and
the ZooKeeper identity to its peers, so it must read them as plaintext: no hash will do. They
are read here at render time (environment or an owner-only file, judged like user passwords),
and go into ONE rendered file of their own (config.d/zz-hardhouse-cluster-secrets.xml), marked
`secret` so every consumer knows: mode 0640 (root:clickhouse on a host), its content never
printed. Every other rendered file names no secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hardhouse.clickhouse.tls import STRONG_CIPHERS, disabled_protocols
from hardhouse.render.credentials import read_password_file, sha256_hex, weakness
from hardhouse.spec.cluster import SecretSource
from hardhouse.spec.errors import Problem, SpecError
from hardhouse.spec.fields import has_control_character
from hardhouse.spec.model import HardeningSpec

if TYPE_CHECKING:
    from hardhouse.render.inputs import RenderInput


def read_source(
    source: SecretSource, where: str, name: str, environ: Mapping[str, str]
) -> tuple[str | None, Problem | None]:
    """The plaintext from source's variable or file, or the problem (never echoing it)."""
    if source.password_env is not None:
        if source.password_env not in environ:
            return None, Problem(
                f"{where}.password_env",
                f"environment variable {source.password_env} is not set",
                f"export {source.password_env} before rendering",
            )
        secret = environ[source.password_env]
        field = f"{where}.password_env"
    else:
        assert source.password_file is not None
        field = f"{where}.password_file"
        secret, problem, fix = read_password_file(source.password_file, field)
        if problem is not None:
            return None, Problem(field, problem, fix)
        assert secret is not None
    # Unlike a user's password (only its hash is written), this text goes into XML as it is.
    if has_control_character(secret):
        return None, Problem(field, "it contains a control character, which XML cannot carry", "generate another")
    if secret != secret.strip():
        return None, Problem(
            field, "it starts or ends with whitespace, which ClickHouse may not keep", "generate another"
        )
    reason = weakness(secret, name)
    if reason:
        return None, Problem(field, reason, "use a random secret of at least 12 characters: openssl rand -base64 24")
    return secret, None


def read_env_or_file(
    env: str | None, file: str | None, where: str, environ: Mapping[str, str]
) -> tuple[str | None, Problem | None]:
    return read_source(SecretSource(password_env=env, password_file=file), where, "cluster", environ)


def node(given: RenderInput) -> dict[str, Any] | None:
    """The node's cluster file: its place in the cluster, interserver HTTPS and coordination."""
    return given.cluster[0] if given.spec.cluster is not None else None


def secrets(given: RenderInput) -> dict[str, Any] | None:
    """The cluster's secrets file (the one rendered file that names secrets)."""
    return given.cluster[1] if given.spec.cluster is not None else None


def cluster_contexts(spec: HardeningSpec, environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(context of the node's cluster file, context of its secrets file). Raises SpecError."""
    cluster = spec.cluster
    assert cluster is not None and spec.tls is not None
    problems: list[Problem] = []

    def need(source: SecretSource | None, where: str, name: str) -> str | None:
        if source is None or not source.given():
            return None
        secret, problem = read_source(source, where, name, environ)
        if problem is not None:
            problems.append(problem)
        return secret

    interserver = cluster.interserver
    interserver_password = need(interserver, "cluster.interserver", interserver.user if interserver else "")
    old_password = need(interserver.old if interserver else None, "cluster.interserver.old", "")
    zookeeper_password = need(
        cluster.zookeeper, "cluster.zookeeper", cluster.zookeeper.user if cluster.zookeeper else ""
    )
    keeper_password = need(cluster.keeper, "cluster.keeper", cluster.keeper.user if cluster.keeper else "")
    shard_password = need(cluster if cluster.user else None, "cluster", cluster.user or "")
    secret = None
    if cluster.has_secret():
        secret, problem = read_env_or_file(cluster.secret_env, cluster.secret_file, "cluster.secret", environ)
        if problem is not None:
            field = "cluster.secret_env" if cluster.secret_env is not None else "cluster.secret_file"
            problems.append(Problem(field, problem.problem, problem.fix))
    if shard_password is not None:
        problems.extend(_same_as_user(spec, shard_password, environ))
    if problems:
        raise SpecError(problems)

    mine = cluster.this_replica()
    assert mine is not None
    shard_index, _, replica = mine
    port = spec.ports.native_tls if cluster.secure else spec.ports.native
    ids = {r.host: n + 1 for n, (_, _, r) in enumerate(cluster.replicas())}
    node = {
        "cluster": cluster.name,
        "shard": f"{shard_index + 1:02d}",
        "replica": replica.host,
        "interserver": interserver,
        "ca_certificate": spec.tls.ca_certificate,
        "disabled_protocols": disabled_protocols(spec.tls.min_protocol),
        "cipher_list": STRONG_CIPHERS,
        "keeper": cluster.keeper,
        "keeper_id": ids[replica.host],
        "keeper_servers": [{"id": ids[r.host], "host": r.host} for _, _, r in cluster.replicas()],
    }
    if cluster.keeper is not None:
        coordination_nodes = [
            {"host": r.host, "port": cluster.keeper.port, "secure": True} for _, _, r in cluster.replicas()
        ]
        identity = f"{cluster.keeper.user}:{keeper_password}"
        root = None
    elif cluster.zookeeper is not None:
        coordination_nodes = [{"host": n.host, "port": n.port, "secure": False} for n in cluster.zookeeper.nodes]
        identity = f"{cluster.zookeeper.user}:{zookeeper_password}"
        root = cluster.zookeeper.root
    else:
        coordination_nodes, identity, root = [], None, None
    secrets = {
        "cluster": cluster.name,
        "interserver_user": interserver.user if interserver else None,
        "interserver_password": interserver_password,
        "old": {"user": interserver.old.user, "password": old_password} if interserver and interserver.old else None,
        "secret": secret,
        "shards": [[{"host": r.host, "port": port} for r in shard.replicas] for shard in cluster.shards],
        "secure": cluster.secure,
        "user": cluster.user,
        "password": shard_password,
        "coordination_nodes": coordination_nodes,
        "identity": identity,
        "root": root,
    }
    return node, secrets


def _same_as_user(spec: HardeningSpec, password: str, environ: Mapping[str, str]) -> list[Problem]:
    """remote_servers logs in with this password: it must be the cluster user's own."""
    assert spec.cluster is not None
    for index, user in enumerate(spec.users):
        if user.name != spec.cluster.user:
            continue
        if user.password_sha256_hex is not None:
            known = user.password_sha256_hex
        elif user.password_env is not None and user.password_env in environ:
            known = sha256_hex(environ[user.password_env])
        elif user.password_file is not None:
            text, problem, _ = read_password_file(user.password_file, f"users[{index}].password_file")
            if problem is not None or text is None:
                return []  # reported with the user's own credentials
            known = sha256_hex(text)
        else:
            return []
        if known != sha256_hex(password):
            return [
                Problem(
                    "cluster.password_env" if spec.cluster.password_env else "cluster.password_file",
                    f"it is not the password of user {user.name!r} (compared by hash; neither is shown)",
                    f"point it at the same secret as users[{index}]",
                )
            ]
    return []
