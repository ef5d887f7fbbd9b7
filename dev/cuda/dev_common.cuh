// Shared scaffolding of the dev/cuda kernel checks: random inputs, host<->device copies with
// floatX conversion, NaN poisoning of outputs, comparison (test/check.h relative error) and
// timing with CUDA events. Each check is one .cu file built with one nvcc command, e.g.
//   nvcc -O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -Xcompiler -fopenmp \
//        dev/cuda/layernorm.cu -lcublas -lcublasLt -o build/dev/layernorm
// and run as `build/dev/layernorm [version]` (default: every version).
#pragma once
#include <cmath>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "../../common/rng.h"
#include "../../kernels/common.cuh"
#include "../../test/check.h"

// Problem sizes: a check uses production sizes on a GPU and small ones under the CPU
// emulator (test/cuda_emu), e.g. `const int B = DEV_SIZE(4, 2), T = DEV_SIZE(1024, 64);`.
#if defined(CUDA_EMULATION)
#define DEV_SIZE(full, small) (small)
#else
#define DEV_SIZE(full, small) (full)
#endif

#if defined(ENABLE_FP32)
static const double DEV_TOL = 1e-5;
#else
static const double DEV_TOL = 2e-2;
#endif

// Fresh random values (never all zero): uniform in [lo, hi) from stream `key`, values then
// rounded to floatX so the CPU reference sees exactly what the GPU sees.
inline std::vector<float> random_vector(size_t n, uint64_t key, float lo = -1.0f, float hi = 1.0f) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; i++) v[i] = to_float(from_float<floatX>(lo + (hi - lo) * (float)random_uniform(key, i)));
    return v;
}
inline std::vector<int> random_tokens(size_t n, uint64_t key, int V) {
    std::vector<int> v(n);
    for (size_t i = 0; i < n; i++) v[i] = (int)(random_bits(key, i) % (uint64_t)V);
    return v;
}

template <typename T> T* device_alloc(size_t n) {
    T* p = nullptr;
    cudaCheck(cudaMalloc(&p, n * sizeof(T)));
    return p;
}
inline floatX* upload(const std::vector<float>& h) {
    std::vector<floatX> tmp(h.size());
    for (size_t i = 0; i < h.size(); i++) tmp[i] = from_float<floatX>(h[i]);
    floatX* d = device_alloc<floatX>(h.size());
    cudaCheck(cudaMemcpy(d, tmp.data(), h.size() * sizeof(floatX), cudaMemcpyHostToDevice));
    return d;
}
inline void upload_into(floatX* d, const std::vector<float>& h) {
    std::vector<floatX> tmp(h.size());
    for (size_t i = 0; i < h.size(); i++) tmp[i] = from_float<floatX>(h[i]);
    cudaCheck(cudaMemcpy(d, tmp.data(), h.size() * sizeof(floatX), cudaMemcpyHostToDevice));
}
inline float* upload_f32(const std::vector<float>& h) {
    float* d = device_alloc<float>(h.size());
    cudaCheck(cudaMemcpy(d, h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice));
    return d;
}
inline int* upload_int(const std::vector<int>& h) {
    int* d = device_alloc<int>(h.size());
    cudaCheck(cudaMemcpy(d, h.data(), h.size() * sizeof(int), cudaMemcpyHostToDevice));
    return d;
}
inline std::vector<float> download_f32(const float* d, size_t n) {
    std::vector<float> out(n);
    cudaCheck(cudaMemcpy(out.data(), d, n * sizeof(float), cudaMemcpyDeviceToHost));
    return out;
}

// NaN fill: 0xFF bytes are NaN in fp32 and bf16, so an output a kernel forgets to write fails.
template <typename T> void poison(T* d, size_t n) { cudaCheck(cudaMemset(d, 0xFF, n * sizeof(T))); }

// Mean milliseconds of fn over `iters` runs after `warmup` runs.
inline float time_ms(const std::function<void()>& fn, int warmup = 3, int iters = 20) {
    for (int i = 0; i < warmup; i++) fn();
    cudaEvent_t start, stop;
    cudaCheck(cudaEventCreate(&start));
    cudaCheck(cudaEventCreate(&stop));
    cudaCheck(cudaEventRecord(start));
    for (int i = 0; i < iters; i++) fn();
    cudaCheck(cudaEventRecord(stop));
    cudaCheck(cudaEventSynchronize(stop));
    float ms = 0.0f;
    cudaCheck(cudaEventElapsedTime(&ms, start, stop));
    cudaCheck(cudaEventDestroy(start));
    cudaCheck(cudaEventDestroy(stop));
    return ms / iters;
}

// A kernel version under test: its number, name, and what it does.
struct DevVersion {
    int number;
    const char* name;
    std::function<void()> check; // poison, run once, compare
    std::function<void()> run;   // the timed call
    double bytes = 0;            // memory traffic per run (for GB/s), or 0
    double flops = 0;            // FLOPs per run (for TFLOP/s), or 0
};

// argv[1]: a version number (default: all). Returns the exit code.
inline int dev_main(const char* file, int argc, char** argv, const std::vector<DevVersion>& versions) {
    const int only = argc > 1 ? atoi(argv[1]) : 0;
    bool any = false;
    for (const DevVersion& v : versions) {
        if (only && v.number != only) continue;
        any = true;
        v.check();
        cudaCheck(cudaDeviceSynchronize());
#if defined(CUDA_EMULATION) // emulated wall time says nothing about a GPU
        printf("  %s v%d %-28s timing skipped under emulation\n", file, v.number, v.name);
        continue;
#endif
        const float ms = time_ms(v.run);
        if (v.flops > 0) printf("  %s v%d %-28s %8.3f ms  %7.1f TFLOP/s\n", file, v.number, v.name, ms, v.flops / (ms * 1e-3) / 1e12);
        else printf("  %s v%d %-28s %8.3f ms  %7.1f GB/s\n", file, v.number, v.name, ms, v.bytes / (ms * 1e-3) / 1e9);
    }
    if (!any) fail_usage("%s: no kernel version %d", file, only);
    return test_exit_code();
}

#define DEV_SKIP_WITHOUT_DEVICE(file)                              \
    if (!cuda_device_available()) {                                \
        printf("SKIP %s: no CUDA device\n", file);                 \
        return 0;                                                  \
    }
