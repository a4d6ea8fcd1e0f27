"""Targets from a port scanner's output: masscan (-oJ, -oD, -oL, -oX) and nmap (-oX).

A stateless scanner (masscan) sweeps large ranges at line rate; hardhouse then judges only what
answered. The scanner's file is read, never trusted:

- Only TCP ports the scanner saw **open** become endpoints (masscan `"status": "open"`, nmap
  `<state state="open">`; nmap's `open|filtered` is not open). Closed ports, ARP/ICMP "up"
  records, UDP and banner records are counted and ignored.
- Every open port becomes an endpoint, whatever its number: ClickHouse on 18123 is as exposed
  as on 8123, and the probe's own detection (ping, native Hello, TLS) decides what speaks there.
  To judge only ClickHouse's usual ports, sweep only those (`masscan -p8123,9000,...`).
- The files are hostile input: at most SCAN_FILE_MAX bytes are read (regular files, or stdin as
  `-`), the text must be UTF-8 without control characters, addresses and ports must match
  exactly (no names, no scope ids, decimal ports 1-65535), XML goes through the audit's hardened
  expat reader (hardhouse.clickhouse.xmltree: DOCTYPE and entities refused, depth and element count
  bounded; only nmap's own bare `<!DOCTYPE nmaprun>` line is blanked before parsing), and JSON
  is parsed one record at a time. A problem is a TargetError (exit 2) naming the file, the line
  and record, and what to do.
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from hardhouse.clickhouse import xmltree
from hardhouse.clickhouse.ports import PROBE_PORTS
from hardhouse.probe.endpoint import Endpoint, TargetError, read_bounded_bytes

SCAN_FILE_MAX = 64 * 1024 * 1024  # bytes of one scanner output (about a million masscan -oL lines)
XML_MAX_DEPTH = 16  # nmap's deepest element (nmaprun/host/ports/port/script/table/...) is far above this
XML_MAX_ELEMENTS = 2_000_000
STDIN = "-"

# Control characters other than tab, newline and carriage return; C1 controls too. Neither
# masscan nor nmap writes one (masscan escapes banners, nmap escapes XML).
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
IPV4 = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
IPV6 = re.compile(r"[0-9A-Fa-f:.]{2,45}")  # no `%scope`: a zone names an interface, not a host
PORT = re.compile(r"[0-9]{1,5}")
TIMESTAMP = re.compile(r"[0-9]{1,20}")
NMAP_DOCTYPE = b"<!DOCTYPE nmaprun>"  # what nmap -oX writes: a name, no subset, no external id

MASSCAN_JSON = "masscan -oJ"
MASSCAN_LIST = "masscan -oL"
NMAP_XML = "nmap -oX"
MASSCAN_XML = "masscan -oX"

JSON_FIX = (
    'masscan -oJ writes records like {"ip": "10.0.0.5", "ports": [{"port": 9000, "proto": "tcp", '
    '"status": "open"}]}: pass the file masscan wrote, unedited'
)
LIST_FIX = "masscan -oL writes lines like 'open tcp 9000 10.0.0.5 1700000000': pass the file masscan wrote, unedited"
XML_FIX = "pass the file nmap -oX (or masscan -oX) wrote, unedited"


@dataclass
class ScanFile:
    """What one scanner output holds: the open TCP endpoints and what was left out."""

    shown_as: str
    kind: str = ""
    max_hosts: int | None = None  # refuse the file past this many distinct hosts (--max-hosts)
    endpoints: list[Endpoint] = field(default_factory=list)
    ignored: int = 0  # records that are not an open TCP port (closed, up, banner, UDP...)
    repeated: int = 0  # open ports the file names more than once (masscan may report one twice)
    _seen: set[tuple[str, int]] = field(default_factory=set, repr=False)
    _hosts: set[str] = field(default_factory=set, repr=False)

    def add(self, host: str, port: int, line: int) -> None:
        """An open TCP port, once; the host cap is checked as the file is read, so a file of a
        million hosts is refused at the first one too many, not after it filled memory."""
        if (host, port) in self._seen:
            self.repeated += 1
            return
        if host not in self._hosts:
            if self.max_hosts is not None and len(self._hosts) >= self.max_hosts:
                raise _fail(
                    self.shown_as,
                    line,
                    f"more than --max-hosts {self.max_hosts} hosts have an open port",
                    "split the scan (masscan --shard) or raise --max-hosts",
                )
            self._hosts.add(host)
        self._seen.add((host, port))
        self.endpoints.append(Endpoint(host, port, self.shown_as))

    def notes(self) -> list[str]:
        hosts = len({e.host for e in self.endpoints})
        notes = [
            f"{self.shown_as} ({self.kind}): {len(self.endpoints)} open TCP port(s) on {hosts} host(s) to probe"
            + (f"; {self.ignored} record(s) that are not an open TCP port ignored" if self.ignored else "")
            + (f"; {self.repeated} repeated" if self.repeated else "")
        ]
        unusual = sorted({e.port for e in self.endpoints} - set(PROBE_PORTS))
        if unusual:
            shown = ", ".join(map(str, unusual[:8])) + (", ..." if len(unusual) > 8 else "")
            notes.append(
                f"{self.shown_as}: port(s) {shown} are not ClickHouse's usual ones; probed all the same "
                "(what answers decides: ClickHouse on any port is judged, anything else is reported as not ClickHouse)"
            )
        return notes


def _fail(shown_as: str, line: int | None, what: str, fix: str) -> TargetError:
    where = f"{shown_as}:{line}" if line is not None else shown_as
    return TargetError(f"{where}: {what}; {fix}")


def _address(text: Any, shown_as: str, line: int, record: str, fix: str) -> str:
    """An IP address exactly as a scanner writes it (no names, no scope ids) -> canonical form."""
    if isinstance(text, str) and (IPV4.fullmatch(text) or (":" in text and IPV6.fullmatch(text))):
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            pass
    raise _fail(shown_as, line, f"{record}: {_excerpt(text)} is not an IP address", fix)


def _port(value: Any, shown_as: str, line: int, record: str, fix: str, *, zero: bool = False) -> int:
    """A port: an int in JSON, decimal digits in text; 1-65535 (0 for masscan's ARP/ICMP records)."""
    if isinstance(value, str) and PORT.fullmatch(value):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and (0 if zero else 1) <= value <= 65535:
        return value
    raise _fail(shown_as, line, f"{record}: {_excerpt(value)} is not a port (1-65535)", fix)


def _excerpt(value: Any) -> str:
    """A bounded, escaped rendering of a value from the file, for an error message."""
    text = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return text[:40] + ("..." if len(text) > 40 else "")


# ------------------------------------------------------------------------------ masscan -oJ / -oD


def _json_records(text: str, shown_as: str) -> Iterator[tuple[int, int, Any]]:
    """(record number, line, value) for each record of masscan's -oJ array (or -oD lines),
    decoded one at a time: a broken or deeply nested record is refused by its number."""
    decoder = json.JSONDecoder()
    index, end, number = 0, len(text), 0
    whitespace = re.compile(r"[ \t\r\n]*")

    def skip(at: int) -> int:
        return whitespace.match(text, at).end()  # type: ignore[union-attr]

    index = skip(index)
    bracketed = text.startswith("[", index)
    if bracketed:
        index = skip(index + 1)
    while index < end:
        if bracketed and text[index] == "]":
            if skip(index + 1) != end:
                raise _fail(shown_as, text.count("\n", 0, index) + 1, "text after the closing ']'", JSON_FIX)
            return
        if number and text[index] == ",":
            index = skip(index + 1)
        line = text.count("\n", 0, index) + 1
        number += 1
        try:
            value, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError as error:
            raise _fail(shown_as, error.lineno, f"record {number}: not JSON ({error.msg})", JSON_FIX) from None
        except RecursionError:
            raise _fail(shown_as, line, f"record {number}: nested too deeply", JSON_FIX) from None
        yield number, line, value
        index = skip(index)
    if bracketed:
        raise _fail(shown_as, text.count("\n") + 1, "the array is never closed (no final ']')", JSON_FIX)


def _parse_json(text: str, result: ScanFile) -> None:
    shown_as = result.shown_as
    for number, line, value in _json_records(text, shown_as):
        record = f"record {number}"
        if not isinstance(value, dict) or not isinstance(value.get("ports"), list) or not value["ports"]:
            raise _fail(shown_as, line, f"{record}: not a masscan record (an object with 'ip' and 'ports')", JSON_FIX)
        host = _address(value.get("ip"), shown_as, line, record, JSON_FIX)
        for item in value["ports"]:
            if not isinstance(item, dict):
                raise _fail(shown_as, line, f"{record}: a 'ports' entry is not an object", JSON_FIX)
            if not isinstance(item.get("port"), int):  # masscan writes a number, never a string
                raise _fail(shown_as, line, f"{record}: 'port' {_excerpt(item.get('port'))} is not a number", JSON_FIX)
            port = _port(item.get("port"), shown_as, line, record, JSON_FIX, zero=True)
            status, proto = item.get("status"), item.get("proto")
            if not isinstance(proto, str) or not (isinstance(status, str) or isinstance(item.get("service"), dict)):
                raise _fail(
                    shown_as, line, f"{record}: a port needs 'proto' and 'status' (or a banner 'service')", JSON_FIX
                )
            if status == "open" and proto == "tcp" and port:
                result.add(host, port, line)
            else:
                result.ignored += 1


# ------------------------------------------------------------------------------ masscan -oL

LIST_STATES = frozenset({"open", "closed", "up", "unknown", "banner"})
LIST_PROTOS = frozenset({"tcp", "udp", "sctp", "icmp", "arp", "err"})


def _parse_list(text: str, result: ScanFile) -> None:
    """`STATUS PROTO PORT IP TIMESTAMP` per line (banners add two fields); `#` lines are masscan's."""
    shown_as = result.shown_as
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split(" ")
        status = fields[0]
        if status not in LIST_STATES or len(fields) < 5 or (status != "banner" and len(fields) != 5):
            raise _fail(shown_as, line_number, f"not a masscan -oL line ({_excerpt(line)})", LIST_FIX)
        proto = fields[1]
        if proto not in LIST_PROTOS:
            raise _fail(shown_as, line_number, f"{_excerpt(proto)} is not a protocol masscan writes", LIST_FIX)
        port = _port(fields[2], shown_as, line_number, "port", LIST_FIX, zero=True)
        host = _address(fields[3], shown_as, line_number, "address", LIST_FIX)
        if not TIMESTAMP.fullmatch(fields[4]):
            raise _fail(shown_as, line_number, f"{_excerpt(fields[4])} is not a timestamp", LIST_FIX)
        if status == "open" and proto == "tcp" and port:
            result.add(host, port, line_number)
        else:
            result.ignored += 1


# ------------------------------------------------------------------------------ nmap -oX / masscan -oX


def _without_nmap_doctype(data: bytes) -> bytes:
    """nmap -oX writes `<!DOCTYPE nmaprun>` (a bare name: no subset, no entities, no fetch). The
    hardened reader refuses every DOCTYPE, so that one exact declaration, in the prolog only,
    becomes spaces of the same length (lines and columns stay true). Any other DOCTYPE stays and
    is refused."""
    root = data.find(b"<nmaprun")
    at = data.find(NMAP_DOCTYPE, 0, root if root >= 0 else len(data))
    if at < 0:
        return data
    return data[:at] + b" " * len(NMAP_DOCTYPE) + data[at + len(NMAP_DOCTYPE) :]


def _parse_xml(data: bytes, result: ScanFile) -> None:
    shown_as = result.shown_as
    try:
        root = xmltree.parse_bytes(
            _without_nmap_doctype(data), shown_as, max_depth=XML_MAX_DEPTH, max_elements=XML_MAX_ELEMENTS
        )
    except xmltree.XmlInputError as error:
        raise TargetError(f"{error}; {XML_FIX}") from None
    scanner = root.attrs.get("scanner")
    if root.tag != "nmaprun" or scanner not in ("nmap", "masscan"):
        raise _fail(shown_as, root.origin.line, f"<{root.tag[:40]}> is not an nmap or masscan report", XML_FIX)
    result.kind = MASSCAN_XML if scanner == "masscan" else NMAP_XML
    for host in root.elements("host"):
        line = host.origin.line
        addresses = [a for a in host.elements("address") if a.attrs.get("addrtype") in ("ipv4", "ipv6")]
        ports = [p for group in host.elements("ports") for p in group.elements("port")]
        if not addresses:
            if ports:
                raise _fail(shown_as, line, "a <host> with ports has no IPv4 or IPv6 <address>", XML_FIX)
            continue
        address = _address(addresses[0].attrs.get("addr"), shown_as, line, "<address addr>", XML_FIX)
        for port in ports:
            number = _port(port.attrs.get("portid"), shown_as, port.origin.line, "<port portid>", XML_FIX)
            state = port.find("state")
            if state is None or "state" not in state.attrs:
                raise _fail(shown_as, port.origin.line, "a <port> has no <state state=...>", XML_FIX)
            if state.attrs["state"] == "open" and port.attrs.get("protocol") == "tcp":
                result.add(address, number, port.origin.line)
            else:
                result.ignored += 1


# ------------------------------------------------------------------------------ entry point


def _read(name: str, stdin: BinaryIO | None) -> tuple[bytes, str]:
    if name == STDIN:
        stream = stdin if stdin is not None else sys.stdin.buffer
        data = stream.read(SCAN_FILE_MAX + 1)
        if len(data) > SCAN_FILE_MAX:
            raise TargetError(f"<stdin>: larger than {SCAN_FILE_MAX} bytes; split the scan (masscan --shard)")
        return data, "<stdin>"
    return read_bounded_bytes(Path(name), SCAN_FILE_MAX), name


def _kind(text: str, shown_as: str) -> str:
    start = text.lstrip(" \t\r\n")
    if start.startswith("<"):
        return NMAP_XML  # or masscan -oX: the root element says which
    if start.startswith(("[", "{")):
        return MASSCAN_JSON
    first = start.split("\n", 1)[0]
    if first.startswith("#masscan") or first.split(" ", 1)[0] in LIST_STATES:
        return MASSCAN_LIST
    raise _fail(
        shown_as,
        1,
        f"not masscan -oJ/-oL or nmap -oX output (it starts with {_excerpt(start[:20])})",
        "give --from-scan the file written by masscan -oJ FILE, masscan -oL FILE or nmap -oX FILE",
    )


def read_scan_file(name: str, *, max_hosts: int | None = None, stdin: BinaryIO | None = None) -> ScanFile:
    """One scanner output (a path, or `-` for stdin) -> its open TCP endpoints, each once.
    Raises TargetError."""
    data, shown_as = _read(name, stdin)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise _fail(shown_as, line, f"not UTF-8 text (byte {error.start})", "scanner output is text") from None
    control = CONTROL.search(text)
    if control:
        raise _fail(
            shown_as,
            text.count("\n", 0, control.start()) + 1,
            f"control character U+{ord(control.group()):04X}",
            "masscan and nmap never write one: pass the scanner's own file, unedited",
        )
    result = ScanFile(shown_as, max_hosts=max_hosts)
    if not text.strip():
        result.kind = "empty"  # masscan killed before its first write: nothing was seen open
        return result
    result.kind = _kind(text, shown_as)
    if result.kind == MASSCAN_JSON:
        _parse_json(text, result)
    elif result.kind == MASSCAN_LIST:
        _parse_list(text, result)
    else:
        _parse_xml(data, result)
    return result
