// Normalized SGD with momentum (a baseline of the heavy-tail paper, arXiv 2602.07425):
//   m = beta * m + (1 - beta) * g                     (beta = --momentum)
//   p -= lr * wd * p;  p -= lr * m / ||m||_2          ||m|| over the whole model
// The step has length lr whatever the gradient's scale (clipping changes nothing but the
// direction's history). Two passes: momentum and its squared norm, then the update; every
// nsgd tensor shares the one norm (the CPU optimizer sums it in tensor order, in double).
// ||m|| = 0 (an all-zero gradient history) makes no step.
#pragma once
#include <cmath>
#include <cstddef>

#include "elementwise.h"

struct NsgdHyper {
    float lr, weight_decay, beta;
};

OPTIM_HD inline void nsgd_momentum_element(float g, float& m, float beta) { m = beta * m + (1.0f - beta) * g; }

// inv_norm = 1 / ||m||_2 (0 when ||m|| = 0).
OPTIM_HD inline void nsgd_apply_element(float& p, float m, float inv_norm, const NsgdHyper& h) {
    p -= h.lr * h.weight_decay * p;
    p -= h.lr * m * inv_norm;
}

// The momentum pass over one tensor; returns its sum of m^2.
inline double nsgd_momentum(const float* g, float* m, size_t n, float beta) {
    double sum_sq = 0.0;
    for (size_t i = 0; i < n; i++) {
        nsgd_momentum_element(g[i], m[i], beta);
        sum_sq += (double)m[i] * m[i];
    }
    return sum_sq;
}

inline void nsgd_apply(float* p, const float* m, size_t n, float inv_norm, const NsgdHyper& h) {
#pragma omp parallel for
    for (long long i = 0; i < (long long)n; i++) nsgd_apply_element(p[i], m[i], inv_norm, h);
}

inline float nsgd_inv_norm(double sum_sq) { return sum_sq > 0 ? (float)(1.0 / std::sqrt(sum_sq)) : 0.0f; }
