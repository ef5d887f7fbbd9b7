// The heavy-tail paper's tail index on the GPU (--tail-index-every; common/tail_index.h is
// the reference): the K single-sequence gradients of the slice stay on the device.
//  - add(): one coalesced gather of the slice's rows from the floatX gradient into sample
//    row k (K x n floatX: the gradient is floatX already, so nothing is lost, and bf16 halves
//    fp32's memory: d12 qkvw at K = 1,250 is 4.4 GB);
//  - estimate(): the mean over the K samples per coordinate (fp32 sums of floatX values),
//    then one kernel for every ||X_k||^2 and one for every block sum's ||Y_i||^2 (X in fp32,
//    squares summed in double), each a fixed grid of blocks whose partials the host adds in
//    order (deterministic); the 25 coordinates' K centred values come back (K x 25 floats)
//    and their indices are computed on the host (tail_index_1d).
#pragma once
#include <vector>

#include "../common/tail_index.h"
#include "../common/utils.h"
#include "common.cuh"

constexpr int TAIL_SUM_BLOCKS = 64;
constexpr int TAIL_SUM_THREADS = 256;

// dst[j] = grads[row_offsets[j / row_len] + j % row_len], j < n: consecutive threads read
// consecutive elements of a row.
__global__ void tail_gather_kernel(floatX* dst, const floatX* grads, const size_t* row_offsets, size_t row_len, size_t n) {
    const size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (j < n) dst[j] = grads[row_offsets[j / row_len] + j % row_len];
}

// mean[j] = (1/K) sum_k samples[k n + j].
__global__ void tail_mean_kernel(float* mean, const floatX* samples, size_t n, int K) {
    const size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= n) return;
    float s = 0.0f;
    for (int k = 0; k < K; k++) s += to_float(samples[(size_t)k * n + j]);
    mean[j] = s / (float)K;
}

// Row r = blockIdx.y of the output: with m = 1, ||X_r||^2; with m > 1, ||Y_r||^2, Y_r the sum of
// X_{rm} .. X_{rm+m-1}. partial[r * gridDim.x + blockIdx.x]: this block's grid-stride share.
__global__ void tail_norms_kernel(double* partial, const floatX* samples, const float* mean, size_t n, int m) {
    __shared__ double shared[TAIL_SUM_THREADS];
    const int r = blockIdx.y;
    double sq = 0;
    for (size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x; j < n; j += (size_t)gridDim.x * blockDim.x) {
        const float mu = mean[j];
        float y = 0.0f;
        for (int k = r * m; k < (r + 1) * m; k++) y += to_float(samples[(size_t)k * n + j]) - mu;
        sq += (double)y * y;
    }
    const double total = block_sum_double(sq, shared);
    if (threadIdx.x == 0) partial[(size_t)r * gridDim.x + blockIdx.x] = total;
}

// out[k * C + c] = samples[k n + coords[c]] - mean[coords[c]], k < K, c < C.
__global__ void tail_coords_kernel(float* out, const floatX* samples, const float* mean, const size_t* coords, int C, size_t n, int K) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= K * C) return;
    const size_t c = coords[i % C];
    out[i] = to_float(samples[(size_t)(i / C) * n + c]) - mean[c];
}

class GpuTailIndexSampler {
public:
    GpuTailIndexSampler(const TailSlice& slice, int K)
        : slice_(slice), n_(slice.size()), K_(K), coords_(tail_index_coords(slice.size())) {
        if (K > 65535) fail_usage("--tail-index-samples %d: the GPU sampler takes at most 65535 (one grid row per sample)", K);
        cudaCheck(cudaMalloc(&samples_, (size_t)K * n_ * sizeof(floatX)));
        cudaCheck(cudaMalloc(&mean_, n_ * sizeof(float)));
        cudaCheck(cudaMalloc(&partial_, (size_t)K * TAIL_SUM_BLOCKS * sizeof(double)));
        cudaCheck(cudaMalloc(&row_offsets_, slice.row_offsets.size() * sizeof(size_t)));
        cudaCheck(cudaMalloc(&coords_dev_, coords_.size() * sizeof(size_t)));
        cudaCheck(cudaMalloc(&coord_values_, (size_t)K * coords_.size() * sizeof(float)));
        cudaCheck(cudaMemcpy(row_offsets_, slice.row_offsets.data(), slice.row_offsets.size() * sizeof(size_t), cudaMemcpyHostToDevice));
        cudaCheck(cudaMemcpy(coords_dev_, coords_.data(), coords_.size() * sizeof(size_t), cudaMemcpyHostToDevice));
    }
    ~GpuTailIndexSampler() {
        cudaFree(coord_values_);
        cudaFree(coords_dev_);
        cudaFree(row_offsets_);
        cudaFree(partial_);
        cudaFree(mean_);
        cudaFree(samples_);
    }
    GpuTailIndexSampler(const GpuTailIndexSampler&) = delete;
    GpuTailIndexSampler& operator=(const GpuTailIndexSampler&) = delete;

