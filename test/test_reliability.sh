#!/usr/bin/env bash
# A new user's first runs and bad inputs that used to crash or train the wrong thing
# (issue 17): the output directory is made with its parents (or a one-line error says why
# not), shard token ids are checked when the shard is opened, a directory given for a file
# is named as one, stdout is line-buffered (plan lines come before a later error, in order),
# and metrics.jsonl records the revision the binary was built from, not the working
# directory's. Resume refusals, the output-directory lock and state-file corruption are
# in test/test_checkpoint_resume.sh (they run for both trainers).
#   test/test_reliability.sh [DATA_DIR [TRAINER [NAME_PREFIX]]]
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
data="${1:-data}"
bin="${2:-./train_gpt2cpu}"
prefix="${3:-}"
PYTHON="${PYTHON:-/usr/bin/python3}"
work=build/reliability
rm -rf "$work"; mkdir -p "$work"
source test/lib.sh

train="$data/tinyshakespeare/tiny_shakespeare_train.bin"
val="$data/tinyshakespeare/tiny_shakespeare_val.bin"
if [ ! -f "$train" ] || [ ! -f "$val" ]; then
    echo "SKIP ${prefix}reliability: no Tiny Shakespeare shards in $data"
    exit 0
fi
tiny=(-i "$train" -j "$val" -e d2 -b 2 -t 32 -d 64)

{
# -o with missing parents is created (the README's example writes into runs/NAME).
"$bin" "${tiny[@]}" -x 1 -v 0 -o "$work/runs/deeper/first" >"$work/mkdir.out" 2>&1
rc=$?
[ $rc -eq 0 ] && [ -f "$work/runs/deeper/first/main.log" ] && pass reliability/output_dir_with_parents \
    || fail reliability/output_dir_with_parents "exit $rc: $(tail -2 "$work/mkdir.out")"
touch "$work/a_file"
expect_one_line_error reliability/output_dir_not_creatable "cannot create output directory '.*a_file/run' \('.*a_file' is not a directory\)" "" \
    "$bin" "${tiny[@]}" -x 1 -v 0 -o "$work/a_file/run"

# A token id >= 50257 is found when the shard is opened, before any step, naming the shard
# and the position; the plan lines printed before it come first (stdout line-buffered).
"$PYTHON" - "$train" "$work/bad_ids.bin" <<'EOF'
import sys, numpy as np
header = np.fromfile(sys.argv[1], dtype=np.int32, count=256)
tokens = np.fromfile(sys.argv[1], dtype=np.uint16, offset=1024).copy()
tokens[123457] = 50257
with open(sys.argv[2], "wb") as f:
    f.write(header.tobytes()); f.write(tokens.tobytes())
EOF
expect_one_line_error reliability/token_id_outside_vocab "bad_ids.bin': token id 50257 at token position 123457 is outside GPT-2's vocabulary" "$work/bad/model_00000001.bin" \
    "$bin" -i "$work/bad_ids.bin" -j "$val" -e d2 -b 2 -t 32 -d 64 -x 1 -v 0 -o "$work/bad"
"$bin" -i "$work/bad_ids.bin" -j "$val" -e d2 -b 2 -t 32 -d 64 -x 1 -v 0 >"$work/order.out" 2>&1
first_plan=$(grep -n -m1 '^model d2' "$work/order.out" | cut -d: -f1); first_error=$(grep -n -m1 '^error:' "$work/order.out" | cut -d: -f1)
[ -n "$first_plan" ] && [ -n "$first_error" ] && [ "$first_plan" -lt "$first_error" ] \
    && pass reliability/stdout_line_buffered "(plan line $first_plan, error line $first_error)" \
    || fail reliability/stdout_line_buffered "plan line '${first_plan}', error line '${first_error}': $(head -3 "$work/order.out")"

# A directory where a file is expected is named as a directory, not "truncated".
mkdir -p "$work/a_dir"
expect_one_line_error reliability/model_is_directory "'.*a_dir' is a directory, not a file" "" "$bin" "${tiny[@]}" -x 1 -e "$work/a_dir"
expect_one_line_error reliability/shard_is_directory "'.*a_dir' is a directory, not a file" "" "$bin" "${tiny[@]}" -x 1 -i "$work/a_dir"
expect_one_line_error reliability/tokenizer_is_directory "--tokenizer '.*a_dir' is a directory" "" "$bin" "${tiny[@]}" -x 1 -s 1 --tokenizer "$work/a_dir"

# The revision in metrics.jsonl is the one the binary was built from, even when the run
# starts inside another git repository.
if git -C "$repo" rev-parse HEAD >/dev/null 2>&1 && command -v git >/dev/null; then
    built=$(sed -n 's/#define GPT2_GIT_REVISION "\(.*\)"/\1/p' build/git_revision.h 2>/dev/null)
    other="$work/other_repo"; mkdir -p "$other"
    git -C "$other" init -q && git -C "$other" -c user.email=t@t -c user.name=t commit -q --allow-empty -m other
    abs_bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
    absolute() { case $1 in /*) echo "$1" ;; *) echo "$repo/$1" ;; esac; }
    (cd "$other" && "$abs_bin" -i "$(absolute "$train")" -j "$(absolute "$val")" -e d2 -b 2 -t 32 -d 64 -x 1 -v 0 -o run >/dev/null 2>&1)
    recorded=$(grep -m1 '"type":"config"' "$other/run/metrics.jsonl" 2>/dev/null | sed 's/.*"git_revision":"\([^"]*\)".*/\1/')
    [ -n "$built" ] && [ "$recorded" = "$built" ] && [ "$recorded" != "$(git -C "$other" rev-parse HEAD)" ] \
        && pass reliability/git_revision_at_build_time "(${recorded:0:12})" \
        || fail reliability/git_revision_at_build_time "recorded '$recorded', built from '$built', other repo $(git -C "$other" rev-parse HEAD)"
else
    echo "SKIP reliability/git_revision_at_build_time: not a git checkout"
fi
} 2>&1 | sed -E "s#^(PASS|FAIL|SKIP) #\1 ${prefix}#"
