// Phases of a training step, marked once for both profiling tools:
//   PhaseScope p("forward/block %d/attention", l);
// pushes an NVTX range named "forward/block 3/attention" (Nsight Systems / Compute see it) and,
// while the trainer's --profile-kernels timer is recording, brackets the scope's GPU work with
// two CUDA events. The timer sums the event times per name with every number shown as *, so
// the row "forward/block */attention" is the total over all blocks. Phases must not nest (their times
// would be counted twice); ranges that are not phases of the step use NvtxRange.
#pragma once
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common.cuh"

class PhaseTimer {
public:
    void enable() { enabled_ = true; }
    bool recording() const { return recording_; }

    // Brackets one training step; phases are recorded only in between. The first step is
    // warm-up (cuBLAS heuristics, first-touch allocations) and is not counted.
    void begin_step() {
        if (!enabled_) return;
        recording_ = true;
        used_ = 0;
        step_start_ = start("step");
    }
    // Call after the step's work is done on the device (after a synchronize).
    void end_step() {
        if (!recording_) return;
        stop(step_start_);
        recording_ = false;
        cudaCheck(cudaEventSynchronize(pool_[step_start_].stop));
        if (warmed_up_++ == 0) return;
        for (int i = 0; i < used_; i++) {
            float ms = 0.0f;
            cudaCheck(cudaEventElapsedTime(&ms, pool_[i].start, pool_[i].stop));
            phases_[pool_[i].phase].ms += ms;
            phases_[pool_[i].phase].calls++;
        }
        steps_++;
    }

    // Slot of a started phase, for stop().
    int start(const char* phase_name) {
        if (used_ == (int)pool_.size()) {
            EventPair e;
            cudaCheck(cudaEventCreate(&e.start));
            cudaCheck(cudaEventCreate(&e.stop));
            pool_.push_back(e);
        }
        EventPair& e = pool_[used_];
        e.phase = phase_index(phase_name);
        cudaCheck(cudaEventRecord(e.start, cuda_ctx().stream));
        return used_++;
    }
    void stop(int slot) { cudaCheck(cudaEventRecord(pool_[slot].stop, cuda_ctx().stream)); }

    // Markdown table: each phase's mean time per step and share of the step, in the order the
    // phases first ran, then what no phase covers (host work, copies, launch gaps).
    void print(FILE* out) const {
        if (!enabled_) return;
        if (steps_ == 0) {
            fprintf(out, "--profile-kernels: no step after the warm-up step was timed (run at least 2 steps)\n");
            return;
        }
        const double step_ms = phases_[0].ms / steps_;
        fprintf(out, "\nper-phase GPU time (CUDA events), mean over %d steps after the first:\n\n", steps_);
        fprintf(out, "| phase | calls/step | ms/step | share of step |\n|---|---:|---:|---:|\n");
        double covered = 0;
        for (size_t i = 1; i < phases_.size(); i++) {
            const double ms = phases_[i].ms / steps_;
            covered += ms;
            fprintf(out, "| %s | %.0f | %.3f | %.1f%% |\n", phases_[i].name.c_str(), (double)phases_[i].calls / steps_, ms,
                    100.0 * ms / step_ms);
        }
        fprintf(out, "| (outside the phases) | | %.3f | %.1f%% |\n", step_ms - covered, 100.0 * (step_ms - covered) / step_ms);
        fprintf(out, "| step | | %.3f | 100.0%% |\n\n", step_ms);
    }

private:
    struct EventPair {
        cudaEvent_t start, stop;
        int phase = 0;
    };
    struct Phase {
        std::string name;
        double ms = 0;
        long calls = 0;
    };
    int phase_index(const char* full_name) {
        std::string name;
        for (const char* c = full_name; *c; c++) {
            const bool digit = *c >= '0' && *c <= '9';
            if (!digit) name += *c;
            else if (name.empty() || name.back() != '*') name += '*';
        }
        for (size_t i = 0; i < phases_.size(); i++)
            if (phases_[i].name == name) return (int)i;
        Phase p;
        p.name = name;
        phases_.push_back(p);
        return (int)phases_.size() - 1;
    }
    bool enabled_ = false, recording_ = false;
    int used_ = 0, step_start_ = 0, warmed_up_ = 0, steps_ = 0;
    std::vector<EventPair> pool_;
    std::vector<Phase> phases_; // [0] is the whole step
};

inline PhaseTimer& phase_timer() {
    static PhaseTimer timer;
    return timer;
}

class PhaseScope {
public:
    explicit PhaseScope(const char* fmt, ...) {
        char name[128];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(name, sizeof name, fmt, ap);
        va_end(ap);
        nvtxRangePushA(name);
        if (phase_timer().recording()) slot_ = phase_timer().start(name);
    }
    ~PhaseScope() {
        if (slot_ >= 0) phase_timer().stop(slot_);
        nvtxRangePop();
    }
    PhaseScope(const PhaseScope&) = delete;
    PhaseScope& operator=(const PhaseScope&) = delete;

private:
    int slot_ = -1;
};
