// Residual connection: out = a + b; the gradient passes to both inputs unchanged.
#pragma once
#include <cstddef>

inline void residual_forward_cpu(float* out, const float* a, const float* b, size_t n) {
#pragma omp parallel for
    for (long long i = 0; i < (long long)n; i++) out[i] = a[i] + b[i];
}

inline void residual_backward_cpu(float* da, float* db, const float* dout, size_t n) {
#pragma omp parallel for
    for (long long i = 0; i < (long long)n; i++) {
        da[i] += dout[i];
        db[i] += dout[i];
    }
}
