// Normalized SGD (optim/nsgd.h) on the GPU.
// --nsgd-norm tensor (the default), three launches over every layer slice of every nsgd tensor;
// the blocks of FUSED_CHUNK elements never cross a slice (NsgdSliceTable: a tensor's slices are
// all layer_numel long, so block -> (tensor, slice, chunk) is arithmetic):
//  1. each block's sum of (clip scale * g)^2 into a partial;
//  2. one block per slice adds its partials in a fixed order (in double): 1 / (||g_S|| + 1e-8);
//  3. per element nsgd_tensor_element (momentum of the normalized gradient, weight decay, step),
//     8 elements per thread with 16-byte loads and stores where the slice is 8-aligned.
// Bytes per bf16 parameter: 2 (the norms' gradient read) + 20 (the step: grad 2, master 8, m 8,
// param 2). -z 1 shards cut slices: refused (parse_train_args, GpuOptimizer).
// --nsgd-norm global, three launches over every tensor:
//  1. momentum kernel (fused_state0_pass: the fused table's block layout and loads, 8 elements
//     per thread, 16-byte loads and stores where the tensor is 8-aligned, element by element
//     in its tail):
//     m = beta m + (1 - beta) g * clip scale, each block's sum of m^2 into a partial;
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
    float sum_sq = 0.0f;
    fused_state0_pass(table, grads, grad_scale, [&](float g, float& m) {
        nsgd_momentum_element(g, m, beta);
        sum_sq += m * m;
    });
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

// ---------------------------------------------------------------------------------------
// --nsgd-norm tensor
struct NsgdSliceTensor {
    size_t offset;         // the tensor's first flat element
    size_t slice_numel;    // one layer slice's (the whole tensor for wte, wpe, lnfw, lnfb)
    unsigned chunks;       // blocks per slice: ceil(slice_numel / FUSED_CHUNK)
    unsigned first_block;  // its blocks: [first_block, first_block + layers * chunks)
    unsigned first_slice;  // its slices' place in the inverse-norm array
    bool vectorized;       // offset and slice_numel multiples of 8: 16-byte loads and stores
    float* m;              // momentum, the whole tensor
    NsgdHyper h;
};
struct NsgdSliceTable {
    int count = 0;
    unsigned blocks = 0, slices = 0;
    NsgdSliceTensor tensors[NUM_PARAM_TENSORS];
    void add(const ParamTensor& t, float* m, const NsgdHyper& h) {
        if (count == NUM_PARAM_TENSORS) fail_runtime("nsgd slice table holds at most %d tensors", NUM_PARAM_TENSORS);
        NsgdSliceTensor& e = tensors[count++];
        e.offset = t.offset;
        e.slice_numel = t.layer_numel();
        e.chunks = (unsigned)ceil_div((long long)e.slice_numel, FUSED_CHUNK);
        e.first_block = blocks;
        e.first_slice = slices;
        e.vectorized = e.offset % FUSED_VEC == 0 && e.slice_numel % FUSED_VEC == 0;
        e.m = m;
        e.h = h;
        blocks += e.chunks * (unsigned)t.layers;
        slices += (unsigned)t.layers;
    }
};
// Floats of scratch: one partial per block, one inverse norm per slice.
inline size_t nsgd_slice_scratch_floats(size_t blocks, size_t slices) { return blocks + slices; }

// Block blockIdx.x's place: its tensor k, its slice (tensor-local index) and the tensor-local
// range [begin, end) of this thread's at most FUSED_VEC elements.
struct NsgdSlicePlace {
    int k;
    unsigned slice;
    size_t begin, end;
};
__device__ inline NsgdSlicePlace nsgd_slice_place(const NsgdSliceTable& table) {
    int k = 0;
    while (k + 1 < table.count && blockIdx.x >= table.tensors[k + 1].first_block) k++;
    const NsgdSliceTensor& t = table.tensors[k];
    const unsigned j = blockIdx.x - t.first_block, slice = j / t.chunks, chunk = j % t.chunks;
    const size_t slice_end = (size_t)(slice + 1) * t.slice_numel;
    const size_t begin = (size_t)slice * t.slice_numel + (size_t)chunk * FUSED_CHUNK + (size_t)threadIdx.x * FUSED_VEC;
    return {k, slice, begin, begin < slice_end ? (begin + FUSED_VEC < slice_end ? begin + FUSED_VEC : slice_end) : begin};
}

