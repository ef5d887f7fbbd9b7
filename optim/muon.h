// Muon (Jordan et al. 2024) for one (rows x cols) matrix: momentum, then the update is
// orthogonalized by a Newton-Schulz iteration (every singular value pushed towards 1) and
// scaled.
//   m = beta * m + (1 - beta) * g
//   u = nesterov ? (1 - beta) * g + beta * m : m
//   O = newton_schulz(u)
//   p -= lr * wd * p;  p -= lr * scale * O
// --muon-scale shape (KellerJordan/Muon): scale = sqrt(max(1, rows / cols));
// --muon-scale rms (Moonshot, "Muon is scalable for LLM training"): scale =
//   0.2 * sqrt(max(rows, cols)), which gives the update AdamW's typical RMS (0.2-0.4), so the
//   fallback runs at Muon's lr (optim_config.h: --fallback-lr defaults to -l, -l to 6e-4).
//   Weight decay is decoupled (lr * wd * p) under both.
// --muon-ns quintic: the fixed (a, b, c) of the Muon reference every iteration, X normalized
//   by ||X||_F + 1e-7; polar-express: Polar Express (Amsel et al., arXiv 2505.16932) per-
//   iteration coefficients, X normalized by 1.02 ||X||_F + 1e-6, as modded-nanogpt uses them
//   (the last pair repeats past 5 iterations).
// Stacked per-layer tensors (L, rows, cols) are updated one layer slice at a time.
// --optim fmuon|smuon (Kravatskiy et al., "The Ky Fan Norms and Beyond", arXiv 2512.09678;
// docs/fanions.md): the LMO over the sum of the spectral ball and a Frobenius (F-Muon) or
// l_inf (S-Muon) ball, weighted 1 - alpha and alpha, so the update is the convex combination
//   F-Muon: U = (1 - alpha) scale O + alpha u / ||u||_F     (u = 0: that part is 0)
//   S-Muon: U = (1 - alpha) scale O + alpha s sign(u)       (s: --smuon-sign-scale)
//   p -= lr * wd * p;  p -= lr * U
// with u and O = newton_schulz(u) as above. --muon-scale's scale belongs to the spectral
// ball's geometry (the RMS-to-RMS operator norm), so it multiplies the NS part only. At
// alpha = 0 both are Muon exactly; u itself is never modified (the authors' class divides
// the momentum buffer in place when Nesterov is off).
#pragma once
#include <cmath>
#include <cstddef>
#include <vector>

#include "../cpu/blas.h"
#include "elementwise.h"

#include "optim_config.h"

struct MuonHyper {
    float lr, weight_decay, beta;
    bool nesterov;
    int ns_steps;
    MuonScale scale = MuonScale::Shape;
    MuonNs ns = MuonNs::Quintic;
    MuonVariant variant = MuonVariant::Muon;
    float alpha = 0.0f;      // fmuon, smuon: the weight of the second update (0 under muon)
    float sign_scale = 0.0f; // smuon: s
};

// Muon's constants at learning rate lr and weight decay wd (both trainers).
inline MuonHyper muon_hyper(const OptimConfig& c, float lr, float wd) {
    const bool fanion = c.muon_variant != MuonVariant::Muon;
    return {lr, wd, c.momentum, c.nesterov == 1, c.muon_ns_steps, c.muon_scale, c.muon_ns, c.muon_variant,
            fanion ? c.fanion_alpha : 0.0f, c.muon_variant == MuonVariant::SMuon ? c.smuon_sign_scale : 0.0f};
}

// Quintic Newton-Schulz coefficients from the Muon reference implementation.
constexpr float NS_A = 3.4445f, NS_B = -4.7750f, NS_C = 2.0315f;

// Polar Express coefficients (a, b, c) of iterations 1..5: arXiv 2505.16932, computed for
// 5 iterations with safety factor 2e-2 and cushion 2, the table of KellerJordan/modded-nanogpt
// (train_gpt.py, polar_express_coeffs) rounded to fp32.
constexpr int POLAR_EXPRESS_STEPS = 5;
constexpr float POLAR_EXPRESS[POLAR_EXPRESS_STEPS][3] = {
    {8.156554524902461f, -22.48329292557795f, 15.878769915207462f},
    {4.042929935166739f, -2.808917465908714f, 0.5000178451051316f},
    {3.8916678022926607f, -2.772484153217685f, 0.5060648178503393f},
    {3.285753657755655f, -2.3681294933425376f, 0.46449024233003106f},
    {2.3465413258596377f, -1.7097828382687081f, 0.42323551169305323f},
};

