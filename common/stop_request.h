// Preemption and interrupts: one stop flag that both trainers' step loops check.
//
// SIGTERM (what Slurm, Kubernetes and most schedulers send before they kill a job), SIGUSR1
// (Slurm's --signal=USR1@SECONDS warning; mpirun forwards it to every rank) and SIGINT (Ctrl-C)
// only set the flag. The step in flight finishes; after its update every rank takes the max of
// the flags over ranks (so all stop at the same step, even when only one rank was signalled),
// writes the checkpoint of that step (with -o), says so in one line and exits with
// EXIT_PREEMPTED: "preempted, checkpointed, resume with -y 1". A second signal while the
// checkpoint is written only sets the flag again: the write finishes (and is atomic anyway,
// common/checkpoint.h), so it cannot be corrupted. A third ends the process at once.
//
// Exit codes of both trainers: 0 done (or, with -y 1, already done: a DONE_<step> marker);
// 1 a runtime error (a bad shard, a non-finite step, out of memory, a lost rank); 2 a usage
// error (a bad flag or an impossible configuration); 75 stopped by a signal after writing a
// checkpoint (sysexits' EX_TEMPFAIL: try again).
#pragma once
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <unistd.h>

constexpr int EXIT_PREEMPTED = 75;

// The last stop signal received (0: none), and how many came. Written only by the handler.
inline volatile sig_atomic_t g_stop_signal = 0, g_stop_signals = 0;

// A third signal ends the process at once (128 + signal, the shell's convention): the way out of
// a run that hangs (a dead peer in a collective) without reaching the flag check.
extern "C" inline void record_stop_signal(int sig) {
    g_stop_signal = sig;
    if (++g_stop_signals >= 3) _exit(128 + sig);
}

inline void install_stop_handlers() {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = record_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART; // reads and writes in flight go on
    for (int sig : {SIGTERM, SIGUSR1, SIGINT}) sigaction(sig, &sa, nullptr);
}

// This process's flag, for the all-reduce (max) that makes it every rank's.
inline int local_stop_signal() { return (int)g_stop_signal; }

inline const char* stop_signal_name(int sig) {
    switch (sig) {
        case SIGTERM: return "SIGTERM";
        case SIGUSR1: return "SIGUSR1";
        case SIGINT: return "SIGINT";
    }
    return "a signal";
}

// After the update of step `step` (1-based) with `agreed` the signal every rank agreed on (0:
// none): stops the run there, unless it is the last step (which ends normally), writing the
// step's checkpoint unless `checkpointed` already did. Returns the signal when the loop must end.
template <class Checkpoint>
inline int stop_after_update(int agreed, int step, int max_steps, bool checkpointed, const std::string& output_dir,
                             Checkpoint checkpoint) {
    if (!agreed || step >= max_steps) return 0;
    if (!checkpointed) checkpoint(step);
    printf("stopped by %s after step %d: %s; exit code %d\n", stop_signal_name(agreed), step,
           output_dir.empty() ? "no -o, so no checkpoint" : "checkpoint written, resume with -y 1", EXIT_PREEMPTED);
    return agreed;
}
