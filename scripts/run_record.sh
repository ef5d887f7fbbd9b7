# What a sweep's finished run ran, so a later call reuses it only when nothing changed (sourced by
# scripts/compare_optimizers.sh and scripts/reproduce_signsgd_paper.sh). DIR/.finished holds
#   command: the exact command line (printf %q words: every flag, -o DIR last)
#   binary_sha256: the hash of the trainer binary it ran (its defaults and code)
#   machine: the CPU model, OPENBLAS_CORETYPE and GPU names (OpenBLAS and cuBLAS pick kernels by
#            machine, and results differ between kernel sets: docs/cpu_speed.md)
#   seconds: its wall time
# A run whose .finished lacks a field (an older sweep's bare marker) counts as changed.

run_binary_hash() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }
run_machine() {
    local cpu gpu
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
    gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | sort | uniq -c | sed 's/^ *//' | paste -sd, -)
    echo "${cpu:-unknown CPU}; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-}; GPU: ${gpu:-none}"
}

# run_record_write DIR COMMAND_LINE BINARY SECONDS
run_record_write() {
    printf 'command: %s\nbinary_sha256: %s\nmachine: %s\nseconds: %s\n' "$2" "$(run_binary_hash "$3")" "$(run_machine)" "$4" >"$1/.finished"
}

# run_record_field DIR FIELD: the field's value in DIR/.finished (empty when absent)
run_record_field() { sed -n "s/^$2: //p" "$1/.finished" 2>/dev/null | head -n 1; }

# run_record_change DIR COMMAND_LINE BINARY: nothing when DIR finished with this command line,
# this binary and on this machine, else why it must run again (one phrase).
run_record_change() {
    [ -f "$1/.finished" ] || { echo "not finished"; return; }
    local cmd hash machine
    cmd=$(run_record_field "$1" command) hash=$(run_record_field "$1" binary_sha256) machine=$(run_record_field "$1" machine)
    if [ -z "$cmd" ] || [ -z "$hash" ] || [ -z "$machine" ]; then echo "its .finished does not record its command, binary and machine"
    elif [ "$cmd" != "$2" ]; then echo "it ran another command: $cmd"
    elif [ "$hash" != "$(run_binary_hash "$3")" ]; then echo "it ran another build of $3 (sha256 ${hash:0:12})"
    elif [ "$machine" != "$(run_machine)" ]; then echo "it ran on another machine ($machine), whose BLAS kernels may differ"
    fi
}
