// SignSGD: every coordinate moves by exactly lr against its gradient's sign (0 for a zero
// gradient), after decoupled weight decay. No state.
//   p -= lr * wd * p;  p -= lr * sign(g)
#pragma once
#include <cstddef>

#include "elementwise.h"

struct SignSgdHyper {
    float lr, weight_decay;
};

OPTIM_HD inline void signsgd_update_element(float& p, float g, const SignSgdHyper& h) {
    p -= h.lr * h.weight_decay * p;
    p -= h.lr * sign_or_zero(g);
}

inline void signsgd_update(float* p, const float* g, size_t n, const SignSgdHyper& h) {
#pragma omp parallel for simd
    for (long long i = 0; i < (long long)n; i++) signsgd_update_element(p[i], g[i], h);
}
