// Row-major cblas_sgemm for the CPU trainer's matrix products (built with -DUSE_BLAS, which
// `make` sets unless BLAS=0), and who runs its threads.
//
// One threading layer: OpenMP. OpenBLAS never runs its own thread pool beside OpenMP's
// (two pools spinning on 2 cores steal each other's time slices):
//   sgemm_parallel  a product big enough to split: the output is cut into fixed tiles
//                   (TILE_ROWS x TILE_COLS, independent of the thread count) and OpenMP
//                   threads take tiles, each computed by a single-threaded cblas_sgemm.
//   sgemm           one single-threaded call, for use inside an OpenMP region (attention
//                   runs one per (batch, head)).
// So every output element is computed by the same single-threaded call whatever the thread
// count, and results do not change with OMP_NUM_THREADS. GPT2_BLAS_THREADING=openblas
// instead hands each product whole to OpenBLAS's own threads (for measuring the two; README).
#pragma once
#ifdef USE_BLAS
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

// A product of M x N outputs is split into tiles of at most this many rows and columns.
constexpr int BLAS_TILE_ROWS = 128, BLAS_TILE_COLS = 256;

// true: GPT2_BLAS_THREADING=openblas (OpenBLAS threads each whole product itself).
inline bool blas_threads_inside_openblas() {
    static const bool inside = [] {
        const char* s = getenv("GPT2_BLAS_THREADING");
        return s && strcmp(s, "openblas") == 0;
    }();
    return inside;
}

// OpenBLAS's thread count: 1, unless blas_threads_inside_openblas() and outside an OpenMP
// region, where it follows OpenMP's. Called before every product; cheap when unchanged.
inline void blas_set_threads(int n) {
    if (openblas_get_num_threads() != n) openblas_set_num_threads(n);
}

// C(M,N) = alpha * op(A) op(B) + beta * C, row-major; op(A) is M x K, op(B) is K x N.
inline void sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                  const float* B, int ldb, float beta, float* C, int ldc) {
    if (M <= 0 || N <= 0) return;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K,
                alpha, A, lda, B, ldb, beta, C, ldc);
}

// --profile-kernels on train_gpt2cpu: the wall time and flops of every sgemm_parallel product
// (the layers' matmuls and the classifier; attention's per-head products run inside OpenMP
// regions and are not counted), while `on`. Their rate against dev/sgemm_peak's is the
// matmul share of the machine's ceiling that scripts/bench_cpu.sh reports.
struct BlasProfile {
    bool on = false;
    double seconds = 0, flops = 0;
    long calls = 0;
};
inline BlasProfile& blas_profile() {
    static BlasProfile p;
    return p;
}

// sgemm with the cores: fixed output tiles over OpenMP threads (see the top of the file).
inline void sgemm_parallel_untimed(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                           const float* B, int ldb, float beta, float* C, int ldc) {
    if (blas_threads_inside_openblas()) {
        blas_set_threads(omp_get_max_threads());
        sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        blas_set_threads(1);
        return;
    }
    blas_set_threads(1);
    const int tiles_m = (M + BLAS_TILE_ROWS - 1) / BLAS_TILE_ROWS, tiles_n = (N + BLAS_TILE_COLS - 1) / BLAS_TILE_COLS;
#pragma omp parallel for schedule(dynamic)
    for (int tile = 0; tile < tiles_m * tiles_n; tile++) {
        const int m0 = (tile / tiles_n) * BLAS_TILE_ROWS, n0 = (tile % tiles_n) * BLAS_TILE_COLS;
        const int m = std::min(BLAS_TILE_ROWS, M - m0), n = std::min(BLAS_TILE_COLS, N - n0);
        // rows m0.. of op(A) and columns n0.. of op(B)
        const float* a = trans_a ? A + m0 : A + (size_t)m0 * lda;
        const float* b = trans_b ? B + (size_t)n0 * ldb : B + n0;
        sgemm(trans_a, trans_b, m, n, K, alpha, a, lda, b, ldb, beta, C + (size_t)m0 * ldc + n0, ldc);
    }
}

// The kernel set OpenBLAS picked for this CPU when it loaded (OPENBLAS_CORETYPE=NAME forces one):
// kernels round differently, so runs match bit for bit only on the same set (docs/cpu_speed.md).
inline const char* blas_kernels() { return openblas_get_corename(); }

inline void sgemm_parallel(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                           const float* B, int ldb, float beta, float* C, int ldc) {
    BlasProfile& prof = blas_profile();
    if (!prof.on) return sgemm_parallel_untimed(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    const double t0 = omp_get_wtime();
    sgemm_parallel_untimed(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    prof.seconds += omp_get_wtime() - t0;
    prof.flops += 2.0 * M * N * K;
    prof.calls++;
}
#endif
