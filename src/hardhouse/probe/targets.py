"""What to probe: target strings, target files and pyinfra inventories, expanded to endpoints.

A target is HOST, HOST:PORT, [IPv6]:PORT, CIDR or CIDR:PORT, `@FILE` or an existing FILE. A
`.py` file is a pyinfra inventory, read statically (its literal host groups, nothing executed)
unless the caller asks to run it the way pyinfra does; any other file is a plain list of
targets, which is never executed. Files are read with bounds (size, regular files only).
"""

from __future__ import annotations

import ast
import ipaddress
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hardhouse.clickhouse.hostnames import host_name_problem
from hardhouse.clickhouse.ports import PROBE_PORTS
from hardhouse.probe.endpoint import FILE_MAX, Endpoint, TargetError, read_bounded
from hardhouse.probe.scanfiles import read_scan_file

# A CIDR larger than this many addresses is refused unless --max-hosts raises the cap (/16).
DEFAULT_MAX_HOSTS = 65536
# An existing file is read as targets when named @FILE, when its path has a `/`, or by suffix.
TARGET_FILE_SUFFIXES = frozenset({".py", ".txt", ".list", ".lst", ".hosts", ".targets"})


def _port(text: str, where: str) -> int:
    if not text.isdigit() or len(text) > 5 or not 0 < int(text) < 65536:
        raise TargetError(f"{where}: {text[:20]!r} is not a TCP port (1-65535)")
    return int(text)


def _split_host_port(text: str) -> tuple[str, int | None]:
    """`host`, `host:port`, `[v6]:port`, `v6`, `cidr`, `cidr:port` -> (host-or-cidr, port)."""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            raise TargetError(f"{text[:80]!r}: missing ']'")
        if rest and not rest.startswith(":"):
            raise TargetError(f"{text[:80]!r}: expected [ADDRESS]:PORT")
        return host, (_port(rest[1:], text) if rest else None)
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, _port(port, text)
    return text, None  # a name, an IPv4 address or CIDR, or a bare IPv6 address/CIDR


def _expand_cidr(text: str, max_hosts: int) -> list[str]:
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError as error:
        raise TargetError(f"{text[:80]!r}: {error}") from None
    if network.num_addresses > max_hosts:
        raise TargetError(
            f"{text!r} holds {network.num_addresses} addresses, more than --max-hosts {max_hosts}; "
            "split it or raise --max-hosts"
        )
    if network.num_addresses <= 2:
        return [str(a) for a in network]
    return [str(a) for a in network.hosts()]


def _check_host(host: str, where: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    # A target's name may hold '_' (container and /etc/hosts names), as a spec's may not.
    if host_name_problem(host, underscore=True) is not None:
        raise TargetError(f"{where[:80]!r}: not a host name or address")
    return host


def parse_target(
    text: str, ports: Sequence[int], *, max_hosts: int = DEFAULT_MAX_HOSTS, source: str | None = None
) -> list[Endpoint]:
    """One target string (not a file) -> endpoints. A bare host gets every port in `ports`."""
    text = text.strip()
    if not text:
        raise TargetError("empty target")
    base, port = _split_host_port(text)
    chosen = [port] if port is not None else list(ports)
    hosts = _expand_cidr(base, max_hosts) if "/" in base else [_check_host(base, text)]
    return [Endpoint(host, p, source or text) for host in hosts for p in chosen]


def read_target_file(path: Path) -> list[str]:
    """A plain list: one target per line, `#` starts a comment, blank lines ignored."""
    lines = []
    for raw in read_bounded(path).splitlines():
        line = raw.split("#", 1)[0].strip()
        lines.extend(part for part in line.replace(",", " ").split() if part)
    return lines


def _inventory_host(name: str, data: dict[str, Any]) -> str | None:
    """pyinfra host name (+ data) -> network address, or None when it has none."""
    if isinstance(data.get("ssh_hostname"), str) and data["ssh_hostname"]:
        return str(data["ssh_hostname"])
    if name.startswith("@"):
        connector, _, rest = name[1:].partition("/")
        if connector == "local":
            return "127.0.0.1"
        if connector == "ssh" and rest:
            return rest
        return None  # @docker/ID, @chroot/... have no network address of their own
    return name.rsplit("@", 1)[-1]  # user@host


def _literal_hosts(value: Any) -> list[tuple[str, dict[str, Any]]]:
    """A pyinfra inventory group: [host | (host, data)] or ([...], group_data)."""
    group_data: dict[str, Any] = {}
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], list) and isinstance(value[1], dict):
        value, group_data = value
    if not isinstance(value, list):
        return []
    hosts = []
    for item in value:
        if isinstance(item, str):
            hosts.append((item, dict(group_data)))
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], dict):
            hosts.append((item[0], {**group_data, **item[1]}))
    return hosts


