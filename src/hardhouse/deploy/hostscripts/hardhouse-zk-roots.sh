#!/bin/bash
# hardhouse-zk-roots: what an anonymous client sees of each of ClickHouse's root znodes;
# reads, never writes. The fact hardhouse.deploy.zookeeper.ZooKeeperRootsFact runs it as
#
#   bash -c TEXT hardhouse-zk-roots ADDRESS PORT REQUEST LIMIT TIMEOUT ROOT...
#
#   REQUEST  one anonymous session's bytes as printf \xHH escapes, made by the deploy
#            (hardhouse.probe.wire.zookeeper.acl_requests): the handshake, getACL of each ROOT
#            in order, and closeSession
#   LIMIT    bytes of the answer read at most; TIMEOUT  seconds the whole read may take
#
# Writes REQUEST to ZooKeeper on ADDRESS:PORT over bash's /dev/tcp and prints "ROOT /path" for
# each ROOT, then "ANSWER HEX": what came back until ZooKeeper closed the session's connection
# (or LIMIT bytes, or TIMEOUT), as hex; empty when nothing answered within TIMEOUT (a connection
# closed or refused with nothing back is tried again every 0.2 s until then). The deploy parses it
# (hardhouse.probe.wire.zookeeper.parse_acl_answers). The host only relays bytes: no zkCli.sh
# and no JVM for a read (zkCli.sh took about half a second per run to start).
# Exit status: 0; 2 when an argument is not of its form.
set -u
address=$1 port=$2 request=$3 limit=$4 timeout=$5
shift 5
if ! [[ $request =~ ^(\\x[0-9a-f]{2})+$ && $limit =~ ^[1-9][0-9]{0,7}$ && $timeout =~ ^[1-9][0-9]{0,3}$ ]]; then
    echo "hardhouse: hardhouse-zk-roots REQUEST, LIMIT or TIMEOUT is not of its form" >&2
    exit 2
fi
for root do echo "ROOT $root"; done
# A ZooKeeper just restarted answers ruok a moment before it serves sessions, and until then
# closes a connection without a word: nothing back is asked again, until TIMEOUT.
end=$((SECONDS + timeout))
while :; do
    # shellcheck disable=SC2016  # $1..$4 are the child shell's arguments; REQUEST is \xHH escapes only (checked above)
    answer=$(timeout "$((end - SECONDS > 0 ? end - SECONDS : 1))" \
        bash -c 'exec 3<>"/dev/tcp/$1/$2" && printf "$3" >&3 && head -c "$4" <&3' \
        relay "$address" "$port" "$request" "$limit" 2>/dev/null | od -An -v -tx1 | tr -d ' \n')
    if [ -n "$answer" ] || [ "$SECONDS" -ge "$end" ]; then break; fi
    sleep 0.2
done
echo "ANSWER $answer"
