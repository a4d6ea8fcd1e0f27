"""The pyinfra deploy over SSH against fresh host containers (plain Debian, sshd, no
ClickHouse), driven exactly as an operator drives it: `pyinfra inventories/sandbox.py
deploy/harden.py -y` in a subprocess, with the inventory data the sandbox driver writes.

One host (module fixture) goes through a life in order: stock and exposed with data ->
hardened (its log database created) -> re-run with no changes -> a log table column added in
place, a type change refused -> a file planted after hardhouse's fails the re-run and the
audit over SSH names it -> a spec change -> two broken changes that are refused
or rolled back -> back to the good spec. A second, fresh pair of hosts is deployed in one
run at -vvv and the captured output is searched for every password.

Claims are checked from this machine over the sandbox network (the hosts' addresses on a
Docker network the fixture creates) with real clients; every container and network is
removed by the fixtures.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import secrets
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hardhouse.ca import issue_ca, issue_leaf
from hardhouse.probe import login_sync
from hardhouse.testing.clients import native_query, port_open
from hardhouse_dev.sandbox import LOG_DATABASE, sandbox_waivers
from tests.helpers import require

pytestmark = [pytest.mark.integration, pytest.mark.docker]

ROWS = 1000
FAKE_KEY = "sk-live-FAKE0000000000000000000042"


def _docker_problem() -> str | None:
    """None once a Docker engine answers, starting one as the other container tests do
    (these tests may run first on a fresh machine, where nothing has started it yet)."""
    from hardhouse_dev.images import ImageError, ensure_docker_engine

    try:
        ensure_docker_engine()
    except (ImageError, OSError) as error:
        return str(error)
    return None


@pytest.fixture(scope="module")
def tooling() -> None:
    problem = _docker_problem()
    require(problem is None, f"no Docker engine: {problem}")
    require(shutil.which("ssh-keygen") is not None, "ssh-keygen not installed (openssh-client)")
    try:
        import pyinfra  # noqa: F401
    except ImportError:
        require(False, "pyinfra is not installed (pip install 'pyinfra>=3,<4')")


def make_sandbox(tmp_path_factory: pytest.TempPathFactory, name: str) -> Any:
    from hardhouse_dev.sandbox import Sandbox, free_subnet

    tag = secrets.token_hex(3)
    return Sandbox(
        state=tmp_path_factory.mktemp(f"sandbox-{name}"),
        network=f"hh-test-deploy-{name}-{tag}",
        subnet=free_subnet(),
        prefix=f"hh-test-deploy-{name}-{tag}",
    )


@pytest.fixture(scope="module")
def one_host(tooling: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    sandbox = make_sandbox(tmp_path_factory, "one")
    try:
        sandbox.up(1)
        yield sandbox
    finally:
        sandbox.down()


def deploy(sandbox: Any, *args: str) -> subprocess.CompletedProcess[str]:
    result = sandbox.deploy(*args, capture=True)
    result.output = result.stdout + result.stderr  # type: ignore[attr-defined]
    return result


def grand_total(output: str) -> dict[str, str]:
    """The 'Grand total' row of pyinfra's results table: hosts, success, error, no change."""
    match = re.search(r"Grand total\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", output)
    assert match, f"no results table in the output:\n{output[-3000:]}"
    return dict(zip(("hosts", "success", "error", "no_change"), match.groups(), strict=True))


def host_data(sandbox: Any) -> tuple[Any, dict[str, Any]]:
    """The host and a copy of its data as the inventory holds it now."""
    (host,) = sandbox.hosts()
    (entry,) = json.loads(sandbox.hosts_file.read_text())["hosts"]
    return host, entry["data"]


def ingest(sandbox: Any, query: str, user: str = "ingest") -> list[tuple[Any, ...]]:
    (host,) = sandbox.hosts()
    password = (sandbox.secrets_dir / user).read_text().strip()
    return native_query(host.address, 9440, query, user=user, password=password, tls=True, ca=sandbox.ca_dir / "ca.crt")


def served_fingerprint(address: str, port: int = 9440) -> str:
    pem = ssl.get_server_certificate((address, port))
    return ssl.PEM_cert_to_DER_cert(pem).hex()


