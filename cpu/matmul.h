// Linear layer as nn.Linear: out(N,OC) = inp(N,C) @ weight(OC,C)^T + bias(OC).
//
// Every output element is a plain float sum in a fixed order (bias first, then the
// input channels / rows in ascending order), so the result does not depend on the
// thread count. Speed without -march=native comes from tiling and from inner loops
// that are element-wise (axpy form, no reductions), which `omp simd` vectorizes
// without changing the summation order.
#pragma once
#include <algorithm>
#include <cstddef>
#include <vector>

inline void matmul_forward_cpu(float* out, const float* inp, const float* weight, const float* bias, int N, int C,
                               int OC) {
    constexpr int OB = 64; // output columns per tile: the accumulators fit in registers / L1
    constexpr int RB = 16; // rows per tile: they share the weight tile while it sits in cache
    const int num_ob = (OC + OB - 1) / OB, num_rb = (N + RB - 1) / RB;
    const size_t ld = (size_t)num_ob * OB;
    // weight^T as (C, ld) with zero columns past OC, so every tile is a full-width axpy
    std::vector<float> wt((size_t)C * ld, 0.0f);
#pragma omp parallel for
    for (int o = 0; o < OC; o++)
        for (int c = 0; c < C; c++) wt[(size_t)c * ld + o] = weight[(size_t)o * C + c];

#pragma omp parallel for collapse(2) schedule(static)
    for (int ob = 0; ob < num_ob; ob++) {
        for (int rb = 0; rb < num_rb; rb++) {
            const int o0 = ob * OB, width = std::min(OB, OC - o0);
            const int n1 = std::min(N, (rb + 1) * RB);
            for (int n = rb * RB; n < n1; n++) {
                float acc[OB];
                for (int j = 0; j < OB; j++) acc[j] = (bias && j < width) ? bias[o0 + j] : 0.0f;
                const float* x = inp + (size_t)n * C;
                for (int c = 0; c < C; c++) {
                    const float xc = x[c];
                    const float* w = wt.data() + (size_t)c * ld + o0;
#pragma omp simd
                    for (int j = 0; j < OB; j++) acc[j] += xc * w[j];
                }
                float* o = out + (size_t)n * OC + o0;
                for (int j = 0; j < width; j++) o[j] = acc[j];
            }
        }
    }
}

// dinp += dout @ weight,  dweight += dout^T @ inp,  dbias += column sums of dout.
inline void matmul_backward_cpu(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                const float* weight, int N, int C, int OC) {
    // dinp: threads own row blocks; each row sums over o ascending. The o range is cut
    // into blocks of about 64 KiB of weight so a block is reused by all rows of a tile.
    {
        constexpr int RB = 16;
        const int o_block = std::max(16, 16384 / std::max(C, 1));
        const int num_rb = (N + RB - 1) / RB;
#pragma omp parallel for schedule(static)
        for (int rb = 0; rb < num_rb; rb++) {
            const int n1 = std::min(N, (rb + 1) * RB);
            for (int o0 = 0; o0 < OC; o0 += o_block) {
                const int o1 = std::min(OC, o0 + o_block);
                for (int n = rb * RB; n < n1; n++) {
                    float* dx = dinp + (size_t)n * C;
                    const float* d = dout + (size_t)n * OC;
                    for (int o = o0; o < o1; o++) {
                        const float g = d[o];
                        const float* w = weight + (size_t)o * C;
#pragma omp simd
                        for (int c = 0; c < C; c++) dx[c] += g * w[c];
                    }
                }
            }
        }
    }
    // dweight, dbias: threads own blocks of output rows (16 = one cache line of dout);
    // each element sums over the N rows in ascending order.
    {
        constexpr int OBK = 16;
        const int num_ob = (OC + OBK - 1) / OBK;
#pragma omp parallel for schedule(static)
        for (int ob = 0; ob < num_ob; ob++) {
            const int o0 = ob * OBK, o1 = std::min(OC, o0 + OBK);
            for (int n = 0; n < N; n++) {
                const float* x = inp + (size_t)n * C;
                const float* d = dout + (size_t)n * OC;
                for (int o = o0; o < o1; o++) {
                    const float g = d[o];
                    float* dw = dweight + (size_t)o * C;
#pragma omp simd
                    for (int c = 0; c < C; c++) dw[c] += g * x[c];
                    if (dbias) dbias[o] += g;
                }
            }
        }
    }
}
