"""hardhouse.audit.merge against the real thing: Debian's ClickHouse 18.16 server merges each
generated tree and writes its merged view to <path>/preprocessed_configs/{config,users}.xml;
ours must be the same tree (tags, attributes, stripped text, element order; comments and
whitespace ignored) and list the same files in the same order.

The trees come from a seeded generator covering: repeated tags, replace, remove, attributes
that make elements distinct, text with whitespace, comments and CDATA, nested sections,
conf.d against config.d order (conf.d also merges into users.xml), .conf files, hidden files,
a file named ".xml", extensions ClickHouse skips, incl with include_from inside the tree
(set in config.xml or in a merged file), optional and missing incl, the sibling 18.16 skips
after removing an optional include, from_env left alone (from_zk makes
18.16 reload from ZooKeeper, which it cannot without one: the unit tests cover it), <clickhouse> and other roots
merged into a <yandex> main file. The server is started without ports: it writes both files
and stops on its own (no mark_cache_size), or is killed after a timeout.

Modern ClickHouse (chdb-core 26.9, embedded) writes no preprocessed files; its users, as
system.users lists them (names, auth types, networks), are compared with our MODERN merge of
generated users.xml + users.d/ + conf.d/ trees (remove, replace, mixed roots, UP.XML and .xml).
"""

from __future__ import annotations

import difflib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from hardhouse.audit.merge import ConfigTreeError, Dialect, MergedConfig, read_server_tree
from hardhouse.clickhouse.xmltree import Comment, Element, Text, parse_bytes
from hardhouse.testing.local_server import free_port, server_binary
from tests.audit.oracle import stop
from tests.helpers import require

pytestmark = [pytest.mark.integration, pytest.mark.live]

TREES = 48
SEED = 20181216
SERVER_TIMEOUT = 30.0


# --- normalized trees ---------------------------------------------------------------------


def normalize(element: Element) -> tuple:
    """(tag, sorted attributes, children): adjacent text (and CDATA) joined, comments dropped,
    whitespace-only text dropped, text stripped. Both sides go through this."""
    items: list = []
    pending: list[str] = []

    def flush() -> None:
        text = "".join(pending).strip()
        if text:
            items.append(text)
        pending.clear()

    for child in element.children:
        if isinstance(child, Comment):
            continue
        if isinstance(child, Text):
            pending.append(child.value)
            continue
        flush()
        items.append(normalize(child))
    flush()
    return element.tag, tuple(sorted(element.attrs.items())), tuple(items)


def render(tree: tuple, indent: int = 0) -> list[str]:
    tag, attrs, items = tree
    pad = "  " * indent
    head = pad + "<" + tag + "".join(f' {k}="{v}"' for k, v in attrs) + ">"
    lines = [head]
    for item in items:
        lines.extend(render(item, indent + 1) if isinstance(item, tuple) else [pad + "  " + repr(item)])
    return lines


def assert_same(ours: Element, theirs: Element, what: str, context: str) -> None:
    a, b = normalize(ours), normalize(theirs)
    if a != b:
        diff = "\n".join(difflib.unified_diff(render(b), render(a), "clickhouse-18.16", "hardhouse", lineterm="", n=4))
        pytest.fail(f"{what} differs from ClickHouse's ({context}):\n{diff}")


def files_used(preprocessed: bytes, etc: Path) -> list[str]:
    """The 'Files used to generate this file' list ClickHouse puts in its comment."""
    text = preprocessed.decode()
    block = text.split("Files used to generate this file:", 1)[1].split("-->", 1)[0]
    return [os.path.relpath(line.strip(), etc) for line in block.strip().splitlines() if line.strip()]


# --- the generator ------------------------------------------------------------------------

TAGS = ["hh_host", "hh_a", "hh_b"]
SECTIONS = ["hh_sec", "hh_net"]
WORDS = ["alpha", "::1", "10.0.0.1", "x&y", "tls1.2", "0", "1", "a<b", "zz"]


@dataclass
class Tree:
    seed: int
    etc: Path
    data: Path
    expect_error: bool = False
    description: str = ""


