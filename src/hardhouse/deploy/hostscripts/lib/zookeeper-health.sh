# shellcheck shell=bash
# How hardhouse asks whether ZooKeeper serves, and which configuration it serves: ruok and the
# digest of its three files. Sourced by hardhouse-apply (the ruok health target, the digest
# recorded when ZooKeeper answered) and hardhouse-zk-live (which compares the two). Bash: ruok
# goes over bash's /dev/tcp (a minimal host has no nc).

# ruok ADDRESS PORT: ZooKeeper answers imok there within 3 seconds.
ruok() {
    local answer
    # shellcheck disable=SC2016  # $1 and $2 are the child shell's arguments
    answer=$(timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" && printf ruok >&3 && head -c 4 <&3' ruok "$1" "$2" 2>/dev/null) || return 1
    [ "$answer" = imok ]
}

# zookeeper_digest CONFIG DEFAULTS MYID: the SHA-256 of the three files ZooKeeper's
# configuration is made of, in this order, as 64 hex digits.
zookeeper_digest() { cat -- "$1" "$2" "$3" 2>/dev/null | sha256sum | cut -c1-64; }
