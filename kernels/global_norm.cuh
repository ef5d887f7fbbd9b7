// Global norms of the gradients in one pass, deterministic: a fixed grid of blocks each
// reduces a fixed grid-stride share into fp32 partials (sum of squares, sum of absolute
// values, largest absolute value), then one block combines the partials in order (sums in
// double). Results stay on the device: norm[0] = ||g||_2 (what clipping uses),
// norm[1] = ||g||_1, norm[2] = ||g||_inf. A NaN anywhere makes ||g||_2 and ||g||_1 NaN.
#pragma once
#include "common.cuh"

constexpr int GLOBAL_NORM_BLOCKS = 1024;
constexpr int GLOBAL_NORM_OUTPUTS = 3;                                    // floats at norm_out
constexpr int GLOBAL_NORM_SCRATCH = GLOBAL_NORM_OUTPUTS * GLOBAL_NORM_BLOCKS; // floats of scratch

// partial[b], partial[B + b], partial[2B + b]: block b's sum of squares, of |g| and max |g|.
__global__ void global_norm_partial_kernel(float* partial, const floatX* g, size_t n) {
    float sum_sq = 0.0f, sum_abs = 0.0f, max_abs = 0.0f;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const float x = to_float(g[i]), a = fabsf(x);
        sum_sq += x * x;
        sum_abs += a;
        max_abs = fmaxf(max_abs, a);
    }
    sum_sq = block_sum(sum_sq);
    sum_abs = block_sum(sum_abs);
    max_abs = block_max(max_abs);
    if (threadIdx.x == 0) {
        partial[blockIdx.x] = sum_sq;
        partial[gridDim.x + blockIdx.x] = sum_abs;
        partial[2 * gridDim.x + blockIdx.x] = max_abs;
    }
}

__global__ void global_norm_final_kernel(float* norm, const float* partial, int count) {
    if (threadIdx.x != 0 || blockIdx.x != 0) return;
    double sq = 0.0, abs_sum = 0.0;
    float max_abs = 0.0f;
    for (int i = 0; i < count; i++) {
        sq += partial[i];
        abs_sum += partial[count + i];
        max_abs = fmaxf(max_abs, partial[2 * count + i]);
    }
    norm[0] = (float)sqrt(sq);
    norm[1] = (float)abs_sum;
    norm[2] = max_abs;
}

// norm_out: GLOBAL_NORM_OUTPUTS floats on the device. scratch: GLOBAL_NORM_SCRATCH floats.
inline void global_norm(float* norm_out, float* scratch, const floatX* grads, size_t n) {
    global_norm_partial_kernel<<<GLOBAL_NORM_BLOCKS, 512>>>(scratch, grads, n);
    cudaCheckLaunch();
    global_norm_final_kernel<<<1, 32>>>(norm_out, scratch, GLOBAL_NORM_BLOCKS);
    cudaCheckLaunch();
}
