"""`hardhouse probe`: the click command over hardhouse.probe (registered in hardhouse.cli).

Exit codes: 0 no finding at or above --fail-on (notes never count), 1 one is, 2 usage error.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hardhouse.clickhouse.ports import PROBE_PORTS
from hardhouse.controls.waivers import load_waivers
from hardhouse.probe import (
    DEFAULT_MAX_HOSTS,
    WHAT_IS_SENT,
    EndpointReport,
    ProbeOptions,
    Severity,
    TargetError,
    expand_targets,
    render_json,
    render_sarif,
    render_text,
    run_scan,
)
from hardhouse.probe.scanner import DEFAULT_DEADLINE
from hardhouse.probe.waive import apply_waivers
from hardhouse.probe.weigh import CountLimits
from hardhouse.spec.errors import SpecError

EXIT_CLEAN, EXIT_EXPOSED, EXIT_USAGE = 0, 1, 2
PROGRESS_THRESHOLD = 20  # endpoints; smaller scans finish before a bar is worth drawing


def _ports(option: str | None, extra: tuple[int, ...]) -> list[int]:
    ports = list(PROBE_PORTS)
    if option:
        try:
            ports = [int(p) for p in option.replace(" ", "").split(",") if p]
        except ValueError:
            raise click.BadParameter(
                f"{option!r} is not a comma-separated list of ports", param_hint="--ports"
            ) from None
        if not ports or any(not 0 < p < 65536 for p in ports):
            raise click.BadParameter(f"{option!r}: ports are 1-65535", param_hint="--ports")
    return list(dict.fromkeys([*ports, *extra]))


class _Progress:
    """A progress bar on stderr (rich), shown only when asked for or on a terminal."""

    def __init__(self, total: int, enabled: bool):
        self.enabled = enabled
        self._bar = Progress(
            TextColumn("probing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[exposed]} exposed"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._task = self._bar.add_task("probe", total=total, exposed=0)

    def __enter__(self) -> _Progress:
        if self.enabled:
            self._bar.__enter__()
        return self

    def advance(self, exposed: int) -> None:
        if self.enabled:
            self._bar.update(self._task, advance=1, exposed=exposed)

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        if self.enabled:
            self._bar.__exit__(kind, value, tb)


@click.command("probe", context_settings={"help_option_names": ["-h", "--help"]}, epilog=WHAT_IS_SENT)
@click.argument("targets", nargs=-1, metavar="[TARGET]...")
@click.option(
    "--from-scan",
    "scan_files",
    multiple=True,
    metavar="FILE",
    help=(
        "Targets from a port scanner's output: masscan -oJ/-oD/-oL/-oX or nmap -oX, "
        "'-' for stdin (repeatable). Only TCP ports it saw open are probed, whatever their number."
    ),
)
@click.option(
    "-p",
    "--port",
    "extra_ports",
    multiple=True,
    type=click.IntRange(1, 65535),
    help="Also probe this port on every bare host (repeatable).",
)
@click.option(
    "--ports",
    "port_list",
    metavar="LIST",
    help=f"Comma-separated ports for bare hosts, replacing the default {','.join(map(str, PROBE_PORTS))}.",
)
@click.option(
    "--max-hosts",
    default=DEFAULT_MAX_HOSTS,
    show_default=True,
    type=click.IntRange(1),
    help="Refuse targets that expand to more hosts (a /16 is 65536).",
)
@click.option(
    "--timeout",
    default=3.0,
    show_default=True,
    type=click.FloatRange(0.1, 120),
    help="Seconds per connection attempt and per answer.",
)
@click.option(
    "--deadline",
    default=DEFAULT_DEADLINE,
    show_default=True,
    type=click.FloatRange(1, 3600),
    help=(
        "Seconds for everything done with one endpoint; "
        "a whole scan takes at most about endpoints / concurrency x this."
    ),
)
@click.option(
    "--concurrency", default=256, show_default=True, type=click.IntRange(1, 4096), help="Endpoints probed at once."
)
@click.option(
    "--run-inventory",
    is_flag=True,
    help=(
        "Load a .py pyinfra inventory the way pyinfra does: this RUNS the file and its group_data. "
        "Only for inventories you trust."
    ),
)
@click.option(
    "--ca",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CA certificate to validate server certificates against.",
)
@click.option(
    "--no-default-credentials", is_flag=True, help="Try anonymous access only, not the default credential list."
)
@click.option("--no-enumerate", is_flag=True, help="Do not list databases, tables and columns where a login succeeds.")
@click.option("--no-tls-scan", is_flag=True, help="Skip the sslyze scan of TLS ports.")
@click.option(
    "--count-secrets",
    is_flag=True,
    help="Where an anonymous or default login can read, have the server count each readable table's "
    "rows matching hardhouse's secret shapes, as `hardhouse scan` does (counts only, never a value; "
    "what it sends is listed below, item 7).",
)
@click.option(
    "--count-max-rows",
    default=CountLimits.max_rows,
    show_default=True,
    type=click.IntRange(1, 10**9),
    help="With --count-secrets: rows examined per table at most (a SAMPLE where the table has a sampling key).",
)
@click.option(
    "--count-max-seconds",
    default=CountLimits.max_seconds,
    show_default=True,
    type=click.FloatRange(1, 600),
    help="With --count-secrets: seconds per table (max_execution_time; the client waits 5 s more).",
)
@click.option(
    "--count-max-tables",
    default=CountLimits.max_tables,
    show_default=True,
    type=click.IntRange(1, 500),
    help="With --count-secrets: tables counted per endpoint (names suggesting secrets first, then the largest).",
)
@click.option(
    "--count-seconds",
    default=CountLimits.total_seconds,
    show_default=True,
    type=click.FloatRange(1, 3600),
    help="With --count-secrets: seconds for the whole count at one endpoint (--deadline still bounds everything).",
)
@click.option(
    "--fail-on",
    type=click.Choice([s.label for s in Severity]),
    default="high",
    show_default=True,
    help="Exit 1 when a finding is at least this severe. A finding is as severe as its control "
    "(`hardhouse controls`: anonymous access is critical); notes never fail a scan.",
)
@click.option(
    "--waivers",
    "waivers_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML file of waivers (control, reason, expires, optional targets: host or host:port). "
    "A waived finding is reported as waived and does not fail the scan until its waiver expires.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
@click.option("--sarif", "as_sarif", is_flag=True, help="Print a SARIF 2.1.0 report (code-scanning dashboards).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report to this file instead of stdout.",
)
@click.option("--show-closed", is_flag=True, help="List closed ports in the table too.")
@click.option("-v", "--verbose", is_flag=True, help="List every finding under its endpoint.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr (default: on a terminal, for scans over 20 endpoints).",
)
def probe_command(
    targets: tuple[str, ...],
    scan_files: tuple[str, ...],
    extra_ports: tuple[int, ...],
    port_list: str | None,
    max_hosts: int,
    timeout: float,
    deadline: float,
    run_inventory: bool,
    concurrency: int,
    ca: Path | None,
    no_default_credentials: bool,
    no_enumerate: bool,
    no_tls_scan: bool,
    count_secrets: bool,
    count_max_rows: int,
    count_max_seconds: float,
    count_max_tables: int,
    count_seconds: float,
    fail_on: str,
    waivers_path: Path | None,
    as_json: bool,
    as_sarif: bool,
    output: Path | None,
    show_closed: bool,
    verbose: bool,
    progress: bool | None,
) -> None:
    """Find ClickHouse endpoints that let someone in, the way an attacker would.

    \b
    TARGET is one of:
      HOST | ADDRESS          every default port (and -p/--ports)
      HOST:PORT | [V6]:PORT   that port only
      CIDR | CIDR:PORT        every address in the range (capped by --max-hosts)
      @FILE | FILE            targets one per line (# comments; never run), or a
                              pyinfra inventory (.py): its literal host groups are
                              read without running it; --run-inventory runs it
                              (and its group_data) as pyinfra does

    \b
    A stateless scanner sweeps, hardhouse judges what answered:
      masscan 10.0.0.0/16 -p8123,9000,8443,9440 --rate 10000 -oJ scan.json
      hardhouse probe --from-scan scan.json
      masscan ... -oL - | hardhouse probe --from-scan -
      nmap -p- -oX scan.xml 10.0.0.0/24; hardhouse probe --from-scan scan.xml
    Only ports the scanner saw open (TCP) become endpoints, each probed as it is:
    ClickHouse on an unusual port is judged like any other, anything else is
    reported as not ClickHouse. A scan that saw nothing open exits 0. The file is
    read as hostile input (bounded, exact addresses and ports, no DOCTYPE or
    entities, no control characters); a bad one is a usage error naming its line.

    For each endpoint it reports whether the port is open and speaks ClickHouse
    (HTTP, native, TLS variants, interserver, metrics), the version when the
    server tells it, which anonymous or default logins work, what such a login
    could read (databases, tables, row counts, column names; names suggesting
    logs, chats, messages, keys, tokens, secrets, passwords or e-mail are flagged),
    TLS protocol versions, weak suites and certificate problems, and leaks to
    clients that did not log in (version banners, stack traces). With
    --count-secrets it also weighs what such a login reads: per table, the rows
    matching each secret shape, counted by the server. Each finding names
    the control it fails and has that control's severity. What fails no control
    (ZooKeeper answering, the server's display name, a chain unchecked without
    --ca) is a note on the endpoint.

    Exit status: 0 no finding at or above --fail-on, 1 one is, 2 usage error.
    """
    if as_json and as_sarif:
        raise click.UsageError("choose one of --json and --sarif")
    if not targets and not scan_files:
        raise click.UsageError("give a TARGET or --from-scan FILE (see --help)")
    if scan_files.count("-") > 1:
        raise click.UsageError("--from-scan - (stdin) can be given once")
    ports = _ports(port_list, extra_ports)
    try:
        waivers = load_waivers(waivers_path) if waivers_path else []
    except SpecError as error:
        raise click.UsageError("; ".join(str(problem) for problem in error.problems)) from None
    try:
        endpoints, notes = expand_targets(
            targets, ports, max_hosts=max_hosts, run_inventory=run_inventory, scan_files=scan_files
        )
    except TargetError as error:
        raise click.UsageError(str(error)) from None
    for note in notes:
        click.echo(f"hardhouse probe: {note}", err=True)
    if not endpoints and not targets:
        # A sweep that saw nothing open is an answer, not a mistake: nothing there to judge.
        click.echo("hardhouse probe: the scan output holds no open TCP port; nothing to probe", err=True)
    elif not endpoints:
        raise click.UsageError("the targets name no host to probe")
    options = ProbeOptions(
        timeout=timeout,
        deadline=deadline,
        concurrency=concurrency,
        ca=ca,
        credentials=() if no_default_credentials else ProbeOptions().credentials,
        enumerate=not no_enumerate,
        tls_scan=not no_tls_scan,
        count_secrets=CountLimits(count_max_rows, count_max_seconds, count_max_tables, count_seconds)
        if count_secrets
        else None,
    )
    threshold = Severity.parse(fail_on)
    show_bar = progress if progress is not None else (sys.stderr.isatty() and len(endpoints) > PROGRESS_THRESHOLD)
    exposed = 0
    with _Progress(len(endpoints), show_bar) as bar:

        def on_result(report: EndpointReport) -> None:
            nonlocal exposed
            exposed += report.exposed(threshold)
            bar.advance(exposed)

        callback: Callable[[EndpointReport], None] = on_result
        named = [*targets, *(f"--from-scan {name}" for name in scan_files)]
        report = run_scan(named, endpoints, options, fail_on=threshold, on_result=callback)
    apply_waivers(report, waivers)
    if as_sarif:
        text = json.dumps(render_sarif(report), indent=2, default=str)
    elif as_json:
        text = render_json(report)
    else:
        text = render_text(report, show_closed=show_closed, verbose=verbose)
    if output is not None:
        output.write_text(text + "\n", encoding="utf-8")
        click.echo(f"hardhouse probe: report written to {output}", err=True)
    else:
        click.echo(text)
    sys.exit(EXIT_EXPOSED if report.exposed else EXIT_CLEAN)
