// Global gradient-norm clipping as torch.nn.utils.clip_grad_norm_ does it: the norm of all
// gradients together (accumulated in double), and every gradient scaled by
// min(1, clip / (norm + 1e-6)). clip == 0 turns clipping off. The same pass also gives
// ||g||_1 and ||g||_inf, logged with every train record (kernels/global_norm.cuh on the GPU).
#pragma once
#include <cmath>
#include <cstddef>

struct GradNorms {
    double l1 = 0, l2 = 0, linf = 0;
};

// One pass over g. A NaN makes l2 and l1 NaN (linf ignores it, as fmax does).
inline GradNorms grad_norms(const float* g, size_t n) {
    double sum_sq = 0.0, sum_abs = 0.0, max_abs = 0.0;
#pragma omp parallel for reduction(+ : sum_sq, sum_abs) reduction(max : max_abs)
    for (long long i = 0; i < (long long)n; i++) {
        const double x = (double)g[i], a = std::fabs(x);
        sum_sq += x * x;
        sum_abs += a;
        if (a > max_abs) max_abs = a;
    }
    GradNorms r;
    r.l1 = sum_abs;
    r.l2 = std::sqrt(sum_sq);
    r.linf = max_abs;
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
#pragma omp parallel for
    for (long long i = 0; i < (long long)n; i++) g[i] *= scale;
}