def inventory_hosts_static(path: Path) -> tuple[list[str], list[str]]:
    """Host addresses from a pyinfra inventory, read with `ast` (nothing is executed).

    Module-level assignments whose value is a literal list or (list, data) tuple are host
    groups, as pyinfra defines them; names starting with `_` are ignored, as pyinfra does.
    Returns (addresses, notes).
    """
    try:
        tree = ast.parse(read_bounded(path), filename=str(path))
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        raise TargetError(f"{path}: not a readable pyinfra inventory: {type(error).__name__}") from None
    addresses: list[str] = []
    notes: list[str] = []
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign) and node.value
            else []
        )
        names = [t.id for t in targets if isinstance(t, ast.Name) and not t.id.startswith("_")]
        if not names:
            continue
        try:
            value = ast.literal_eval(node.value)  # type: ignore[arg-type]
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            notes.append(
                f"{path}:{node.lineno}: group {names[0]!r} is computed, not a literal; "
                "--run-inventory runs the file as pyinfra does (only for inventories you trust)"
            )
            continue
        for name, data in _literal_hosts(value):
            address = _inventory_host(name, data)
            if address is None:
                notes.append(f"{path}: host {name[:80]!r} has no network address (connector), skipped")
            elif address not in addresses:
                addresses.append(address)
    return addresses, notes


INVENTORY_TIMEOUT = 120.0  # seconds pyinfra may take to load an inventory


def inventory_hosts_run(path: Path) -> tuple[list[str], list[str]]:
    """Hosts of a pyinfra inventory as pyinfra sees them: its own loader RUNS the file and its
    group_data files (so computed groups and ssh_hostname from group data count). It runs in a
    child process: pyinfra's CLI monkey-patches sockets (gevent) on import, and an
    inventory's code must not share the probe's process."""
    command = [sys.executable, "-m", "hardhouse.probe.targets", str(path)]
    try:
        completed = subprocess.run(
            command, capture_output=True, timeout=INVENTORY_TIMEOUT, check=False, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise TargetError(f"{path}: pyinfra did not load it within {INVENTORY_TIMEOUT:g}s") from None
    try:
        answer = json.loads(completed.stdout[:FILE_MAX])
    except ValueError:
        raise TargetError(f"{path}: pyinfra could not load it (exit status {completed.returncode})") from None
    if "error" in answer:
        raise TargetError(f"{path}: pyinfra could not load it ({str(answer['error'])[:200]})")
    addresses: list[str] = []
    notes: list[str] = []
    for name, ssh_hostname in answer["hosts"]:
        address = _inventory_host(str(name), {"ssh_hostname": ssh_hostname})
        if address is None:
            notes.append(f"{path}: host {str(name)[:80]!r} has no network address (connector), skipped")
        elif address not in addresses:
            addresses.append(address)
    return addresses, notes


def _load_with_pyinfra(path: Path) -> dict[str, Any]:
    """In the child: pyinfra's loader, the way its CLI runs it."""
    from pyinfra.api import State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory

    state = State(check_for_changes=False)
    state.cwd = str(path.parent.resolve())
    try:
        with ctx_state.use(state):
            inventory = make_inventory(str(path), cwd=state.cwd)
    except Exception as error:  # the inventory's own code failed
        inner = getattr(error, "e", error)  # pyinfra wraps errors raised by user code
        try:
            return {"error": f"{type(inner).__name__}: {inner}"}
        except Exception:  # noqa: BLE001 - a message that cannot even be printed
            return {"error": type(inner).__name__}
    return {"hosts": [[host.name, host.data.get("ssh_hostname")] for host in inventory]}


def expand_targets(
    targets: Sequence[str],
    ports: Sequence[int] = PROBE_PORTS,
    *,
    max_hosts: int = DEFAULT_MAX_HOSTS,
    run_inventory: bool = False,
    scan_files: Sequence[str] = (),
) -> tuple[list[Endpoint], list[str]]:
    """Every target -> de-duplicated endpoints in order, plus notes for the user.

    `scan_files` are port scanners' outputs (masscan -oJ/-oL/-oX, nmap -oX; `-` is stdin):
    their open TCP ports become endpoints as they are (hardhouse.probe.scanfiles)."""
    if not targets and not scan_files:
        raise TargetError("no target given")
    endpoints: list[Endpoint] = []
    seen: set[tuple[str, int]] = set()
    notes: list[str] = []

    def add(items: list[Endpoint]) -> None:
        for item in items:
            if (item.host, item.port) not in seen:
                seen.add((item.host, item.port))
                endpoints.append(item)
        if len({e.host for e in endpoints}) > max_hosts:
            raise TargetError(f"the targets hold more than --max-hosts {max_hosts} hosts")

    for target in targets:
        path = Path(target[1:]) if target.startswith("@") else Path(target)
        if target.startswith("@") and not path.exists():
            raise TargetError(f"{target}: no such file")
        if target.startswith("@") or (path.is_file() and ("/" in target or path.suffix in TARGET_FILE_SUFFIXES)):
            if path.suffix == ".py":
                hosts, more = (inventory_hosts_run if run_inventory else inventory_hosts_static)(path)
                notes.extend(more)
                if not hosts:
                    notes.append(f"{path}: no hosts found")
                for host in hosts:
                    add(parse_target(host, ports, max_hosts=max_hosts, source=str(path)))
            else:
                for line in read_target_file(path):
                    add(parse_target(line, ports, max_hosts=max_hosts, source=str(path)))
        else:
            add(parse_target(target, ports, max_hosts=max_hosts))
    if scan_files:
        for name in scan_files:
            found = read_scan_file(name, max_hosts=max_hosts)
            notes.extend(found.notes())
            add(found.endpoints)
    return endpoints, notes


if __name__ == "__main__":
    print(json.dumps(_load_with_pyinfra(Path(sys.argv[1])), default=str))
