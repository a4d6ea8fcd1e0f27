"""Load rendered files into modern ClickHouse's own code (chdb-core, embedded) and prove them.

chdb-core is the ClickHouse engine (clickhouse-local) as a Python library. Given a
config.xml it merges config.d/ and users.d/ with ClickHouse's own config processor, parses
every user with ClickHouse's own access code, and then authenticates its one session. What
was learnt about chdb-core 26.9 by experiment, and what this module relies on:

* `chdb.connect(":memory:?config-file=/abs/config.xml")` starts the engine on that config
  (query parameters become `--key=value` start-up arguments). Unknown parameters are
  ignored silently, including `user=` and `password=`.
* The session always authenticates as user `default` with an EMPTY password, from a
  loopback address (a `default` limited to 127.0.0.1 or ::1 gets in, one limited to
  10.0.0.0/8 or 0.0.0.0 does not). When the rendered files remove or lock `default`, the
  engine refuses to start with ClickHouse's own Code 516 (AUTHENTICATION_FAILED): that
  is the expected outcome for a hardened set, not an error.
* A malformed users file stops the engine before authentication. The Python exception then
  often says only "Error initializing EmbeddedServer: . (BAD_ARGUMENTS)"; ClickHouse's real
  message (e.g. "Cannot read password hash in hex ... while parsing user 'ingest'") is
  written to file descriptor 2, so it is captured from there.
* One engine per process, bound to one configuration at a time; it shuts down when its last
  connection closes and can then be started again on another configuration (restart takes
  ~0.05 s). `import chdb` itself starts an engine, and clickhouse-local picks up a
  `config.xml` from the current directory, so the engine runs in a child process started
  in an empty directory: the caller's process never loads chdb and each call is isolated.
* system.users shows `auth_type` but not whether a password is empty (the stock `default`
  with `<password></password>` is listed as `plaintext_password`; a SHA-256 of the empty
  string is listed as `sha256_password`). Whether a user can log in without a password is
  therefore decided by a real login, see below.
* config.d/ overlays next to config.xml are merged (the openSSL.server.* values appear in
  system.server_settings), but clickhouse-local opens no listener: ports and listen_host
  are accepted and not acted on, and TLS certificate files are never opened.

How "no user can log in without a password" is proved, one engine start each:
1. as rendered: ClickHouse's stock users.xml (STOCK_USERS_XML) + the rendered users.d/
   (+ config.d/). Any failure other than 516 is a load error. Success means `default` logs
   in with no password from loopback.
2. inspect: the same files with `default` renamed consistently in every users file, plus
   an inspector `default` added last; system.users then lists every account the rendered
   set leaves, as ClickHouse merged it.
3. one login per user U: the same files with U and `default` swapped consistently in every
   users file (ClickHouse's merge is by element name, so the merged account is U's exact
   definition under the session's name), and U's networks widened to any address so that
   only the authentication method decides. The engine's empty-password login then either
   succeeds (U is passwordless) or fails with 516.

The inspect run also executes the rendered sql/ files (log database DDL) as the inspector,
so ClickHouse's own parser judges the tables, their TTL and their storage policy too.

Secrets the rendered files leave to the server (from_env keys, include_from key files) are
never handed to the engine: each gets a fresh random stand-in of the right shape, enough for
ClickHouse to build the encrypted disk, and the stand-in dies with the run.

run_as() runs queries as one rendered user: a first start as the inspector creates what the
queries need (the rendered DDL, then setup statements) in a data directory that a second start
reuses with U swapped into `default` as above. In that second start only U's authentication
(replaced by the empty password the session presents) and its networks (any address) are
changed; its grants, database allow-list, profile, quota and access_management are exactly
the rendered ones. Each query's result or ClickHouse's error code comes back.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the child process imports this module; keep it light
    from hardhouse.render import RenderedFile

# Mirrors ClickHouse's stock programs/server/users.xml (the file every package and the
# official image install as /etc/clickhouse-server/users.xml), comments removed: profiles
# `default` and `readonly`, the `default` user with an empty password reachable from ::/0,
# and the `default` quota that only counts. Rendered users.d files are merged onto this,
# exactly as on a real server.
STOCK_USERS_XML = """\
<clickhouse>
    <profiles>
        <default>
        </default>
        <readonly>
            <readonly>1</readonly>
        </readonly>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>::/0</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</clickhouse>