    // Device bytes a sampler of n values and K samples allocates (the memory check).
    static size_t device_bytes(const TailSlice& slice, int K) {
        const size_t n = slice.size();
        return (size_t)K * n * sizeof(floatX) + n * sizeof(float) + (size_t)K * TAIL_SUM_BLOCKS * sizeof(double) +
               slice.row_offsets.size() * sizeof(size_t) + TAIL_INDEX_COORDS * (sizeof(size_t) + (size_t)K * sizeof(float));
    }
    const TailSlice& slice() const { return slice_; }
    const std::vector<size_t>& coords() const { return coords_; }
    const floatX* samples() const { return samples_; }
    int count() const { return count_; }
    void reset() { count_ = 0; }
    // Gathers the slice of one sequence's gradient (the whole flat floatX gradient buffer).
    void add(const floatX* grads) {
        if (count_ == K_) fail_runtime("GpuTailIndexSampler holds %d samples", K_);
        tail_gather_kernel<<<ceil_div((long long)n_, 256), 256>>>(samples_ + (size_t)count_ * n_, grads, row_offsets_, slice_.row_len, n_);
        cudaCheckLaunch();
        count_++;
    }
    // This rank's indices from the samples added since reset().
    TailIndexStats estimate() const {
        TailIndexStats r;
        const int K = count_, m = tail_block_size(K), C = (int)coords_.size();
        if (K < 1) return r;
        tail_mean_kernel<<<ceil_div((long long)n_, 256), 256>>>(mean_, samples_, n_, K);
        cudaCheckLaunch();
        std::vector<double> x_sq = row_sums(K, 1), y_sq = row_sums(K / m, m);
        r.alpha = tail_index(x_sq, y_sq);
        tail_coords_kernel<<<ceil_div(K * C, 256), 256>>>(coord_values_, samples_, mean_, coords_dev_, C, n_, K);
        cudaCheckLaunch();
        std::vector<float> values((size_t)K * C);
        cudaCheck(cudaMemcpy(values.data(), coord_values_, values.size() * sizeof(float), cudaMemcpyDeviceToHost));
        std::vector<double> x(K);
        for (int c = 0; c < C; c++) {
            for (int k = 0; k < K; k++) x[k] = values[(size_t)k * C + c];
            r.coord_alpha.push_back(tail_index_1d(x.data(), K));
        }
        return r;
    }

private:
    // The squared norms of the `rows` sums of m consecutive centred samples.
    std::vector<double> row_sums(int rows, int m) const {
        tail_norms_kernel<<<dim3(TAIL_SUM_BLOCKS, rows), TAIL_SUM_THREADS>>>(partial_, samples_, mean_, n_, m);
        cudaCheckLaunch();
        std::vector<double> host((size_t)rows * TAIL_SUM_BLOCKS), out(rows, 0.0);
        cudaCheck(cudaMemcpy(host.data(), partial_, host.size() * sizeof(double), cudaMemcpyDeviceToHost));
        for (int r = 0; r < rows; r++)
            for (int b = 0; b < TAIL_SUM_BLOCKS; b++) out[r] += host[(size_t)r * TAIL_SUM_BLOCKS + b];
        return out;
    }

    TailSlice slice_;
    size_t n_;
    int K_, count_ = 0;
    std::vector<size_t> coords_;
    floatX* samples_ = nullptr;
    float *mean_ = nullptr, *coord_values_ = nullptr;
    double* partial_ = nullptr;
    size_t *row_offsets_ = nullptr, *coords_dev_ = nullptr;
};
