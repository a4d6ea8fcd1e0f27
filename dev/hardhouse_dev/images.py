"""Local Docker images that hardhouse is tested against.

There is no container registry on the machines this project runs on, so images
are made from Debian packages: ``debootstrap`` a minimal bookworm root file
system, then ``tar | docker import``.  Each image is tagged with a hash of its
recipe, so it is built once and rebuilt only when the recipe changes.

Three images:

``clickhouse``
    Debian's stock ``clickhouse-server`` 18.16 with untouched ``config.xml`` and
    ``users.xml``, run in the foreground as the ``clickhouse`` user.
``host``
    A plain Debian host reachable over SSH (no ClickHouse), for deploying to
    the way an operator would.
``systemd-host``
    The same host with systemd as PID 1 (systemd, systemd-sysv, dbus), so Debian's packaged
    units run clickhouse-server and zookeeperd as they do on a real host. sshd is a unit;
    a oneshot unit before it makes the host keys (per container) and installs the authorized
    key. Run it as ``systemd_run_args`` says (cgroup mount, tmpfs /run, container=docker).

Usage: ``python -m hardhouse_dev.images build [clickhouse|host|systemd-host|all]``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

# Bump to force a rebuild of every image when something outside the recipe
# fields below changes (e.g. how the root file system is post-processed).
RECIPE_VERSION = 1
SUITE = "bookworm"

BUILD_DIR = Path("/var/tmp")
# Downloaded .debs are kept here so rebuilds do not fetch everything again.
DEB_CACHE_DIR = Path("/var/cache/hardhouse/debootstrap")
LOCK_PATH = Path("/var/tmp/hardhouse-images.lock")
DEFAULT_DOCKERD_LOG = "/var/log/hardhouse-dockerd.log"

_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

CLICKHOUSE_START = """\
#!/bin/sh
# Start the stock server in the foreground as the clickhouse user, as Debian's
# systemd unit does. Mounted volumes may hide or replace the image's own
# directories, so make sure they exist and belong to clickhouse.
set -e
mkdir -p /var/lib/clickhouse /var/log/clickhouse-server
chown clickhouse:clickhouse /var/lib/clickhouse /var/log/clickhouse-server
exec setpriv --reuid=clickhouse --regid=clickhouse --init-groups \\
    /usr/sbin/clickhouse-server --config-file=/etc/clickhouse-server/config.xml "$@"
"""

HOST_START = """\
#!/bin/sh
# Host keys are made per container (none are baked into the image); the key
# allowed to log in as root comes from $AUTHORIZED_KEY.
set -e
ssh-keygen -A >/dev/null
mkdir -p /run/sshd
if [ -n "${AUTHORIZED_KEY:-}" ]; then
    install -d -m 700 /root/.ssh
    printf '%s\\n' "$AUTHORIZED_KEY" > /root/.ssh/authorized_keys
    chmod 600 /root/.ssh/authorized_keys
fi
exec /usr/sbin/sshd -D -e
"""

# systemd does not pass the container's environment (docker run -e) to its services, but PID 1
# itself has it: the key is read from /proc/1/environ by a oneshot unit ordered before sshd,
# so the container is started exactly like a `host` one (-e AUTHORIZED_KEY=...) and sshd never
# answers before root's key is in place (nothing is copied in after start, no race).
SYSTEMD_HOST_SETUP = """\
#!/bin/sh
# Run once at boot by hardhouse-host-setup.service, before ssh.service: host keys made per
# container (none are baked into the image), root's authorized key from PID 1's environment.
set -e
ssh-keygen -A >/dev/null
key=$(head -c 65536 /proc/1/environ | tr '\\0' '\\n' | sed -n 's/^AUTHORIZED_KEY=//p' | head -n 1)
if [ -n "$key" ]; then
    install -d -m 700 /root/.ssh
    printf '%s\\n' "$key" > /root/.ssh/authorized_keys
    chmod 600 /root/.ssh/authorized_keys
fi
"""

SYSTEMD_HOST_SETUP_UNIT = """\
[Unit]
Description=hardhouse sandbox host: SSH host keys and root's authorized key (from AUTHORIZED_KEY)
Before=ssh.service
ConditionVirtualization=container

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/hardhouse-host-setup

