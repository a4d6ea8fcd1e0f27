"""The local sandbox: harden this machine's Debian ClickHouse with examples/sandbox.yaml and
verify it from the outside. `python -m hardhouse.testing.sandbox up|down [--json]`.

State lives in /var/lib/hardhouse-sandbox (the spec's TLS paths point there): generated
passwords (secrets.env, 0600, never printed), a throwaway CA, and the server's files.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from pathlib import Path

from hardhouse.ca import write_server_material
from hardhouse.problems import SpecError
from hardhouse.render import render
from hardhouse.spec import load_spec_file
from hardhouse.testing.local_server import LocalClickHouse
from hardhouse.verify import report_text, verify_not_listening, verify_server

STATE = Path("/var/lib/hardhouse-sandbox")
DEFAULT_SPEC = Path(__file__).resolve().parents[3] / "examples" / "sandbox.yaml"
UNLISTED = "127.0.0.1"  # an address of this machine the spec does not list


def step(text: str) -> None:
    print(f"sandbox: {text}", file=sys.stderr, flush=True)


def load_secrets(path: Path, names: list[str]) -> dict[str, str]:
    """Read NAME=value lines, generating (and keeping) any password not there yet."""
    values = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line) if path.exists() else {}
    missing = [name for name in names if name not in values]
    if missing:
        values.update({name: secrets.token_urlsafe(24) for name in missing})
        path.touch(mode=0o600)
        path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return values


def up(spec_path: Path, as_json: bool) -> int:
    spec = load_spec_file(spec_path)
    host = spec.listen_hosts[0]
    STATE.mkdir(mode=0o700, parents=True, exist_ok=True)
    step("stopping any earlier sandbox server")
    LocalClickHouse.stop_detached(STATE / "server")
    step("passwords (generated once, kept in secrets.env)")
    env_names = [user.password_env for user in spec.users if user.password_env]
    environ = load_secrets(STATE / "secrets.env", env_names)
    step(f"TLS material for {', '.join(spec.listen_hosts)}")
    write_server_material(STATE / "tls", spec.listen_hosts)
    step(f"rendering {spec_path} for ClickHouse {spec.clickhouse_version}")
    files = render(spec, environ)
    server = LocalClickHouse(STATE / "server")
    server.install(files)
    ports = spec.ports.open()
    step(f"starting Debian's clickhouse-server (stock config + {len(files)} rendered files) on {host}:{sorted(ports.values())}")
    server.start([(host, port) for port in ports.values()], detach=True)
    step("verifying from the network")
    passwords = {user.name: environ[user.password_env] for user in spec.users if user.password_env}
    checks = verify_server(host, spec, ca=STATE / "tls" / "ca.crt", passwords=passwords)
    checks += verify_not_listening(UNLISTED, spec)
    if as_json:
        print(json.dumps({"host": host, "ok": all(c.ok for c in checks), "checks": [c.as_dict() for c in checks]}, indent=2))
    else:
        print(f"Verification of {host} (hardened with {spec_path.name}):")
        print(report_text(checks))
        print(f"Server running (pid {server.pid}); stop it with: scripts/sandbox down")
    return 0 if all(c.ok for c in checks) else 1


def down() -> int:
    stopped = LocalClickHouse.stop_detached(STATE / "server")
    step("server stopped" if stopped else "no sandbox server was running")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/sandbox", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["up", "down"], nargs="?", default="up")
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC, help="spec to harden the sandbox with (default: examples/sandbox.yaml)")
    parser.add_argument("--json", action="store_true", help="print the verification as JSON")
    args = parser.parse_args(argv)
    if args.action == "down":
        return down()
    try:
        return up(args.spec, args.json)
    except SpecError as error:
        print(f"sandbox: {args.spec}: {len(error.problems)} problem(s); nothing was started:", file=sys.stderr)
        for problem in error.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    except (RuntimeError, TimeoutError, FileNotFoundError) as error:
        print(f"sandbox: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
