# shellcheck shell=sh
# Which service manager runs this host's services, asked the same way by every host script
# (hardhouse-apply, for ClickHouse and ZooKeeper, and hardhouse-service-manager): systemd when its
# runtime directory exists and systemctl is installed, else the SysV init scripts. The script
# that sources this sets SYSTEMD_DIR, systemd's runtime directory:
# ${HARDHOUSE_SYSTEMD_DIR:-/run/systemd/system} (another one in tests). POSIX sh.
systemd_runs() { [ -d "$SYSTEMD_DIR" ] && command -v systemctl >/dev/null 2>&1; }