[Install]
WantedBy=multi-user.target
"""
SYSTEMD_HOST_SETUP_UNIT_PATH = "/etc/systemd/system/hardhouse-host-setup.service"
WANTS = "/etc/systemd/system/multi-user.target.wants"


def systemd_run_args() -> list[str]:
    """``docker run`` arguments a ``systemd-host`` container needs to boot systemd as PID 1
    (checked on this machine: ../shared/ENVIRONMENT.md; --privileged is neither allowed nor
    needed): the host's cgroup hierarchy, tmpfs on /run and /run/lock, container=docker."""
    return [
        "-e",
        "container=docker",
        "-v",
        "/sys/fs/cgroup:/sys/fs/cgroup:rw",
        "--tmpfs",
        "/run",
        "--tmpfs",
        "/run/lock",
    ]


@dataclass(frozen=True)
class Recipe:
    """Everything that determines an image's content (and so its tag)."""

    kind: str
    repository: str
    tag_prefix: str
    packages: tuple[str, ...]
    start_path: str
    start_script: str
    expose: tuple[int, ...]
    # Files removed from the root file system before import.
    remove_globs: tuple[str, ...] = ()
    # The container's command when it is not start_path (systemd as PID 1 runs start_path as a unit).
    command: tuple[str, ...] = ()
    # More files (path, content, mode) and symbolic links (path, target) put into the root file system.
    files: tuple[tuple[str, str, int], ...] = ()
    links: tuple[tuple[str, str], ...] = ()

    @property
    def changes(self) -> list[str]:
        """``docker import --change`` instructions."""
        return [
            f"ENV PATH={_PATH}",
            *(f"EXPOSE {port}" for port in self.expose),
            "WORKDIR /",
            f"CMD {json.dumps(list(self.command or (self.start_path,)))}",
        ]

    @property
    def digest(self) -> str:
        blob = json.dumps(
            {
                "recipe_version": RECIPE_VERSION,
                "suite": SUITE,
                "variant": "minbase",
                "packages": sorted(self.packages),
                "start_path": self.start_path,
                "start_script": self.start_script,
                "remove_globs": self.remove_globs,
                "changes": self.changes,
                # Only when set: the recipes without them keep their tags (no rebuild).
                **({"files": self.files, "links": self.links} if self.files or self.links else {}),
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @property
    def tag(self) -> str:
        return f"{self.repository}:{self.tag_prefix}-{self.digest}"

    @property
    def alias(self) -> str:
        return f"{self.repository}:latest"


RECIPES: dict[str, Recipe] = {
    "clickhouse": Recipe(
        kind="clickhouse",
        repository="hardhouse/clickhouse",
        tag_prefix="18.16",
        packages=("clickhouse-server", "clickhouse-client", "procps", "ca-certificates"),
        start_path="/usr/local/sbin/hardhouse-start-clickhouse",
        start_script=CLICKHOUSE_START,
        expose=(8123, 9000, 9009),
    ),
    "host": Recipe(
        kind="host",
        repository="hardhouse/host",
        tag_prefix=SUITE,
        packages=("openssh-server", "sudo", "procps", "ca-certificates", "gnupg", "python3"),
        start_path="/usr/local/sbin/hardhouse-start-sshd",
        start_script=HOST_START,
        expose=(22,),
        # openssh-server's postinst generated host keys inside debootstrap;
        # every container would share them.
        remove_globs=("etc/ssh/ssh_host_*",),
    ),
    "systemd-host": Recipe(
        kind="systemd-host",
        repository="hardhouse/systemd-host",
        tag_prefix=SUITE,
        packages=(
            "systemd",
            "systemd-sysv",
            "dbus",
            "openssh-server",
            "sudo",
            "procps",
            "ca-certificates",
            "gnupg",
            "python3",
        ),
        start_path="/usr/local/sbin/hardhouse-host-setup",
        start_script=SYSTEMD_HOST_SETUP,
        expose=(22,),
        # Host keys as for `host`; an empty machine id: systemd makes one per container at boot.
        remove_globs=("etc/ssh/ssh_host_*",),
        command=("/lib/systemd/systemd",),
        files=(("/etc/machine-id", "", 0o444), (SYSTEMD_HOST_SETUP_UNIT_PATH, SYSTEMD_HOST_SETUP_UNIT, 0o644)),
        links=(
            (f"{WANTS}/hardhouse-host-setup.service", SYSTEMD_HOST_SETUP_UNIT_PATH),
            (f"{WANTS}/ssh.service", "/lib/systemd/system/ssh.service"),
        ),
    ),
}
KINDS: tuple[str, ...] = tuple(RECIPES)


class ImageError(RuntimeError):
    """Raised when the Docker engine or an image cannot be made available."""


def _log(message: str) -> None:
    print(f"images: {message}", file=sys.stderr, flush=True)


def _run(cmd: Sequence[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), **kwargs)


def _quiet_ok(cmd: Sequence[str], timeout: float = 30) -> bool:
    """True if *cmd* exits 0 (output discarded)."""
    try:
        return _run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@contextlib.contextmanager
def _lock() -> Iterator[None]:
    """Serialise engine start-up and builds across processes (e.g. parallel tests)."""
    LOCK_PATH.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK_PATH, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _apt_install(*packages: str) -> None:
    """Install Debian packages, refreshing the package lists only if needed."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    _log(f"installing {' '.join(packages)} with apt-get...")
    if _run(install, env=env, stdout=subprocess.DEVNULL).returncode == 0:
        return
    _run(["apt-get", "update"], env=env, stdout=subprocess.DEVNULL)
    if _run(install, env=env, stdout=subprocess.DEVNULL).returncode != 0:
        raise ImageError(f"apt-get install {' '.join(packages)} failed")


def _dockerd_running() -> bool:
    """True if a dockerd process exists (it may still be starting up)."""
    try:
        pid = int(Path("/var/run/docker.pid").read_text().strip())
        os.kill(pid, 0)
        return True
    except (OSError, ValueError):
        return False


def ensure_docker_engine(log_path: str = DEFAULT_DOCKERD_LOG, timeout: float = 60.0) -> None:
    """Make sure a Docker engine answers ``docker info``; install/start it if not.

    Safe to call repeatedly and while an engine already runs.  Without systemd
    (containers, CI runners) dockerd is started in the background, detached
    from this process so it outlives it.
    """
    if _quiet_ok(["docker", "info"]):
        return
    with _lock():
        if _quiet_ok(["docker", "info"]):
            return
        if not (shutil.which("dockerd") and shutil.which("docker")):
            _apt_install("docker.io")
        if not _dockerd_running():
            _log(f"starting dockerd (log: {log_path})...")
            Path(log_path).parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "ab") as log:
                subprocess.Popen(
                    ["dockerd"],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # like nohup: survive our exit/Ctrl-C
                )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _quiet_ok(["docker", "info"], timeout=10):
                return
            time.sleep(0.5)
    raise ImageError(f"the Docker engine did not answer within {timeout:.0f} s; see {log_path}")


def _parse_deb822(text: str) -> Iterator[dict[str, str]]:
    """Stanzas of a deb822 file as {lower-case field: value}."""
    stanza: dict[str, str] = {}
    field = ""
    for line in text.splitlines() + [""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if stanza:
                yield stanza
            stanza, field = {}, ""
        elif line[0] in " \t" and field:
            stanza[field] += " " + line.strip()
        elif ":" in line:
            field, value = line.split(":", 1)
            field = field.strip().lower()
            stanza[field] = value.strip()


def debian_mirror(suite: str = SUITE) -> str:
    """The Debian mirror this machine's apt uses for *suite*.

    Read at run time so no package host is ever written into the repository.
    """
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        for stanza in _parse_deb822(Path(path).read_text()):
            if stanza.get("enabled", "yes").lower() == "no":
                continue
            if "deb" in stanza.get("types", "").split() and suite in stanza.get("suites", "").split():
                uris = stanza.get("uris", "").split()
                if uris:
                    return uris[0]
    for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
        if not os.path.exists(path):
            continue
        for line in Path(path).read_text().splitlines():
            words = line.split("#", 1)[0].split()
            if words[:1] != ["deb"]:
                continue
            words = words[1:]
            if words and words[0].startswith("["):  # options such as [signed-by=...]
                while words and not words[0].endswith("]"):
                    words.pop(0)
                words = words[1:]
            if len(words) >= 2 and words[1] == suite:
                return words[0]
    raise ImageError(f"no Debian mirror for {suite} found in /etc/apt/sources.list(.d)")


def image_tag(kind: str) -> str:
    """The tag ``ensure_image(kind)`` returns, without building anything."""
    return _recipe(kind).tag


def _recipe(kind: str) -> Recipe:
    try:
        return RECIPES[kind]
    except KeyError:
        raise ImageError(f"unknown image kind {kind!r} (choose from {', '.join(KINDS)})") from None


def image_exists(tag: str) -> bool:
    return _quiet_ok(["docker", "image", "inspect", tag])


def ensure_image(kind: str, force: bool = False) -> str:
    """Return the tag of the *kind* image, building it first if it is missing."""
    recipe = _recipe(kind)
    ensure_docker_engine()
    if not force and image_exists(recipe.tag):
        return recipe.tag
    with _lock():
        # Another process may have built it while we waited for the lock.
        if force or not image_exists(recipe.tag):
            old_ids = _image_ids(recipe.repository)
            _build(recipe)
            _remove_images(old_ids - _image_ids(recipe.tag))
    return recipe.tag


def _image_ids(reference: str) -> set[str]:
    listing = _run(["docker", "image", "ls", "-q", "--no-trunc", reference], capture_output=True, text=True)
    return set(listing.stdout.split())


def _remove_images(image_ids: set[str]) -> None:
    """Drop earlier builds (other recipe hashes, or the one --force replaced) so
    repeated CI runs do not fill the disk.  ``docker rmi`` without -f keeps any
    image a container still uses, which is what we want."""
    for image_id in image_ids:
        _run(["docker", "rmi", image_id], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _build(recipe: Recipe) -> None:
    if not shutil.which("debootstrap"):
        _apt_install("debootstrap")
    mirror = debian_mirror()
    DEB_CACHE_DIR.mkdir(parents=True, exist_ok=True)
    rootfs = Path(tempfile.mkdtemp(prefix=f"hardhouse-{recipe.kind}-", dir=BUILD_DIR))
    log_path = BUILD_DIR / f"hardhouse-{recipe.kind}-debootstrap.log"
    started = time.monotonic()
    _log(f"building image {recipe.tag} (about 1 minute)...")
    try:
        with open(log_path, "wb") as log:
            result = _run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={','.join(recipe.packages)}",
                    f"--cache-dir={DEB_CACHE_DIR}",
                    SUITE,
                    str(rootfs),
                    mirror,
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if result.returncode != 0:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
            raise ImageError(f"debootstrap failed for {recipe.kind} (full log: {log_path}):\n{tail}")
        _customise(rootfs, recipe)
        _import(rootfs, recipe)
    finally:
        _remove_rootfs(rootfs)
    _log(f"built {recipe.tag} in {time.monotonic() - started:.0f} s")


def _customise(rootfs: Path, recipe: Recipe) -> None:
    for pattern in recipe.remove_globs:
        for path in rootfs.glob(pattern):
            path.unlink()
    start = rootfs / recipe.start_path.lstrip("/")
    start.parent.mkdir(parents=True, exist_ok=True)
    start.write_text(recipe.start_script)
    start.chmod(0o755)
    for path, content, mode in recipe.files:
        target = rootfs / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        target.chmod(mode)
    for path, points_to in recipe.links:
        link = rootfs / path.lstrip("/")
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(points_to)
    # Downloaded .debs only make the image bigger (the package lists stay, so
    # apt-get install works inside a container without an update first).
    for deb in (rootfs / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()


def _import(rootfs: Path, recipe: Recipe) -> None:
    cmd = ["docker", "import"]
    for change in recipe.changes:
        cmd += ["--change", change]
    cmd += ["-", recipe.tag]
    # --numeric-owner: the image's /etc/passwd, not this machine's, names the ids.
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
    assert tar.stdout is not None
    imported = _run(cmd, stdin=tar.stdout, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    tar.stdout.close()
    if tar.wait() != 0 or imported.returncode != 0:
        raise ImageError(f"docker import of {recipe.tag} failed: {imported.stderr.strip()}")
    if _run(["docker", "tag", recipe.tag, recipe.alias], stdout=subprocess.DEVNULL).returncode != 0:
        raise ImageError(f"docker tag {recipe.tag} {recipe.alias} failed")


def _mounts_under(directory: Path) -> list[str]:
    prefix = f"{directory}/"
    points = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    return [point for point in points if point.startswith(prefix)]


def _remove_rootfs(rootfs: Path) -> None:
    """Delete the build tree, but never recurse into something still mounted
    (a failed debootstrap can leave its /proc and /sys mounts behind)."""
    for mount in sorted(_mounts_under(rootfs), reverse=True):  # innermost first
        _run(["umount", "-l", mount], stderr=subprocess.DEVNULL)
    if _mounts_under(rootfs):
        _log(f"warning: {rootfs} still has mounts; left in place")
        return
    shutil.rmtree(rootfs, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hardhouse_dev.images", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build the images if missing and print their tags")
    build.add_argument("kind", nargs="?", default="all", choices=[*KINDS, "all"])
    build.add_argument("--force", action="store_true", help="rebuild even if the tag exists")
    tag = sub.add_parser("tag", help="print the tags without building")
    tag.add_argument("kind", nargs="?", default="all", choices=[*KINDS, "all"])
    parser.set_defaults(force=False)
    args = parser.parse_args(argv)

    kinds = KINDS if args.kind == "all" else (args.kind,)
    try:
        for kind in kinds:
            tag_name = ensure_image(kind, force=args.force) if args.command == "build" else image_tag(kind)
            print(tag_name, flush=True)
    except (ImageError, OSError) as exc:
        print(f"images: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