class Generator:
    def __init__(self, seed: int, include_path: str):
        self.rng = random.Random(seed)
        self.include_path = include_path
        self.include_names: list[str] = []

    def text(self) -> str:
        rng = self.rng
        word, other = (w.replace("&", "&amp;").replace("<", "&lt;") for w in rng.sample(WORDS, 2))
        roll = rng.random()
        if roll < 0.15:
            return f"\n        {word}\n    "
        if roll < 0.25:
            return f"<!-- note -->{word}"
        if roll < 0.32:
            return f"<![CDATA[{rng.choice(WORDS)}]]>"
        if roll < 0.4:
            return f" {word} <!-- c --> {other}"
        return word

    def attrs(self, merge_file: bool) -> str:
        rng = self.rng
        parts = []
        if rng.random() < 0.25:
            parts.append(f'name="{rng.choice("xy")}"')
        if merge_file:
            roll = rng.random()
            if roll < 0.15:
                parts.append('replace="1"')
            elif roll < 0.27:
                parts.append('remove="1"')
        if rng.random() < 0.05:
            parts.append(f'from_env="HH_SURELY_UNSET_{rng.randint(0, 9)}"')
        elif rng.random() < 0.12 and self.include_names:
            parts.append(f'incl="{rng.choice(self.include_names + ["missing"])}"')
            if rng.random() < 0.5:
                parts.append('optional="true"')
            if rng.random() < 0.2 and 'replace="1"' not in parts and 'remove="1"' not in parts:
                parts.append('replace="replace"')
        return "".join(" " + p for p in parts)

    def element(self, depth: int, merge_file: bool) -> str:
        rng = self.rng
        if depth < 2 and rng.random() < 0.45:
            tag = rng.choice(SECTIONS)
            inner = "".join(self.element(depth + 1, merge_file) for _ in range(rng.randint(0, 4)))
            sep = rng.choice(["", "\n    ", " "])
            return f"<{tag}{self.attrs(merge_file)}>{sep}{inner}{sep}</{tag}>{sep}"
        tag = rng.choice(TAGS)
        sep = rng.choice(["", "\n    "])  # no whitespace: the sibling-skipping case gets a chance
        if rng.random() < 0.1:
            return f"<{tag}{self.attrs(merge_file)}/>{sep}"
        return f"<{tag}{self.attrs(merge_file)}>{self.text()}</{tag}>{sep}"

    def body(self, count: int, merge_file: bool) -> str:
        return "".join(self.element(0, merge_file) for _ in range(count))


def generate_tree(seed: int, base: Path) -> Tree:
    """One configuration tree under base/etc, its server data under base/data."""
    rng = random.Random(seed)
    etc, data = base / "etc", base / "data"
    for directory in (etc / "config.d", etc / "conf.d", etc / "users.d", data):
        directory.mkdir(parents=True, exist_ok=True)
    include = etc / "includes" / "subst.xml"
    gen = Generator(seed, str(include))
    use_include = rng.random() < 0.6
    if use_include:
        include.parent.mkdir(exist_ok=True)
        names = ["inc_a", "inc_b", "inc_c"]
        include_root = "yandex" if rng.random() < 0.9 else "clickhouse"  # 18.16 finds nothing under <clickhouse>
        include.write_text(
            f"<{include_root}>\n"
            f"  <inc_a>{gen.body(rng.randint(0, 3), False)}</inc_a>\n"
            f'  <inc_b kind="fromfile" name="q"><hh_host>from-include</hh_host></inc_b>\n'
            f"  <inc_c>plain-value</inc_c>\n"
            f"</{include_root}>\n"
        )
        gen.include_names = names
    include_from_in_main = use_include and rng.random() < 0.5
    main = (
        '<?xml version="1.0"?>\n<yandex>\n'
        f"    <logger><level>warning</level><log>{base}/server.log</log><errorlog>{base}/server.err.log</errorlog>"
        "</logger>\n"
        f"    <path>{data}/</path>\n"
        "    <users_config>users.xml</users_config>\n"
        + (f"    <include_from>{include}</include_from>\n" if include_from_in_main else "")
        + "    "
        + gen.body(rng.randint(3, 9), False)
        + "\n</yandex>\n"
    )
    (etc / "config.xml").write_text(main)
    users = (
        "<yandex>\n  <profiles><default><readonly>0</readonly></default></profiles>\n"
        "  <users><default><password></password><networks><ip>::1</ip><ip>127.0.0.1</ip></networks>"
        "<profile>default</profile><quota>default</quota></default></users>\n"
        "  <quotas><default/></quotas>\n  " + gen.body(rng.randint(0, 4), False) + "\n</yandex>\n"
    )
    (etc / "users.xml").write_text(users)
    names = [
        "00-base.xml",
        "10-net.xml",
        "50-x.conf",
        "z.xml",
        ".hidden.xml",
        ".xml",
        "notes.txt",
        "UP.XML",
        "old.xml.bak",
        "a.b.xml",
        "99-last.xml",
    ]
    placed_include_from = include_from_in_main
    for directory in ("config.d", "conf.d", "users.d"):
        for name in rng.sample(names, rng.randint(0, 4)):
            root = rng.choice(["yandex", "yandex", "clickhouse", "clickhouse", "other"])
            extra = ""
            if use_include and not placed_include_from and directory == "config.d" and rng.random() < 0.5:
                extra = f"<include_from>{include}</include_from>"
                placed_include_from = True
            (etc / directory / name).write_text(f"<{root}>{extra}\n  {gen.body(rng.randint(1, 5), True)}\n</{root}>\n")
    return Tree(seed, etc, data)


