// Normalized SGD (optim/nsgd.h) on the GPU, three launches over every tensor:
//  1. momentum kernel (the fused table's block layout): m = beta m + (1 - beta) g * clip
//     scale, each block's sum of m^2 into a partial;
//  2. one block adds the partials in a fixed order (in double): inv_norm = 1 / ||m||_2; under
//     ZeRO-1 (-z 1) each rank holds a shard of m: the sum of squares goes through the
//     caller's global sum (an all-reduce over the ranks) before inv_norm is taken;
//  3. the fused element-wise step (fused_elementwise.cuh) with NsgdRule reading inv_norm.
// Bytes per bf16 parameter: 10 (momentum: grad 2, m read and write 8) + 20 (the fused step:
// grad 2, master 8, m 8, param 2).
#pragma once
#include "fused_elementwise.cuh"
#include "nsgd.h"
#include "optim_config.h"

struct NsgdRule {
    static constexpr int SLOTS = 1;
    NsgdHyper h;
    const float* inv_norm; // device scalar, set by GpuOptimizer before the launch
    static NsgdRule make(const OptimConfig& c, float lr, float wd, int) { return {{lr, wd, c.momentum}, nullptr}; }
    __device__ void update(float& p, float, float* s) const { nsgd_apply_element(p, s[0], *inv_norm, h); }
};

__global__ void __launch_bounds__(FUSED_THREADS) nsgd_momentum_kernel(FusedTable<NsgdRule> table, const floatX* grads,
                                                                      const float* grad_scale, float beta, float* partials) {
    int k = 0;
    while (k + 1 < table.count && blockIdx.x >= table.tensors[k + 1].first_block) k++;
    const FusedTensor<NsgdRule>& t = table.tensors[k];
    const size_t local = (size_t)(blockIdx.x - t.first_block) * FUSED_CHUNK + (size_t)threadIdx.x * FUSED_VEC;
    const float scale = grad_scale ? *grad_scale : 1.0f;
    float sum_sq = 0.0f;
    for (int e = 0; e < FUSED_VEC && local + e < t.numel; e++) {
        float& m = t.state[0][local + e];
        nsgd_momentum_element(to_float(grads[t.offset + local + e]) * scale, m, beta);
        sum_sq += m * m;
    }
    sum_sq = block_sum(sum_sq);
    if (threadIdx.x == 0) partials[blockIdx.x] = sum_sq;
}

// One block of 256 threads: thread j sums partials j, j+256, ... in double, then a fixed tree;
// the sum of squares to *sum_sq and its inverse square root to *inv_norm.
__global__ void nsgd_inv_norm_kernel(const float* partials, unsigned count, double* sum_sq, float* inv_norm) {
    __shared__ double shared[256];
    double sum = 0.0;
    for (unsigned i = threadIdx.x; i < count; i += blockDim.x) sum += partials[i];
    shared[threadIdx.x] = sum;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
        if ((int)threadIdx.x < half) shared[threadIdx.x] += shared[threadIdx.x + half];
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        *sum_sq = shared[0];
        *inv_norm = shared[0] > 0 ? (float)(1.0 / sqrt(shared[0])) : 0.0f;
    }
}
// After the ranks' sums of squares are added: inv_norm = 1 / sqrt(sum).
__global__ void nsgd_inv_norm_of_sum_kernel(const double* sum_sq, float* inv_norm) {
    *inv_norm = *sum_sq > 0 ? (float)(1.0 / sqrt(*sum_sq)) : 0.0f;
}

__global__ void __launch_bounds__(FUSED_THREADS) nsgd_step_kernel(FusedStepArgs a, FusedTable<NsgdRule> t) {
    fused_elementwise_step(a, t);
}

// Floats of scratch for `blocks` blocks: the partials, a double sum (8-byte aligned), inv_norm.
inline size_t nsgd_scratch_floats(size_t blocks) { return (blocks + 1) / 2 * 2 + 2 + 1; }
// global_sum: nullptr in one process; under -z 1, sums a device double over the ranks in place.
template <typename GlobalSum>
inline void launch_nsgd_step(const FusedStepArgs& a, FusedTable<NsgdRule> table, float beta, float* scratch, GlobalSum* global_sum) {
    double* sum_sq = reinterpret_cast<double*>(scratch + (table.blocks + 1) / 2 * 2);
    float* inv_norm = reinterpret_cast<float*>(sum_sq + 1);
    if (table.blocks > 0) {
        nsgd_momentum_kernel<<<table.blocks, FUSED_THREADS>>>(table, a.grads, a.grad_scale, beta, scratch);
        cudaCheckLaunch();
    }
    nsgd_inv_norm_kernel<<<1, 256>>>(scratch, table.blocks, sum_sq, inv_norm);
    cudaCheckLaunch();
    if (global_sum) {
        (*global_sum)(sum_sq);
        nsgd_inv_norm_of_sum_kernel<<<1, 1>>>(sum_sq, inv_norm);
        cudaCheckLaunch();
    }
    if (table.blocks == 0) return; // this rank's shard holds no nsgd tensor
    for (int k = 0; k < table.count; k++) table.tensors[k].rule.inv_norm = inv_norm;
    nsgd_step_kernel<<<table.blocks, FUSED_THREADS>>>(a, table);
    cudaCheckLaunch();
}