__global__ void __launch_bounds__(FUSED_THREADS) nsgd_slice_sum_sq_kernel(NsgdSliceTable table, const floatX* grads,
                                                                          const float* grad_scale, float* partials) {
    const NsgdSlicePlace at = nsgd_slice_place(table);
    const size_t offset = table.tensors[at.k].offset;
    const float scale = grad_scale ? *grad_scale : 1.0f;
    float sum_sq = 0.0f;
    if (at.end - at.begin == FUSED_VEC && table.tensors[at.k].vectorized) {
        float g[FUSED_VEC];
        load8(grads + offset + at.begin, g);
#pragma unroll
        for (int e = 0; e < FUSED_VEC; e++) sum_sq += (g[e] * scale) * (g[e] * scale);
    } else {
        for (size_t i = at.begin; i < at.end; i++) {
            const float g = to_float(grads[offset + i]) * scale;
            sum_sq += g * g;
        }
    }
    sum_sq = block_sum(sum_sq);
    if (threadIdx.x == 0) partials[blockIdx.x] = sum_sq;
}

// One block of 256 threads per slice: thread j adds partials j, j+256, ... of the slice in
// double, then a fixed tree; inv_norm[slice] = 1 / (||g_S|| + 1e-8).
__global__ void nsgd_slice_inv_norm_kernel(NsgdSliceTable table, const float* partials, float* inv_norm) {
    __shared__ double shared[256];
    int k = 0;
    while (k + 1 < table.count && blockIdx.x >= table.tensors[k + 1].first_slice) k++;
    const NsgdSliceTensor& t = table.tensors[k];
    const float* mine = partials + t.first_block + (size_t)(blockIdx.x - t.first_slice) * t.chunks;
    double sum = 0.0;
    for (unsigned i = threadIdx.x; i < t.chunks; i += blockDim.x) sum += mine[i];
    shared[threadIdx.x] = sum;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
        if ((int)threadIdx.x < half) shared[threadIdx.x] += shared[threadIdx.x + half];
        __syncthreads();
    }
    if (threadIdx.x == 0) inv_norm[blockIdx.x] = nsgd_slice_inv_norm(shared[0]);
}

__global__ void __launch_bounds__(FUSED_THREADS) nsgd_slice_step_kernel(FusedStepArgs a, NsgdSliceTable table, const float* inv_norm) {
    const NsgdSlicePlace at = nsgd_slice_place(table);
    if (at.end == at.begin) return;
    const NsgdSliceTensor& t = table.tensors[at.k];
    const float inv = inv_norm[t.first_slice + at.slice];
    const NsgdHyper h = t.h;
    const size_t i = t.offset + at.begin;
    float* master = a.master + (i - a.master_offset);
    float* m = t.m + at.begin;
    const float scale = a.grad_scale ? *a.grad_scale : 1.0f;
    const int count = (int)(at.end - at.begin);
    float p[FUSED_VEC], g[FUSED_VEC], s[FUSED_VEC];
    if (t.vectorized && count == FUSED_VEC) {
        load8(master, p);
        load8(a.grads + i, g);
        load8(m, s);
#pragma unroll
        for (int e = 0; e < FUSED_VEC; e++) nsgd_tensor_element(p[e], g[e] * scale, s[e], inv, h);
        store8(master, p);
        store8(m, s);
        store_params8(a.params, i, p, a.rounding_key);
        return;
    }
    for (int e = 0; e < count; e++) {
        float pe = master[e], se = m[e];
        nsgd_tensor_element(pe, to_float(a.grads[i + e]) * scale, se, inv, h);
        master[e] = pe;
        m[e] = se;
        store_param(a.params, i + e, pe, a.rounding_key);
    }
}

// scratch: nsgd_slice_scratch_floats(table.blocks, table.slices) floats.
inline void launch_nsgd_slice_step(const FusedStepArgs& a, const NsgdSliceTable& table, float* scratch) {
    if (table.blocks == 0) return;
    float* inv_norm = scratch + table.blocks;
    nsgd_slice_sum_sq_kernel<<<table.blocks, FUSED_THREADS>>>(table, a.grads, a.grad_scale, scratch);
    cudaCheckLaunch();
    nsgd_slice_inv_norm_kernel<<<table.slices, 256>>>(table, scratch, inv_norm);
    cudaCheckLaunch();
    nsgd_slice_step_kernel<<<table.blocks, FUSED_THREADS>>>(a, table, inv_norm);
    cudaCheckLaunch();
}