def error_trees(base: Path) -> list[Tree]:
    """Trees 18.16 refuses to start with; hardhouse must refuse them too."""
    cases = {
        "remove-and-replace": ("<yandex><hh_a>1</hh_a></yandex>", '<yandex><hh_a remove="1" replace="1"/></yandex>'),
        "two-substitutions": ('<yandex><hh_a incl="x" from_env="HH_UNSET"/></yandex>', None),
    }
    trees = []
    for number, (name, (main_extra, merged)) in enumerate(cases.items()):
        root = base / f"error-{number}"
        etc, data = root / "etc", root / "data"
        (etc / "config.d").mkdir(parents=True)
        data.mkdir()
        body = main_extra.replace("<yandex>", "").replace("</yandex>", "")
        (etc / "config.xml").write_text(
            f"<yandex><logger><level>warning</level><log>{root}/server.log</log>"
            f"<errorlog>{root}/server.err.log</errorlog></logger><path>{data}/</path>"
            f"<users_config>users.xml</users_config>{body}</yandex>"
        )
        (etc / "users.xml").write_text("<yandex><users><default/></users></yandex>")
        if merged:
            (etc / "config.d" / "bad.xml").write_text(merged)
        trees.append(Tree(-1 - number, etc, data, expect_error=True, description=name))
    return trees


# --- running the server -------------------------------------------------------------------


@dataclass
class Preprocessed:
    config: bytes | None
    users: bytes | None
    log: str


