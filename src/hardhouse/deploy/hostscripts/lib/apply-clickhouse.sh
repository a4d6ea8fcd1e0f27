# shellcheck shell=bash disable=SC2034  # PROFILE_*, STALE*: read by hardhouse-apply, which sources this
# hardhouse-apply's profile of ClickHouse (HH_PROFILE=clickhouse): where its files may go live,
# its earlier files, its validation (ClickHouse's own config parser, the TLS pair), how its
# server is found and what in its error log ends a health wait. The steps are named in
# hardhouse-apply (profile()); this file only defines functions, and uses the script's
# variables and helpers (say, die, shown, as_server_user, CLEANUP, M_*, problems).

clickhouse_setup() {
    PROFILE_NAME=ClickHouse
    PROFILE_STOP_GRACE=2
    CONF=${HARDHOUSE_CONF:-$HH_CONFIG_DIR}
    DATA=${HARDHOUSE_DATA:-$HH_DATA_DIR}
    ERRLOG=${HARDHOUSE_ERRLOG:-$HH_ERROR_LOG}
    PROFILE_PATHS=("HARDHOUSE_CONF=$CONF" "HARDHOUSE_DATA=$DATA" "HARDHOUSE_ERRLOG=$ERRLOG")
}

# config and users files go live as CONF/config.d|users.d/PREFIX*.xml, every other kind once,
# and a certificate comes with its private key.
clickhouse_manifest_problems() {
    local i kind live where
    local -A kinds=()
    for i in "${!M_KIND[@]}"; do
        kind=${M_KIND[i]} live=${M_LIVE[i]} where="$HH_MANIFEST line ${M_LINE[i]}"
        case $kind in
            "$HH_KIND_CONFIG" | "$HH_KIND_USERS")
                # Only these names are hardhouse's in config.d/users.d: the stale-file cleanup relies on it.
                case $live in
                    "$CONF/$kind.d/$HH_FILE_PREFIX"*.xml) [ "${live%/*}" = "$CONF/$kind.d" ] ||
                        problems+=("$where: a $kind file goes live in $CONF/$kind.d itself, not $(shown "${live%/*}")") ;;
                    *) problems+=("$where: a $kind file goes live as $CONF/$kind.d/$HH_FILE_PREFIX*.xml, not $(shown "$live")") ;;
                esac
                ;;
            *)
                [ -z "${kinds[$kind]:-}" ] || problems+=("$where: a second $kind")
                ;;
        esac
        kinds[$kind]=1
    done
    if [ "${kinds[$HH_KIND_CERTIFICATE]:-}" != "${kinds[$HH_KIND_PRIVATE_KEY]:-}" ]; then
        problems+=("$HH_MANIFEST has a $HH_KIND_CERTIFICATE without a $HH_KIND_PRIVATE_KEY or the other way round")
    fi
}

# hardhouse's earlier files that the MANIFEST no longer lists: STALE (paths), STALE_KIND.
clickhouse_stale() {
    local kind path
    local -A listed=()
    STALE=() STALE_KIND=()
    for path in "${M_LIVE[@]}"; do listed[$path]=1; done
    for kind in "$HH_KIND_CONFIG" "$HH_KIND_USERS"; do
        for path in "$CONF/$kind.d/$HH_FILE_PREFIX"*.xml; do
            [ -e "$path" ] || [ -L "$path" ] || continue
            [ -z "${listed[$path]:-}" ] || continue
            STALE+=("$path") STALE_KIND+=("$kind")
        done
    done
}

# ClickHouse's own parser merges FILE with FILE's .d directory (and conf.d). Modern servers
# ship extract-from-config; 18.16 has none, but its client loads --config-file through the
# same ConfigProcessor and only then tries to connect (to a port nothing listens on).
clickhouse_merges() {
    local out
    if command -v clickhouse >/dev/null 2>&1 && clickhouse extract-from-config --help >/dev/null 2>&1; then
        { clickhouse extract-from-config --try --config-file="$1" --key=path >/dev/null; } 2>&1
        return
    fi
    out=$(cd "$(dirname -- "$1")" && timeout 30 clickhouse-client --config-file="$1" --compression 0 \
        --host 127.0.0.1 --port 1 --query 'SELECT 1' </dev/null 2>&1)
    case $out in
        *"Code: 210"*) return 0 ;;  # config parsed and merged; the connection was refused as intended
    esac
    printf '%s\n' "$out" | grep -v '^Include not found' | tail -n 3
    return 1
}

clickhouse_tls_problems() {
    local i cert='' key='' ca='' live_cert='' live_key='' live_ca='' cert_out cert_pub key_pub
    for i in "${!M_KIND[@]}"; do
        case ${M_KIND[i]} in
            "$HH_KIND_CERTIFICATE") cert=$STAGED/${M_STAGED[i]} live_cert=${M_LIVE[i]} ;;
            "$HH_KIND_PRIVATE_KEY") key=$STAGED/${M_STAGED[i]} live_key=${M_LIVE[i]} ;;
            "$HH_KIND_CA_CERTIFICATE") ca=$STAGED/${M_STAGED[i]} live_ca=${M_LIVE[i]} ;;
        esac
    done
    if [ -n "$cert" ] && [ -f "$cert" ] && [ -f "$key" ]; then
        # Both print the public key as SubjectPublicKeyInfo PEM: equal text, a matching pair.
        # One x509 run (each costs 20 ms) prints the key, its end date and whether it expired.
        cert_out=$(openssl x509 -in "$cert" -noout -pubkey -enddate -checkend 0 2>/dev/null)
        cert_pub=${cert_out%%$'\n'notAfter=*}
        if [[ $cert_pub != *"-----END PUBLIC KEY-----" ]]; then
            echo "$live_cert: not a PEM certificate"
        elif ! key_pub=$(openssl pkey -in "$key" -pubout -passin pass: 2>/dev/null); then
            echo "$live_key: not an unencrypted PEM private key"
        else
            [ "$cert_pub" = "$key_pub" ] || echo "the certificate $live_cert does not match the private key $live_key"
            [[ $cert_out == *$'\n'"Certificate will not expire" ]] ||
                echo "$live_cert: expired ($(grep -m 1 '^notAfter=' <<<"$cert_out"))"
        fi
    fi
    if [ -n "$ca" ] && [ -f "$ca" ] && ! openssl x509 -in "$ca" -noout 2>/dev/null; then
        echo "$live_ca: not a PEM certificate"
    fi
}

# The TLS pair, every file readable by the server user (the key files excepted: root's
# alone), and ClickHouse's parser merging the configuration the server would load.
clickhouse_validate_problems() {
    local i kind file live dir name candidate reason problem op path failing merging=() pids=() checks=()
    local -A live_of=() entered=()
    while IFS= read -r problem; do
        [ -n "$problem" ] && problems+=("$problem")
    done < <(clickhouse_tls_problems)
    for i in "${!M_KIND[@]}"; do
        file=$STAGED/${M_STAGED[i]} live=${M_LIVE[i]}
        case ${M_KIND[i]} in
            "$HH_KIND_KEYS" | "$HH_KIND_KEYS_HOOK")
                # Read by the service manager as root before the server starts, never by the
                # server user: the key file is root's alone (0600 in a 0700 directory).
                [ -e "$live" ] && [ ! -L "$live" ] && [ ! -f "$live" ] && problems+=("$live: exists and is not a file")
                continue
                ;;
        esac
        if [ -f "$file" ]; then
            checks+=(-r "$file") live_of[$file]=$live
        fi
        dir=${live%/*} dir=${dir:-/}
        if [ -d "$dir" ] && [ -z "${entered[$dir]:-}" ]; then
            checks+=(-x "$dir") entered[$dir]=1
        fi
        if [ -e "$live" ] && [ ! -L "$live" ] && [ ! -f "$live" ]; then
            problems+=("$live: exists and is not a file")
        fi
    done
    # What the server user can read and enter, all in one process.
    if failing=$(server_user_failing "${checks[@]}"); then
        while read -r op path; do
            case $op in
                -r) problems+=("${live_of[$path]}: not readable by $SERVER_USER ($(stat -c '%U:%G %a' -- "$path"))") ;;
                -x) problems+=("$path: $SERVER_USER cannot enter it ($(stat -c '%U:%G %a' -- "$path"))") ;;
            esac
        done <<<"$failing"
    else
        problems+=("could not check as $SERVER_USER which staged files it can read (runuser or su failed)")
    fi

    # The configuration as the server would load it: the stock files, everyone else's
    # config.d/users.d files as they are live now, and hardhouse's staged ones.
    candidate=$(mktemp -d) || die "cannot make a temporary directory"
    CLEANUP+=("$candidate")
    for name in "$HH_KIND_CONFIG" "$HH_KIND_USERS"; do
        if [ ! -f "$CONF/$name.xml" ]; then
            problems+=("$CONF/$name.xml: missing (is ClickHouse installed?)")
            continue
        fi
        if ! cp -- "$CONF/$name.xml" "$candidate/" || ! mkdir -- "$candidate/$name.d"; then
            die "cannot copy $CONF/$name.xml into $candidate"
        fi
        for file in "$CONF/$name.d"/*.xml "$CONF/$name.d"/*.conf "$CONF/$name.d"/*.yaml "$CONF/$name.d"/*.yml; do
            [ -f "$file" ] || continue
            case ${file##*/} in "$HH_FILE_PREFIX"*) continue ;; esac
            cp -- "$file" "$candidate/$name.d/"
        done
    done
    for i in "${!M_KIND[@]}"; do
        kind=${M_KIND[i]} file=$STAGED/${M_STAGED[i]}
        case $kind in
            "$HH_KIND_CONFIG" | "$HH_KIND_USERS")
                [ -d "$candidate/$kind.d" ] && [ -f "$file" ] && cp -- "$file" "$candidate/$kind.d/${M_LIVE[i]##*/}"
                ;;
        esac
    done
    [ -d "$CONF/conf.d" ] && cp -r -- "$CONF/conf.d" "$candidate/"
    # ClickHouse's binary is slow to start: both files are merged at the same time.
    for name in "$HH_KIND_CONFIG" "$HH_KIND_USERS"; do
        [ -f "$candidate/$name.xml" ] || continue
        { clickhouse_merges "$candidate/$name.xml" >"$candidate/$name.reason" 2>&1; echo "$?" >"$candidate/$name.status"; } &
        merging+=("$name") pids+=("$!")
    done
    [ ${#pids[@]} -eq 0 ] || wait "${pids[@]}"
    for name in "${merging[@]}"; do
        if [ "$(cat -- "$candidate/$name.status" 2>/dev/null)" != 0 ]; then
            reason=$(head -c 2000 -- "$candidate/$name.reason")
            reason=${reason//"$candidate"/"$CONF"}
            problems+=("ClickHouse cannot load $name.xml with the new files: ${reason//$'\n'/ }")
        fi
    done
}

# The pids of the server: the first process name (HH_SERVER_PROCESSES) that runs.
clickhouse_pids() {
    local name
    for name in "${HH_SERVER_PROCESSES[@]}"; do
        pidof "$name" 2>/dev/null && return 0
    done
    return 1
}

clickhouse_unit_stops() { return 0; }  # ClickHouse's packages ship their own systemd unit
clickhouse_stopped() { :; }
clickhouse_healthy() { :; }

# A users reload (users.d only) shows as a newer preprocessed users.xml.
clickhouse_pending() {
    if [ "$1" = "$HH_MODE_RELOAD" ] && [ -z "$(find "$DATA/preprocessed_configs/users.xml" -newer "$MARKER" 2>/dev/null)" ]; then
        echo "the users reload"
    fi
}

# The error lines of the server's error log since this activation began, without their prefix.
clickhouse_errors() {
    new_log | grep -E '<Error>|Exception' | sed 's/^[0-9.: ]*\[ *[0-9]* *\] {[^}]*} //' | tail -n 3
}

# An error after which the server will not come up (a reload's errors end nothing).
clickhouse_fatal() {
    clickhouse_errors | grep -E 'Cannot assign requested address|Address already in use|No servers started|Cannot lock file|SSL|certificate|private key|Error updating configuration' | tail -n 1
}
