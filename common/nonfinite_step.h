// A training step whose loss or gradient norm is not finite, the same in both trainers:
// nothing is updated or written for it. Without --skip-nonfinite the run stops with one
// line naming the step and the latest complete checkpoint; with it the step is counted,
// printed and logged (main.log "s:STEP skip:1", a metrics.jsonl "skip" record; STEP there is
// the 0-based update index, llm.c's numbering, common/run_log.h).
//
// Test hook: GPT2_TEST_NAN_GRAD_STEP=S makes the trainer poison one gradient coordinate with
// NaN at step S (1-based), so the tests can exercise this on a step of their choice
// (GPT2_TEST_NAN_GRAD_RANK=R: on one rank of a data-parallel job).
#pragma once
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "checkpoint.h"
#include "run_log.h"
#include "train_config.h"
#include "utils.h"

// The step GPT2_TEST_NAN_GRAD_STEP names, or -1; GPT2_TEST_NAN_GRAD_RANK=R: on rank R only
// (data parallel; default every rank), so the tests can check which rank reports it.
inline int test_nan_grad_step(int rank = 0) {
    const char* env = getenv("GPT2_TEST_NAN_GRAD_STEP");
    const char* only = getenv("GPT2_TEST_NAN_GRAD_RANK");
    if (only && atoi(only) != rank) return -1;
    return env ? atoi(env) : -1;
}

// Data parallel, a step every rank sees as not finite: all ranks but `reporter` wait in a barrier
// for it to end the job (its skip_nonfinite_step line is then the job's one line).
inline void leave_nonfinite_step_to(Comm& comm, int reporter, int step) {
    if (comm.rank() == reporter) return;
    comm.barrier();
    fail_runtime("step %d: not finite (reported by rank %d)", step, reporter); // not reached: the reporter ends the job
}

// step: 1-based (after the update it would make). True when the step must be skipped;
// does not return when the run must stop.
inline bool skip_nonfinite_step(int step, int max_steps, double loss, double norm, const TrainConfig& cfg, int* skips,
                                RunLog& log) {
    if (std::isfinite(loss) && std::isfinite(norm)) return false;
    char reason[160];
    snprintf(reason, sizeof reason, "loss %g, gradient norm %g", loss, norm);
    if (!cfg.skip_nonfinite) {
        const int good = cfg.output_dir.empty() ? -1 : latest_checkpoint_step(cfg.output_dir);
        fail_runtime("step %d: %s is not finite; stopping without an update or a checkpoint (latest checkpoint: %s)", step,
                     reason, good >= 0 ? ("step " + std::to_string(good)).c_str() : "none");
    }
    (*skips)++;
    printf("step %4d/%d | skipped: %s is not finite (%d skipped so far)\n", step, max_steps, reason, *skips);
    log.skip(step - 1, std::string(reason) + " is not finite", *skips);
    return true;
}
