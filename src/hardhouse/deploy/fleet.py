"""The deploy of a whole inventory (deploy/harden.py): ZooKeeper where a host has
`hardhouse_zookeeper` data, ClickHouse where it has `hardhouse_spec` (a host with neither fails
saying hardhouse_spec is missing), with every host's packages installed in one step.

pyinfra runs a step on every host before it starts the next, and a step is one call site: as
harden_zookeeper() and harden_clickhouse() one after the other, ZooKeeper's install (about 22 s
on a fresh host, its JRE) and the replicas' ClickHouse install (about 8 s) were two steps, run
one after the other. Here both are one step (hardhouse.deploy.operations.install_packages, called
from one place for every host), which comes after ClickHouse's state read and its refusal of
undeclared users, as in harden_clickhouse(). The other steps are the two @deploys' own, in
their order; ClickHouse's own repository is set up and installed in its steps before that one.

pyinfra orders the hosts' steps side by side (step n of each host together): the replicas may
go live before ZooKeeper is up (18.16 starts without it); their replicated tables are created
near the end, after ZooKeeper's fewer steps are done (a failed ZooKeeper host makes that
creation fail, naming ZooKeeper)."""

from __future__ import annotations

from pyinfra import host

from hardhouse.deploy.harden import DEBIAN_PACKAGES, clickhouse_after_install, clickhouse_before_install
from hardhouse.deploy.operations import install_packages
from hardhouse.deploy.zookeeper import zookeeper_after_install, zookeeper_before_install


def harden() -> None:
    """Harden this host: its ZooKeeper, its ClickHouse, or both."""
    zookeeper = zookeeper_before_install()
    runs_clickhouse = host.data.get("hardhouse_spec") is not None or zookeeper is None
    clickhouse = clickhouse_before_install() if runs_clickhouse else None
    if clickhouse is not None:
        from_debian, cache_time = clickhouse.settings.install_source == "debian", clickhouse.settings.apt_cache_time
    else:
        assert zookeeper is not None  # a host without ClickHouse is a ZooKeeper host
        from_debian, cache_time = False, zookeeper.cache_time
    install_packages(
        name="Install the packages (ClickHouse's from the distribution, ZooKeeper's): one step for every host",
        packages=list(DEBIAN_PACKAGES) if from_debian else [],
        cache_time=cache_time,
        missing=zookeeper.install if zookeeper is not None else [],
    )
    if zookeeper is not None:
        zookeeper_after_install(zookeeper)
    if clickhouse is not None:
        clickhouse_after_install(clickhouse)
