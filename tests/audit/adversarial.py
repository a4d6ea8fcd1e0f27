"""A seeded generator of adversarial configuration trees: a small hardened 18.16 tree (HTTP on
8123 bound to 127.0.0.1, one user with a password, from 127.0.0.1 only) plus files planted in
config.d/, users.d/ and conf.d/ drawn from the constructs that once turned an open server into
an audit PASS, and their combinations: wildcard spellings glibc accepts, `${}` references
(dotted, indexed, attribute, from the environment), address patterns by key prefix, masks and
prefix lengths, empty and upper-case hashes, users_config with whitespace, include_from chains
with incl, from_env, replace and remove on parents, duplicate and case-varied elements, mixed
root elements, and upper-case or hidden file names.

Used by tests/audit/test_oracle.py (the server as the oracle) and bench/audit_oracle.py.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

# Made per run, as every password in the tests: it lives only in the generated trees.
PASSWORD = secrets.token_urlsafe(18)
HASH = hashlib.sha256(PASSWORD.encode()).hexdigest()
EMPTY = hashlib.sha256(b"").hexdigest()
# Set in the server's environment: a from_env or ${system.env.*} the audit cannot see.
ENVIRONMENT = {"HH_ORACLE_LISTEN": "0.0.0.0", "HH_ORACLE_HASH": EMPTY}
USER_NAMES = ("bob", "carol", "alice")
LISTEN_TEXTS = (
    "0",
    "0.0",
    "0x0",
    "000.0.0.0",
    " 0.0.0.0 ",
    "0.0.0.0",
    "::",
    "::ffff:0.0.0.0",
    "127.0.0.1",
    "::1",
    "127.0.0.1 junk",
    "localhost",
    "0x7f000001",
    "127.1",
)
AUTHS = (
    "<password></password>",
    "<password/>",
    "<password> </password>",
    f"<password>{PASSWORD}</password>",
    f"<password_sha256_hex>{HASH}</password_sha256_hex>",
    f"<password_sha256_hex>{EMPTY}</password_sha256_hex>",
    f"<password_sha256_hex>{EMPTY.upper()}</password_sha256_hex>",
    "<password_sha256_hex>${hh_hash}</password_sha256_hex>",
    "<password_sha256_hex>${system.env.HH_ORACLE_HASH}</password_sha256_hex>",
    "<password><![CDATA[]]></password>",
)
NETWORKS = (
    "<ip>127.0.0.1</ip>",
    "<ip>::1</ip>",
    "<ip>::/0</ip>",
    "<ipv6>::/0</ipv6>",
    "<ip2>0.0.0.0/0</ip2>",
    "<ip>/0</ip>",
    "<ip>127.0.0.1/0.0.0.0</ip>",
    "<ip>10.0.0.0/256</ip>",
    "<ip>0x7f000001/8</ip>",
    "<ip>127.0.0.77</ip>",
    "<ip>127.0.0.0/8</ip>",
    "<ip>10.0.0.0/8</ip>",
    "<host>localhost</host>",
    "<hostname>localhost</hostname>",
    "<host_regexp_x>.*</host_regexp_x>",
    "<ip>${hh_net}</ip>",
)


@dataclass
class GeneratedTree:
    seed: int
    etc: Path
    planted: list[str] = field(default_factory=list)  # a one-line description per construct


def _root(rng: random.Random) -> str:
    return rng.choice(("yandex", "yandex", "clickhouse"))


class _Planter:
    def __init__(self, seed: int, base: Path):
        self.rng = random.Random(seed)
        self.base = base
        self.etc = base / "etc"
        self.tree = GeneratedTree(seed, self.etc)

    def note(self, text: str) -> None:
        self.tree.planted.append(text)

    def listen(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.55:
            text = rng.choice(LISTEN_TEXTS)
            # replace: the base tree's 127.0.0.1 goes, so a wildcard does not collide with it
            attrs = ' replace="1"' if rng.random() < 0.6 else ""
            self.note(f"listen_host{attrs} {text!r}")
            return f"<listen_host{attrs}>{text}</listen_host>"
        if roll < 0.7:
            text = rng.choice(LISTEN_TEXTS)
            self.note(f"listen_host ${{hh_x}} = {text!r}")
            return f"<listen_host>${{hh_x}}</listen_host><hh_x>{text}</hh_x>"
        if roll < 0.78:
            self.note("listen_host ${hh_s.t[@a]}")
            return f'<listen_host>${{hh_s.t[@a]}}</listen_host><hh_s><t a="{rng.choice(LISTEN_TEXTS)}"/></hh_s>'
        if roll < 0.84:
            self.note("listen_host from_env")
            return '<listen_host from_env="HH_ORACLE_LISTEN"/>'
        if roll < 0.9:
            self.note("listen_host remove")
            return '<listen_host remove="1"/>'
        if roll < 0.95:
            self.note("listen_host incl from an include_from file")
            include = self.etc / "inc" / f"listen-{rng.randint(0, 999)}.xml"
            include.parent.mkdir(exist_ok=True)
            include.write_text(f"<yandex><hh_lh>{rng.choice(LISTEN_TEXTS)}</hh_lh></yandex>\n")
            return f'<include_from>{include}</include_from><listen_host incl="hh_lh"/>'
        self.note("LISTEN_HOST (another element: tags are case-sensitive)")
        return "<LISTEN_HOST>0.0.0.0</LISTEN_HOST>"

    def port(self) -> str:
        choice = self.rng.choice(("<tcp_port>9000</tcp_port>", "<tcp_port>${hh_p}</tcp_port><hh_p>9000</hh_p>"))
        self.note(choice)
        return choice

    def user(self, name: str) -> str:
        rng = self.rng
        auth = rng.choice(AUTHS)
        nets = "".join(rng.sample(NETWORKS, rng.randint(1, 2)))
        networks = f"<networks>{nets}</networks>"
        roll = rng.random()
        if roll < 0.08:
            networks = ""
        elif roll < 0.14:
            networks = f"<networks><ip>127.0.0.1</ip></networks><networks>{nets}</networks>"
        elif roll < 0.22:
            networks = f'<networks replace="1">{nets}</networks>'
        attrs = ' replace="1"' if rng.random() < 0.75 else ""
        self.note(f"user {name}{attrs}: {auth} {networks or 'no networks'}")
        return f"<{name}{attrs}>{auth}{networks}<profile>default</profile><quota>default</quota></{name}>"

    def users_body(self) -> str:
        rng = self.rng
        parts = []
        for _ in range(rng.randint(1, 2)):
            name = rng.choice(USER_NAMES)
            if name == "alice" and rng.random() < 0.3:
                self.note("user alice remove")
                parts.append('<alice remove="1"/>')
            else:
                parts.append(self.user(name))
        extra = ""
        body = "".join(parts)
        if "${hh_hash}" in body or rng.random() < 0.1:
            extra += f"<hh_hash>{rng.choice((EMPTY, HASH, EMPTY.upper()))}</hh_hash>"
        if "${hh_net}" in body or rng.random() < 0.1:
            extra += f"<hh_net>{rng.choice(('::/0', '127.0.0.1', '0.0.0.0/0', '127.0.0.0/8'))}</hh_net>"
        return f"<users>{''.join(parts)}</users>{extra}"


def generate(seed: int, base: Path) -> GeneratedTree:
    """One tree under base/etc (server data and logs under base)."""
    shutil.rmtree(base, ignore_errors=True)
    planter = _Planter(seed, base)
    rng, etc = planter.rng, planter.etc
    for directory in ("config.d", "users.d", "conf.d"):
        (etc / directory).mkdir(parents=True)
    (base / "data").mkdir()
    users_name = "users.xml"
    if rng.random() < 0.08:
        users_name = rng.choice(("users.xml ", " users.xml"))
        planter.note(f"users_config {users_name!r}")
    (etc / "config.xml").write_text(
        f"""<yandex>
 <logger><level>information</level><log>{base}/server.log</log><errorlog>{base}/server.err.log</errorlog></logger>
 <path>{base}/data/</path><tmp_path>{base}/data/tmp/</tmp_path>
 <http_port>8123</http_port>
 <listen_host>127.0.0.1</listen_host>
 <users_config>users.xml</users_config>
 <mark_cache_size>5368709120</mark_cache_size>
 <default_profile>default</default_profile><default_database>default</default_database>