def docker_exec(container: str, script: str) -> str:
    result = subprocess.run(["docker", "exec", container, "sh", "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


EXPOSED = """<clickhouse>
    <!-- The incident's configuration: every interface, stock ports, stock passwordless default. -->
    <listen_host remove="1"/>
    <listen_host remove="1"/>
    <listen_host>0.0.0.0</listen_host>
</clickhouse>
"""


def start_exposed(host: Any) -> None:
    """The installed stock server made reachable on every interface and started, as the
    incident's was; returns once it answers on 9000 (or after 20 s)."""
    docker_exec(
        host.container,
        "mkdir -p /etc/clickhouse-server/config.d && "
        f"cat > /etc/clickhouse-server/config.d/exposed.xml <<'EOF'\n{EXPOSED}EOF\n"
        "/etc/init.d/clickhouse-server start",
    )
    for _ in range(100):
        if port_open(host.address, 9000):
            break
        subprocess.run(["sleep", "0.2"])


@pytest.fixture(scope="module")
def exposed_host(one_host: Any) -> Any:
    """Debian's stock ClickHouse on the host, open on every interface, with a log table
    holding API keys written anonymously from this machine."""
    (host,) = one_host.hosts()
    docker_exec(
        host.container,
        "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "
        "clickhouse-server clickhouse-client >/dev/null 2>&1 "
        "|| (apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "
        "clickhouse-server clickhouse-client >/dev/null)",
    )
    start_exposed(host)
    anonymous = {"user": "default", "password": ""}
    native_query(host.address, 9000, "CREATE DATABASE logs", **anonymous)
    native_query(
        host.address,
        9000,
        "CREATE TABLE logs.log_stream (ts DateTime, line String) ENGINE = MergeTree ORDER BY ts",
        **anonymous,
    )
    # INSERT ... VALUES hangs on 18.16 over clickhouse-driver; INSERT ... SELECT does not.
    native_query(
        host.address,
        9000,
        f"INSERT INTO logs.log_stream SELECT now(), concat('chat line ', toString(number), ' api_key={FAKE_KEY}') "
        f"FROM numbers({ROWS})",
        **anonymous,
    )
    assert native_query(host.address, 9000, "SELECT count() FROM logs.log_stream", **anonymous) == [(ROWS,)]
    return one_host


def test_stock_exposed_server_is_hardened_by_one_run_and_keeps_its_data(exposed_host: Any) -> None:
    (host,) = exposed_host.hosts()
    result = deploy(exposed_host)
    assert result.returncode == 0, result.output[-4000:]
    assert "verified from the deploy machine" in result.output
    # The spec's log database was created as its owner (ingest) from this machine, and the
    # reader's rights were proven as the reader before the deploy called the host verified.
    assert f"log databases: created {LOG_DATABASE} (missing: CREATE DATABASE IF NOT EXISTS {LOG_DATABASE})" in (
        result.output
    )
    assert f"log databases: created {LOG_DATABASE}.requests" in result.output
    assert f"log databases: created {LOG_DATABASE}.requests_ingest" in result.output
    assert re.search(r"controls proven: [^\n]*HH-DATA-1", result.output), result.output[-3000:]
    assert re.search(r"controls proven: [^\n]*HH-DATA-3", result.output), result.output[-3000:]
    assert ingest(exposed_host, f"SELECT count() FROM {LOG_DATABASE}.requests") == [(0,)]
    _secrets_written_through_the_ingest_table_never_reach_the_disk(exposed_host)
    # Anonymous access is gone on every port: the plaintext ones are closed, the TLS ones refuse.
    assert not port_open(host.address, 9000) and not port_open(host.address, 8123)
    for port, protocol in ((9440, "native"), (8443, "http")):
        anonymous = login_sync(
            host.address, port, protocol=protocol, tls=True, user=None if protocol == "http" else "default", password=""
        )
        assert not anonymous.accepted, anonymous.detail
    # The data is intact, readable by the authorized user over TLS.
    assert ingest(exposed_host, "SELECT count(), countIf(position(line, 'api_key') > 0) FROM logs.log_stream") == [
        (ROWS, ROWS)
    ]
    # The operator's own config.d file is left alone; hardhouse's files are root:clickhouse 0640,
    # the key clickhouse 0600.
    listing = docker_exec(
        host.container,
        "stat -c '%U:%G %a %n' "
        "/etc/clickhouse-server/config.d/* /etc/clickhouse-server/users.d/* /etc/clickhouse-server/tls/*",
    )
    assert "/etc/clickhouse-server/config.d/exposed.xml" in listing
    for line in listing.splitlines():
        if "zz-hardhouse-" in line:
            assert line.startswith("root:clickhouse 640 "), line
    assert "clickhouse:clickhouse 600 /etc/clickhouse-server/tls/server.key" in listing


def _secrets_written_through_the_ingest_table_never_reach_the_disk(sandbox: Any) -> None:
    """As the application writes (the owner `ingest` on 18.16, which has no INSERT-only
    writers): the stored row is redacted, and the key is nowhere under the table's directory
    on the host, while a marker written around the view is (the search sees plaintext)."""
    (host,) = sandbox.hosts()
    key = "sk-" + secrets.token_hex(16)
    marker = "hardhouse-plaintext-" + secrets.token_hex(12)
    table = f"{LOG_DATABASE}.requests"
    ingest(
        sandbox, f"INSERT INTO {table}_ingest (ts, level, message) SELECT now(), 'info', 'calling the model with {key}'"
    )
    ingest(sandbox, f"INSERT INTO {table} (ts, level, message) SELECT now(), 'info', '{marker}'")
    assert ingest(sandbox, f"SELECT message FROM {table} ORDER BY message") == [
        ("calling the model with [REDACTED]",),
        (marker,),
    ]
    where = f"/var/lib/clickhouse/data/{LOG_DATABASE}/requests/"
    assert docker_exec(host.container, f"grep -rlF {marker} {where} || true").strip()
    assert docker_exec(host.container, f"grep -rlF {key} {where} || true") == ""
    ingest(sandbox, f"ALTER TABLE {table} DELETE WHERE 1")
    _wait_for(lambda: ingest(sandbox, f"SELECT count() FROM {table}") == [(0,)], "the test rows to be deleted")


def test_second_run_changes_nothing(exposed_host: Any) -> None:
    (host,) = exposed_host.hosts()
    uptime = ingest(exposed_host, "SELECT uptime()")[0][0]
    result = deploy(exposed_host)
    assert result.returncode == 0, result.output[-4000:]
    totals = grand_total(result.output)
    assert totals["success"] == "-" and totals["error"] == "-", totals
    assert ingest(exposed_host, "SELECT uptime()")[0][0] >= uptime  # not restarted


SKIPPED = "logins and log rights not re-proven: unchanged since verified at"
REPROVEN = "verified from the deploy machine at"
CHECKED_FROM_OUTSIDE = re.compile(
    r"checked from the deploy machine at \S+ without a secret: (\d+) checks passed; "
    r"controls proven: HH-AUTH-1, HH-PORT-1, HH-PORT-2, HH-TLS-1;"
)
UNCHANGED_YET_FAILED = "on a host whose fingerprint says it is unchanged since its last verification"
STAMP = "/var/lib/hardhouse/verified-state"


def test_an_unchanged_host_is_not_re_proven_and_every_kind_of_drift_brings_the_proof_back(exposed_host: Any) -> None:
    """A no-change re-run reads the host's fingerprint with one command and, while the stamp
    the last passed verification left still matches it, skips the audit, provisioning plan
    and the verification's logins, but not the checks that need no secret. A restart, a new
    listening socket, an edited file (in the configuration directory, /etc/metrika.xml, or
    behind a symbolic link) or an edited stamp each make the next run prove the host again."""
    (host,) = exposed_host.hosts()
    assert deploy(exposed_host).returncode == 0  # the host as a passed verification left it
    result = deploy(exposed_host)
    assert result.returncode == 0, result.output[-3000:]
    assert SKIPPED in result.output and REPROVEN not in result.output and "audited " not in result.output
    # Checked from outside all the same: anonymous refused on 8443 and 9440, SSL 2.0 to TLS 1.1
    # refused on both, the six stock plaintext ports closed.
    checked = CHECKED_FROM_OUTSIDE.search(result.output)
    assert checked and int(checked.group(1)) == 18, result.output[-3000:]
    assert grand_total(result.output)["success"] == "-"

    def reproven_once(why: str) -> None:
        result = deploy(exposed_host)
        assert result.returncode == 0, result.output[-3000:]
        assert REPROVEN in result.output and SKIPPED not in result.output, f"{why}: {result.output[-3000:]}"
        assert "audited /etc/clickhouse-server" in result.output
        again = deploy(exposed_host)  # proven again and stamped: trusted on the next run
        assert again.returncode == 0 and SKIPPED in again.output, f"{why}: {again.output[-3000:]}"

    # A restart behind hardhouse's back (Debian's script cannot find the server in a container).
    docker_exec(
        host.container,
        "pkill -x clickhouse-serv; while pgrep -x clickhouse-serv >/dev/null; do sleep 0.1; done; "
        "/etc/init.d/clickhouse-server start >/dev/null",
    )
    for _ in range(100):
        if port_open(host.address, 9440):
            break
        subprocess.run(["sleep", "0.2"])
    reproven_once("a restart")
    # Something new listening on the host.
    docker_exec(
        host.container, "setsid openssl s_server -quiet -nocert -psk 00 -accept 18123 </dev/null >/dev/null 2>&1 &"
    )
    try:
        for _ in range(50):
            if port_open(host.address, 18123):
                break
            subprocess.run(["sleep", "0.1"])
        reproven_once("a new listener")
    finally:
        docker_exec(host.container, "pkill -x openssl || true")
    reproven_once("the listener gone")
    # A file in the configuration directory, even one ClickHouse does not read.
    docker_exec(host.container, "echo note > /etc/clickhouse-server/config.d/README")
    try:
        reproven_once("an edited file")
    finally:
        docker_exec(host.container, "rm -f /etc/clickhouse-server/config.d/README")
    reproven_once("the file gone")
    # The file ClickHouse takes incl substitutions from when no include_from names one.
    docker_exec(host.container, "echo '<yandex/>' > /etc/metrika.xml")
    try:
        reproven_once("a new /etc/metrika.xml")
    finally:
        docker_exec(host.container, "rm -f /etc/metrika.xml")
    # A file reached through a symbolic link to a directory outside the configuration directory
    # (not a .xml: the audit over SSH refuses a linked configuration file outright).
    linked = "/srv/hardhouse-test-linked"
    docker_exec(
        host.container,
        f"mkdir -p {linked} && echo one > {linked}/notes && ln -s {linked} /etc/clickhouse-server/linked.d",
    )
    try:
        reproven_once("/etc/metrika.xml gone, a linked directory")
        docker_exec(host.container, f"echo two > {linked}/notes")
        reproven_once("the file behind the link edited")
    finally:
        docker_exec(host.container, f"rm -rf /etc/clickhouse-server/linked.d {linked}")
    reproven_once("the link gone")
    # The stamp moved forward in time by someone on the host: its HMAC no longer matches, and
    # whoever wrote it lacks the passwords that key it.
    docker_exec(host.container, f"""set -e; read -r v at rest < {STAMP}; echo "$v $((at + 60)) $rest" > {STAMP}""")
    reproven_once("an edited stamp")
    # Trust turned off: every run proves the host, and writes no stamp.
    docker_exec(host.container, f"rm -f {STAMP}")
    result = deploy(exposed_host, "--data", "hardhouse_trust_verified_for=0")
    assert result.returncode == 0 and REPROVEN in result.output, result.output[-3000:]
    assert docker_exec(host.container, f"test -e {STAMP} && echo stamped || echo none").strip() == "none"
    reproven_once("no stamp")


# Root on the host replays the fingerprint its stamp blesses: a sha256sum early in PATH
# answers the stamp's fingerprint when it hashes what the snapshot script pipes into it (its
# file hashes stay real). Nothing a fingerprint computed on the host says can be trusted then.
REPLAYING_SHA256SUM = """#!/bin/sh
if [ "$#" -eq 0 ]; then
    cat > /dev/null
    read -r version at fingerprint rest < /var/lib/hardhouse/verified-state
    echo "$fingerprint  -"
else
    exec /usr/bin/sha256sum "$@"
fi
"""
SHIM = "/usr/local/bin/sha256sum"
OPEN_DEFAULT = """<yandex><users><default>
    <password></password><networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota>
</default></users></yandex>
"""


def _wait_for(condition: Any, what: str, seconds: float = 30) -> None:
    for _ in range(int(seconds / 0.2)):
        if condition():
            return
        subprocess.run(["sleep", "0.2"])
    raise AssertionError(f"not within {seconds:g} s: {what}")


def _anonymous_native_tls(address: str) -> bool:
    return login_sync(address, 9440, protocol="native", tls=True, user="default", password="").accepted


def _fails_from_outside_while_trusted(sandbox: Any, *lines: str) -> None:
    """The next run trusts the host (the replayed fingerprint matches its stamp), so it proves
    nothing with a password; its checks from outside fail it, naming each control, and the
    stamp is gone; with the host set right and the shim gone, a full proof passes again."""
    result = deploy(sandbox)
    assert result.returncode != 0, result.output[-3000:]
    assert UNCHANGED_YET_FAILED in result.output, result.output[-3000:]
    assert REPROVEN not in result.output and "audited " not in result.output  # the fingerprint was fooled
    for line in lines:
        assert line in result.output, result.output[-3000:]
    (host,) = sandbox.hosts()
    assert docker_exec(host.container, f"test -e {STAMP} && echo stamped || echo none").strip() == "none"


def test_a_replayed_fingerprint_hides_nothing_from_the_checks_made_from_outside(exposed_host: Any) -> None:
    """What a host-side fingerprint cannot prove: root there can make it say the host is the
    one a verification passed on. A listener on a stock port and a passwordless default user
    brought back behind such a replay each fail the trusted host from outside."""
    (host,) = exposed_host.hosts()

    def stamped_and_trusted() -> None:
        docker_exec(host.container, f"rm -f {SHIM}")
        assert deploy(exposed_host).returncode == 0  # proven in full (or trusted) and stamped
        result = deploy(exposed_host)
        assert result.returncode == 0 and SKIPPED in result.output, result.output[-3000:]
        install = f"mkdir -p /usr/local/bin && cat > {SHIM} <<'EOF'\n{REPLAYING_SHA256SUM}EOF\nchmod 755 {SHIM}"
        docker_exec(host.container, install)

    stamped_and_trusted()
    # A listener the stamp would trust: something answers on the stock native port.
    docker_exec(
        host.container, "setsid openssl s_server -quiet -nocert -psk 00 -accept 9000 </dev/null >/dev/null 2>&1 &"
    )
    try:
        _wait_for(lambda: port_open(host.address, 9000), "the listener on 9000")
        _fails_from_outside_while_trusted(
            exposed_host, f"FAIL HH-PORT-1 {host.address}:9000 (native) closed: accepts connections"
        )
    finally:
        docker_exec(host.container, f"pkill -x openssl || true; rm -f {SHIM}")
    stamped_and_trusted()
    # The stock passwordless default user, back through a users.d file the server reloads.
    opened = "/etc/clickhouse-server/users.d/zzz-open.xml"
    docker_exec(host.container, f"cat > {opened} <<'EOF'\n{OPEN_DEFAULT}EOF")
    try:
        _wait_for(lambda: _anonymous_native_tls(host.address), "the server letting default in")
        _fails_from_outside_while_trusted(
            exposed_host,
            f"FAIL HH-AUTH-1 {host.address}:9440 (native_tls) anonymous refused: "
            "user default with an empty password logged in",
            f"FAIL HH-AUTH-1 {host.address}:8443 (https) anonymous refused: a query without credentials was answered",
        )
    finally:
        docker_exec(host.container, f"rm -f {opened} {SHIM}")
    _wait_for(lambda: not _anonymous_native_tls(host.address), "the server refusing default again")
    result = deploy(exposed_host)  # no stamp: proven in full, and stamped again
    assert result.returncode == 0 and REPROVEN in result.output, result.output[-3000:]


def test_log_table_changes_in_place_are_applied_and_a_type_change_is_refused(exposed_host: Any) -> None:
    """Rows written by the application stay through both: a column the spec adds is added in
    place; a column whose type changes is refused, with the host failed and nothing touched."""
    host, data = host_data(exposed_host)
    table = f"{LOG_DATABASE}.requests"
    ingest(
        exposed_host, f"INSERT INTO {table} SELECT now(), 'info', concat('GET /', toString(number)) FROM numbers(50)"
    )
    columns = data["hardhouse_spec"]["log_databases"][LOG_DATABASE]["tables"]["requests"]["columns"]
    columns["status"] = "UInt16"
    exposed_host.write_inventory([host], {host.name: data})
    result = deploy(exposed_host)
    assert result.returncode == 0, result.output[-4000:]
    assert f"log databases: altered {table}.status" in result.output
    assert ingest(exposed_host, f"SELECT count(), sum(status) FROM {table}") == [(50, 0)]
    good = json.loads(json.dumps(data))  # the spec now declares status: the tests after this keep it
    try:
        columns["message"] = "UInt64"
        exposed_host.write_inventory([host], {host.name: data})
        result = deploy(exposed_host)
        assert result.returncode != 0, result.output[-3000:]
        assert f"REFUSED HH-DATA-1 {table}.message: the column is String, the spec says UInt64" in result.output
        assert "verified from the deploy machine" not in result.output  # the host failed before verifying
        described = ingest(exposed_host, f"SELECT name, type FROM system.columns WHERE database = '{LOG_DATABASE}'")
        assert ("message", "String") in described and ingest(exposed_host, f"SELECT count() FROM {table}") == [(50,)]
    finally:
        exposed_host.write_inventory([host], {host.name: good})


def test_the_opt_in_scan_fails_the_host_on_a_secret_at_rest_and_a_waiver_lets_it_pass(exposed_host: Any) -> None:
    """A key written around the redaction (an owner can, on 18.16) is counted by the scan after
    verification, as the reader oncall; the count is shown, the key never is."""
    host, data = host_data(exposed_host)
    table = f"{LOG_DATABASE}.requests"
    key = "sk-" + secrets.token_hex(16)
    ingest(
        exposed_host, f"INSERT INTO {table} (ts, level, message) SELECT now(), 'info', 'calling the model with {key}'"
    )
    original = json.loads(json.dumps(data))
    try:
        data["hardhouse_scan_secrets"] = True
        exposed_host.write_inventory([host], {host.name: data})
        result = deploy(exposed_host)
        assert result.returncode != 0, result.output[-3000:]
        assert f"SECRETS HH-DATA-4 {table} as oncall: message: api_key 1 of " in result.output, result.output[-3000:]
        assert key not in result.output and key[3:] not in result.output

        data["hardhouse_waivers"] = sandbox_waivers() + [
            {
                "control": "HH-DATA-4",
                "reason": "rows from before redaction, purged in the next window",
                "expires": "2099-01-01",
                "targets": [host.name],
            }
        ]
        exposed_host.write_inventory([host], {host.name: data})
        result = deploy(exposed_host)
        assert result.returncode == 0, result.output[-3000:]
        assert f"scan: WAIVED SECRETS HH-DATA-4 {table}" in result.output
    finally:
        exposed_host.write_inventory([host], {host.name: original})
        ingest(exposed_host, f"ALTER TABLE {table} DELETE WHERE position(message, '{key}') > 0")
        _wait_for(
            lambda: ingest(exposed_host, f"SELECT count() FROM {table} WHERE position(message, '{key}') > 0") == [(0,)],
            "the key's row to be deleted",
        )
        # Stamped again under the inventory the tests after this one expect (the waivers are part
        # of the stamp's context).
        assert deploy(exposed_host).returncode == 0


def _appears(secret: str, output: str) -> bool:
    """The secret in the output as text, or inside any base64 stream (at each of the three
    alignments a byte string can have in one)."""
    return secret in output or any(
        base64.b64encode(secret[k : k + 3 * ((len(secret) - k) // 3)].encode()).decode() in output for k in range(3)
    )


def audit_hosts(sandbox: Any, *args: str) -> subprocess.CompletedProcess[str]:
    """`hardhouse audit @inventories/sandbox.py ARGS`, as an operator runs it."""
    from hardhouse_dev.sandbox import ROOT

    return subprocess.run(
        [sys.executable, "-c", "from hardhouse.cli import main; main()", "audit", "@inventories/sandbox.py", *args],
        cwd=ROOT,
        env=sandbox.environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )


PLANTED = "<clickhouse><listen_host>0.0.0.0</listen_host></clickhouse>\n"


def test_a_file_planted_after_hardhouses_fails_the_redeploy_and_the_audit_names_it(exposed_host: Any) -> None:
    """config.d/zzz-debug.xml sorts after hardhouse's zz-hardhouse-* files, so its listen_host
    wins when the server next starts. The deploy's re-check reads the live tree back and fails
    the host before verifying (no password is sent); `hardhouse audit @inventory` names it too."""
    (host,) = exposed_host.hosts()
    planted = "/etc/clickhouse-server/config.d/zzz-debug.xml"
    docker_exec(host.container, f"printf '%s' '{PLANTED}' > {planted}")
    try:
        result = deploy(exposed_host)
        assert result.returncode != 0, result.output[-3000:]
        assert "HH-DRIFT-1 listen_host 0.0.0.0 from config.d/zzz-debug.xml:1: not in the spec" in result.output, (
            result.output[-3000:]
        )
        assert "verified from the deploy machine" not in result.output  # failed before any login was tried
        # Proven in full (no stamp trusted): the tree the first command read with the host's
        # state is the one judged, and it names the planted file the same way.
        result = deploy(exposed_host, "--data", "hardhouse_trust_verified_for=0")
        assert result.returncode != 0, result.output[-3000:]
        assert "HH-DRIFT-1 listen_host 0.0.0.0 from config.d/zzz-debug.xml:1: not in the spec" in result.output
        assert "verified from the deploy machine" not in result.output
        audited = audit_hosts(exposed_host, "--spec-from-inventory")
        assert audited.returncode == 1, audited.stdout + audited.stderr
        assert "HH-DRIFT-1 listen_host 0.0.0.0 from config.d/zzz-debug.xml:1" in audited.stdout, audited.stdout
        assert "HH-LISTEN-1 listen_host 0.0.0.0 from config.d/zzz-debug.xml:1" in audited.stdout
        assert audited.stdout.startswith("audit of sandbox-1 (")
    finally:
        docker_exec(host.container, f"rm -f {planted}")
    # Removed: the host is again the one the last verification passed on, so a re-run trusts
    # it; re-proven at -vvv (which prints every fact's output: the fetched tree holds the users'
    # password hashes, which must not show), it passes with no change and the audit passes.
    result = deploy(exposed_host)
    assert result.returncode == 0 and SKIPPED in result.output, result.output[-3000:]
    result = deploy(exposed_host, "-vvv", "--data", "hardhouse_trust_verified_for=0")
    assert result.returncode == 0, result.output[-3000:]
    assert "audited /etc/clickhouse-server: " in result.output and "files merged, no drift" in result.output
    # Judged ahead too (hardhouse.deploy.recheck.JudgeAhead), where the planted file had kept
    # the proof from starting.
    assert "the live configuration passes the audit already: its proof starts now" in result.output
    totals = grand_total(result.output)
    assert totals["success"] == "-" and totals["error"] == "-", totals
    users = docker_exec(host.container, "cat /etc/clickhouse-server/users.d/zz-hardhouse-users.xml")
    hashes = re.findall(r"<password_sha256_hex>([0-9a-fA-F]{64})</password_sha256_hex>", users)
    assert hashes
    for secret in hashes + list(exposed_host.passwords().values()):
        assert not _appears(secret, result.output), "a password or its hash appears in the -vvv output"
    # Each host's own spec and waivers, as the deploy reads them from the inventory.
    audited = audit_hosts(exposed_host, "--spec-from-inventory", "--json")
    assert audited.returncode == 0, audited.stdout[-3000:] + audited.stderr
    (report,) = json.loads(audited.stdout)["reports"]
    assert report["target"] == "sandbox-1" and "config.d/zzz-debug.xml" not in report["files"]


def test_a_proof_started_ahead_is_not_taken_when_a_later_step_changes_the_host(exposed_host: Any) -> None:
    """Trust period 0: the tree the state read carried is judged before the steps that may
    change the host, and a passing host's proof starts then. Here the server certificate was
    swapped behind hardhouse's back (one from a foreign CA, served after a restart): the
    configuration tree still passes, so the proof starts ahead and fails (the certificate does
    not verify; no password is sent). The staging step then puts the right certificate back
    and going live restarts: the steps must prove the host again, not take the early answer."""
    host, _ = host_data(exposed_host)
    good = served_fingerprint(host.address)
    foreign = issue_leaf(issue_ca(), "clickhouse", [host.address])
    docker_exec(
        host.container,
        f"printf '%s' '{foreign.cert_pem.decode()}' > /etc/clickhouse-server/tls/server.crt && "
        f"printf '%s' '{foreign.key_pem.decode()}' > /etc/clickhouse-server/tls/server.key && "
        # Debian's script cannot find the server in a container: stopped by name, then started.
        "pkill -x clickhouse-serv; while pgrep -x clickhouse-serv >/dev/null; do sleep 0.1; done; "
        "/etc/init.d/clickhouse-server start >/dev/null",
    )
    swapped = ssl.PEM_cert_to_DER_cert(foreign.cert_pem.decode()).hex()
    _wait_for(lambda: port_open(host.address, 9440) and served_fingerprint(host.address) == swapped, "the swap")
    result = deploy(exposed_host, "-v", "--data", "hardhouse_trust_verified_for=0")
    assert result.returncode == 0, result.output[-4000:]
    assert "the live configuration passes the audit already: its proof starts now" in result.output
    assert "going live (restart" in result.output, result.output[-4000:]
    assert "verified from the deploy machine" in result.output
    assert served_fingerprint(host.address) == good


def test_official_repository_install_is_planned_with_a_checked_key_and_a_pinned_version(exposed_host: Any) -> None:
    """ClickHouse's own repository cannot be reached here: the plan is made against the real
    host (--dry reads its facts and executes nothing), which shows the operations it would run.
    The .invalid names are never contacted."""
    host, data = host_data(exposed_host)
    good = json.loads(json.dumps(data))
    data.update(
        hardhouse_install_source="clickhouse-repo",
        hardhouse_clickhouse_repo={
            "url": "https://clickhouse-apt.invalid/deb",
            "key_url": "https://clickhouse-apt.invalid/key.asc",
            "key_fingerprint": "0000 1111 2222 3333 4444 5555 6666 7777 8888 9999",
            "version": "24.8.14.39",
        },
    )
    exposed_host.write_inventory([host], {host.name: data})
    try:
        from hardhouse_dev.sandbox import ROOT

        command = [arg for arg in exposed_host.pyinfra_command("--dry") if arg != "-y"]  # --dry: plan only
        result = subprocess.run(command, env=exposed_host.environment(), capture_output=True, text=True, cwd=ROOT)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-3000:]
        for operation in (
            "Install ClickHouse's signing key (fingerprint checked)",
            "Add ClickHouse's apt repository",
            "Pin ClickHouse to 24.8.14.39",
            "Install ClickHouse 24.8.14.39 from ClickHouse's repository",
        ):
            assert re.search(re.escape(operation) + r"\s+1 \(sandbox-1\)", output), (
                f"{operation} not planned:\n{output[-3000:]}"
            )
        assert "clickhouse" not in docker_exec(
            host.container, "ls /etc/apt/sources.list.d/ /etc/apt/preferences.d/"
        )  # nothing executed
    finally:
        exposed_host.write_inventory([host], {host.name: good})


def test_spec_change_is_applied_without_restart_or_data_loss(exposed_host: Any) -> None:
    host, data = host_data(exposed_host)
    spec = data["hardhouse_spec"]
    auditor_secret = exposed_host.secrets_dir / "auditor"
    auditor_secret.write_text(secrets.token_urlsafe(24) + "\n")
    auditor_secret.chmod(0o600)
    gateway = exposed_host.gateway
    spec["users"].append(
        # An allow-list: a user with every database would also reach the spec's log database.
        {
            "name": "auditor",
            "password_file": str(auditor_secret),
            "networks": [gateway],
            "profile": "readonly",
            "databases": ["logs"],
        }
    )
    # The analysts move to another part of the network.
    lower = list(ipaddress.ip_network(str(exposed_host.subnet)).subnets(prefixlen_diff=2))[2]
    spec["users"][1]["networks"] = [str(lower)]
    exposed_host.write_inventory([host], {host.name: data})
    uptime = ingest(exposed_host, "SELECT uptime()")[0][0]

    result = deploy(exposed_host)
    assert result.returncode == 0, result.output[-4000:]
    assert ingest(exposed_host, "SELECT count() FROM logs.log_stream", user="auditor") == [(ROWS,)]
    assert ingest(exposed_host, "SELECT uptime()")[0][0] >= uptime, "a users.d-only change restarted the server"
    users = docker_exec(host.container, "cat /etc/clickhouse-server/users.d/zz-hardhouse-users.xml")
    # 18.16 gets IPv4 networks in IPv4-mapped form (see render.users.xml_network).
    assert f"::ffff:{lower.network_address}/{lower.prefixlen + 96}" in users and "<auditor" in users


def _mismatched_tls(tmp_path: Path, address: str) -> dict[str, str]:
    """A certificate and a private key that do not belong together (both well-formed)."""
    ca = issue_ca()
    one, other = issue_leaf(ca, "clickhouse", [address]), issue_leaf(ca, "clickhouse", [address])
    paths = {
        "certificate": tmp_path / "server.crt",
        "private_key": tmp_path / "server.key",
        "verify_ca": tmp_path / "ca.crt",
    }
    paths["certificate"].write_bytes(one.cert_pem)
    paths["private_key"].write_bytes(other.key_pem)
    paths["private_key"].chmod(0o600)
    paths["verify_ca"].write_bytes(ca.cert_pem)
    return {k: str(v) for k, v in paths.items()}


def test_certificate_not_matching_its_key_is_refused_before_going_live(exposed_host: Any, tmp_path: Path) -> None:
    host, data = host_data(exposed_host)
    good = dict(data)
    before = served_fingerprint(host.address)
    data.update(hardhouse_tls_source="files", hardhouse_tls_files=_mismatched_tls(tmp_path, host.address))
    exposed_host.write_inventory([host], {host.name: data})
    try:
        result = deploy(exposed_host)
        assert result.returncode != 0
        assert "does not match the private key" in result.output, result.output[-3000:]
        assert "nothing went live" in result.output
        # The old configuration keeps serving, with the old certificate.
        assert served_fingerprint(host.address) == before
        assert ingest(exposed_host, "SELECT count() FROM logs.log_stream") == [(ROWS,)]
    finally:
        exposed_host.write_inventory([host], {host.name: good})


def test_listen_address_not_on_the_host_is_rolled_back(exposed_host: Any) -> None:
    host, data = host_data(exposed_host)
    good = json.loads(json.dumps(data))
    # Valid for the spec, but not an address of this host: the server cannot bind it.
    absent = str(ipaddress.ip_network(str(exposed_host.subnet)).network_address + 250)
    data["hardhouse_spec"]["listen_hosts"] = [host.address, absent]
    exposed_host.write_inventory([host], {host.name: data})
    try:
        result = deploy(exposed_host)
        assert result.returncode != 0
        assert "rolled back: the previous configuration is serving again" in result.output, result.output[-3000:]
        assert "Cannot assign requested address" in result.output
        # The old configuration serves: data readable, the listen file without the bad address.
        assert ingest(exposed_host, "SELECT count() FROM logs.log_stream") == [(ROWS,)]
        assert absent not in docker_exec(host.container, "cat /etc/clickhouse-server/config.d/zz-hardhouse-listen.xml")
    finally:
        exposed_host.write_inventory([host], {host.name: good})


def test_good_spec_after_failed_changes_finds_the_previous_files_live(exposed_host: Any) -> None:
    result = deploy(exposed_host)
    assert result.returncode == 0, result.output[-4000:]
    # The rollbacks left the previous XML files live: none of them goes live again. Only the
    # certificate does, because the sandbox CA issued one covering the address the failed
    # change added (a certificate covering the listen addresses is kept, not churned).
    going_live = re.search(r"going live \((\w+): [^)]*\): (.*)", result.output)
    assert going_live, result.output[-3000:]
    assert going_live.group(2).split(", ") == ["server.crt", "server.key"], going_live.group(0)
    assert ingest(exposed_host, "SELECT count() FROM logs.log_stream") == [(ROWS,)]


def test_host_side_validation_uses_clickhouses_own_parser_and_the_server_users_view(exposed_host: Any) -> None:
    """hardhouse-apply validate on a copy of the staging area: a malformed users.d file is
    refused by ClickHouse's own config merge (18.16 has no extract-from-config; its client
    loads --config-file through the same ConfigProcessor), an unreadable file by the check
    run as the clickhouse user; every problem is listed."""
    (host,) = exposed_host.hosts()
    out = subprocess.run(
        [
            "docker",
            "exec",
            host.container,
            "sh",
            "-c",
            (
                "rm -rf /tmp/hh && cp -a /var/lib/hardhouse /tmp/hh && "
                "echo '<clickhouse><users><x></users></clickhouse>' > /tmp/hh/staged/users.d/zz-hardhouse-users.xml && "
                "chmod 600 /tmp/hh/staged/config.d/zz-hardhouse-tls.xml && "
                "/tmp/hh/bin/hardhouse-apply validate; echo rc=$?; rm -rf /tmp/hh"
            ),
        ],
        capture_output=True,
        text=True,
    )
    text = out.stdout + out.stderr
    assert "rc=1" in text and "nothing went live" in text, text
    assert (
        "Failed to merge config with '/etc/clickhouse-server/users.d/zz-hardhouse-users.xml': "
        "SAXParseException: Tag mismatch" in text
    ), text
    assert "zz-hardhouse-tls.xml: not readable by clickhouse (root:clickhouse 600)" in text, text


def test_deploy_as_a_sudo_user_keeps_the_private_key_out_of_tmp(exposed_host: Any) -> None:
    host, data = host_data(exposed_host)
    good = json.loads(json.dumps(data))
    docker_exec(
        host.container,
        (
            "id deploy >/dev/null 2>&1 || useradd -m -s /bin/sh deploy; "
            "echo 'deploy ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/deploy; "
            "install -d -o deploy -m 700 /home/deploy/.ssh; "
            "install -o deploy -m 600 /root/.ssh/authorized_keys /home/deploy/.ssh/; "
            "rm -rf /var/lib/hardhouse/staged"  # so everything is uploaded again
        ),
    )
    data.update(ssh_user="deploy", _sudo=True)
    exposed_host.write_inventory([host], {host.name: data})
    try:
        result = deploy(exposed_host, "-vv")
        assert result.returncode == 0, result.output[-3000:]
        # The files went as one archive the SSH user uploaded into its private directory, which
        # root unpacked and removed: nothing waited in /tmp, and nothing is left behind.
        assert "tar -x -f .hardhouse-upload/stage.tar" in result.output, result.output[-3000:]
        assert "pyinfra-" not in docker_exec(host.container, "ls -a /tmp")
        assert docker_exec(host.container, "stat -c '%U %a' /home/deploy/.hardhouse-upload").strip() == "deploy 700"
        assert docker_exec(host.container, "ls -A /home/deploy/.hardhouse-upload").strip() == ""
        assert (
            docker_exec(host.container, "stat -c '%U:%G %a' /var/lib/hardhouse/staged/tls/private_key.pem").strip()
            == "clickhouse:clickhouse 600"
        )
    finally:
        exposed_host.write_inventory([host], {host.name: good})


def test_plain_ipv4_cidr_restricts_logins_on_18_16(exposed_host: Any) -> None:
    host, data = host_data(exposed_host)
    upper = list(ipaddress.ip_network(str(exposed_host.subnet)).subnets(prefixlen_diff=1))[1]
    data["hardhouse_spec"]["users"][1]["networks"] = [str(upper)]
    exposed_host.write_inventory([host], {host.name: data})
    result = deploy(exposed_host)
    assert result.returncode == 0, result.output[-3000:]


@pytest.fixture
def two_hosts(tooling: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    sandbox = make_sandbox(tmp_path_factory, "two")
    try:
        sandbox.up(2)
        yield sandbox
    finally:
        sandbox.down()


def test_two_fresh_hosts_in_one_run_at_vvv_without_a_password_in_the_output(two_hosts: Any) -> None:
    result = deploy(two_hosts, "-vvv")
    assert result.returncode == 0, result.output[-4000:]
    assert result.output.count("verified from the deploy machine") == 2
    assert ">>> sh -c" in result.output  # -vvv really printed every command it ran
    passwords = two_hosts.passwords()
    for name, password in passwords.items():
        assert password not in result.output, f"the {name} password appears in pyinfra's -vvv output"
    assert result.output.count(f"log databases: created {LOG_DATABASE} ") == 2
    ok, results = two_hosts.report()
    assert ok, results
    for report in results:
        # The report lists the log database and the reader's rights, proven as the reader;
        # the reader outside this machine's reach is listed as not checked, not as passed.
        (described,) = report["log_databases"]
        assert described.startswith(f"log database {LOG_DATABASE}: tables requests (ts DateTime, ")
        proven = {c.check: c for c in report["checks"] if c.control == "HH-DATA-1"}
        assert proven[f"reader oncall reads {LOG_DATABASE}.requests"].ok
        refused = proven[f"reader oncall cannot write {LOG_DATABASE}.requests"]
        assert (
            refused.ok and "164 READONLY" in refused.detail and "allow_databases + readonly profile" in refused.detail
        )
        assert not proven[f"reader analyst on {LOG_DATABASE}"].checked
    for host in two_hosts.hosts():
        # Not on the host either: no file under /etc, hardhouse's state, ClickHouse's data or logs holds one.
        for password in passwords.values():
            found = subprocess.run(
                [
                    "docker",
                    "exec",
                    host.container,
                    "grep",
                    "-r",
                    "-l",
                    "-F",
                    # -e: a generated password may begin with "-" (token_urlsafe), which grep would read as an option.
                    "-e",
                    password,
                    "/etc",
                    "/var/lib/hardhouse",
                    "/var/lib/clickhouse",
                    "/var/log",
                ],
                capture_output=True,
                text=True,
            )
            assert found.returncode == 1 and not found.stdout, f"{host.name}: password found in {found.stdout}"
