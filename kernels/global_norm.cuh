// Global L2 norm of the gradients, deterministic: a fixed grid of blocks each sums the
// squares of a fixed grid-stride share into one fp32 partial, then one block adds the
// partials in order (in double). Result stays on the device (norm and its square).
#pragma once
#include "common.cuh"

constexpr int GLOBAL_NORM_BLOCKS = 1024;

__global__ void global_norm_partial_kernel(float* partial, const floatX* g, size_t n) {
    float sum = 0.0f;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const float x = to_float(g[i]);
        sum += x * x;
    }
    sum = block_sum(sum);
    if (threadIdx.x == 0) partial[blockIdx.x] = sum;
}

__global__ void global_norm_final_kernel(float* norm, const float* partial, int count) {
    if (threadIdx.x != 0 || blockIdx.x != 0) return;
    double total = 0.0;
    for (int i = 0; i < count; i++) total += partial[i];
    norm[0] = (float)sqrt(total);
}

// norm_out: one float on the device. scratch: GLOBAL_NORM_BLOCKS floats.
inline void global_norm(float* norm_out, float* scratch, const floatX* grads, size_t n) {
    global_norm_partial_kernel<<<GLOBAL_NORM_BLOCKS, 512>>>(scratch, grads, n);
    cudaCheckLaunch();
    global_norm_final_kernel<<<1, 32>>>(norm_out, scratch, GLOBAL_NORM_BLOCKS);
    cudaCheckLaunch();
}
