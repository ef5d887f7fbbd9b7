// attention_forward_cpu / attention_backward_cpu (attention.h, the reference) with the
// products through cblas_sgemm (blas.h): per (batch, head), one thread runs
//   forward:  preatt = scale * Q K^T;  att = causal softmax(preatt);  out = att V
//   backward: datt = dout V^T;  dV += att^T dout;  dpreatt = att * (datt - rowsum(att * datt));
//             dQ += scale * dpreatt K;  dK += scale * dpreatt^T Q
// Q, K, V are strided views into qkv (row stride 3C). The full T x T score block is computed
// (the masked half is set to 0 after), which costs the Q K^T product twice the causal work
// but keeps each product one call. Same buffers and contract as the reference.
#pragma once
#ifdef USE_BLAS
#include <cmath>
#include <cstddef>

#include "blas.h"

// Row t of a causal softmax: a[0..t] = softmax(pre[0..t]), pre and a zero past t.
inline void causal_softmax_row(float* a, float* pre, int t, int T) {
    float maxv = -INFINITY;
    for (int t2 = 0; t2 <= t; t2++) maxv = std::fmax(maxv, pre[t2]);
    double sum = 0;
    for (int t2 = 0; t2 <= t; t2++) {
        a[t2] = std::exp(pre[t2] - maxv);
        sum += a[t2];
    }
    const float inv = (float)(1.0 / sum);
    for (int t2 = 0; t2 <= t; t2++) a[t2] *= inv;
    for (int t2 = t + 1; t2 < T; t2++) pre[t2] = a[t2] = 0.0f;
}

inline void attention_forward_blas(float* out, float* preatt, float* att, const float* qkv, int B, int T, int C,
                                   int NH) {
    const int hs = C / NH, C3 = 3 * C;
    const float scale = 1.0f / std::sqrt((float)hs);
    blas_set_threads(1);
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            const float* q = qkv + (size_t)b * T * C3 + (size_t)h * hs;
            const float *k = q + C, *v = q + 2 * C;
            float* pre = preatt + ((size_t)b * NH + h) * T * T;
            float* a = att + ((size_t)b * NH + h) * T * T;
            sgemm(false, true, T, T, hs, scale, q, C3, k, C3, 0.0f, pre, T);
            for (int t = 0; t < T; t++) causal_softmax_row(a + (size_t)t * T, pre + (size_t)t * T, t, T);
            sgemm(false, false, T, hs, T, 1.0f, a, T, v, C3, 0.0f, out + (size_t)b * T * C + (size_t)h * hs, C);
        }
    }
}

// dqkv accumulates; dpreatt and datt are scratch (overwritten, masked entries 0).
inline void attention_backward_blas(float* dqkv, float* dpreatt, float* datt, const float* dout, const float* qkv,
                                    const float* att, int B, int T, int C, int NH) {
    const int hs = C / NH, C3 = 3 * C;
    const float scale = 1.0f / std::sqrt((float)hs);
    blas_set_threads(1);
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            const size_t head = (size_t)b * T * C3 + (size_t)h * hs, block = ((size_t)b * NH + h) * T * T;
            const float *q = qkv + head, *k = q + C, *v = q + 2 * C;
            float *dq = dqkv + head, *dk = dq + C, *dv = dq + 2 * C;
            const float* a = att + block;
            float *da = datt + block, *dp = dpreatt + block;
            const float* d = dout + (size_t)b * T * C + (size_t)h * hs;
            sgemm(false, true, T, T, hs, 1.0f, d, C, v, C3, 0.0f, da, T);
            sgemm(true, false, T, hs, T, 1.0f, a, T, d, C, 1.0f, dv, C3);
            for (int t = 0; t < T; t++) {
                const float* ar = a + (size_t)t * T;
                float *dar = da + (size_t)t * T, *dpr = dp + (size_t)t * T;
                double weighted = 0;
                for (int t2 = 0; t2 <= t; t2++) weighted += (double)ar[t2] * dar[t2];
                for (int t2 = 0; t2 <= t; t2++) dpr[t2] = ar[t2] * (dar[t2] - (float)weighted);
                for (int t2 = t + 1; t2 < T; t2++) dar[t2] = dpr[t2] = 0.0f;
            }
            sgemm(false, false, T, hs, T, scale, dp, T, k, C3, 1.0f, dq, C3);
            sgemm(true, false, T, hs, T, scale, dp, T, q, C3, 1.0f, dk, C3);
        }
    }
}
#endif