def run_server(tree: Tree, wait_for_users: bool = True) -> Preprocessed:
    """Start clickhouse-server on the tree; return its preprocessed files once written."""
    out = tree.etc.parent / "stdout.log"
    target = tree.data / "preprocessed_configs"
    with out.open("wb") as log:
        process = subprocess.Popen(
            [server_binary() or "clickhouse-server", f"--config-file={tree.etc / 'config.xml'}"],
            cwd=tree.etc.parent,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + SERVER_TIMEOUT
        sizes: tuple = ()
        try:
            while time.monotonic() < deadline:
                exited = process.poll() is not None
                wanted = [target / "config.xml"] + ([target / "users.xml"] if wait_for_users else [])
                if all(p.exists() for p in wanted):
                    now = tuple(p.stat().st_size for p in wanted)
                    if exited or now == sizes:  # written and no longer growing
                        break
                    sizes = now
                elif exited:
                    break
                time.sleep(0.05)
        finally:
            stop(process)

    def read(name: str) -> bytes | None:
        path = target / name
        return path.read_bytes() if path.exists() else None

    err = tree.etc.parent / "server.err.log"
    text = out.read_text(errors="replace") + (err.read_text(errors="replace") if err.exists() else "")
    return Preprocessed(read("config.xml"), read("users.xml"), text[-3000:])


def tree_listing(etc: Path) -> str:
    lines = []
    for path in sorted(etc.rglob("*")):
        if path.is_file():
            lines.append(f"--- {path.relative_to(etc)}\n{path.read_text(errors='replace')}")
    return "\n".join(lines)


def check_tree(tree: Tree, result: Preprocessed) -> None:
    context = f"seed {tree.seed}; tree:\n{tree_listing(tree.etc)}"
    if tree.expect_error:
        assert result.config is None, f"ClickHouse accepted the {tree.description} tree"
        with pytest.raises(ConfigTreeError):
            read_server_tree(tree.etc, Dialect.V18, assume_no_default_include=True)
        return
    assert result.config is not None and result.users is not None, f"no preprocessed files: {result.log}\n{context}"
    ours = read_server_tree(tree.etc, Dialect.V18, assume_no_default_include=True)
    compare(ours.config, result.config, tree.etc, "config.xml", context)
    compare(ours.users, result.users, tree.etc, "users.xml", context)


def compare(ours: MergedConfig, preprocessed: bytes, etc: Path, what: str, context: str) -> None:
    theirs = parse_bytes(preprocessed, f"preprocessed {what}")
    assert_same(ours.root, theirs, what, context)
    assert ours.files == files_used(preprocessed, etc), f"{what}: files differ ({context})"


@pytest.fixture(scope="module")
def server() -> str:
    binary = server_binary()
    require(binary is not None, "clickhouse-server (Debian's 18.16) is not installed")
    require(not Path("/etc/metrika.xml").exists(), "/etc/metrika.xml exists: ClickHouse would include it")
    return binary  # type: ignore[return-value]


def test_generated_trees_merge_as_clickhouse_18_16_does(server: str, tmp_path: Path) -> None:
    trees = [generate_tree(SEED + n, tmp_path / f"tree-{n}") for n in range(TREES)] + error_trees(tmp_path)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run_server, trees))
    elapsed = time.monotonic() - started
    for tree, result in zip(trees, results, strict=True):
        check_tree(tree, result)
    print(f"{len(trees)} trees compared with clickhouse-server 18.16 in {elapsed:.1f}s")


def test_generated_trees_cover_the_interesting_cases(tmp_path: Path) -> None:
    """The generator does produce what the differential test claims to cover."""
    seen = ""
    for n in range(TREES):
        generate_tree(SEED + n, tmp_path / f"t{n}")
        seen += tree_listing(tmp_path / f"t{n}" / "etc")
    for needle in (
        'replace="1"',
        'remove="1"',
        'name="x"',
        "<![CDATA[",
        "<!--",
        "--- conf.d/",
        "--- config.d/.xml",
        "--- users.d/",
        ".conf\n",
        "--- config.d/.hidden.xml",
        "UP.XML",
        'incl="missing"',
        'optional="true"',
        "from_env=",
        "<clickhouse>",
        "<other>",
        "include_from",
    ):
        assert needle in seen, needle


# --- Debian's stock tree, with a realistic config.d ---------------------------------------


def stock_tree(base: Path) -> Tree:
    etc, data = base / "etc", base / "data"
    shutil.copytree("/etc/clickhouse-server", etc)
    data.mkdir()
    for directory in ("config.d", "users.d"):
        (etc / directory).mkdir(exist_ok=True)
    http, native, interserver = free_port(), free_port(), free_port()
    (etc / "config.d" / "00-sandbox.xml").write_text(
        f"""<yandex>
    <path>{data}/</path>
    <tmp_path>{data}/tmp/</tmp_path>
    <user_files_path>{data}/user_files/</user_files_path>
    <format_schema_path>{data}/format_schemas/</format_schema_path>
    <logger><level>warning</level><log>{base}/server.log</log><errorlog>{base}/server.err.log</errorlog></logger>
    <http_port>{http}</http_port>
    <tcp_port>{native}</tcp_port>
    <interserver_http_port>{interserver}</interserver_http_port>
</yandex>
"""
    )
    (etc / "config.d" / "listen.xml").write_text(
        '<yandex>\n  <listen_host>127.0.0.1</listen_host>\n  <listen_host remove="1"/>\n</yandex>\n'
    )
    (etc / "config.d" / "tls.xml").write_text(
        """<clickhouse>
  <openSSL>
    <server>
      <disableProtocols>sslv2,sslv3,tlsv1,tlsv1_1</disableProtocols>
      <cipherList>ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256</cipherList>
      <verificationMode replace="1">none</verificationMode>
    </server>
  </openSSL>
  <remote_servers replace="replace"><only><shard><replica><host>db1</host><port>9000</port></replica></shard></only>
  </remote_servers>
</clickhouse>
"""
    )
    (etc / "users.d" / "default.xml").write_text(
        """<yandex>
  <users>
    <default remove="remove"/>
    <ingest><password_sha256_hex>a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3</password_sha256_hex>
      <networks><ip>10.0.0.0/8</ip></networks><profile>default</profile><quota>default</quota></ingest>
  </users>
  <profiles><readonly><readonly replace="1">2</readonly></readonly></profiles>
</yandex>
"""
    )
    return Tree(0, etc, data)


