// Gradient-noise statistics on the GPU (--noise-every): phi, mean_density and tail_index of
// common/noise_density.h over the floatX gradients where they are, so the K micro-batch
// gradients never leave the device.
//  - add(): the per-coordinate Welford step (the same welford_add, in double) and a copy of
//    the gradient into sample slot k (K floatX per coordinate: the tail index needs every
//    noise vector's norm, which the moments do not keep);
//  - noise_sums(begin, end): one kernel for the sums of sigma, sigma^2, |mean| and mean^2,
//    then one per block of m samples for ||X_k||^2 (X_k = g_k - mean) and ||Y_i||^2.
// Only per-block partials come back, a fixed number added on the host in order
// (deterministic). The sums run on a grid of NOISE_BLOCKS_PER_SM blocks per SM (the SM count
// queried once), fewer when there are fewer coordinates than threads; each thread strides
// over the grid, so consecutive threads read consecutive coordinates.
// Bytes moved per coordinate (bf16: sizeof(floatX) = 2):
//   noise_accumulate_kernel:  grad 2 read, sample 2 written, mean and m2 read and written 32
//   noise_moment_sums_kernel: mean and m2 read, 16
//   noise_block_norms_kernel: mean 8 + m samples 2 m (one launch per block of m samples)
#pragma once
#include <vector>

#include "../common/noise_density.h"
#include "../common/utils.h"
#include "common.cuh"

constexpr int NOISE_BLOCKS_PER_SM = 4;
constexpr int NOISE_SUM_THREADS = 256;
constexpr int NOISE_MAX_BLOCK = 16; // the largest block size m (K up to 288)

// The most blocks a sum launches: NOISE_BLOCKS_PER_SM per SM of the current device.
inline int noise_sum_blocks_max() {
    static const int blocks = [] {
        int device = 0, sms = 0;
        cudaCheck(cudaGetDevice(&device));
        cudaCheck(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
        return NOISE_BLOCKS_PER_SM * (sms > 0 ? sms : 1);
    }();
    return blocks;
}
// Blocks for a sum over `coords` coordinates: no block without a coordinate.
inline int noise_sum_blocks(size_t coords) {
    const long long wanted = coords == 0 ? 1 : (long long)((coords + NOISE_SUM_THREADS - 1) / NOISE_SUM_THREADS);
    return wanted < noise_sum_blocks_max() ? (int)wanted : noise_sum_blocks_max();
}

__global__ void noise_accumulate_kernel(double* mean, double* m2, floatX* sample, const floatX* grads, size_t n,
                                        double inv_count) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const floatX g = grads[i];
    sample[i] = g;
    welford_add((double)to_float(g), inv_count, mean[i], m2[i]);
}

