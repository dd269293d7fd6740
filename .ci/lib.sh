# shellcheck shell=bash
# Helpers shared by .ci/setup and tests/standins/build-glibc.sh. Source it; it defines functions only
# (plus CI_WORK, the machine-local work directory that holds registry storage, logs and rootfs builds,
# and the two files that describe the machine: its os-release and its Debian package sources).

# shellcheck disable=SC2034  # used by the scripts that source this file
CI_WORK=${MUSLWHEELS_CI_WORK:-/var/lib/muslwheels-ci}
DEBIAN_SOURCES=${MUSLWHEELS_DEBIAN_SOURCES:-/etc/apt/sources.list.d/debian.sources}
OS_RELEASE=${MUSLWHEELS_OS_RELEASE:-/etc/os-release}

log() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Timed step: `step "heading" cmd args...` prints the heading, runs the command, prints the duration.
# The command runs in plain (not `||`) context so `set -e` keeps working inside it; a failing step ends the
# script through the EXIT trap installed by step_trap, which names the step and its duration.
CURRENT_STEP=
STEP_START=0
step() {
    CURRENT_STEP=$1
    shift
    STEP_START=$(date +%s)
    printf '\n== %s\n' "$CURRENT_STEP" >&2
    "$@"
    printf '== %s: done in %ss\n' "$CURRENT_STEP" "$(($(date +%s) - STEP_START))" >&2
    CURRENT_STEP=
}
step_trap() {
    local rc=$?
    if [ "$rc" -ne 0 ] && [ -n "$CURRENT_STEP" ]; then
        printf '== %s: FAILED (exit %s) after %ss\n' "$CURRENT_STEP" "$rc" "$(($(date +%s) - STEP_START))" >&2
    fi
    return "$rc"
}

# Print the deb822 stanza fields `URIs` and `Signed-By` (verbatim, including continuation lines) of the first
# enabled `deb` stanza of $DEBIAN_SOURCES whose Suites contain exactly the word $1. Nothing (and status 1)
# when there is none. Field names are matched case-insensitively, as deb822 requires.
debian_stanza_fields() {
    local suite=$1
    [ -r "$DEBIAN_SOURCES" ] || return 1
    awk -v want="$suite" '
        function flush() {
            if (!done && is_deb && has_suite && enabled && uris != "") {
                print uris
                if (signed != "") print signed
                done = 1
            }
            is_deb = 0; has_suite = 0; enabled = 1; uris = ""; signed = ""; cur = ""
        }
        BEGIN { enabled = 1 }
        /^#/ { next }
        /^[ \t]*$/ { flush(); next }
        /^[ \t]/ { if (cur == "signed-by") signed = signed "\n" $0; next }
        {
            key = tolower(substr($0, 1, index($0, ":") - 1))
            val = substr($0, index($0, ":") + 1)
            gsub(/^[ \t]+|[ \t]+$/, "", val)
            cur = key
            if (key == "types") { n = split(val, t, /[ \t]+/); for (i = 1; i <= n; i++) if (t[i] == "deb") is_deb = 1 }
            else if (key == "suites") { n = split(val, s, /[ \t]+/); for (i = 1; i <= n; i++) if (s[i] == want) has_suite = 1 }
            else if (key == "enabled") { if (tolower(val) == "no") enabled = 0 }
            else if (key == "uris") uris = $0
            else if (key == "signed-by") signed = $0
        }
        END { flush(); exit done ? 0 : 1 }
    ' "$DEBIAN_SOURCES"
}

# The value of field $1 of $OS_RELEASE (quotes removed); nothing when the file or the field is missing.
os_release_field() {
    [ -r "$OS_RELEASE" ] || return 0
    awk -v key="$1" '
        index($0, key "=") == 1 {
            value = substr($0, length(key) + 2)
            gsub(/^["\047]|["\047]$/, "", value)
            print value
            exit
        }' "$OS_RELEASE"
}