"""

# The minimal server configuration: everything the engine writes stays in the run directory.
CONFIG_XML = """\
<clickhouse>
    <path>{data}/</path>
    <tmp_path>{data}/tmp/</tmp_path>
    <user_files_path>{data}/user_files/</user_files_path>
    <format_schema_path>{data}/format_schemas/</format_schema_path>
    <access_control_path>{data}/access/</access_control_path>
    <users_config>{run}/users.xml</users_config>
</clickhouse>
"""

SESSION_USER = "default"  # the only user chdb-core's session authenticates as
# The session presents an empty password; a SHA-256 of it (not <no_password/>) still logs in
# when the rendered config refuses passwordless users (allow_no_password 0).
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
KEY_HEX_DIGITS = 64  # AES_256_CTR, the algorithm hardhouse renders
HARNESS_KEYS = "harness-keys.xml"
# Harness-only users.d files sort after every rendered file ("zz-hardhouse-..."), so they
# are merged last.
HARNESS_FILE = "zzzz-embedded-harness.xml"
ORIGINAL_DEFAULT = "hardhouse_embedded_original_default"
AUTH_FAILED = 516
CODE_PATTERN = re.compile(r"Code: (\d+)\.")
# What chdb-core says when config.xml or a config.d file cannot be loaded, and nothing more.
UNINFORMATIVE = re.compile(r"^Connection failed: \w+$")
DEFAULT_TIMEOUT = 180.0

# The inspector: a passwordless loopback session allowed to read system.users. It only ever
# exists in the inspect run, under the session's name, after the rendered `default` has
# been moved out of the way.
INSPECTOR_XML = """\
<clickhouse>
    <!-- hardhouse embedded validation harness: not part of the rendered set. -->
    <users>
        <default replace="1">
            <password_sha256_hex>{empty}</password_sha256_hex>
            <networks>
                <ip>::1</ip>
                <ip>127.0.0.1</ip>
            </networks>
            <access_management>1</access_management>
        </default>
    </users>
</clickhouse>
""".replace("{empty}", EMPTY_SHA256)

# For run_as: the account under test keeps everything rendered except how it authenticates
# (the session's empty password) and where from (anywhere).
AS_USER_XML = """\
<clickhouse>
    <!-- hardhouse embedded validation harness: not part of the rendered set. -->
    <users>
        <default>
            <no_password remove="1"/>
            <password remove="1"/>
            <password_scram_sha256_hex remove="1"/>
            <password_double_sha1_hex remove="1"/>
            <ssl_certificates remove="1"/>
            <password_sha256_hex remove="1"/>
            <password_sha256_hex>{empty}</password_sha256_hex>
            <networks replace="1">
                <ip>::/0</ip>
            </networks>
        </default>
    </users>
</clickhouse>
""".replace("{empty}", EMPTY_SHA256)

# For a login probe: the account under test accepts any source address, so that only its
# authentication method decides whether the empty-password login succeeds.
OPEN_NETWORKS_XML = """\
<clickhouse>
    <!-- hardhouse embedded validation harness: not part of the rendered set. -->
    <users>
        <default>
            <networks replace="1">
                <ip>::/0</ip>
            </networks>
        </default>
    </users>
