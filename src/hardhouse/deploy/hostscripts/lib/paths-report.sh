# shellcheck shell=bash
# paths_report KEY [PATH...]: for each PATH one line, "F owner:group:mode digest path" (the
# digest an HMAC-SHA256 keyed with KEY; "-" when openssl is not installed yet), "D
# owner:group:mode - path" or "M - - path". One stat and one openssl for every path, whatever
# their number. Read by hardhouse.deploy.facts.HardhouseFiles.process. Bash (associative arrays).
paths_report() {
    local key=$1 files=() kind owner name hex arg entry
    local -A meta=() digest=()
    shift
    if [ $# -gt 0 ]; then
        while IFS='|' read -r kind owner name; do
            meta[$name]="$kind|$owner"
            [ "$kind" = "regular file" ] || [ "$kind" = "regular empty file" ] && files+=("$name")
        done < <(stat -c '%F|%U:%G:%a|%n' -- "$@" 2>/dev/null)
    fi
    if [ ${#files[@]} -gt 0 ] && command -v openssl >/dev/null 2>&1; then
        while read -r hex name; do
            digest[${name#\*}]=$hex
        done < <(openssl dgst -sha256 -hmac "$key" -r -- "${files[@]}" 2>/dev/null)
    fi
    for arg do
        entry=${meta[$arg]:-}
        case ${entry%%|*} in
            "regular file" | "regular empty file") printf 'F %s %s %s\n' "${entry#*|}" "${digest[$arg]:--}" "$arg" ;;
            directory) printf 'D %s - %s\n' "${entry#*|}" "$arg" ;;
            *) printf 'M - - %s\n' "$arg" ;;
        esac
    done
}
