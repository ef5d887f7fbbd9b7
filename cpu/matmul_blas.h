// matmul_forward_cpu / matmul_backward_cpu (matmul.h, the reference) through cblas_sgemm
// (blas.h). Same contract: out = inp @ weight^T + bias; backward accumulates into dinp,
// dweight and dbias.
#pragma once
#ifdef USE_BLAS
#include <algorithm>
#include <cstddef>

#include "blas.h"

inline void matmul_forward_blas(float* out, const float* inp, const float* weight, const float* bias, int N, int C,
                                int OC) {
    sgemm_parallel(false, true, N, OC, C, 1.0f, inp, C, weight, C, 0.0f, out, OC);
    if (!bias) return;
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        float* o = out + (size_t)n * OC;
#pragma omp simd
        for (int j = 0; j < OC; j++) o[j] += bias[j];
    }
}

// dinp += dout @ weight,  dweight += dout^T @ inp,  dbias += column sums of dout (rows in order).
inline void matmul_backward_blas(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                 const float* weight, int N, int C, int OC) {
    sgemm_parallel(false, false, N, C, OC, 1.0f, dout, OC, weight, C, 1.0f, dinp, C);
    sgemm_parallel(true, false, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dweight, C);
    if (!dbias) return;
    constexpr int block = 64; // threads own column blocks; each column adds its rows in order
#pragma omp parallel for
    for (int o0 = 0; o0 < OC; o0 += block) {
        const int o1 = std::min(OC, o0 + block);
        for (int n = 0; n < N; n++) {
            const float* d = dout + (size_t)n * OC;
#pragma omp simd
            for (int o = o0; o < o1; o++) dbias[o] += d[o];
        }
    }
}
#endif
