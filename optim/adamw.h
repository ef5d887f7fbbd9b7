// AdamW exactly as torch.optim.AdamW (amsgrad off). t is the 1-based step count.
//   p *= 1 - lr * wd
//   m = b1 * m + (1 - b1) * g;   v = b2 * v + (1 - b2) * g * g
//   denom = sqrt(v) / sqrt(1 - b2^t) + eps
//   p -= lr / (1 - b1^t) * m / denom
// The per-step scalars are computed once, in double, as torch computes them in Python.
#pragma once
#include <cmath>
#include <cstddef>

#include "elementwise.h"

struct AdamWHyper {
    float lr, weight_decay, beta1, beta2, eps;
};

struct AdamWStepScalars {
    float decay;      // 1 - lr * wd
    float step_size;  // lr / (1 - b1^t)
    float bc2_sqrt;   // sqrt(1 - b2^t)
};

inline AdamWStepScalars adamw_step_scalars(const AdamWHyper& h, int t) {
    AdamWStepScalars s;
    s.decay = (float)(1.0 - (double)h.lr * h.weight_decay);
    s.step_size = (float)((double)h.lr / (1.0 - std::pow((double)h.beta1, t)));
    s.bc2_sqrt = (float)std::sqrt(1.0 - std::pow((double)h.beta2, t));
    return s;
}

OPTIM_HD inline void adamw_update_element(float& p, float g, float& m, float& v, const AdamWHyper& h,
                                          const AdamWStepScalars& s) {
    p *= s.decay;
    m = h.beta1 * m + (1.0f - h.beta1) * g;
    v = h.beta2 * v + (1.0f - h.beta2) * g * g;
    const float denom = sqrtf(v) / s.bc2_sqrt + h.eps;
    p -= s.step_size * (m / denom);
}

inline void adamw_update(float* p, const float* g, float* m, float* v, size_t n, const AdamWHyper& h, int t) {
    const AdamWStepScalars s = adamw_step_scalars(h, t);
#pragma omp parallel for simd
    for (long long i = 0; i < (long long)n; i++) adamw_update_element(p[i], g[i], m[i], v[i], h, s);
}
