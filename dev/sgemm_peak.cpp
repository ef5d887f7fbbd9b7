// The machine's SGEMM ceiling for scripts/bench_cpu.sh: OpenBLAS cblas_sgemm on square fp32
// matrices with all of OpenBLAS's threads (its best case), best of a few ~1 s runs.
//   build/sgemm_peak [SIZE=2048] [SECONDS=1]   prints: sgemm gflops=N size=S threads=N
#include <cblas.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
    const int n = argc > 1 ? atoi(argv[1]) : 2048;
    const double seconds = argc > 2 ? atof(argv[2]) : 1.0;
    if (n < 16 || seconds <= 0) {
        fprintf(stderr, "error: usage: sgemm_peak [SIZE >= 16] [SECONDS > 0]\n");
        return 2;
    }
    std::vector<float> a((size_t)n * n), b((size_t)n * n), c((size_t)n * n);
    for (size_t i = 0; i < a.size(); i++) a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.1f;
    double best = 0;
    for (int round = 0; round < 3; round++) {
        const auto t0 = std::chrono::steady_clock::now();
        double elapsed = 0;
        long reps = 0;
        do {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
            reps++;
            elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        } while (elapsed < seconds / 3);
        const double gflops = 2.0 * n * n * (double)n * reps / elapsed / 1e9;
        if (gflops > best) best = gflops;
    }
    printf("sgemm gflops=%.1f size=%d threads=%d\n", best, n, openblas_get_num_threads());
    return 0;
}
