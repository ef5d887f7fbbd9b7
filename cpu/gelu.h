// GELU, tanh approximation as in GPT-2: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
// tanh is vector_tanh (vector_exp.h): the loops vectorize; test/test_gradcheck.cpp checks
// the forward against the formula in double and the backward by finite differences.
#pragma once
#include <cmath>
#include <cstddef>

#include "vector_exp.h"

constexpr float GELU_SCALE = 0.7978845608028654f; // sqrt(2/pi)
constexpr float GELU_CUBIC = 0.044715f;

inline void gelu_forward_cpu(float* out, const float* inp, size_t n) {
#pragma omp parallel for simd
    for (long long i = 0; i < (long long)n; i++) {
        const float x = inp[i];
        out[i] = 0.5f * x * (1.0f + vector_tanh(GELU_SCALE * (x + GELU_CUBIC * x * x * x)));
    }
}

// d/dx = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) du/dx,  u = s (x + k x^3),  du/dx = s (1 + 3 k x^2).
inline void gelu_backward_cpu(float* dinp, const float* inp, const float* dout, size_t n) {
#pragma omp parallel for simd
    for (long long i = 0; i < (long long)n; i++) {
        const float x = inp[i];
        const float th = vector_tanh(GELU_SCALE * (x + GELU_CUBIC * x * x * x));
        const float du_dx = GELU_SCALE * (1.0f + 3.0f * GELU_CUBIC * x * x);
        const float grad = 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du_dx;
        dinp[i] += grad * dout[i];
    }
}