// partial[4b..4b+3]: block b's sums of sigma, sigma^2, |mean| and mean^2 over its
// grid-stride share of [begin, end).
__global__ void noise_moment_sums_kernel(double* partial, const double* mean, const double* m2, size_t begin, size_t end,
                                         int count) {
    __shared__ double shared[NOISE_SUM_THREADS];
    double v[4] = {0, 0, 0, 0};
    for (size_t i = begin + (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < end; i += (size_t)gridDim.x * blockDim.x) {
        const double s = welford_sigma(m2[i], count), mu = mean[i];
        v[0] += s;
        v[1] += s * s;
        v[2] += fabs(mu);
        v[3] += mu * mu;
    }
#pragma unroll
    for (int j = 0; j < 4; j++) {
        const double total = block_sum_double(v[j], shared);
        if (threadIdx.x == 0) partial[4 * blockIdx.x + j] = total;
    }
}

// Block i of the tail-index estimator: samples first..first+m-1 (slot stride d).
// partial[(m+1)b + j]: block b's sum of X_{first+j}^2 (j < m), and of Y^2 (j = m).
// The loops over j run to NOISE_MAX_BLOCK, unrolled, with j < m inside: x_sq is indexed by
// constants only, so it stays in registers (a runtime index would put it on the stack).
__global__ void noise_block_norms_kernel(double* partial, const floatX* samples, const double* mean, size_t d, size_t begin,
                                         size_t end, int first, int m) {
    __shared__ double shared[NOISE_SUM_THREADS];
    double x_sq[NOISE_MAX_BLOCK], y_sq = 0;
#pragma unroll
    for (int j = 0; j < NOISE_MAX_BLOCK; j++) x_sq[j] = 0;
    for (size_t i = begin + (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < end; i += (size_t)gridDim.x * blockDim.x) {
        const double mu = mean[i];
        double y = 0;
#pragma unroll
        for (int j = 0; j < NOISE_MAX_BLOCK; j++) {
            if (j < m) {
                const double x = (double)to_float(samples[(size_t)(first + j) * d + i]) - mu;
                x_sq[j] += x * x;
                y += x;
            }
        }
        y_sq += y * y;
    }
#pragma unroll
    for (int j = 0; j < NOISE_MAX_BLOCK; j++) {
        if (j < m) { // the same m for the whole block: every thread reaches block_sum_double's barriers
            const double total = block_sum_double(x_sq[j], shared);
            if (threadIdx.x == 0) partial[(size_t)(m + 1) * blockIdx.x + j] = total;
        }
    }
    const double total = block_sum_double(y_sq, shared);
    if (threadIdx.x == 0) partial[(size_t)(m + 1) * blockIdx.x + m] = total;
}

class GpuNoiseAccumulator {
public:
    // d coordinates, at most max_samples gradients per estimate (--noise-batches).
    GpuNoiseAccumulator(size_t d, int max_samples) : d_(d), max_samples_(max_samples) {
        if (tail_block_size(max_samples) > NOISE_MAX_BLOCK)
            fail_usage("--noise-batches %d: the GPU noise statistics take at most 288 batches", max_samples);
        cudaCheck(cudaMalloc(&mean_, d * sizeof(double)));
        cudaCheck(cudaMalloc(&m2_, d * sizeof(double)));
        cudaCheck(cudaMalloc(&samples_, (size_t)max_samples * d * sizeof(floatX)));
        cudaCheck(cudaMalloc(&partial_, partial_doubles() * sizeof(double)));
    }
    ~GpuNoiseAccumulator() {
        cudaFree(partial_);
        cudaFree(samples_);
        cudaFree(m2_);
        cudaFree(mean_);
    }
    GpuNoiseAccumulator(const GpuNoiseAccumulator&) = delete;
    GpuNoiseAccumulator& operator=(const GpuNoiseAccumulator&) = delete;

    // Device bytes an accumulator allocates (for the memory check): 16 + K sizeof(floatX)
    // per coordinate (d12, K = 8, bf16: 4.0 GB).
    static size_t device_bytes(size_t d, int max_samples) {
        return 2 * d * sizeof(double) + (size_t)max_samples * d * sizeof(floatX) + partial_doubles() * sizeof(double);
    }

    void reset() {
        count_ = 0;
        cudaCheck(cudaMemset(mean_, 0, d_ * sizeof(double)));
        cudaCheck(cudaMemset(m2_, 0, d_ * sizeof(double)));
    }
    void add(const floatX* grads) {
        if (count_ == max_samples_) fail_runtime("GpuNoiseAccumulator holds %d samples", max_samples_);
        count_++;
        noise_accumulate_kernel<<<ceil_div((long long)d_, 256), 256>>>(mean_, m2_, samples_ + (size_t)(count_ - 1) * d_, grads,
                                                                        d_, 1.0 / (double)count_);
        cudaCheckLaunch();
    }
    NoiseSums noise_sums(size_t begin, size_t end) const {
        NoiseSums r;
        const int blocks = noise_sum_blocks(end - begin);
        noise_moment_sums_kernel<<<blocks, NOISE_SUM_THREADS>>>(partial_, mean_, m2_, begin, end, count_);
        cudaCheckLaunch();
        std::vector<double> host(partial_doubles());
        cudaCheck(cudaMemcpy(host.data(), partial_, 4 * (size_t)blocks * sizeof(double), cudaMemcpyDeviceToHost));
        for (int b = 0; b < blocks; b++) {
            r.sigma.l1 += host[4 * b];
            r.sigma.l2 += host[4 * b + 1];
            r.mean_l1 += host[4 * b + 2];
            r.mean_l2 += host[4 * b + 3];
        }
        r.sigma.d = end - begin;
        const int K = count_, m = tail_block_size(K);
        r.x_sq.assign(K, 0.0);
        r.y_sq.assign(K / m, 0.0);
        for (int i = 0; i < K / m; i++) {
            noise_block_norms_kernel<<<blocks, NOISE_SUM_THREADS>>>(partial_, samples_, mean_, d_, begin, end, i * m, m);
            cudaCheckLaunch();
            cudaCheck(cudaMemcpy(host.data(), partial_, (size_t)(m + 1) * blocks * sizeof(double), cudaMemcpyDeviceToHost));
            for (int b = 0; b < blocks; b++) {
                for (int j = 0; j < m; j++) r.x_sq[i * m + j] += host[(size_t)(m + 1) * b + j];
                r.y_sq[i] += host[(size_t)(m + 1) * b + m];
            }
        }
        return r;
    }

private:
    static size_t partial_doubles() { return (size_t)(NOISE_MAX_BLOCK + 1) * noise_sum_blocks_max(); }

    size_t d_;
    int max_samples_;
    int count_ = 0;
    double *mean_ = nullptr, *m2_ = nullptr, *partial_ = nullptr;
    floatX* samples_ = nullptr;
};
