// LayerNorm over the last dim (as torch.nn.LayerNorm: biased variance, eps 1e-5).
// Row statistics are accumulated in double; mean and rstd are stored for backward.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>

constexpr float LAYERNORM_EPS = 1e-5f;

inline void layernorm_forward_cpu(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                                  const float* bias, int N, int C) {
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const float* x = inp + (size_t)n * C;
        double sum = 0;
        for (int c = 0; c < C; c++) sum += x[c];
        const double m = sum / C;
        double var = 0; // two passes: no cancellation when the mean is large
        for (int c = 0; c < C; c++) var += (x[c] - m) * (x[c] - m);
        const float r = (float)(1.0 / std::sqrt(var / C + (double)LAYERNORM_EPS));
        const float mf = (float)m;
        float* o = out + (size_t)n * C;
        for (int c = 0; c < C; c++) o[c] = (x[c] - mf) * r * weight[c] + bias[c];
        mean[n] = mf;
        rstd[n] = r;
    }
}

// With xhat = (x - mean) * rstd and g = weight * dout:
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),  dweight = sum_rows dout * xhat,  dbias = sum_rows dout.
inline void layernorm_backward_cpu(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                   const float* weight, const float* mean, const float* rstd, int N, int C) {
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const float* x = inp + (size_t)n * C;
        const float* d = dout + (size_t)n * C;
        double sum_g = 0, sum_g_xhat = 0;
        for (int c = 0; c < C; c++) {
            const float xhat = (x[c] - mean[n]) * rstd[n];
            const float g = weight[c] * d[c];
            sum_g += g;
            sum_g_xhat += (double)g * xhat;
        }
        const float mean_g = (float)(sum_g / C), mean_g_xhat = (float)(sum_g_xhat / C);
        float* dx = dinp + (size_t)n * C;
        for (int c = 0; c < C; c++) {
            const float xhat = (x[c] - mean[n]) * rstd[n];
            dx[c] += rstd[n] * (weight[c] * d[c] - mean_g - xhat * mean_g_xhat);
        }
    }
    // Parameter gradients sum over rows: threads own column blocks, rows add in order.
    const int block = 16;
#pragma omp parallel for
    for (int c0 = 0; c0 < C; c0 += block) {
        const int c1 = std::min(C, c0 + block);
        for (int n = 0; n < N; n++) {
            const float* x = inp + (size_t)n * C;
            const float* d = dout + (size_t)n * C;
            for (int c = c0; c < c1; c++) {
                dweight[c] += d[c] * ((x[c] - mean[n]) * rstd[n]);
                dbias[c] += d[c];
            }
        }
    }
}