</clickhouse>
"""

USERS_QUERY = (
    "SELECT name, auth_type, host_ip, host_names, host_names_regexp, host_names_like "
    "FROM system.users ORDER BY name"
)
SETTINGS_QUERY = "SELECT name, value FROM system.server_settings WHERE changed AND name LIKE 'openSSL.%' ORDER BY name"


class EmbeddedUnavailable(RuntimeError):
    """The embedded engine could not be run at all (chdb-core missing, worker crashed)."""


@dataclass
class UserLogin:
    """What the engine said about one account the rendered set leaves."""

    name: str
    auth_type: list[str]  # as system.users lists it (does not show an EMPTY password)
    networks: list[str]  # host_ip, host names, regexps and LIKE patterns it accepts
    passwordless: bool  # an empty-password login succeeded
    login: str  # "accepted", or ClickHouse's refusal (Code 516 ...)


@dataclass
class EmbeddedReport:
    ok: bool  # loaded without error and no user can log in without a password
    errors: list[str]  # ClickHouse's own messages (and harness failures, prefixed "hardhouse:")
    users: list[str]  # accounts the engine has after merging the rendered users.d files
    passwordless: list[str]  # accounts that log in with an empty password
    engine_version: str = ""
    default_login: str = ""  # the unmodified set: "accepted" or ClickHouse's refusal
    logins: list[UserLogin] = field(default_factory=list)
    config_d: list[str] = field(default_factory=list)  # config.d files merged into config.xml
    server_settings: dict[str, str] = field(default_factory=dict)  # openSSL.* as the engine merged them
    ignored: list[str] = field(default_factory=list)  # not loaded: outside users.d/ and config.d/, or config.d/ when excluded
    engine_starts: int = 0
    seconds: float = 0.0


@dataclass
class QueryOutcome:
    query: str
    ok: bool
    rows: list[dict[str, Any]] = field(default_factory=list)  # JSONEachRow rows when ok
    code: int | None = None  # ClickHouse's error code when not ok
    message: str = ""


@dataclass
class RunAsReport:
    user: str
    logged_in: bool  # the engine started with the user's rights and let the session in
    login: str  # "accepted", or ClickHouse's message
    errors: list[str]  # load errors and failed setup statements (harness side)
    outcomes: list[QueryOutcome]

    def outcome(self, query: str) -> QueryOutcome:
        return next(o for o in self.outcomes if o.query == query)


def _stage(files: list[RenderedFile], root: Path, include_config_d: bool = True) -> list[str]:
    """Write the rendered files under root/rendered/; return those not loaded."""
    ignored = []
    for file in files:
        parts = Path(file.path).parts
        if len(parts) != 2 or parts[0] not in ("users.d", "config.d", "sql") or parts[1] in ("", ".", ".."):
            ignored.append(file.path)
            continue
        if parts[0] == "config.d" and not include_config_d:
            ignored.append(file.path)
            continue
        target = root / "rendered" / parts[0] / parts[1]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(file.content, encoding="utf-8")
    for subdir in ("users.d", "config.d", "sql"):
        (root / "rendered" / subdir).mkdir(parents=True, exist_ok=True)
    (root / "work").mkdir(exist_ok=True)  # the child's cwd: no config.xml for clickhouse-local to find
    return ignored


def _key_stand_ins(root: Path) -> dict[str, str]:
    """Random keys for every from_env key the rendered config.d names (never the real ones)."""
    env = {}
    for source in sorted((root / "rendered" / "config.d").iterdir()):
        try:
            tree = ET.fromstring(source.read_text(encoding="utf-8"))
        except ET.ParseError:
            continue  # the engine reports it
        for element in tree.iter():
            name = element.get("from_env")
            if name and str(element.tag).startswith("key"):
                env[name] = secrets.token_hex(KEY_HEX_DIGITS // 2)
    return env


def run_as(
    files: list[RenderedFile],
    user: str,
    queries: list[str],
    *,
    setup: list[str] | tuple[str, ...] = (),
    apply_sql: bool = True,
    data_dir: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> RunAsReport:
    """Run queries in the embedded engine as the rendered `user` and return each result.

    The rendered sql/ DDL (when apply_sql), then setup statements, run first as an inspector
    with every right, on the data the user's run then sees. See the module docstring for
    what is and is not the rendered user's in that run. data_dir (the caller's, kept) holds
    that data, e.g. to look at what reached the disk; by default it is removed with the run.
    Keys the rendered files leave to the server get random stand-ins that live only for
    this call, so encrypted data in data_dir cannot be read by a later call.
    """
    root = Path(tempfile.mkdtemp(prefix="hardhouse-embedded-"))
    try:
        _stage(files, root)
        (root / "request.json").write_text(json.dumps({
            "mode": "run_as", "user": user, "queries": list(queries), "setup": list(setup), "apply_sql": apply_sql,
            "data_dir": str(data_dir.resolve()) if data_dir is not None else None,
        }), encoding="utf-8")
        result = _run_worker(root, timeout)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return RunAsReport(
        user=user,
        logged_in=result["logged_in"],
        login=result["login"],
        errors=result["errors"],
        outcomes=[QueryOutcome(**o) for o in result["outcomes"]],
    )


def validate_embedded(
    files: list[RenderedFile],
    *,
    include_config_d: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> EmbeddedReport:
    """Load `files` into ClickHouse 26.9 (chdb-core) on top of the stock users.xml and prove them.

    Safe to call repeatedly and from several threads: each call works in its own temporary
    directory and its own child process, and removes both before returning. Raises
    EmbeddedUnavailable when the engine cannot be run at all.
    """
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="hardhouse-embedded-"))
    try:
        ignored = _stage(files, root, include_config_d)
        (root / "request.json").write_text(json.dumps({"mode": "validate"}), encoding="utf-8")
        result = _run_worker(root, timeout)
        report = EmbeddedReport(
            ok=result["ok"],
            errors=result["errors"],
            users=result["users"],
            passwordless=result["passwordless"],
            engine_version=result["engine_version"],
            default_login=result["default_login"],
            logins=[UserLogin(**login) for login in result["logins"]],
            config_d=result["config_d"],
            server_settings=result["server_settings"],
            ignored=ignored,
            engine_starts=result["engine_starts"],
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _run_worker(root: Path, timeout: float) -> dict[str, Any]:
    package_parent = str(Path(__file__).resolve().parents[1])
    env = {
        # Random stand-ins for the keys the rendered files name (never the caller's values),
        # then what Python and the engine need, which no stand-in may override.
        **_key_stand_ins(root),
        # Only what Python and the engine need; the caller's secrets stay out of the child.
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root / "work"),
        "LC_ALL": "C.UTF-8",
        "PYTHONPATH": package_parent,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    command = [sys.executable, "-c", "import sys; from hardhouse.embedded import _worker; _worker(sys.argv[1])", str(root)]
    try:
        completed = subprocess.run(
            command, cwd=root / "work", env=env, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=timeout, check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise EmbeddedUnavailable(f"the embedded engine did not finish within {timeout:.0f} s") from error
    result_path = root / "result.json"
    if not result_path.is_file():
        tail = "\n".join((completed.stderr or "").strip().splitlines()[-15:])
        raise EmbeddedUnavailable(f"the embedded engine worker exited with {completed.returncode} and no result:\n{tail}")
    result = json.loads(result_path.read_text(encoding="utf-8"))
    if result.get("unavailable"):
        raise EmbeddedUnavailable(result["unavailable"])
    return result


# ---------------------------------------------------------------- building one engine start


def _rename_users(xml_text: str, renames: dict[str, str], source: str) -> str:
    """Rename accounts (direct children of <users>) in one users file, keeping attributes."""
    try:
        tree_root = ET.fromstring(xml_text)
    except ET.ParseError as error:
        raise ValueError(f"hardhouse: cannot rewrite {source} for a login probe: {error}") from None
    for users in tree_root.findall("users"):
        for account in users:
            if isinstance(account.tag, str) and account.tag in renames:
                account.tag = renames[account.tag]
    return ET.tostring(tree_root, encoding="unicode") + "\n"


def _redirect_key_includes(config_d: Path, root: Path) -> None:
    """Point include_from at a harness file of random stand-ins for every incl'd key.

    The stand-ins are drawn once per call (root), so every engine start of a run_as call
    decrypts what an earlier start of the same call encrypted.
    """
    names: set[str] = set()
    redirected = []
    for source in sorted(config_d.iterdir()):
        try:
            tree = ET.fromstring(source.read_text(encoding="utf-8"))
        except ET.ParseError:
            continue
        names.update(e.get("incl", "") for e in tree.iter() if str(e.tag).startswith("key") and e.get("incl"))
        if tree.find("include_from") is not None:
            redirected.append((source, tree))
    if not redirected:
        return
    keys_file = root / HARNESS_KEYS
    if not keys_file.exists():
        keys = "".join(f"<{n}>{secrets.token_hex(KEY_HEX_DIGITS // 2)}</{n}>" for n in sorted(names))
        keys_file.write_text(f"<clickhouse>{keys}</clickhouse>\n", encoding="utf-8")
    for source, tree in redirected:
        tree.find("include_from").text = str(keys_file)  # type: ignore[union-attr]
        source.write_text(ET.tostring(tree, encoding="unicode") + "\n", encoding="utf-8")


def _build_run(root: Path, name: str, renames: dict[str, str], harness: str | None, data: Path | None = None) -> Path:
    """A run directory: config.xml (+ config.d/), users.xml and users.d/ for one engine start.

    data: a data directory shared between starts (run_as); by default the run's own.
    """
    run = root / "runs" / name
    (run / "users.d").mkdir(parents=True)
    shutil.copytree(root / "rendered" / "config.d", run / "config.d")
    _redirect_key_includes(run / "config.d", root)
    (run / "config.xml").write_text(CONFIG_XML.format(data=data or run / "data", run=run), encoding="utf-8")
    stock = STOCK_USERS_XML if not renames else _rename_users(STOCK_USERS_XML, renames, "users.xml")
    (run / "users.xml").write_text(stock, encoding="utf-8")
    for source in sorted((root / "rendered" / "users.d").iterdir()):
        text = source.read_text(encoding="utf-8")
        if renames:
            if source.suffix != ".xml":
                raise ValueError(f"hardhouse: cannot rewrite users.d/{source.name} for a login probe (only .xml is supported)")
            text = _rename_users(text, renames, f"users.d/{source.name}")
        (run / "users.d" / source.name).write_text(text, encoding="utf-8")
    if harness is not None:
        (run / "users.d" / HARNESS_FILE).write_text(harness, encoding="utf-8")
    return run


# ---------------------------------------------------------------- the child process


def _clean_message(text: str) -> str:
    """ClickHouse's message without its stack trace and the Cloud/password-reset advice."""
    text = text.replace("Failed to create connection: ", "", 1)
    text = re.split(r",? Stack trace \(when copying", text, maxsplit=1)[0]
    text = text.split("\n\nIf you use ClickHouse Cloud", 1)[0]
    lines = [line for line in text.splitlines() if line.strip() and not re.match(r"^\s*\d+\. ", line)]
    return "\n".join(lines).strip()


