// Learning-rate schedules: the factor (0..1] that multiplies the peak learning rate at a
// step. Steps are 0-based; max_steps is the run's total (already resolved, not -1).
//   warmup (step < warmup_steps), --warmup-shape linear (llm.c): init + (1 - init) * (step + 1) / warmup_steps
//                                 --warmup-shape cos (PyTorch's OneCycleLR, anneal_strategy='cos'):
//                                   1 - (1 - init) * 0.5 * (1 + cos(pi * step / (warmup_steps - 1)))
//     (from init at step 0 to 1 at step warmup - 1; OneCycleLR's div_factor is 1 / init)
//   after it, progress = (step - warmup) / max(1, max_steps - warmup), min = final_lr_frac:
//     (cos warmup: progress = (step - warmup + 1) / max(1, max_steps - warmup), OneCycleLR's
//     second phase, which starts at the peak step warmup - 1; so --warmup-shape cos --schedule
//     cosine --warmup-init 1/div -q 1/(div * final_div) is OneCycleLR step for step)
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
    const bool cos_warmup = s.warmup_shape == WarmupShape::Cos && warmup > 0;
    if (step < warmup) {
        const double init = s.warmup_init;
        if (!cos_warmup) return (float)(init + (1.0 - init) * (double)(step + 1) / warmup);
        if (warmup == 1) return 1.0f;
        return (float)(1.0 - (1.0 - init) * 0.5 * (1.0 + std::cos(pi * (double)step / (warmup - 1))));
    }
    const double min_frac = s.final_lr_frac;
    const int decay_from = cos_warmup ? warmup - 1 : warmup;
    const double progress = std::min(1.0, (double)(step - decay_from) / std::max(1, max_steps - warmup));
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
