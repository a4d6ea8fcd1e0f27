"""`hardhouse probe --from-scan`: targets from masscan (-oJ, -oD, -oL, -oX) and nmap (-oX) output.

The samples in tests/probe/scans are real outputs (masscan 1.3.2 with --show closed, nmap 7.93)
of a sweep of 127.0.3.6-9, ports 18123-18124, where 127.0.3.7:18123 and 127.0.3.9:18124 were
open. Hostile files run the CLI in a child whose address space is capped (tests/helpers.py).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from hardhouse.probe import TargetError, expand_targets
from hardhouse.probe.scanfiles import SCAN_FILE_MAX, read_scan_file
from tests.helpers import assert_refused_briefly, run_cli_capped
from tests.probe.fakes import clickhouse_http, tcp_service

SCANS = Path(__file__).parent / "scans"
OPEN = {("127.0.3.7", 18123), ("127.0.3.9", 18124)}


def pairs(name: str) -> set[tuple[str, int]]:
    return {(e.host, e.port) for e in read_scan_file(name).endpoints}


@pytest.mark.parametrize(
    ("sample", "kind"),
    [
        ("masscan-oJ.json", "masscan -oJ"),
        ("masscan-oL.txt", "masscan -oL"),
        ("masscan-oX.xml", "masscan -oX"),
        ("nmap-oX.xml", "nmap -oX"),
    ],
)
def test_real_scanner_outputs_give_exactly_the_open_ports(sample: str, kind: str) -> None:
    found = read_scan_file(str(SCANS / sample))
    assert found.kind == kind
    assert {(e.host, e.port) for e in found.endpoints} == OPEN
    assert found.ignored == 6  # the closed ports of the sweep
    assert {e.source for e in found.endpoints} == {str(SCANS / sample)}


def write(tmp_path: Path, text: str | bytes, name: str = "scan.out") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return str(path)


def test_only_open_tcp_ports_become_targets(tmp_path: Path) -> None:
    json_scan = write(
        tmp_path,
        "[\n"
        '{"ip": "10.0.0.1", "ports": [{"port": 9000, "proto": "tcp", "status": "open", "reason": "syn-ack"}]},\n'
        '{"ip": "10.0.0.2", "ports": [{"port": 9000, "proto": "tcp", "status": "closed"}]},\n'
        '{"ip": "10.0.0.3", "ports": [{"port": 161, "proto": "udp", "status": "open"}]},\n'
        '{"ip": "10.0.0.4", "ports": [{"port": 0, "proto": "icmp", "status": "up"}]},\n'
        '{"ip": "10.0.0.1", "ports": [{"port": 9000, "proto": "tcp", "service": {"name": "x", "banner": "y"}}]},\n'
        '{"ip": "2001:db8::7", "ports": [{"port": 8123, "proto": "tcp", "status": "open"}]}\n'
        "]\n",
    )
    assert pairs(json_scan) == {("10.0.0.1", 9000), ("2001:db8::7", 8123)}
    ndjson = write(tmp_path, '{"ip": "10.0.0.9", "ports": [{"port": 9440, "proto": "tcp", "status": "open"}]}\n')
    assert pairs(ndjson) == {("10.0.0.9", 9440)}  # masscan -oD
    listing = write(
        tmp_path,
        "#masscan\nopen tcp 9000 10.0.0.1 1700000000\nclosed tcp 8123 10.0.0.1 1700000000\n"
        "open udp 161 10.0.0.2 1700000000\nbanner tcp 9000 10.0.0.1 1700000000 http Ok. with spaces\n# end\n",
    )
    assert pairs(listing) == {("10.0.0.1", 9000)}
    nmap = write(
        tmp_path,
        '<?xml version="1.0"?>\n<!DOCTYPE nmaprun>\n<nmaprun scanner="nmap">\n'
        '<host><status state="up"/><address addr="10.0.0.5" addrtype="ipv4"/>'
        '<address addr="02:00:00:00:00:01" addrtype="mac"/><ports>'
        '<port protocol="tcp" portid="9000"><state state="open"/></port>'
        '<port protocol="tcp" portid="8123"><state state="open|filtered"/></port>'
        '<port protocol="tcp" portid="8443"><state state="filtered"/></port>'
        '<port protocol="udp" portid="9000"><state state="open"/></port></ports></host>\n'
        '<host><status state="down"/><address addr="10.0.0.6" addrtype="ipv4"/></host>\n</nmaprun>\n',
    )
    assert pairs(nmap) == {("10.0.0.5", 9000)}


def test_scan_targets_join_the_others_deduplicated_and_capped(tmp_path: Path) -> None:
    scan = str(SCANS / "masscan-oL.txt")
    endpoints, notes = expand_targets(["127.0.3.7:18123", "127.0.3.1:9000"], [9000], scan_files=[scan])
    assert [(e.host, e.port) for e in endpoints] == [("127.0.3.7", 18123), ("127.0.3.1", 9000), ("127.0.3.9", 18124)]
    assert any("2 open TCP port(s) on 2 host(s)" in note for note in notes)
    assert any("18123, 18124 are not ClickHouse's usual ones; probed all the same" in note for note in notes)
    with pytest.raises(TargetError, match="more than --max-hosts 1"):
        expand_targets([], [9000], max_hosts=1, scan_files=[scan])


def test_repeated_ports_count_once_and_the_host_cap_stops_the_read(tmp_path: Path) -> None:
    repeated = write(tmp_path, "open tcp 9000 10.0.0.1 1700000000\n" * 1000, "repeated.txt")
    found = read_scan_file(repeated)
    assert [(e.host, e.port) for e in found.endpoints] == [("10.0.0.1", 9000)] and found.repeated == 999
    lines = "".join(f"open tcp 9000 10.0.{i // 256}.{i % 256} 1700000000\n" for i in range(40))
    many = write(tmp_path, lines, "many.txt")
    with pytest.raises(TargetError, match=r"many.txt:11: more than --max-hosts 10 hosts have an open port") as caught:
        read_scan_file(many, max_hosts=10)
    assert "raise --max-hosts" in str(caught.value)


BAD = {
    "JSON address with a name": ('[{"ip": "db1.internal", "ports": []}]', "record 1"),
    "JSON address out of range": (
        '[{"ip": "10.0.0.256", "ports": [{"port": 9000, "proto": "tcp", "status": "open"}]}]',
        "is not an IP address",
    ),
    "JSON IPv6 scope id": (
        '[{"ip": "fe80::1%eth0", "ports": [{"port": 9000, "proto": "tcp", "status": "open"}]}]',
        "is not an IP address",
    ),
    "JSON escaped control character": (
        '[{"ip": "10.0.0.1\\u001b[2J", "ports": [{"port": 9000, "proto": "tcp", "status": "open"}]}]',
        "is not an IP address",
    ),
    "JSON port as a string": (
        '[{"ip": "10.0.0.1", "ports": [{"port": "9000", "proto": "tcp", "status": "open"}]}]',
        "is not a number",
    ),
    "JSON port too large": (
        '[{"ip": "10.0.0.1", "ports": [{"port": 70000, "proto": "tcp", "status": "open"}]}]',
        "is not a port",
    ),
    "JSON port true": (
        '[{"ip": "10.0.0.1", "ports": [{"port": true, "proto": "tcp", "status": "open"}]}]',
        "True is not a port",
    ),
    "JSON second record broken": (
        '[\n{"ip": "10.0.0.1", "ports": [{"port": 9000, "proto": "tcp", "status": "open"}]}\n,\n{"ip": }\n]',
        ":4: record 2: not JSON",
    ),
    "JSON never closed": (
        '[\n{"ip": "10.0.0.1", "ports": [{"port": 9000, "proto": "tcp", "status": "open"}]}\n',
        "never closed",
    ),
    "JSON garbage after the array": ("[\n]\nrm -rf /\n", "text after the closing"),
    "JSON not a record": ("[1, 2, 3]", "not a masscan record"),
    "list bad port": ("#masscan\nopen tcp 9000x 10.0.0.1 1700000000\n", ":2: port: '9000x' is not a port"),
    "list name for an address": ("open tcp 9000 db1.internal 1700000000\n", ":1: address: 'db1.internal'"),
    "list too many fields": ("open tcp 9000 10.0.0.1 1700000000 extra\n", ":1: not a masscan -oL line"),
    "list unknown protocol": ("open quic 9000 10.0.0.1 1700000000\n", "not a protocol masscan writes"),
    "list escape sequence": ("#masscan\nopen tcp 9000 10.0.0.1 1700000000\x1b[2J\n", ":2: control character U+001B"),
    "XML doctype with an entity": (
        '<?xml version="1.0"?>\n<!DOCTYPE nmaprun [<!ENTITY x "y">]>\n<nmaprun scanner="nmap"/>',
        "refused (DOCTYPE and entities are not allowed",
    ),
    "XML external entity": (
        '<?xml version="1.0"?>\n<!DOCTYPE nmaprun SYSTEM "file:///etc/passwd">\n<nmaprun scanner="nmap">&x;</nmaprun>',
        "DOCTYPE declaration refused",
    ),
    "XML second doctype after nmap's": (
        '<!DOCTYPE nmaprun>\n<!DOCTYPE nmaprun [<!ENTITY a "b">]>\n<nmaprun scanner="nmap"/>',
        "refused",
    ),
    "XML other root": ('<config scanner="nmap"/>', "<config> is not an nmap or masscan report"),
    "XML bad portid": (
        '<nmaprun scanner="nmap">\n<host><address addr="10.0.0.1" addrtype="ipv4"/><ports>\n'
        '<port protocol="tcp" portid="-1"><state state="open"/></port></ports></host></nmaprun>',
        ":3: <port portid>: '-1' is not a port",
    ),
    "XML bad address": (
        '<nmaprun scanner="masscan"><host><address addr="10.0.0.1 " addrtype="ipv4"/></host></nmaprun>',
        "is not an IP address",
    ),
    "XML unclosed": ('<nmaprun scanner="nmap"><host>', "no element found"),
    "unknown format": ("Nmap scan report for 10.0.0.1\n", "not masscan -oJ/-oL or nmap -oX output"),
    "NUL byte": ("#masscan\n\x00\n", "control character U+0000"),
}


@pytest.mark.parametrize(("text", "said"), list(BAD.values()), ids=list(BAD))
def test_bad_scan_files_are_refused_naming_the_file_line_and_fix(tmp_path: Path, text: str, said: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(TargetError) as caught:
        read_scan_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:") and said in message, message
    assert "; " in message  # the fix follows the problem
    assert "\x1b" not in message and "\x00" not in message


def test_binary_and_special_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="not UTF-8"):
        read_scan_file(write(tmp_path, b"\x7fELF\x02\x01\x01" + os.urandom(64) + b"\xff"))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening it must not wait for a writer
    with pytest.raises(TargetError, match="not a regular file"):
        read_scan_file(str(fifo))
    with pytest.raises(TargetError, match="not a regular file"):
        read_scan_file(str(tmp_path))  # a directory
    with pytest.raises(TargetError, match="No such file"):
        read_scan_file(str(tmp_path / "missing.json"))


# ------------------------------------------------------------------------------ the CLI, capped


def run_capped_stdin(*args: str, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    """run_cli_capped with bytes on stdin (`--from-scan -`)."""
    return run_cli_capped(*args, stdin=stdin)


def _laughs() -> str:
    entities = ['<!ENTITY lol "lol">', '<!ENTITY lol1 "' + "&lol;" * 10 + '">']
    entities += [f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(2, 10)]
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE nmaprun [{"".join(entities)}]>\n<nmaprun scanner="nmap">&lol9;</nmaprun>\n'
    )


def _million_hosts() -> str:
    return "".join(f"open tcp 9000 10.{i >> 16}.{(i >> 8) & 255}.{i & 255} 1700000000\n" for i in range(1_000_000))


HOSTILE = {
    "deeply nested JSON": lambda: '[{"ip": "10.0.0.1", "ports": ' + "[" * 200_000 + "]" * 200_000 + "}]",
    "deeply nested XML": lambda: '<nmaprun scanner="nmap">' + "<host>" * 100_000 + "</host>" * 100_000 + "</nmaprun>",
    "billion laughs": _laughs,
    "garbage JSON": lambda: "[" + "{" * 50 + '"ip": [1, 2, {"x": nan}' * 1000,
    "binary": lambda: os.urandom(1 << 20),
    "a million hosts": _million_hosts,
    "many elements": lambda: '<nmaprun scanner="nmap">' + "<x/>" * 3_000_000 + "</nmaprun>",
}


def hostile_file(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / "hostile.scan"
    if kind == "huge file":
        with path.open("wb") as handle:  # sparse: the size is refused before a byte is read
            handle.truncate(SCAN_FILE_MAX + 1)
        return path
    content = HOSTILE[kind]()
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


EXPECTED = {
    "huge file": "larger than",
    "deeply nested JSON": "nested too deeply",
    "deeply nested XML": "nested deeper than 16 levels",
    "billion laughs": "refused",
    "garbage JSON": "not JSON",
    "binary": "not UTF-8",
    "many elements": "more than 2000000 elements",
    "a million hosts": ":65537: more than --max-hosts 65536 hosts",
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(EXPECTED))
def test_hostile_scan_files_are_refused_in_a_capped_child(tmp_path: Path, kind: str) -> None:
    path = hostile_file(tmp_path, kind)
    result = run_cli_capped("probe", "--from-scan", str(path), "--json")
    output = assert_refused_briefly(result, str(path), EXPECTED[kind])
    assert "MemoryError" not in output


@pytest.mark.slow
def test_a_hostile_stream_on_stdin_is_bounded() -> None:
    result = run_capped_stdin(
        "probe", "--from-scan", "-", stdin=b"open tcp 9000 10.0.0.1 1\n" * (SCAN_FILE_MAX // 24 + 10)
    )
    assert_refused_briefly(result, "<stdin>", "larger than")


def test_a_sweep_that_saw_nothing_open_exits_clean(tmp_path: Path) -> None:
    path = write(tmp_path, "#masscan\nclosed tcp 9000 127.0.0.1 1700000000\n# end\n")
    result = run_cli_capped("probe", "--from-scan", path, "--json")
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert json.loads(result.stdout)["endpoints"] == []
    assert b"holds no open TCP port" in result.stderr


def test_no_target_and_no_scan_is_a_usage_error() -> None:
    assert_refused_briefly(run_cli_capped("probe"), "give a TARGET or --from-scan FILE")


@pytest.mark.parametrize("status", ["open", "closed"])
def test_an_open_port_from_masscan_is_judged_on_any_port(status: str) -> None:
    """The file says where to look, the probe judges what answers: an anonymous ClickHouse on an
    unusual port is found through masscan -oL on stdin; the same port marked closed is not probed."""
    with tcp_service(clickhouse_http()) as port:
        listing = f"#masscan\n{status} tcp {port} 127.0.0.1 1700000000\n# end\n".encode()
        result = run_capped_stdin(
            "probe",
            "--from-scan",
            "-",
            "--timeout",
            "1",
            "--no-tls-scan",
            "--no-default-credentials",
            "--json",
            stdin=listing,
        )
    report = json.loads(result.stdout)
    if status == "closed":
        assert result.returncode == 0 and report["endpoints"] == []
        return
    assert result.returncode == 1, result.stderr.decode()[-2000:]
    (endpoint,) = report["endpoints"]
    assert endpoint["clickhouse"] is True
    assert "anonymous-access" in {finding["rule"] for finding in endpoint["findings"]}
