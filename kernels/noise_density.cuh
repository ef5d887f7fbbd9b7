// Gradient-noise density on the GPU (--noise-every): the per-coordinate Welford estimator
// of common/noise_density.h (the same welford_add / welford_sigma, in double) run over the
// floatX gradients where they are, so the K micro-batch gradients never leave the device.
// Only the per-tensor sums of sigma and sigma^2 come back, as a fixed number of per-block
// partials added on the host in order (deterministic).
#pragma once
#include <vector>

#include "../common/noise_density.h"
#include "common.cuh"

constexpr int NOISE_SUM_BLOCKS = 64;
constexpr int NOISE_SUM_THREADS = 256;

__global__ void noise_accumulate_kernel(double* mean, double* m2, const floatX* grads, size_t n, double inv_count) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) welford_add((double)to_float(grads[i]), inv_count, mean[i], m2[i]);
}

// partial[2b], partial[2b+1]: block b's sum of sigma and of sigma^2 over its grid-stride
// share of [begin, end).
__global__ void noise_sigma_sums_kernel(double* partial, const double* m2, size_t begin, size_t end, int count) {
    __shared__ double l1[NOISE_SUM_THREADS], l2[NOISE_SUM_THREADS];
    double a = 0, b = 0;
    for (size_t i = begin + (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < end; i += (size_t)gridDim.x * blockDim.x) {
        const double s = welford_sigma(m2[i], count);
        a += s;
        b += s * s;
    }
    l1[threadIdx.x] = a;
    l2[threadIdx.x] = b;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
        if ((int)threadIdx.x < half) {
            l1[threadIdx.x] += l1[threadIdx.x + half];
            l2[threadIdx.x] += l2[threadIdx.x + half];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        partial[2 * blockIdx.x] = l1[0];
        partial[2 * blockIdx.x + 1] = l2[0];
    }
}

class GpuNoiseAccumulator {
public:
    explicit GpuNoiseAccumulator(size_t d) : d_(d) {
        cudaCheck(cudaMalloc(&mean_, d * sizeof(double)));
        cudaCheck(cudaMalloc(&m2_, d * sizeof(double)));
        cudaCheck(cudaMalloc(&partial_, 2 * NOISE_SUM_BLOCKS * sizeof(double)));
    }
    ~GpuNoiseAccumulator() {
        cudaFree(partial_);
        cudaFree(m2_);
        cudaFree(mean_);
    }
    GpuNoiseAccumulator(const GpuNoiseAccumulator&) = delete;
    GpuNoiseAccumulator& operator=(const GpuNoiseAccumulator&) = delete;

    // Device bytes an accumulator over d coordinates allocates (for the memory check).
    static size_t device_bytes(size_t d) { return 2 * d * sizeof(double) + 2 * NOISE_SUM_BLOCKS * sizeof(double); }

    void reset() {
        count_ = 0;
        cudaCheck(cudaMemset(mean_, 0, d_ * sizeof(double)));
        cudaCheck(cudaMemset(m2_, 0, d_ * sizeof(double)));
    }
    void add(const floatX* grads) {
        count_++;
        noise_accumulate_kernel<<<ceil_div((long long)d_, 256), 256>>>(mean_, m2_, grads, d_, 1.0 / (double)count_);
        cudaCheckLaunch();
    }
    SigmaSums sigma_sums(size_t begin, size_t end) const {
        noise_sigma_sums_kernel<<<NOISE_SUM_BLOCKS, NOISE_SUM_THREADS>>>(partial_, m2_, begin, end, count_);
        cudaCheckLaunch();
        std::vector<double> host(2 * NOISE_SUM_BLOCKS);
        cudaCheck(cudaMemcpy(host.data(), partial_, host.size() * sizeof(double), cudaMemcpyDeviceToHost));
        SigmaSums r;
        for (int b = 0; b < NOISE_SUM_BLOCKS; b++) { r.l1 += host[2 * b]; r.l2 += host[2 * b + 1]; }
        r.d = end - begin;
        return r;
    }

private:
    size_t d_;
    int count_ = 0;
    double *mean_ = nullptr, *m2_ = nullptr, *partial_ = nullptr;
};