def _messages(stderr: str, exception: str) -> list[str]:
    """The engine's own messages: what it wrote to fd 2, then the exception if it adds anything."""
    found: list[str] = []
    for chunk in re.split(r"\n(?=Code: \d+\.)", stderr):
        message = _clean_message(chunk)
        if message and message not in found:
            found.append(message)
    message = _clean_message(exception)
    uninformative = re.search(r"Error initializing EmbeddedServer: \. \(", message) and found
    if message and not uninformative and message not in found:
        found.append(message)
    return found


def _code(message: str) -> int | None:
    match = CODE_PATTERN.search(message)
    return int(match.group(1)) if match else None


class _Engine:
    """Starts the embedded engine on one run directory, capturing what it writes to fd 2."""

    def __init__(self, chdb: Any, root: Path):
        self.chdb = chdb
        self.root = root
        self.starts = 0

    def start(self, run: Path, queries: list[str], each: bool = False) -> tuple[bool, list[str], list[Any]]:
        """(logged in, messages, query results as JSONEachRow text).

        each=True: every query runs even when one fails, and the results are
        QueryOutcome-shaped dicts (ClickHouse's error code and message for a failure).
        """
        self.starts += 1
        capture_path = run / "engine.stderr"
        sys.stderr.flush()
        saved = os.dup(2)
        results: list[str] = []
        exception = ""
        logged_in = False
        with open(capture_path, "w+", encoding="utf-8", errors="replace") as capture:
            os.dup2(capture.fileno(), 2)
            try:
                connection = self.chdb.connect(f":memory:?config-file={run / 'config.xml'}")
                logged_in = True
                try:
                    for query in queries:
                        if not each:
                            results.append(connection.query(query, "JSONEachRow").data())
                            continue
                        try:
                            rows = _rows(connection.query(query, "JSONEachRow").data())
                            results.append({"query": query, "ok": True, "rows": rows, "code": None, "message": ""})
                        except Exception as error:  # the engine's own error for this query
                            message = _clean_message(str(error))
                            results.append({"query": query, "ok": False, "rows": [], "code": _code(message), "message": message})
                finally:
                    connection.close()
            except Exception as error:  # chdb raises RuntimeError / ChdbError with the engine's text
                exception = str(error)
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
            capture.seek(0)
            stderr = capture.read()
        return logged_in, _messages(stderr, exception), results


