# shellcheck shell=bash disable=SC2034  # the contract's names are used by the scripts that source this
# What the ZooKeeper scripts (hardhouse-zk-*) share: Debian's ZooKeeper as hardhouse.deploy.zookeeper
# places it (the contract block below), ruok and the digest of the configuration. Bash: ruok
# goes over bash's /dev/tcp (a minimal host has no nc).

# @hardhouse-contract-begin@
HH_ZK_CONFIG=
HH_ZK_JVM_DEFAULTS=
HH_ZK_MYID=
HH_ZK_LIVE_STAMP=
HH_ZK_PIDFILE=
HH_ZK_CLI=
HH_ZK_CLI_HEAP=
HH_ZK_CLI_TIMEOUT=
# @hardhouse-contract-end@

# ruok ADDRESS PORT: ZooKeeper answers imok there within 3 seconds.
ruok() {
    local answer
    # shellcheck disable=SC2016  # $1 and $2 are the child shell's arguments
    answer=$(timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" && printf ruok >&3 && head -c 4 <&3' ruok "$1" "$2" 2>/dev/null) || return 1
    [ "$answer" = imok ]
}
# The SHA-256 of the three files ZooKeeper's configuration is made of, as 64 hex digits.
config_digest() { cat "$HH_ZK_CONFIG" "$HH_ZK_JVM_DEFAULTS" "$HH_ZK_MYID" 2>/dev/null | sha256sum | cut -c1-64; }
# zk_cli ADDRESS:PORT COMMAND...: Debian's zkCli.sh, bounded in time (it retries a refused
# connection for ever) and in heap (one request, then it exits).
zk_cli() { timeout "$HH_ZK_CLI_TIMEOUT" env CLIENT_JVMFLAGS="$HH_ZK_CLI_HEAP" "$HH_ZK_CLI" -server "$1" "${@:2}"; }
