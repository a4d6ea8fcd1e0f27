"""Sandbox hosts: local containers started by `python -m hardhouse_dev.sandbox up`.

Each host is a plain Debian container reached over SSH on a published 127.0.0.1 port, with
an SSH key made for this sandbox and host keys pinned at start (strict checking). Its host
data (SSH settings, the spec it is hardened with, TLS from the sandbox CA) is written by the
sandbox driver to hosts.json in its state directory (HARDHOUSE_SANDBOX_HOSTS_STATE, default
/var/lib/hardhouse-sandbox-hosts); passwords are generated files there (0600), which the
spec names with password_file, so no secret is in this file or the environment.

    python -m hardhouse_dev.sandbox up --hosts 2
    pyinfra inventories/sandbox.py deploy/harden.py -y
    pyinfra inventories/sandbox.py debug-inventory          # the merged data of each host
"""

import json
import os
from pathlib import Path

_state = Path(os.environ.get("HARDHOUSE_SANDBOX_HOSTS_STATE") or "/var/lib/hardhouse-sandbox-hosts")
_hosts_file = _state / "hosts.json"
if not _hosts_file.exists():
    raise SystemExit(f"{_hosts_file} is missing: start the sandbox hosts first (python -m hardhouse_dev.sandbox up)")

sandbox_hosts = [(entry["name"], entry["data"]) for entry in json.loads(_hosts_file.read_text())["hosts"]]