def _rows(jsoneachrow: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in jsoneachrow.splitlines() if line.strip()]


def _worker(root_text: str) -> None:
    root = Path(root_text)
    result: dict[str, Any] = {
        "ok": False, "errors": [], "users": [], "passwordless": [], "engine_version": "",
        "default_login": "", "logins": [], "server_settings": {}, "engine_starts": 0,
        "config_d": sorted(p.name for p in (root / "rendered" / "config.d").iterdir()),
    }
    try:
        try:
            import chdb  # starts (and stops) an in-memory engine with the defaults
        except Exception as error:
            result["unavailable"] = f"chdb-core cannot be imported: {error}"
            return
        result["engine_version"] = str(getattr(chdb, "engine_version", ""))
        engine = _Engine(chdb, root)
        request = json.loads((root / "request.json").read_text(encoding="utf-8"))
        try:
            if request["mode"] == "run_as":
                result.update(logged_in=False, login="", outcomes=[])
                _run_as(root, engine, request, result)
            else:
                _prove(root, engine, result)
        except ValueError as error:
            result["errors"].append(str(error))
        result["engine_starts"] = engine.starts
        result["ok"] = not result["errors"] and not result["passwordless"]
    finally:
        (root / "result.json").write_text(json.dumps(result), encoding="utf-8")


