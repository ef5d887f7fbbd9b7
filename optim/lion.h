// Lion (Chen et al. 2023): the sign of an interpolation between momentum and gradient,
// then the momentum moves with the second beta.
//   c = b1 * m + (1 - b1) * g;  p -= lr * wd * p;  p -= lr * sign(c);  m = b2 * m + (1 - b2) * g
#pragma once
#include <cstddef>

#include "elementwise.h"

struct LionHyper {
    float lr, weight_decay, beta1, beta2;
};

OPTIM_HD inline void lion_update_element(float& p, float g, float& m, const LionHyper& h) {
    const float c = h.beta1 * m + (1.0f - h.beta1) * g;
    p -= h.lr * h.weight_decay * p;
    p -= h.lr * sign_or_zero(c);
    m = h.beta2 * m + (1.0f - h.beta2) * g;
}

inline void lion_update(float* p, const float* g, float* m, size_t n, const LionHyper& h) {
#pragma omp parallel for simd
    for (long long i = 0; i < (long long)n; i++) lion_update_element(p[i], g[i], m[i], h);
}
