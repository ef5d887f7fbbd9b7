// The synthetic experiments' update rules (dev/toy/toy_experiments.cpp): one step on one flat
// float vector through the very per-element functions the trainers call (optim/*.h), so a
// change there changes the toy. No weight decay anywhere (the paper's toys have none).
//   sgd         x -= lr * g                                        (optim/sgd.h, momentum 0)
//   clipped_sgd g *= min(1, clip / (||g||_2 + 1e-6)); x -= lr * g  (optim/grad_clip.h, then sgd)
//   signsgd     x -= lr * sign(g)                                  (optim/signsgd.h)
//   signum      m = beta m + (1 - beta) g;  x -= lr * sign(m)      (optim/signum.h)
//   nsgd        m = beta m + (1 - beta) g / (||g||_2 + 1e-8);  x -= lr * m
//               (optim/nsgd.h's --nsgd-norm tensor, the heavy-tail paper's NSGD: the vector is one slice)
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "../../optim/grad_clip.h"
#include "../../optim/nsgd.h"
#include "../../optim/sgd.h"
#include "../../optim/signsgd.h"
#include "../../optim/signum.h"

enum class ToyRule { Sgd, ClippedSgd, SignSgd, Signum, Nsgd };

inline const char* toy_rule_name(ToyRule r) {
    switch (r) {
    case ToyRule::Sgd: return "sgd";
    case ToyRule::ClippedSgd: return "clipped_sgd";
    case ToyRule::SignSgd: return "signsgd";
    case ToyRule::Signum: return "signum";
    case ToyRule::Nsgd: return "nsgd";
    }
    return "?";
}

struct ToyOptimizer {
    ToyRule rule;
    float lr;
    float beta = 0.9f;  // signum and nsgd
    float clip = 0.0f;  // clipped_sgd: the global-norm threshold
    std::vector<float> m;  // signum and nsgd: momentum, zero at the start

    // One step on x (n floats) with gradient g; clipped_sgd scales g in place.
    void step(float* x, float* g, size_t n) {
        if (m.size() != n) m.assign(n, 0.0f);
        switch (rule) {
        case ToyRule::ClippedSgd:
            scale_grads(g, n, clip_scale(grad_norms(g, n).l2, clip));
            [[fallthrough]];
        case ToyRule::Sgd: {
            const SgdHyper h{lr, 0.0f, 0.0f, false};
            float unused = 0.0f;
            for (size_t i = 0; i < n; i++) sgd_update_element(x[i], g[i], unused, h);
            break;
        }
        case ToyRule::SignSgd: {
            const SignSgdHyper h{lr, 0.0f};
            for (size_t i = 0; i < n; i++) signsgd_update_element(x[i], g[i], h);
            break;
        }
        case ToyRule::Signum: {
            const SignumHyper h{lr, 0.0f, beta};
            for (size_t i = 0; i < n; i++) signum_update_element(x[i], g[i], m[i], h);
            break;
        }
        case ToyRule::Nsgd: {
            nsgd_slice_update(x, g, m.data(), n, {lr, 0.0f, beta});
            break;
        }
        }
    }
};