def _diagnose_config_d(root: Path, engine: _Engine) -> list[str]:
    """ClickHouse's own parser message for a config.d file that stops the engine.

    chdb-core 26.9 reduces any failure to load config.xml or its config.d/ to "Connection
    failed: Exception" (or ": SAXParseException"). The users file goes through the same
    ClickHouse config processor (XML parsing, merge, remove/replace, substitutions) and its
    messages do surface, so the config.d files are merged onto the stock users.xml instead,
    and the message is reported with the path put back.
    """
    sources = sorted((root / "rendered" / "config.d").iterdir())
    if not sources:
        return []
    run = root / "runs" / "config-d-diagnosis"
    (run / "users.d").mkdir(parents=True)
    (run / "config.d").mkdir()
    (run / "config.xml").write_text(CONFIG_XML.format(data=run / "data", run=run), encoding="utf-8")
    (run / "users.xml").write_text(STOCK_USERS_XML, encoding="utf-8")
    for source in sources:
        shutil.copyfile(source, run / "users.d" / source.name)
    logged_in, messages, _ = engine.start(run, [])
    found = [m.replace(f"{run / 'users.d'}/", "config.d/") for m in messages if _code(m) != AUTH_FAILED]
    if logged_in or not found:
        return ["hardhouse: the config.d files parse on their own; the failure is elsewhere in the server configuration"]
    return [f"ClickHouse's config processor on the config.d files: {m}" for m in found]