def test_debian_stock_tree_with_a_config_d_merges_as_clickhouse_does(server: str, tmp_path: Path) -> None:
    tree = stock_tree(tmp_path)
    result = run_server(tree)
    check_tree(tree, result)
    ours = read_server_tree(tree.etc, Dialect.V18, assume_no_default_include=True)
    hosts = [(e.text, str(e.value_origin)) for e in ours.config.root.elements("listen_host")]
    assert hosts[0] == ("127.0.0.1", "config.d/listen.xml:2")


def test_stock_tree_without_the_metrika_assumption_reports_the_includes(tmp_path: Path) -> None:
    tree = stock_tree(tmp_path)
    ours = read_server_tree(tree.etc, Dialect.V18)
    kinds = {(u.kind, u.name) for u in ours.config.unresolved}
    assert ("include_from", "/etc/metrika.xml") in kinds
    assert {("incl", "zookeeper-servers"), ("incl", "macros")} <= kinds
    assert re.fullmatch(r"config\.xml:\d+", str(next(u.origin for u in ours.config.unresolved if u.name == "macros")))


# --- modern ClickHouse (chdb-core 26.9, embedded): users as system.users shows them -------
#
# The embedded engine writes no preprocessed files, but it merges users.xml with users.d/ and
# conf.d/ through ClickHouse's own ConfigProcessor and lists the result in system.users. Its
# session logs in as a passwordless `default` from loopback, which every tree keeps.

MODERN_TREES = 12
AUTH_TYPES = {
    "password": "plaintext_password",
    "password_sha256_hex": "sha256_password",
    "password_double_sha1_hex": "double_sha1_password",
    "no_password": "no_password",
}
LOOPBACK = {"::1", "127.0.0.1"}


def modern_user(rng: random.Random, name: str) -> str:
    auth = rng.choice(
        [
            "<password>pw</password>",
            f"<password_sha256_hex>{'ab' * 32}</password_sha256_hex>",
            f"<password_double_sha1_hex>{'cd' * 20}</password_double_sha1_hex>",
            "<no_password/>",
        ]
    )
    ips = "".join(f"<ip>{ip}</ip>" for ip in rng.sample(["10.0.0.0/8", "192.168.1.0/24", "::1", "172.16.0.0/12"], 2))
    return f"<{name}>{auth}<networks>{ips}</networks><profile>default</profile><quota>default</quota></{name}>"


