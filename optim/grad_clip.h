// Global gradient-norm clipping as torch.nn.utils.clip_grad_norm_ does it: the norm of all
// gradients together (accumulated in double), and every gradient scaled by
// min(1, clip / (norm + 1e-6)). clip == 0 turns clipping off.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

// Fixed blocks summed in order, so the norm does not depend on the thread count.
inline double global_grad_norm(const float* g, size_t n) {
    const size_t block = 1 << 16, blocks = (n + block - 1) / block;
    std::vector<double> partial(blocks);
#pragma omp parallel for
    for (long long b = 0; b < (long long)blocks; b++) {
        const size_t end = std::min(n, (size_t)(b + 1) * block);
        double sum = 0.0;
        for (size_t i = (size_t)b * block; i < end; i++) sum += (double)g[i] * (double)g[i];
        partial[b] = sum;
    }
    double sum = 0.0;
    for (double p : partial) sum += p;
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
#pragma omp parallel for simd
    for (long long i = 0; i < (long long)n; i++) g[i] *= scale;
}
