// Global gradient-norm clipping as torch.nn.utils.clip_grad_norm_ does it: the norm of all
// gradients together (accumulated in double), and every gradient scaled by
// min(1, clip / (norm + 1e-6)). clip == 0 turns clipping off. The same pass also gives
// ||g||_1 and ||g||_inf, logged with every train record (kernels/global_norm.cuh on the GPU).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

struct GradNorms {
    double l1 = 0, l2 = 0, linf = 0;
};

// One pass over g, in fixed blocks summed in order, so the norms do not depend on the thread
// count. A NaN makes l2 and l1 NaN (linf ignores it, as fmax does).
inline GradNorms grad_norms(const float* g, size_t n) {
    const size_t block = 1 << 16, blocks = (n + block - 1) / block;
    std::vector<double> sum_sq(blocks), sum_abs(blocks), max_abs(blocks);
#pragma omp parallel for
    for (long long b = 0; b < (long long)blocks; b++) {
        const size_t end = std::min(n, (size_t)(b + 1) * block);
        double sq = 0.0, ab = 0.0, mx = 0.0;
        for (size_t i = (size_t)b * block; i < end; i++) {
            const double x = (double)g[i], a = std::fabs(x);
            sq += x * x;
            ab += a;
            if (a > mx) mx = a;
        }
        sum_sq[b] = sq;
        sum_abs[b] = ab;
        max_abs[b] = mx;
    }
    GradNorms r;
    double sq = 0.0;
    for (size_t b = 0; b < blocks; b++) {
        sq += sum_sq[b];
        r.l1 += sum_abs[b];
        if (max_abs[b] > r.linf) r.linf = max_abs[b];
    }
    r.l2 = std::sqrt(sq);
    return r;
}

inline double global_grad_norm(const float* g, size_t n) { return grad_norms(g, n).l2; }

// torch scales by clip/(norm+1e-6) clamped to 1, so it already (barely) scales once
// norm > clip - 1e-6; matching that exactly, rather than testing norm <= clip.
inline float clip_scale(double norm, float clip) {
    if (clip == 0.0f) return 1.0f;
    const double scale = (double)clip / (norm + 1e-6);
    return scale < 1.0 ? (float)scale : 1.0f;
}

inline void scale_grads(float* g, size_t n, float scale) {
    if (scale == 1.0f) return;
#pragma omp parallel for simd
    for (long long i = 0; i < (long long)n; i++) g[i] *= scale;
}
