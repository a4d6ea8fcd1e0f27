"""The deploy's helper child (hardhouse.deploy.service): verification and log-database
requests answered outside pyinfra's gevent-patched process, which keeps network clients (TLS
scanner, ClickHouse drivers) away from gevent; secrets are read by the child where the spec
names them, never passed in a request. One child serves every host of a run: SERVICE, started
on first use (or as pyinfra loads the deploy: hardhouse.deploy._start_helper)."""

from __future__ import annotations

from hardhouse.childproc import Child

SERVICE = Child("hardhouse.deploy.service", name="the deploy's helper process")
