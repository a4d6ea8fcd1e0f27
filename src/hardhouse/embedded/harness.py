"""The run directories the embedded engine starts on: ClickHouse's stock users.xml, a minimal
config.xml, the rendered files (users renamed where a run needs it) and the harness's own
users.d file. Shared by the parent (staging) and the worker (one directory per start)."""

from __future__ import annotations

import secrets
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

from hardhouse.clickhouse.encryption import KEY_HEX_DIGITS
from hardhouse.clickhouse.stock import EMPTY_SHA256

if TYPE_CHECKING:  # the worker imports this module; keep it light
    from hardhouse.render.build import RenderedFile

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

# The session presents an empty password; a SHA-256 of it (not <no_password/>) still logs in
# when the rendered config refuses passwordless users (allow_no_password 0).
SESSION_USER = "default"  # the only user chdb-core's session authenticates as
HARNESS_KEYS = "harness-keys.xml"
# Harness-only users.d files sort after every rendered file ("zz-hardhouse-..."), so they
# are merged last.
HARNESS_FILE = "zzzz-embedded-harness.xml"
ORIGINAL_DEFAULT = "hardhouse_embedded_original_default"

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


def stage(files: list[RenderedFile], root: Path, include_config_d: bool = True) -> list[str]:
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


def key_stand_ins(root: Path) -> dict[str, str]:
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


def rename_users(xml_text: str, renames: dict[str, str], source: str) -> str:
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


def redirect_key_includes(config_d: Path, root: Path) -> None:
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


def build_run(root: Path, name: str, renames: dict[str, str], harness: str | None, data: Path | None = None) -> Path:
    """A run directory: config.xml (+ config.d/), users.xml and users.d/ for one engine start.

    data: a data directory shared between starts (run_as); by default the run's own.
    """
    run = root / "runs" / name
    (run / "users.d").mkdir(parents=True)
    shutil.copytree(root / "rendered" / "config.d", run / "config.d")
    redirect_key_includes(run / "config.d", root)
    (run / "config.xml").write_text(CONFIG_XML.format(data=data or run / "data", run=run), encoding="utf-8")
    stock = STOCK_USERS_XML if not renames else rename_users(STOCK_USERS_XML, renames, "users.xml")
    (run / "users.xml").write_text(stock, encoding="utf-8")
    for source in sorted((root / "rendered" / "users.d").iterdir()):
        text = source.read_text(encoding="utf-8")
        if renames:
            if source.suffix != ".xml":
                raise ValueError(
                    f"hardhouse: cannot rewrite users.d/{source.name} for a login probe (only .xml is supported)"
                )
            text = rename_users(text, renames, f"users.d/{source.name}")
        (run / "users.d" / source.name).write_text(text, encoding="utf-8")
    if harness is not None:
        (run / "users.d" / HARNESS_FILE).write_text(harness, encoding="utf-8")
    return run
