# shellcheck shell=bash
# Shared by the memory benchmarks (source it; scripts/bench_zero1_memory.sh, scripts/bench_zero_order.sh):
# their flags, bad arguments as one line and exit 2, a scratch folder and the table's stamp.

die() { echo "error: $*" >&2; exit 2; }
positive() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1 wants a positive integer, got '$2'"; }

# bench_flags HELP_LINES --FLAG... -- ARG...: each "--FLAG VALUE" in ARG sets the variable named
# FLAG (dashes as underscores); -h/--help prints lines HELP_LINES (sed's "2,7") of the script and
# exits; an unknown argument or a flag without its value is one line, exit 2.
bench_flags() {
    local help=$1 known=() flag var
    shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do known+=("$1"); shift; done
    shift
    while [ $# -gt 0 ]; do
        case "$1" in -h|--help) sed -n "${help}p" "$0"; exit 0 ;; esac
        var=
        for flag in "${known[@]}"; do [ "$1" = "$flag" ] && var=${flag#--}; done
        [ -n "$var" ] || die "unknown argument '$1' (see --help)"
        [ $# -ge 2 ] || die "$1 needs a value"
        printf -v "${var//-/_}" '%s' "$2"
        shift 2
    done
}

# work=<a scratch folder>, removed when the script exits.
make_work() { work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; }

# "2026-12-07T17:30Z, abc1234": when and at which commit a table was measured.
bench_stamp() { echo "$(date -u +%Y-%m-%dT%H:%MZ), $(git rev-parse --short HEAD)"; }
# KiB -> GiB with two decimals.
gib() { awk -v k="$1" 'BEGIN {printf "%.2f", k / 1048576}'; }
