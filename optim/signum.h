// Signum (SignSGD with momentum): the sign of an exponential moving average of gradients.
//   m = beta * m + (1 - beta) * g;  p -= lr * wd * p;  p -= lr * sign(m)     (beta = --momentum)
#pragma once
#include <cstddef>

#include "elementwise.h"

struct SignumHyper {
    float lr, weight_decay, beta;
};

OPTIM_HD inline void signum_update_element(float& p, float g, float& m, const SignumHyper& h) {
    m = h.beta * m + (1.0f - h.beta) * g;
    p -= h.lr * h.weight_decay * p;
    p -= h.lr * sign_or_zero(m);
}

inline void signum_update(float* p, const float* g, float* m, size_t n, const SignumHyper& h) {
#pragma omp parallel for simd
    for (long long i = 0; i < (long long)n; i++) signum_update_element(p[i], g[i], m[i], h);
}