# The machine's Debian suite, read from $OS_RELEASE: VERSION_CODENAME, else the codename of VERSION_ID
# (12 bookworm, 13 trixie). Nothing when the machine is no Debian or does not say which release.
host_suite() {
    [ "$(os_release_field ID)" = debian ] || return 0
    local codename
    codename=$(os_release_field VERSION_CODENAME)
    if [ -n "$codename" ]; then
        printf '%s\n' "$codename"
        return 0
    fi
    case $(os_release_field VERSION_ID) in
        12) echo bookworm ;;
        13) echo trixie ;;
    esac
}

# The enabled `deb` stanzas of $DEBIAN_SOURCES for the machine's own suite ($2, default host_suite), rewritten
# for suite $1: `<own>` becomes `$1`, `<own>-updates` `$1-updates` and so on; URIs, Signed-By and every other
# field stay the machine's. On a bookworm machine `debian_sources_as bookworm` is its own bookworm entries; on
# a trixie machine it is the bookworm entries of the same mirror (what the stand-ins, bookworm images, read).
# Status 1 when there is no such stanza.
debian_sources_as() {
    local want=$1 own=${2:-$(host_suite)}
    [ -n "$own" ] && [ -r "$DEBIAN_SOURCES" ] || return 1
    awk -v want="$want" -v own="$own" '
        BEGIN { RS = ""; ORS = "\n\n"; found = 0 }
        {
            n = split($0, line, "\n"); out = ""; is_deb = 0; enabled = 1; mine = 0
            for (i = 1; i <= n; i++) {
                if (line[i] ~ /^#/) continue
                key = tolower(substr(line[i], 1, index(line[i], ":") - 1))
                if (key == "types" && line[i] ~ /[: \t]deb([ \t]|$)/) is_deb = 1
                if (key == "enabled" && tolower(line[i]) ~ /:[ \t]*no/) enabled = 0
                if (key == "suites") {
                    m = split(substr(line[i], index(line[i], ":") + 1), s, /[ \t]+/); words = ""
                    for (j = 1; j <= m; j++) {
                        if (s[j] == "") continue
                        if (s[j] == own || index(s[j], own "-") == 1) {
                            mine = 1
                            words = words " " want substr(s[j], length(own) + 1)
                        }
                    }
                    line[i] = "Suites:" words
                }
                out = out (out == "" ? "" : "\n") line[i]
            }
            if (is_deb && enabled && mine) { print out; found = 1 }
        }
        END { exit found ? 0 : 1 }' "$DEBIAN_SOURCES"
}

# The URIs and Signed-By fields of the machine's own suite (die when there is none).
_own_stanza_fields() {
    local suite
    suite=$(host_suite)
    [ -n "$suite" ] || die "cannot tell the machine's Debian release from $OS_RELEASE (no ID=debian with VERSION_CODENAME or VERSION_ID); set MUSLWHEELS_OS_RELEASE to its os-release file"
    debian_stanza_fields "$suite" ||
        die "no enabled 'deb' stanza for suite $suite (this machine's) in $DEBIAN_SOURCES; add the machine's Debian mirror for $suite there (deb822) or set MUSLWHEELS_DEBIAN_SOURCES to a file that has it"
}

# First URI of the machine's own suite entry (the Debian mirror to use, for every suite; never written
# literally anywhere).
debian_mirror() {
    local fields
    fields=$(_own_stanza_fields) || exit 1
    printf '%s\n' "$fields" | awk 'tolower($0) ~ /^uris:/ { sub(/^[^:]*:[ \t]*/, ""); print $1; exit }'
}

# The Signed-By keyring path of the machine's own suite entry, if it is a single file path (empty
# otherwise). Debian's archive keyring holds the keys of every supported release.
debian_keyring() {
    local fields
    fields=$(_own_stanza_fields) || exit 1
    printf '%s\n' "$fields" | awk 'tolower($0) ~ /^signed-by:/ { sub(/^[^:]*:[ \t]*/, ""); if ($0 ~ /^\// && NF == 1) print; exit }'
}

# 0 when an HTTP GET of $1 answers with any status (a registry /v2/ answers 200 or 401).
http_answers() {
    curl -s -o /dev/null --max-time 3 "$1"
}
