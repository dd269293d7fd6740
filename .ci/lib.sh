# shellcheck shell=bash
# Helpers shared by .ci/setup and tests/standins/build-glibc.sh. Source it; it defines functions only
# (plus CI_WORK, the machine-local work directory that holds registry storage, logs and rootfs builds).

# shellcheck disable=SC2034  # used by the scripts that source this file
CI_WORK=${MUSLWHEELS_CI_WORK:-/var/lib/muslwheels-ci}
DEBIAN_SOURCES=${MUSLWHEELS_DEBIAN_SOURCES:-/etc/apt/sources.list.d/debian.sources}

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

# First URI of the machine's bookworm entry (the Debian mirror to use; never written literally anywhere).
debian_mirror() {
    local fields
    fields=$(debian_stanza_fields bookworm) || die "no enabled 'deb' stanza for suite bookworm in $DEBIAN_SOURCES"
    printf '%s\n' "$fields" | awk 'tolower($0) ~ /^uris:/ { sub(/^[^:]*:[ \t]*/, ""); print $1; exit }'
}

# The Signed-By keyring path of the bookworm entry, if it is a single file path (empty otherwise).
debian_keyring() {
    local fields
    fields=$(debian_stanza_fields bookworm) || return 0
    printf '%s\n' "$fields" | awk 'tolower($0) ~ /^signed-by:/ { sub(/^[^:]*:[ \t]*/, ""); if ($0 ~ /^\// && NF == 1) print; exit }'
}

# 0 when an HTTP GET of $1 answers with any status (a registry /v2/ answers 200 or 401).
http_answers() {
    curl -s -o /dev/null --max-time 3 "$1"
}
