"""The audit's verdict is what a client sees: Debian's real 18.16 server, hardened by a render,
then drifted by two files planted after hardhouse's (a debug file opening the plaintext native
port, a local users file adding a passwordless user from anywhere). The audit names both
files; a real native client then logs in through exactly that hole. With the files removed
and the server restarted, the audit passes and the same login is refused."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from hardhouse.audit.online import native_query_function
from hardhouse.audit.run import audit_tree
from hardhouse.ca import write_server_material
from hardhouse.cli import main
from hardhouse.clickhouse.driver import ServerException
from hardhouse.render import render
from hardhouse.spec import load_spec
from hardhouse.testing.clients import native_query, port_open
from hardhouse.testing.local_server import LocalClickHouse, free_port, server_binary
from tests.helpers import require

pytestmark = [pytest.mark.integration, pytest.mark.live]

SERVE = "127.0.0.2"
UNKNOWN_USER = 192


def test_planted_drift_is_named_by_the_audit_and_is_a_real_way_in(tmp_path: Path) -> None:
    require(server_binary() is not None, "Debian's clickhouse-server is not installed")
    tls = write_server_material(tmp_path / "tls", [SERVE])
    https, native_tls, planted_port = free_port(SERVE), free_port(SERVE), free_port(SERVE)
    spec = {
        "clickhouse_version": "18.16",
        "listen_hosts": [SERVE],
        "ports": {"http": None, "native": None, "https": https, "native_tls": native_tls},
        "tls": {"certificate": str(tls.certificate), "private_key": str(tls.private_key), "min_protocol": "tlsv1_2"},
        "default_user": "remove",
        # Read only: on 18.16 any other user keeps every table function (HH-EGRESS-2 would fail).
        "users": [{"name": "admin", "password_env": "HH_ADMIN", "networks": ["127.0.0.1"], "profile": "readonly"}],
    }
    environ = {"HH_ADMIN": secrets.token_urlsafe(24)}
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    server = LocalClickHouse(tmp_path / "server")
    server.install(render(load_spec(spec), environ))
    debug = server.etc / "config.d" / "zzz-debug.xml"
    local = server.etc / "users.d" / "zzz-local.xml"
    debug.write_text(f"<yandex>\n    <tcp_port>{planted_port}</tcp_port>\n</yandex>\n")
    local.write_text(
        "<yandex><users>\n    <backdoor>\n        <password></password>\n"
        "        <networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota>\n"
        "    </backdoor>\n</users></yandex>\n"
    )

    def audit() -> tuple[int, str]:
        # This machine's server, which has no /etc/metrika.xml (the stock tree's incl= take nothing).
        args = ["audit", str(server.etc), "--spec", str(spec_path), "--default-include", "none"]
        result = CliRunner().invoke(main, args, env=environ)
        return result.exit_code, result.output

    code, output = audit()
    assert code == 1
    assert f"HH-PORT-1 tcp_port {planted_port} from config.d/zzz-debug.xml:2" in output
    assert "HH-AUTH-1 user backdoor from users.d/zzz-local.xml:3: <password> is empty" in output
    assert "HH-DRIFT-1 user backdoor from users.d/zzz-local.xml:2: not in the spec" in output

    with server:
        server.start([(SERVE, native_tls), (SERVE, planted_port)])
        # 18.16 has no currentUser(): a query answered without a password is the proof.
        databases = native_query(SERVE, planted_port, "SELECT name FROM system.databases", user="backdoor", password="")
        assert ("system",) in databases

    debug.unlink()
    local.unlink()
    code, output = audit()
    assert code == 0, output
    with server:
        server.start([(SERVE, native_tls)])
        assert not port_open(SERVE, planted_port)
        with pytest.raises(ServerException) as refused:
            native_query(SERVE, native_tls, "SELECT 1", user="backdoor", password="", tls=True, ca=tls.ca_certificate)
        assert refused.value.code == UNKNOWN_USER


def test_online_audit_on_18_16_says_what_the_server_cannot_answer_and_needs_its_ca(tmp_path: Path) -> None:
    """18.16 has no SQL-managed users (no system.users): the online audit says so instead of
    passing silently. The password goes only to a server whose certificate validates."""
    require(server_binary() is not None, "Debian's clickhouse-server is not installed")
    tls = write_server_material(tmp_path / "tls", [SERVE])
    stranger = write_server_material(tmp_path / "other-ca", [SERVE])
    native_tls = free_port(SERVE)
    password = secrets.token_urlsafe(24)
    spec = {
        "clickhouse_version": "18.16",
        "listen_hosts": [SERVE],
        "ports": {"http": None, "native": None, "https": None, "native_tls": native_tls},
        "tls": {"certificate": str(tls.certificate), "private_key": str(tls.private_key), "min_protocol": "tlsv1_2"},
        "default_user": "remove",
        # Read only: it only reads, and on 18.16 any other user keeps every table function.
        "users": [{"name": "admin", "password_env": "HH_ADMIN", "networks": ["127.0.0.0/8"], "profile": "readonly"}],
    }
    server = LocalClickHouse(tmp_path / "server")
    server.install(render(load_spec(spec), {"HH_ADMIN": password}))
    with server:
        server.start([(SERVE, native_tls)])
        online = native_query_function(SERVE, native_tls, "admin", password, tls.ca_certificate)
        report = audit_tree(server.etc, online=online, assume_no_default_include=True)
        assert report.ok and report.online is not None and "no system.users" in report.online
        impostor_check = native_query_function(SERVE, native_tls, "admin", password, stranger.ca_certificate)
        with pytest.raises(Exception, match="(?i)certificate verify failed"):
            audit_tree(server.etc, online=impostor_check, assume_no_default_include=True)

        def cli(*extra: str) -> tuple[int, str]:
            args = ["audit", str(server.etc), "--default-include", "none", "--online", f"{SERVE}:{native_tls}"]
            args += ["--user", "admin", *extra]
            result = CliRunner().invoke(main, args, env={"HH_ADMIN": password})
            return result.exit_code, result.output

        code, output = cli("--password-env", "HH_ADMIN", "--ca", str(tls.ca_certificate))
        assert code == 0 and "online: the server has no system.users" in output
        code, output = cli("--password-env", "HH_ADMIN", "--ca", str(stranger.ca_certificate))
        assert code == 2 and "could not be asked" in output and "certificate verify failed" in output
        assert "Traceback" not in output and password not in output
        code, output = cli("--password-env", "HH_ADMIN")
        assert code == 2 and "--online needs --ca" in output
