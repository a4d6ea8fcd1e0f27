"""A network namespace of the caller's own, for sweeping loopback ranges with masscan and for
dropping address space (needs root; bench/discovery_bench.py and the root-marked tests use it).

Why not plain `lo`: masscan 1.3.2 sends raw frames with libpcap and listens with
pcap_setdirection(PCAP_D_IN) (src/rawsock.c, rawsock_ignore_transmits). On a loopback device
every packet, the kernel's SYN-ACK included, is a transmit, so masscan never sees an answer on
`lo`; it also refuses lo's all-zero MAC (src/main-initadapter.c). So the namespace gets a veth
pair: masscan transmits on `hhv0` as 10.99.0.200 to hhv1's MAC; `hhv1` accepts 127/8
destinations (route_localnet) and routes the answers to 10.99.0.200 back out (a static
neighbour entry, no ARP), where masscan's capture sees them as received. IP forwarding is off,
so an answer masscan ignores is dropped instead of looping. Nothing leaves the namespace.

masscan 1.3.2 can also hang after its --wait (its receive thread blocks in libpcap until a
packet arrives; upstream issues 144 and 813): while it runs, `wake_masscan` sends a small
frame (local experimental EtherType 0x88B5) on hhv1 every 100 ms so the capture returns.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

SCANNER_IP = "10.99.0.200"  # masscan's --adapter-ip: on no interface, routed out hhv1


def _ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True).stdout


def can_create_namespaces() -> str | None:
    """None when this process can create namespaces, else why not."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    if shutil.which("ip") is None:
        return "needs iproute2 (ip)"
    return None


class Namespace:
    """`ip netns add NAME` with lo up; removed (with every process still in it) on exit."""

    def __init__(self, name: str):
        self.name = name
        self.router_mac = ""

    def __enter__(self) -> Namespace:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, check=False)  # a stale one
        _ip("netns", "add", self.name)
        try:
            self.ip("link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        pids = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True, check=False)
        for pid in pids.stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)  # only processes this namespace's owner started in it
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, check=False)

    def ip(self, *args: str) -> str:
        return _ip("-n", self.name, *args)

    def command(self, *args: str) -> list[str]:
        """A command line that runs inside the namespace."""
        return ["ip", "netns", "exec", self.name, *args]

    def run(self, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(*args), check=True, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]

    def sysctl(self, **settings: str) -> None:
        self.run("sysctl", "-qw", *(f"{key.replace('__', '.')}={value}" for key, value in settings.items()))

    def add_scanner_link(self) -> None:
        """The veth pair masscan sweeps through (see the module docstring)."""
        self.ip("link", "add", "hhv0", "type", "veth", "peer", "name", "hhv1")
        for device in ("hhv0", "hhv1"):
            self.ip("link", "set", device, "up")
        self.sysctl(
            net__ipv4__ip_forward="0",
            net__ipv4__conf__all__route_localnet="1",
            net__ipv4__conf__hhv1__route_localnet="1",
            net__ipv4__conf__all__rp_filter="0",
            net__ipv4__conf__hhv1__rp_filter="0",
        )
        macs = {link["ifname"]: link["address"] for link in json.loads(self.ip("-j", "link", "show"))}
        self.router_mac = macs["hhv1"]
        self.ip("route", "add", f"{SCANNER_IP}/32", "dev", "hhv1")
        self.ip("neigh", "add", SCANNER_IP, "lladdr", macs["hhv0"], "dev", "hhv1", "nud", "permanent")

    def masscan_command(self, ranges: Sequence[str], ports: Sequence[int], rate: int, output: list[str]) -> list[str]:
        return self.command(
            "masscan",
            ",".join(ranges),
            "-p" + ",".join(map(str, ports)),
            "--adapter",
            "hhv0",
            "--adapter-ip",
            SCANNER_IP,
            "--router-mac",
            self.router_mac.replace(":", "-"),
            "--rate",
            str(rate),
            "--wait",
            "1",
            *output,
        )


WAKE = """
import socket, sys, time
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
sock.bind(("hhv1", 0))
frame = b"\\xff" * 6 + b"\\x02\\x00\\x00\\x00\\x00\\x09" + b"\\x88\\xb5" + b"\\x00" * 46
while True:
    sock.send(frame)
    time.sleep(0.1)
"""


@contextmanager
def wake_masscan(namespace: Namespace) -> Iterator[None]:
    """Frames on hhv1 while masscan runs, from a child inside the namespace."""
    waker = subprocess.Popen(namespace.command(sys.executable, "-c", WAKE), stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        waker.kill()
        waker.wait()


def run_masscan(
    namespace: Namespace, ranges: Sequence[str], ports: Sequence[int], output: list[str], *, rate: int, limit: float
) -> float:
    """Run masscan inside the namespace; returns its wall time. Raises on failure or timeout."""
    started = time.monotonic()
    with wake_masscan(namespace):
        subprocess.run(
            namespace.masscan_command(ranges, ports, rate, output),
            check=True,
            capture_output=True,
            timeout=limit,
        )
    return time.monotonic() - started
