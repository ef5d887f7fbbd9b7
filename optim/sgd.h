// SGD exactly as torch.optim.SGD with dampening 0. Weight decay is coupled (added to the
// gradient), the one rule here where it is not decoupled. The momentum buffer starts at 0,
// which makes its first value g', as torch's buf = g' on the first step.
//   g' = g + wd * p
//   if momentum: buf = momentum * buf + g';  g' = nesterov ? g' + momentum * buf : buf
//   p -= lr * g'
#pragma once
#include <cstddef>

#include "elementwise.h"

struct SgdHyper {
    float lr, weight_decay, momentum;
    bool nesterov;
};

// buf is ignored when momentum == 0.
OPTIM_HD inline void sgd_update_element(float& p, float g, float& buf, const SgdHyper& h) {
    float d = g + h.weight_decay * p;
    if (h.momentum != 0.0f) {
        buf = h.momentum * buf + d;
        d = h.nesterov ? d + h.momentum * buf : buf;
    }
    p -= h.lr * d;
}

// buf: n floats, or nullptr when momentum == 0.
inline void sgd_update(float* p, const float* g, float* buf, size_t n, const SgdHyper& h) {
#pragma omp parallel for simd
    for (long long i = 0; i < (long long)n; i++) {
        float unused = 0.0f;
        sgd_update_element(p[i], g[i], buf ? buf[i] : unused, h);
    }
}