struct NsCoefficients {
    float a, b, c;
};
// The coefficients of iteration `step` (0-based).
inline NsCoefficients ns_coefficients(MuonNs ns, int step) {
    if (ns == MuonNs::Quintic) return {NS_A, NS_B, NS_C};
    const float* k = POLAR_EXPRESS[step < POLAR_EXPRESS_STEPS ? step : POLAR_EXPRESS_STEPS - 1];
    return {k[0], k[1], k[2]};
}
// The normalization X / (ns_norm_scale ||X||_F + ns_norm_eps).
inline float ns_norm_scale(MuonNs ns) { return ns == MuonNs::PolarExpress ? 1.02f : 1.0f; }
inline double ns_norm_eps(MuonNs ns) { return ns == MuonNs::PolarExpress ? 1e-6 : 1e-7; }

// out (M x N) = A (M x K) * B (K x N), all row-major, fp32. Built with -DUSE_BLAS (the CPU
// trainer) both products go through cblas_sgemm (cpu/blas.h); the loops stay the reference
// of the CUDA checks, which are built without it.
inline void matmul_nn(float* out, const float* A, const float* B, int M, int K, int N) {
#ifdef USE_BLAS
    sgemm_parallel(false, false, M, N, K, 1.0f, A, K, B, N, 0.0f, out, N);
    return;
#endif
#pragma omp parallel for
    for (int i = 0; i < M; i++) {
        float* o = out + (size_t)i * N;
        for (int j = 0; j < N; j++) o[j] = 0.0f;
        for (int k = 0; k < K; k++) {
            const float a = A[(size_t)i * K + k];
            const float* b = B + (size_t)k * N;
            for (int j = 0; j < N; j++) o[j] += a * b[j];
        }
    }
}

// out (M x M) = X X^T for X (M x N) row-major, fp32.
inline void matmul_x_xt(float* out, const float* X, int M, int N) {
#ifdef USE_BLAS
    sgemm_parallel(false, true, M, M, N, 1.0f, X, N, X, N, 0.0f, out, M);
    return;
#endif
#pragma omp parallel for
    for (int i = 0; i < M; i++)
        for (int j = 0; j < M; j++) {
            float sum = 0.0f;
            for (int k = 0; k < N; k++) sum += X[(size_t)i * N + k] * X[(size_t)j * N + k];
            out[(size_t)i * M + j] = sum;
        }
}

// Approximately orthogonalizes in (rows x cols) into out (rows x cols): U V^T of its SVD,
// with singular values landing roughly in [0.7, 1.2] rather than exactly 1. Works on the
// wide orientation (r = min(rows, cols) rows), so the Gram matrix A is only r x r:
//   X = in (transposed if rows > cols);  X /= ||X||_F + 1e-7  (polar-express: 1.02 ||X||_F + 1e-6)
//   steps times: A = X X^T;  B = b A + c A A;  X = a X + B X    ((a, b, c) of that iteration)
// and writes X back in the original orientation.
inline void newton_schulz_cpu(float* out, const float* in, int rows, int cols, int steps, MuonNs ns = MuonNs::Quintic) {
    const bool tall = rows > cols;
    const int r = tall ? cols : rows, c = tall ? rows : cols;
    const size_t n = (size_t)r * c;
    std::vector<float> X(n), A((size_t)r * r), AA((size_t)r * r), BX(n);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            const float x = in[(size_t)i * cols + j];
            if (tall) X[(size_t)j * c + i] = x; else X[(size_t)i * c + j] = x;
        }
    double sum_sq = 0.0;
    for (size_t i = 0; i < n; i++) sum_sq += (double)X[i] * X[i];
    const float norm = (float)(ns_norm_scale(ns) * std::sqrt(sum_sq) + ns_norm_eps(ns));
    for (size_t i = 0; i < n; i++) X[i] /= norm;

    for (int s = 0; s < steps; s++) {
        const NsCoefficients k = ns_coefficients(ns, s);
        matmul_x_xt(A.data(), X.data(), r, c);
        matmul_nn(AA.data(), A.data(), A.data(), r, r, r);
        for (size_t i = 0; i < A.size(); i++) A[i] = k.b * A[i] + k.c * AA[i];  // A now holds B
        matmul_nn(BX.data(), A.data(), X.data(), r, r, c);
        for (size_t i = 0; i < n; i++) X[i] = k.a * X[i] + BX[i];
    }
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            out[(size_t)i * cols + j] = tall ? X[(size_t)j * c + i] : X[(size_t)i * c + j];
}

