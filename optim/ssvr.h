// SSVR, sign-based stochastic variance reduction (Jiang et al., NeurIPS 2024):
//   v_1 = g(x_1; xi_1)
//   v_t = g(x_t; xi_t) + (1 - beta) (v_{t-1} - g(x_{t-1}; xi_t))   (1 - beta = --momentum)
//   p -= lr * wd * p;  p -= lr * sign(v_t)
// g(x_{t-1}; xi_t) is the gradient at the previous step's parameters on the current batch:
// the trainer keeps x_{t-1} (state slot "prev_params"; bf16 on the GPU, where the model reads
// bf16 parameters anyway) and runs a second forward and backward on the same micro-batches
// every step after the first, so a step costs two forward+backward passes (about 2x the
// compute of SignSGD) and the optimizer keeps two buffers (v and the previous parameters).
// The update is split in three so the trainer can compute the two gradients one after the
// other in its one gradient buffer, the current one first (a step skipped as non-finite
// then leaves the state untouched):
//   ssvr_add_current:    v = g_t + (1 - beta) v        (v = 0 before step 1: v_1 = g_1)
//   ssvr_sub_previous:   v -= (1 - beta) g_prev        (steps t > 1)
//   ssvr_apply:          prev = p; then the sign step  (the previous parameters of step t+1)
// Each gradient is clipped by its own global norm, as the trainer clips every gradient.
#pragma once
#include <cstddef>

#include "elementwise.h"

struct SsvrHyper {
    float lr, weight_decay;
};

OPTIM_HD inline void ssvr_add_current_element(float g, float& v, float past) { v = g + past * v; }
OPTIM_HD inline void ssvr_sub_previous_element(float g_prev, float& v, float past) { v -= past * g_prev; }
OPTIM_HD inline void ssvr_apply_element(float& p, float v, const SsvrHyper& h) {
    p -= h.lr * h.weight_decay * p;
    p -= h.lr * sign_or_zero(v);
}

inline void ssvr_add_current(const float* g, float* v, size_t n, float past) {
#pragma omp parallel for
    for (long long i = 0; i < (long long)n; i++) ssvr_add_current_element(g[i], v[i], past);
}
inline void ssvr_sub_previous(const float* g_prev, float* v, size_t n, float past) {
#pragma omp parallel for
    for (long long i = 0; i < (long long)n; i++) ssvr_sub_previous_element(g_prev[i], v[i], past);
}
inline void ssvr_apply(float* p, float* prev, const float* v, size_t n, const SsvrHyper& h) {
#pragma omp parallel for
    for (long long i = 0; i < (long long)n; i++) {
        prev[i] = p[i];
        ssvr_apply_element(p[i], v[i], h);
    }
}
