// Token + position embedding: out[b,t,:] = wte[inp[b,t],:] + wpe[t,:].
#pragma once
#include <algorithm>
#include <cstddef>

inline void encoder_forward_cpu(float* out, const int* inp, const float* wte, const float* wpe, int B, int T, int C) {
#pragma omp parallel for
    for (int n = 0; n < B * T; n++) {
        const float* tok = wte + (size_t)inp[n] * C;
        const float* pos = wpe + (size_t)(n % T) * C;
        float* o = out + (size_t)n * C;
        for (int c = 0; c < C; c++) o[c] = tok[c] + pos[c];
    }
}

// Tokens repeat, so rows of dwte get several contributions: threads split the channels
// instead of the rows, and every element sums its contributions in (b, t) order.
inline void encoder_backward_cpu(float* dwte, float* dwpe, const float* dout, const int* inp, int B, int T, int C) {
    const int block = 16;
#pragma omp parallel for
    for (int c0 = 0; c0 < C; c0 += block) {
        const int c1 = std::min(C, c0 + block);
        for (int n = 0; n < B * T; n++) {
            const float* d = dout + (size_t)n * C;
            float* tok = dwte + (size_t)inp[n] * C;
            float* pos = dwpe + (size_t)(n % T) * C;
            for (int c = c0; c < c1; c++) {
                tok[c] += d[c];
                pos[c] += d[c];
            }
        }
    }
}