// u from the gradient and the momentum after this step's update.
OPTIM_HD inline float muon_u_element(float g, float m, const MuonHyper& h) { return h.nesterov ? (1.0f - h.beta) * g + h.beta * m : m; }

// Momentum step; u receives the matrix to orthogonalize.
OPTIM_HD inline void muon_momentum_element(float g, float& m, float& u, const MuonHyper& h) {
    m = h.beta * m + (1.0f - h.beta) * g;
    u = muon_u_element(g, m, h);
}

// scaled_lr = lr * scale (see the top).
OPTIM_HD inline void muon_apply_element(float& p, float o, float scaled_lr, const MuonHyper& h) {
    p -= h.lr * h.weight_decay * p;
    p -= scaled_lr * o;
}

// fmuon, smuon: p -= lr * wd * p;  p -= ns_lr * o (Muon's step, ns_lr = lr (1 - alpha) scale);
// then p -= mix_lr * (u or sign(u)), mix_lr from fanion_mix_lr. Two subtractions, so that at
// alpha = 0 (mix_lr = 0) the result is Muon's bit for bit.
OPTIM_HD inline void fanion_apply_element(float& p, float o, float u, float ns_lr, float mix_lr, const MuonHyper& h) {
    muon_apply_element(p, o, ns_lr, h);
    p -= mix_lr * (h.variant == MuonVariant::SMuon ? sign_or_zero(u) : u);
}

// The factor on the second update: F-Muon lr alpha / ||u||_F (inv_frobenius; 0 when u = 0),
// S-Muon lr alpha s, Muon 0.
OPTIM_HD inline float fanion_mix_lr(const MuonHyper& h, float inv_frobenius) {
    if (h.variant == MuonVariant::FMuon) return h.lr * h.alpha * inv_frobenius;
    if (h.variant == MuonVariant::SMuon) return h.lr * h.alpha * h.sign_scale;
    return 0.0f;
}
OPTIM_HD inline float fanion_inv_frobenius(double sum_sq) { return sum_sq > 0.0 ? (float)(1.0 / sqrt(sum_sq)) : 0.0f; }

// Data parallel (both trainers, KellerJordan/Muon's distributed scheme): the hidden matrices are
// dealt to ranks whole, round-robin: matrix j = k L + l (Muon tensor k of L layers, layer l, in
// tensor order) belongs to rank j % ranks.
inline int muon_matrix_owner(int k, int layers, int l, int ranks) { return (int)(((long long)k * layers + l) % ranks); }

inline float muon_scaled_lr(float lr, int rows, int cols, MuonScale scale = MuonScale::Shape) {
    if (scale == MuonScale::RMS) return (float)(lr * 0.2 * std::sqrt((double)(rows > cols ? rows : cols)));
    const double ratio = (double)rows / cols;
    return (float)(lr * std::sqrt(ratio > 1.0 ? ratio : 1.0));
}

// Peak floats muon_update_matrix allocates for one matrix: its scratch (u, o) and
// newton_schulz_cpu's X, BX (rows*cols each) and A, AA (r*r each, r = min(rows, cols)).
inline size_t muon_scratch_floats(int rows, int cols) {
    const size_t n = (size_t)rows * cols, r = (size_t)(rows < cols ? rows : cols);
    return 2 * n + 2 * n + 2 * r * r;
}

// One (rows x cols) matrix: p, g, m point at its slice. scratch is resized as needed.
inline void muon_update_matrix(float* p, const float* g, float* m, int rows, int cols, const MuonHyper& h,
                               std::vector<float>* scratch) {
    const size_t n = (size_t)rows * cols;
    scratch->resize(2 * n);
    float* u = scratch->data();
    float* o = u + n;
#pragma omp parallel for simd
    for (long long i = 0; i < (long long)n; i++) muon_momentum_element(g[i], m[i], u[i], h);
    newton_schulz_cpu(o, u, rows, cols, h.ns_steps, h.ns);
    const float scaled_lr = muon_scaled_lr(h.lr * (1.0f - h.alpha), rows, cols, h.scale); // alpha = 0 under muon
    if (h.variant == MuonVariant::Muon) {
#pragma omp parallel for simd
        for (long long i = 0; i < (long long)n; i++) muon_apply_element(p[i], o[i], scaled_lr, h);
        return;
    }
    double sum_sq = 0.0;
    for (size_t i = 0; i < n; i++) sum_sq += (double)u[i] * u[i];
    const float mix_lr = fanion_mix_lr(h, fanion_inv_frobenius(sum_sq));
#pragma omp parallel for simd
    for (long long i = 0; i < (long long)n; i++) fanion_apply_element(p[i], o[i], u[i], scaled_lr, mix_lr, h);
}