def generate_modern_users_tree(seed: int, base: Path) -> Path:
    rng = random.Random(seed)
    etc = base / "etc"
    for directory in ("users.d", "conf.d"):
        (etc / directory).mkdir(parents=True)
    (base / "data").mkdir()
    (etc / "config.xml").write_text(
        f"<clickhouse><path>{base}/data/</path><tmp_path>{base}/data/tmp/</tmp_path>"
        f"<users_config>{etc}/users.xml</users_config></clickhouse>"
    )
    names = ["alice", "bob", "carol", "dave"]
    default = (
        "<default><password></password><networks><ip>::1</ip><ip>127.0.0.1</ip></networks>"
        "<access_management>1</access_management><profile>default</profile><quota>default</quota></default>"
    )
    base_users = "".join(modern_user(rng, n) for n in names)
    removed = rng.choice(names)  # only this one is removed, and never patched partially after
    (etc / "users.xml").write_text(
        f"<clickhouse><users>{default}{base_users}</users><profiles><default/></profiles>"
        "<quotas><default/></quotas></clickhouse>"
    )
    files = ["a.xml", "b.conf", "UP.XML", ".xml", ".hidden.xml", "z.xml"]
    for directory in ("users.d", "conf.d"):
        for file in rng.sample(files, rng.randint(1, 3)):
            parts = []
            for name in rng.sample(names, rng.randint(1, 3)):
                roll = rng.random()
                if name == removed and roll >= 0.6:
                    roll = rng.random() * 0.6
                if roll < 0.3 and name == removed:
                    parts.append(f'<{name} remove="1"/>')
                elif roll < 0.6:
                    parts.append(modern_user(rng, name).replace(f"<{name}>", f'<{name} replace="1">', 1))
                elif roll < 0.8:
                    ip = rng.choice(["10.9.0.0/16", "::1", "192.168.7.0/24"])
                    parts.append(f'<{name}><networks replace="replace"><ip>{ip}</ip></networks></{name}>')
                else:
                    parts.append(f"<{name}><networks><ip>10.{rng.randint(0, 9)}.0.0/16</ip></networks></{name}>")
            root = rng.choice(["clickhouse", "yandex"])
            (etc / directory / file).write_text(f"<{root}><users>{''.join(parts)}</users></{root}>")
    return etc


def expected_users(etc: Path) -> dict[str, dict] | str:
    """What system.users should list, from our merge; or the error we expect."""
    try:
        tree = read_server_tree(etc, Dialect.MODERN)
    except ConfigTreeError as error:
        return f"error: {error}"
    users = {}
    for user in tree.users.root.find("users").elements():
        auths = [AUTH_TYPES[e.tag] for e in user.elements() if e.tag in AUTH_TYPES]
        if len(auths) != 1:  # not the merge's business, but ClickHouse refuses such a user
            return f"error: {user.tag} has {len(auths)} authentication methods"
        networks = user.find("networks")
        ips = [e.text for e in networks.elements("ip")] if networks is not None else []
        users[user.tag] = {
            "auth_type": auths,
            "host_ip": sorted(ip for ip in ips if ip not in LOOPBACK),
            "localhost": any(ip in LOOPBACK for ip in ips),
        }
    return users


MODERN_SCRIPT = """
import json, sys, chdb
for config in sys.argv[1:]:
    try:
        session = chdb.connect(":memory:?config-file=" + config)
        rows = session.query("SELECT name, auth_type, host_ip, host_names FROM system.users", "JSONEachRow").data()
        session.close()
        users = {}
        for row in map(json.loads, filter(None, rows.splitlines())):
            users[row["name"]] = {"auth_type": row["auth_type"], "host_ip": sorted(row["host_ip"]),
                                  "localhost": "localhost" in row["host_names"]}
        print(json.dumps(users))
    except Exception as error:
        print(json.dumps("error: " + str(error)[:300]))
"""


@pytest.mark.chdb
def test_modern_users_merge_as_embedded_clickhouse_26_9_does(tmp_path: Path) -> None:
    pytest.importorskip("chdb")
    trees = [generate_modern_users_tree(SEED + n, tmp_path / f"m{n}") for n in range(MODERN_TREES)]
    empty = tmp_path / "cwd"  # clickhouse-local would pick up a config.xml from its working directory
    empty.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", MODERN_SCRIPT, *(str(etc / "config.xml") for etc in trees)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=empty,
    )
    answers = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert len(answers) == len(trees), done.stderr[-3000:]
    for etc, theirs in zip(trees, answers, strict=True):
        ours = expected_users(etc)
        context = tree_listing(etc)
        if isinstance(theirs, str) or isinstance(ours, str):
            assert isinstance(theirs, str) and isinstance(ours, str), f"ours: {ours}\ntheirs: {theirs}\n{context}"
            continue
        assert ours == theirs, f"users differ:\nours:   {ours}\ntheirs: {theirs}\n{context}"
