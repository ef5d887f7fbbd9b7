// Global gradient-norm clipping as torch.nn.utils.clip_grad_norm_ does it: the norm of all
// gradients together (accumulated in double), and every gradient scaled by
// min(1, clip / (norm + 1e-6)). clip == 0 turns clipping off.
#pragma once
#include <cmath>
#include <cstddef>

inline double global_grad_norm(const float* g, size_t n) {
    double sum = 0.0;
#pragma omp parallel for reduction(+ : sum)
    for (long long i = 0; i < (long long)n; i++) sum += (double)g[i] * (double)g[i];
    return std::sqrt(sum);
}

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
