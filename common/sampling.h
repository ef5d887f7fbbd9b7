// Sampling the next token from logits, shared by both trainers so that the same weights and
// seed print the same sample on the CPU and the GPU.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "rng.h"

// Draws a token from softmax(logits[0..V)) (the padded columns are never drawn), using the
// counter-based RNG: sample number `step`, position `t`, from `seed`.
inline int sample_token(const float* logits, int V, uint64_t seed, int step, int t) {
    float maxv = logits[0];
    for (int v = 1; v < V; v++) maxv = std::max(maxv, logits[v]);
    double total = 0;
    for (int v = 0; v < V; v++) total += std::exp((double)logits[v] - maxv);
    const double coin = random_uniform(seed * 1000003ull + (uint64_t)step, (uint64_t)t) * total;
    double cdf = 0;
    for (int v = 0; v < V; v++) {
        cdf += std::exp((double)logits[v] - maxv);
        if (coin < cdf) return v;
    }
    return V - 1; // rounding left the coin just above the total
}
