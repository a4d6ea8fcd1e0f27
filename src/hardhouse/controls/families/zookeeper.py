"""The coordination service a cluster trusts: ClickHouse's znodes only for its identity, the
four-letter words limited, ZooKeeper's own admin surface closed."""

from __future__ import annotations

from hardhouse.controls.control import DOCS, SERVER_SETTINGS, Control
from hardhouse.controls.ids import ControlId
from hardhouse.controls.severity import Severity

CONTROLS: tuple[Control, ...] = (
    Control(
        ControlId.ZK_1,
        "ZooKeeper or Keeper only with ClickHouse's identity",
        Severity.HIGH,
        "Without a digest `identity`, ClickHouse creates its znodes world-readable and world-writable: "
        "anyone reaching ZooKeeper can read or rewrite replication metadata. With one, its znodes carry "
        "an ACL that only the identity passes; Keeper on modern targets also runs raft and clients over TLS.",
        (f"{SERVER_SETTINGS}#zookeeper", f"{DOCS}/guides/sre/keeper/clickhouse-keeper"),
        ("cluster.zookeeper", "cluster.keeper"),
        templates=("cluster_secrets", "cluster"),
    ),
    Control(
        ControlId.ZK_2,
        "ZooKeeper four-letter words limited",
        Severity.MEDIUM,
        "ZooKeeper's and Keeper's four-letter words answer anyone who reaches the client port: "
        "`cons`, `stat` and `dump` list clients and sessions, `envi` and `conf` the host, paths and "
        "configuration, `wchc`/`wchp` the watched znode paths. Allow `ruok` only "
        "(`4lw.commands.whitelist`, Keeper's `four_letter_word_white_list`); ZooKeeper 3.8 answers "
        "`srvr` whatever the list says, so the probe reports it without failing.",
        (
            "https://zookeeper.apache.org/doc/r3.8.0/zookeeperAdmin.html#sc_4lw",
            f"{DOCS}/guides/sre/keeper/clickhouse-keeper#four-letter-word-commands",
        ),
        (),
    ),
    Control(
        ControlId.ZK_3,
        "ZooKeeper's own surface closed",
        Severity.HIGH,
        "Stock ZooKeeper listens on every interface, opens an unauthenticated admin HTTP server on 8080 "
        "(commands, configuration, sessions) and, started by Debian's init script, a JMX agent on a random "
        "port on every interface. The deploy (host data `hardhouse_zookeeper`) keeps the client port on one "
        "address (`clientPortAddress`), turns the admin server off (`admin.enableServer=false`) and JMX off, "
        "and creates ClickHouse's root znodes with an ACL of only its identity before anyone else can. "
        "ZooKeeper's TLS client port is not used: ClickHouse 18.16 cannot speak TLS to ZooKeeper.",
        (
            "https://zookeeper.apache.org/doc/r3.8.0/zookeeperAdmin.html#sc_advancedConfiguration",
            "https://zookeeper.apache.org/doc/r3.8.0/zookeeperAdmin.html#sc_adminserver_config",
            "https://zookeeper.apache.org/doc/r3.8.0/zookeeperJMX.html",
            "https://zookeeper.apache.org/doc/r3.8.0/zookeeperProgrammers.html#sc_ZooKeeperAccessControl",
        ),
        (),
    ),
)
