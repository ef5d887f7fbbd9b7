// Muon (Jordan et al. 2024) for one (rows x cols) matrix: momentum, then the update is
// orthogonalized by a Newton-Schulz iteration (every singular value pushed towards 1) and
// scaled by sqrt(max(1, rows/cols)).
//   m = beta * m + (1 - beta) * g
//   u = nesterov ? (1 - beta) * g + beta * m : m
//   O = newton_schulz(u)
//   p -= lr * wd * p;  p -= lr * sqrt(max(1, rows / cols)) * O
// Stacked per-layer tensors (L, rows, cols) are updated one layer slice at a time.
#pragma once
#include <cmath>
#include <cstddef>
#include <vector>

#include "../cpu/blas.h"
#include "elementwise.h"

struct MuonHyper {
    float lr, weight_decay, beta;
    bool nesterov;
    int ns_steps;
};

// Quintic Newton-Schulz coefficients from the Muon reference implementation.
constexpr float NS_A = 3.4445f, NS_B = -4.7750f, NS_C = 2.0315f;

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
//   X = in (transposed if rows > cols);  X /= ||X||_F + 1e-7
//   steps times: A = X X^T;  B = b A + c A A;  X = a X + B X
// and writes X back in the original orientation.
inline void newton_schulz_cpu(float* out, const float* in, int rows, int cols, int steps) {
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
    const float norm = (float)(std::sqrt(sum_sq) + 1e-7);
    for (size_t i = 0; i < n; i++) X[i] /= norm;

    for (int s = 0; s < steps; s++) {
        matmul_x_xt(A.data(), X.data(), r, c);
        matmul_nn(AA.data(), A.data(), A.data(), r, r, r);
        for (size_t i = 0; i < A.size(); i++) A[i] = NS_B * A[i] + NS_C * AA[i];  // A now holds B
        matmul_nn(BX.data(), A.data(), X.data(), r, r, c);
        for (size_t i = 0; i < n; i++) X[i] = NS_A * X[i] + BX[i];
    }
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            out[(size_t)i * cols + j] = tall ? X[(size_t)j * c + i] : X[(size_t)i * c + j];
}

// Momentum step; u receives the matrix to orthogonalize.
OPTIM_HD inline void muon_momentum_element(float g, float& m, float& u, const MuonHyper& h) {
    m = h.beta * m + (1.0f - h.beta) * g;
    u = h.nesterov ? (1.0f - h.beta) * g + h.beta * m : m;
}

// scaled_lr = lr * sqrt(max(1, rows / cols)).
OPTIM_HD inline void muon_apply_element(float& p, float o, float scaled_lr, const MuonHyper& h) {
    p -= h.lr * h.weight_decay * p;
    p -= scaled_lr * o;
}

inline float muon_scaled_lr(float lr, int rows, int cols) {
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
    newton_schulz_cpu(o, u, rows, cols, h.ns_steps);
    const float scaled_lr = muon_scaled_lr(h.lr, rows, cols);
#pragma omp parallel for simd
    for (long long i = 0; i < (long long)n; i++) muon_apply_element(p[i], o[i], scaled_lr, h);
}