def _prove(root: Path, engine: _Engine, result: dict[str, Any]) -> None:
    # 1. The rendered set exactly as a server would merge it.
    logged_in, messages, _ = engine.start(_build_run(root, "as-rendered", {}, None), [])
    if logged_in:
        result["default_login"] = "accepted"
    elif messages and all(_code(m) == AUTH_FAILED for m in messages):
        result["default_login"] = messages[0]
    else:
        if messages and all(UNINFORMATIVE.match(m) for m in messages):
            messages += _diagnose_config_d(root, engine)
        result["errors"].extend(messages or ["hardhouse: the engine failed without a message"])
        return

    # 2. Which accounts exist after the merge, as ClickHouse sees them; the rendered DDL too.
    names = {SESSION_USER: ORIGINAL_DEFAULT, ORIGINAL_DEFAULT: SESSION_USER}
    statements = _rendered_sql(root)
    logged_in, messages, outcomes = engine.start(
        _build_run(root, "inspect", names, INSPECTOR_XML), [s for _, s in statements] + [USERS_QUERY, SETTINGS_QUERY], each=True)
    if not logged_in:
        result["errors"].extend(["hardhouse: the inspection run failed:"] + messages)
        return
    for (source, _), outcome in zip(statements, outcomes[: len(statements)], strict=True):
        if not outcome["ok"]:
            result["errors"].append(f"ClickHouse on {source}: {outcome['message']}")
    users_outcome, settings_outcome = outcomes[len(statements):]
    if not users_outcome["ok"] or not settings_outcome["ok"]:
        result["errors"].extend(["hardhouse: the inspection queries failed:", users_outcome["message"], settings_outcome["message"]])
        return
    accounts = []
    for row in users_outcome["rows"]:
        if row["name"] == SESSION_USER:
            continue  # the inspector
        name = SESSION_USER if row["name"] == ORIGINAL_DEFAULT else row["name"]
        networks = [*row["host_ip"], *row["host_names"],
                    *(f"regexp:{r}" for r in row["host_names_regexp"]),
                    *(f"like:{p}" for p in row["host_names_like"])]
        accounts.append((name, [str(a) for a in row["auth_type"]], networks))
    result["server_settings"] = {row["name"]: row["value"] for row in settings_outcome["rows"]}
    result["users"] = sorted(name for name, _, _ in accounts)

    # 3. One empty-password login per account, with only its authentication method in the way.
    for index, (name, auth_type, networks) in enumerate(sorted(accounts)):
        renames = {} if name == SESSION_USER else {name: SESSION_USER, SESSION_USER: name}
        logged_in, messages, _ = engine.start(
            _build_run(root, f"login-{index}", renames, OPEN_NETWORKS_XML), [])
        if not logged_in and not (messages and all(_code(m) == AUTH_FAILED for m in messages)):
            result["errors"].extend([f"hardhouse: the login probe for {name!r} failed to load:"] + messages)
            continue
        login = "accepted" if logged_in else messages[0]
        result["logins"].append({"name": name, "auth_type": auth_type, "networks": networks,
                                 "passwordless": logged_in, "login": login})
        if logged_in:
            result["passwordless"].append(name)


def _rendered_sql(root: Path) -> list[tuple[str, str]]:
    """(sql/FILE, statement) for every rendered SQL file, in order."""
    from hardhouse.render import sql_statements  # late: the child process keeps its imports light
    found = []
    for source in sorted((root / "rendered" / "sql").iterdir()):
        for statement in sql_statements(source.read_text(encoding="utf-8")):
            found.append((f"sql/{source.name}", statement))
    return found


def _run_as(root: Path, engine: _Engine, request: dict[str, Any], result: dict[str, Any]) -> None:
    data = Path(request["data_dir"]) if request.get("data_dir") else root / "shared-data"
    # 1. As the inspector (every right): the rendered DDL, then what the queries need.
    names = {SESSION_USER: ORIGINAL_DEFAULT, ORIGINAL_DEFAULT: SESSION_USER}
    setup = ([s for _, s in _rendered_sql(root)] if request["apply_sql"] else []) + list(request["setup"])
    logged_in, messages, outcomes = engine.start(_build_run(root, "setup", names, INSPECTOR_XML, data), setup, each=True)
    if not logged_in:
        result["errors"].extend(["hardhouse: the setup run failed to load:"] + messages)
        return
    result["errors"].extend(f"hardhouse: setup statement failed: {o['query']}: {o['message']}" for o in outcomes if not o["ok"])
    # 2. As the user: its rendered rights under the session's name.
    user = request["user"]
    renames = {} if user == SESSION_USER else {user: SESSION_USER, SESSION_USER: user}
    logged_in, messages, outcomes = engine.start(_build_run(root, "as-user", renames, AS_USER_XML, data), request["queries"], each=True)
    result["logged_in"] = logged_in
    result["login"] = "accepted" if logged_in else (messages[0] if messages else "refused without a message")
    result["outcomes"] = outcomes