</yandex>
"""
    )
    base_users = (
        "<yandex><profiles><default/></profiles><quotas><default/></quotas><users>"
        f"<alice><password_sha256_hex>{HASH}</password_sha256_hex><networks><ip>127.0.0.1</ip></networks>"
        "<profile>default</profile><quota>default</quota></alice></users></yandex>\n"
    )
    (etc / "users.xml").write_text(base_users)
    if users_name != "users.xml":
        (etc / "config.d" / "50-users.xml").write_text(f"<yandex><users_config>{users_name}</users_config></yandex>")
        body = planter.users_body()
        (etc / users_name).write_text(
            f"<yandex><profiles><default/></profiles><quotas><default/></quotas>{body}</yandex>\n"
        )
    for _ in range(rng.randint(0, 2)):
        name = rng.choice(("zz-a.xml", "zzz.xml", "zzz.conf", "zzz.XML", ".zzz.xml", "zzz.xml.bak", "00-a.xml"))
        directory = rng.choice(("config.d", "config.d", "conf.d"))
        root = _root(rng)
        body = "".join(planter.listen() for _ in range(rng.randint(1, 2)))
        if rng.random() < 0.15:
            body += planter.port()
        (etc / directory / name).write_text(f"<{root}>{body}</{root}>\n")
        planter.note(f"  in {directory}/{name}")
    for _ in range(rng.randint(1, 2)):
        name = rng.choice(("zz-a.xml", "zzz.xml", "zzz.conf", "zzz.XML", "00-a.xml"))
        root = _root(rng)
        (etc / "users.d" / name).write_text(f"<{root}>{planter.users_body()}</{root}>\n")
        planter.note(f"  in users.d/{name}")
    return planter.tree
