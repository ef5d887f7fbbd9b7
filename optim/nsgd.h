// Normalized SGD with momentum (a baseline of the heavy-tail paper, arXiv 2602.07425), two
// variants chosen by --nsgd-norm (beta = --momentum, the momentum buffer starts at zero):
//   tensor (default; the paper's NSGD, its src/optim/nsgd.py), per layer slice S (a PyTorch
//   parameter there; here wte, wpe, lnfw, lnfb whole and each layer of a stacked tensor):
//     g_hat = g / (||g_S||_2 + 1e-8);  m = beta * m + (1 - beta) * g_hat
//     p -= lr * wd * p;  p -= lr * m               every slice moves by at most lr
//   global: m = beta * m + (1 - beta) * g;  p -= lr * wd * p;  p -= lr * m / ||m||_2
//     ||m|| over the whole model: a step of length lr. Two passes: momentum and its squared
//     norm, then the update; every nsgd tensor shares the one norm (the CPU optimizer sums it
//     in tensor order, in double). ||m|| = 0 (an all-zero gradient history) makes no step.
// g is the gradient after the global clip (clipping changes only the global variant's history).
#pragma once
#include <cmath>
#include <cstddef>

#include "elementwise.h"

struct NsgdHyper {
    float lr, weight_decay, beta;
};

constexpr double NSGD_TENSOR_EPS = 1e-8; // the paper's: added to the slice's norm

OPTIM_HD inline void nsgd_momentum_element(float g, float& m, float beta) { m = beta * m + (1.0f - beta) * g; }

// inv_norm = 1 / ||m||_2 (0 when ||m|| = 0); 1 under --nsgd-norm tensor (m is already normalized).
OPTIM_HD inline void nsgd_apply_element(float& p, float m, float inv_norm, const NsgdHyper& h) {
    p -= h.lr * h.weight_decay * p;
    p -= h.lr * m * inv_norm;
}

// --nsgd-norm tensor, one element: g_inv_norm = 1 / (||g_S|| + 1e-8) of its slice S.
OPTIM_HD inline void nsgd_tensor_element(float& p, float g, float& m, float g_inv_norm, const NsgdHyper& h) {
    nsgd_momentum_element(g * g_inv_norm, m, h.beta);
    nsgd_apply_element(p, m, 1.0f, h);
}
OPTIM_HD inline float nsgd_slice_inv_norm(double sum_sq) { return (float)(1.0 / (sqrt(sum_sq) + NSGD_TENSOR_EPS)); }

// --nsgd-norm tensor on one layer slice of n elements (p, g, m its own).
inline void nsgd_slice_update(float* p, const float* g, float* m, size_t n, const NsgdHyper& h) {
    double sum_sq = 0.0;
    for (size_t i = 0; i < n; i++) sum_sq += (double)g[i] * g[i];
    const float inv = nsgd_slice_inv_norm(sum_sq);
#pragma omp parallel for
    for (long long i = 0; i < (long long)n; i++) nsgd_tensor_element(p[i], g[i], m[i], inv, h);
}

// --nsgd-norm global: the momentum pass over one tensor; returns its sum of m^2.
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
