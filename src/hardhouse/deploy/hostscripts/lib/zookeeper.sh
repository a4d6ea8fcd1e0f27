# shellcheck shell=bash disable=SC2034  # the contract's names are used by the scripts that source this
# What the ZooKeeper scripts (hardhouse-zk-*) share: Debian's ZooKeeper as hardhouse.deploy.zookeeper
# places it (the contract block below) and its bounded zkCli.sh. (ruok and the configuration's
# digest: lib/zookeeper-health.sh, which hardhouse-apply shares.)

# @hardhouse-contract-begin@
HH_ZK_CONFIG=
HH_ZK_JVM_DEFAULTS=
HH_ZK_MYID=
HH_ZK_LIVE_STAMP=
HH_ZK_CLI=
HH_ZK_CLI_HEAP=
HH_ZK_CLI_TIMEOUT=
# @hardhouse-contract-end@

# zk_cli ADDRESS:PORT COMMAND...: Debian's zkCli.sh, bounded in time (it retries a refused
# connection for ever) and in heap (one request, then it exits).
zk_cli() { timeout "$HH_ZK_CLI_TIMEOUT" env CLIENT_JVMFLAGS="$HH_ZK_CLI_HEAP" "$HH_ZK_CLI" -server "$1" "${@:2}"; }
