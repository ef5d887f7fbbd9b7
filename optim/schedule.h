// Learning-rate schedules: the factor (0..1] that multiplies the peak learning rate at a
// step. Steps are 0-based; max_steps is the run's total (already resolved, not -1).
//   warmup (step < warmup_steps): init + (1 - init) * (step + 1) / warmup_steps
//   after it, progress = (step - warmup) / max(1, max_steps - warmup), min = final_lr_frac:
//     cosine:   min + (1 - min) * 0.5 * (1 + cos(pi * progress))
//     linear:   1 - (1 - min) * progress
//     constant: 1
//     wsd:      decay_steps = (int)(wsd_decay_frac * max_steps), decay_start = max_steps - decay_steps;
//               1 before decay_start, then with d = (step - decay_start) / max(1, decay_steps):
//               --wsd-shape sqrt (default, llm.c's): 1 - (1 - min) * sqrt(d); linear: 1 - (1 - min) * d
// Progress is capped at 1 so a step past max_steps stays at the final value.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "optim_config.h"

// The flags are stored as float, so 0.7 arrives as 0.69999998..., and (int)(0.7f * 10) would
// give 6 where a double-precision reference gets 7. Recover the shortest decimal that
// rounds to the same float (what the user typed) before truncating.
inline double float_as_typed(float x) {
    char buf[32];
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, (double)x);
        const double d = strtod(buf, nullptr);
        if ((float)d == x) return d;
    }
    return (double)x;
}

inline float lr_factor_at(const ScheduleConfig& s, int step, int max_steps) {
    const double pi = 3.14159265358979323846;
    const int warmup = s.warmup_steps;
    if (step < warmup) {
        const double init = s.warmup_init;
        return (float)(init + (1.0 - init) * (double)(step + 1) / warmup);
    }
    const double min_frac = s.final_lr_frac;
    const double progress = std::min(1.0, (double)(step - warmup) / std::max(1, max_steps - warmup));
    switch (s.kind) {
        case Schedule::Cosine: return (float)(min_frac + (1.0 - min_frac) * 0.5 * (1.0 + std::cos(pi * progress)));
        case Schedule::Linear: return (float)(1.0 - (1.0 - min_frac) * progress);
        case Schedule::Constant: return 1.0f;
        case Schedule::WSD: {
            const int decay_steps = (int)(float_as_typed(s.wsd_decay_frac) * max_steps);
            const int decay_start = max_steps - decay_steps;
            if (step < decay_start) return 1.0f;
            const double decayed = std::min(1.0, (double)(step - decay_start) / std::max(1, decay_steps));
            const double shaped = s.wsd_shape == WsdShape::Sqrt ? std::sqrt(decayed) : decayed;
            return (float)(1.0 - (1.0 - min_frac) * shaped);
        }
    }
    return 1.0f;
}
