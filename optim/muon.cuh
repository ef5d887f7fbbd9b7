// Muon (optim/muon.h) on the GPU for the hidden matrices (qkvw, attprojw, fcw, fcprojw); the
// embeddings, norms and biases go to the fallback rule's fused kernel (gpu_optimizer.cuh).
//  1. momentum kernel, one launch over the 4 tensors: m and u by muon_momentum_element (fp32);
//     u is stored as floatX in a work buffer and each block's sum of u^2 kept as a partial.
//  2. inverse-norm kernel: 1 / (||u||_F + 1e-7) of every layer slice from its partials, summed
//     in a fixed order (deterministic).
//  3. Newton-Schulz per shape, its L layer slices batched into one cublasGemmStridedBatchedEx
//     per product, on the wide orientation (r = min(rows, cols)), `steps` times:
//        A = X X^T;  B = a I + b A;  B += c A A;  X' = B X
//     = a X + (b A + c A A) X with a I folded into B, so X' is one GEMM with beta 0 and X is
//     never copied. The first iteration runs on the unnormalized u: A is scaled by inv^2, B by
//     inv and the left factor of A A by inv, which is the iteration on X0 = u inv without a
//     pass over u. bf16 build: bf16 operands, fp32 accumulation; FP32 build: fp32 (no TF32).
//     (a, b, c) are the iteration's coefficients (--muon-ns: fixed quintic or Polar Express,
//     optim/muon.h), and the normalization 1 / (||u||_F + 1e-7) or 1 / (1.02 ||u||_F + 1e-6).
//  4. apply kernel, one launch: muon_apply_element with lr * scale (--muon-scale shape or
//     rms, optim/muon.h); floatX parameters rounded stochastically. fmuon, smuon: the NS part
//     at lr (1 - alpha) scale, then fanion_apply_element's second update, with u recomputed in
//     fp32 from the gradient and the new momentum (muon_u_element: the work buffers hold
//     Newton-Schulz's iterates by then) and F-Muon's 1 / ||u||_F from step 2's sums.
// step_direction (JAGUAR Muon, optim/zero_order.cuh): steps 2-4 on a given fp32 direction, read
// as u by the momentum kernel (no gradient, no momentum update), at offsets the caller gives.
// Element-wise bytes per bf16 parameter: momentum 12 (grad 2, m 8, u 2), apply 12 (O 2,
// master 8, param 2).
#pragma once
#include <algorithm>
#include <vector>

#include "../common/gpt2_layout.h"
#include "fused_elementwise.cuh"
#include "muon.h"

constexpr int MUON_MAX_TENSORS = 4;

struct MuonTensor {
    size_t offset;      // in the flat master / param / grad buffers: its first layer's
    size_t flat_stride; // from one of its layers to the next there (its layers may be every ranks-th)
    size_t work_offset; // in the work buffers
    size_t slice;       // rows * cols, one layer
    unsigned first_block, blocks_per_slice;
    int first_slice;    // index of its layer 0 in the per-slice arrays
    bool vectorized;    // offsets, slice and stride are multiples of 8 elements
    float* momentum;
    MuonHyper h;
    float scaled_lr;    // lr * scale (muon_scaled_lr); fmuon, smuon: lr * (1 - alpha) * scale
};

struct MuonTable {
    int count = 0;
    unsigned blocks = 0;
    MuonTensor tensors[MUON_MAX_TENSORS];
};

// The elements [local, end) of tensor k this thread handles: 8 consecutive elements of one
// layer slice (blocks never straddle two slices, so a block's partial belongs to one slice).
struct MuonThreadSpan {
    int k, layer;
    size_t local, end;
};
__device__ inline MuonThreadSpan muon_thread_span(const MuonTable& table) {
    MuonThreadSpan s;
    s.k = 0;
    while (s.k + 1 < table.count && blockIdx.x >= table.tensors[s.k + 1].first_block) s.k++;
    const MuonTensor& t = table.tensors[s.k];
    const unsigned b = blockIdx.x - t.first_block;
    s.layer = (int)(b / t.blocks_per_slice);
    s.local = (size_t)s.layer * t.slice + (size_t)(b % t.blocks_per_slice) * FUSED_CHUNK + (size_t)threadIdx.x * FUSED_VEC;
    s.end = (size_t)(s.layer + 1) * t.slice;
    return s;
}

__global__ void __launch_bounds__(FUSED_THREADS) muon_momentum_kernel(MuonTable table, const floatX* grads,
                                                                      const float* grad_scale, floatX* u, float* partials) {
    const MuonThreadSpan s = muon_thread_span(table);
    const MuonTensor& t = table.tensors[s.k];
    float sum_sq = 0.0f;
    if (s.local < s.end) {
        const MuonHyper h = t.h;
        const float scale = grad_scale ? *grad_scale : 1.0f;
        const size_t i = t.offset + (size_t)s.layer * t.flat_stride + (s.local - (size_t)s.layer * t.slice);
        float* m = t.momentum + s.local;
        floatX* uo = u + t.work_offset + s.local;
        const int count = s.end - s.local < FUSED_VEC ? (int)(s.end - s.local) : FUSED_VEC;
        float gv[FUSED_VEC], mv[FUSED_VEC], uv[FUSED_VEC];
        // grads nullptr (step_direction): u = m as given, m left as it is
        if (t.vectorized && count == FUSED_VEC) {
            if (grads) load8(grads + i, gv);
            load8(m, mv);
#pragma unroll
            for (int e = 0; e < FUSED_VEC; e++) {
                if (grads) muon_momentum_element(gv[e] * scale, mv[e], uv[e], h);
                else uv[e] = mv[e];
                sum_sq += uv[e] * uv[e];
            }
            if (grads) store8(m, mv);
            store8_nearest(uo, uv);
        } else {
            for (int e = 0; e < count; e++) {
                float me = m[e], ue = me;
                if (grads) muon_momentum_element(to_float(grads[i + e]) * scale, me, ue, h), m[e] = me;
                sum_sq += ue * ue;
                uo[e] = from_float<floatX>(ue);
            }
        }
    }
    sum_sq = block_sum(sum_sq);
    if (threadIdx.x == 0) partials[blockIdx.x] = sum_sq;
}

// One block per layer slice: inv_norm = 1 / (norm_scale ||u||_F + norm_eps), and F-Muon's
// inv_frobenius = 1 / ||u||_F (0 when u = 0).
__global__ void muon_inverse_norm_kernel(MuonTable table, const float* partials, float* inv_norm, float* inv_frobenius,
                                         float norm_scale, double norm_eps) {
    int k = 0;
    while (k + 1 < table.count && (int)blockIdx.x >= table.tensors[k + 1].first_slice) k++;
    const MuonTensor& t = table.tensors[k];
    const float* p = partials + t.first_block + (size_t)(blockIdx.x - t.first_slice) * t.blocks_per_slice;
    float sum = 0.0f;
    for (unsigned j = threadIdx.x; j < t.blocks_per_slice; j += blockDim.x) sum += p[j];
    sum = block_sum(sum);
    if (threadIdx.x == 0) {
        inv_norm[blockIdx.x] = (float)(1.0 / ((double)norm_scale * sqrt((double)sum) + norm_eps));
        inv_frobenius[blockIdx.x] = fanion_inv_frobenius(sum);
    }
}

// B = a I + b A for L r x r matrices (grid.y = L). With inv (the first iteration): A *= inv^2
// in place, A_left = A inv and B = (a I + b A) inv.
__global__ void newton_schulz_combine_kernel(floatX* B, floatX* A, floatX* A_left, const float* inv, int r, float a, float b) {
    const size_t rr = (size_t)r * r, e = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= rr) return;
    const size_t idx = (size_t)blockIdx.y * rr + e;
    float x = to_float(A[idx]), s = 1.0f;
    if (inv) {
        s = inv[blockIdx.y];
        x *= s * s;
        A[idx] = from_float<floatX>(x);
        A_left[idx] = from_float<floatX>(x * s);
    }
    const float diagonal = e / r == e % r ? a : 0.0f;
    B[idx] = from_float<floatX>((diagonal + b * x) * s);
}

// o_scale: per-slice factor on O (the inverse norms when there were no iterations), or nullptr.
// grads, grad_scale, inv_frobenius: fmuon and smuon's u (read only for them).
__global__ void __launch_bounds__(FUSED_THREADS) muon_apply_kernel(MuonTable table, float* master, floatX* params,
                                                                   const floatX* o, const float* o_scale, const floatX* grads,
                                                                   const float* grad_scale, const float* inv_frobenius,
                                                                   uint64_t rounding_key) {
    const MuonThreadSpan s = muon_thread_span(table);
    const MuonTensor& t = table.tensors[s.k];
    if (s.local >= s.end) return;
    const MuonHyper h = t.h;
    const float scaled_lr = t.scaled_lr;
    const float os = o_scale ? o_scale[t.first_slice + s.layer] : 1.0f;
    const size_t i = t.offset + (size_t)s.layer * t.flat_stride + (s.local - (size_t)s.layer * t.slice);
    const floatX* ov = o + t.work_offset + s.local;
    const int count = s.end - s.local < FUSED_VEC ? (int)(s.end - s.local) : FUSED_VEC;
    const bool fanion = h.variant != MuonVariant::Muon;
    const float gs = fanion && grad_scale ? *grad_scale : 1.0f;
    const float mix_lr = fanion ? fanion_mix_lr(h, inv_frobenius[t.first_slice + s.layer]) : 0.0f;
    const float* m = t.momentum + s.local;
    if (t.vectorized && count == FUSED_VEC) {
        float p[FUSED_VEC], oo[FUSED_VEC], gv[FUSED_VEC], mv[FUSED_VEC];
        load8(master + i, p);
        load8(ov, oo);
        if (fanion) {
            load8(grads + i, gv);
            load8(m, mv);
#pragma unroll
            for (int e = 0; e < FUSED_VEC; e++)
                fanion_apply_element(p[e], oo[e] * os, muon_u_element(gv[e] * gs, mv[e], h), scaled_lr, mix_lr, h);
        } else {
#pragma unroll
            for (int e = 0; e < FUSED_VEC; e++) muon_apply_element(p[e], oo[e] * os, scaled_lr, h);
        }
        store8(master + i, p);
        store_params8(params, i, p, rounding_key);
    } else {
        for (int e = 0; e < count; e++) {
            float p = master[i + e];
            if (fanion) fanion_apply_element(p, to_float(ov[e]) * os, muon_u_element(to_float(grads[i + e]) * gs, m[e], h), scaled_lr, mix_lr, h);
            else muon_apply_element(p, to_float(ov[e]) * os, scaled_lr, h);
            master[i + e] = p;
            store_param(params, i + e, p, rounding_key);
        }
    }
}

// L column-major GEMMs C = alpha op(A) op(B) + beta C, floatX in and out, fp32 accumulation.
inline void gemm_batched_floatx(floatX* c, const floatX* a, const floatX* b, int m, int n, int k, bool ta, bool tb,
                                int lda, int ldb, int ldc, long long sa, long long sb, long long sc, int batch,
                                float alpha, float beta) {
    cublasCheck(cublasGemmStridedBatchedEx(cuda_ctx().cublas, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                           m, n, k, &alpha, a, CUBLAS_FLOATX, lda, sa, b, CUBLAS_FLOATX, ldb, sb, &beta,
                                           c, CUBLAS_FLOATX, ldc, sc, batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

// FLOPs of Newton-Schulz on these tensors: per slice and iteration 2 r^2 c (A), 2 r^3 (A A),
// 2 r^2 c (B X), r = min(rows, cols), c = max.
inline double newton_schulz_flops(const std::vector<ParamTensor>& matrices, int steps) {
    double flops = 0.0;
    for (const ParamTensor& t : matrices) {
        const double r = std::min(t.rows, t.cols), c = std::max(t.rows, t.cols);
        flops += (double)t.layers * steps * (4.0 * r * r * c + 2.0 * r * r * r);
    }
    return flops;
}

// Work buffers and launches of Muon's matrix part. The caller owns the momentum buffers.
class GpuMuon {
public:
    // matrices: the tensors Muon updates (at most 4), in flat-buffer order; layer_strides[k]: matrix
    // k's layers are every layer_strides[k]-th of the flat buffers from its offset (default 1:
    // consecutive; data parallel: the rank's round-robin share). The work and momentum buffers
    // hold them one after the other.
    explicit GpuMuon(const std::vector<ParamTensor>& matrices, const std::vector<int>& layer_strides = {})
        : tensors_(matrices), strides_(layer_strides) {
        strides_.resize(tensors_.size(), 1);
        if (tensors_.empty() || tensors_.size() > MUON_MAX_TENSORS) fail_runtime("Muon takes 1 to %d matrix tensors", MUON_MAX_TENSORS);
        const Sizes z = sizes(tensors_);
        work_offset_ = z.work_offset;
        cudaCheck(cudaMalloc(&u_, z.work * sizeof(floatX)));
        cudaCheck(cudaMalloc(&w_, z.work * sizeof(floatX)));
        cudaCheck(cudaMalloc(&a_, z.gram * sizeof(floatX)));
        cudaCheck(cudaMalloc(&a_left_, z.gram * sizeof(floatX)));
        cudaCheck(cudaMalloc(&b_, z.gram * sizeof(floatX)));
        cudaCheck(cudaMalloc(&partials_, z.blocks * sizeof(float)));
        cudaCheck(cudaMalloc(&inv_norm_, z.slices * sizeof(float)));
        cudaCheck(cudaMalloc(&inv_frobenius_, z.slices * sizeof(float)));
    }
    ~GpuMuon() {
        for (void* p : {(void*)u_, (void*)w_, (void*)a_, (void*)a_left_, (void*)b_, (void*)partials_, (void*)inv_norm_, (void*)inv_frobenius_}) cudaFree(p);
    }
    GpuMuon(const GpuMuon&) = delete;
    GpuMuon& operator=(const GpuMuon&) = delete;

    static size_t device_bytes(const std::vector<ParamTensor>& matrices) {
        const Sizes z = sizes(matrices);
        return (2 * z.work + 3 * z.gram) * sizeof(floatX) + (z.blocks + 2 * z.slices) * sizeof(float);
    }

    // One update of the matrices. momentum[k], hyper[k]: tensor k's buffer and constants
    // (every tensor must have the same ns_steps).
    void step(float* master, floatX* params, const floatX* grads, const float* grad_scale,
              const std::vector<float*>& momentum, const std::vector<MuonHyper>& hyper, uint64_t rounding_key) {
        std::vector<size_t> offsets;
        for (const ParamTensor& p : tensors_) offsets.push_back(p.offset);
        update(master, params, grads, grad_scale, offsets, momentum, hyper, rounding_key);
    }

    // The same update of a given fp32 direction instead of a gradient's momentum: u = direction[k]
    // (read only), normalized, Newton-Schulz, applied to tensor k's elements at flat offset
    // offsets[k] (JAGUAR Muon, optim/zero_order.cuh: one layer of each matrix per call, so the
    // work buffers hold one layer's matrices, not all of them). Muon's variant only (no fanion).
    void step_direction(float* master, floatX* params, const std::vector<size_t>& offsets, const std::vector<float*>& direction,
                        const std::vector<MuonHyper>& hyper, uint64_t rounding_key) {
        for (const MuonHyper& h : hyper)
            if (h.variant != MuonVariant::Muon) fail_runtime("internal: GpuMuon::step_direction takes Muon's variant only");
        update(master, params, nullptr, nullptr, offsets, direction, hyper, rounding_key);
    }

    // Tensor k's Newton-Schulz output of the last step, in the tensor's layout (with 0
    // iterations: the unnormalized momentum update u).
    const floatX* orthogonalized(int k) const { return result() + work_offset_[k]; }

private:
    // grads nullptr: momentum[k] is the direction u itself (step_direction).
    void update(float* master, floatX* params, const floatX* grads, const float* grad_scale, const std::vector<size_t>& offsets,
                const std::vector<float*>& momentum, const std::vector<MuonHyper>& hyper, uint64_t rounding_key) {
        MuonTable table;
        int slices = 0;
        for (size_t k = 0; k < tensors_.size(); k++) {
            const ParamTensor& p = tensors_[k];
            MuonTensor& t = table.tensors[table.count++];
            t.offset = offsets[k];
            t.work_offset = work_offset_[k];
            t.slice = p.layer_numel();
            t.flat_stride = (size_t)strides_[k] * t.slice;
            t.blocks_per_slice = (unsigned)ceil_div((long long)t.slice, FUSED_CHUNK);
            t.first_block = table.blocks;
            t.first_slice = slices;
            t.vectorized = t.offset % FUSED_VEC == 0 && t.work_offset % FUSED_VEC == 0 && t.slice % FUSED_VEC == 0;
            t.momentum = momentum[k];
            t.h = hyper[k];
            t.scaled_lr = muon_scaled_lr(hyper[k].lr * (1.0f - hyper[k].alpha), p.rows, p.cols, hyper[k].scale); // alpha 0 under muon
            table.blocks += t.blocks_per_slice * p.layers;
            slices += p.layers;
        }
        steps_ = hyper[0].ns_steps;
        ns_ = hyper[0].ns;
        {
            NvtxRange r("optimizer/muon/momentum");
            muon_momentum_kernel<<<table.blocks, FUSED_THREADS>>>(table, grads, grad_scale, u_, partials_);
            cudaCheckLaunch();
            muon_inverse_norm_kernel<<<slices, 256>>>(table, partials_, inv_norm_, inv_frobenius_, ns_norm_scale(ns_), ns_norm_eps(ns_));
            cudaCheckLaunch();
        }
        {
            NvtxRange r("optimizer/muon/newton_schulz");
            for (size_t k = 0; k < tensors_.size(); k++) newton_schulz(k, table.tensors[k].first_slice);
        }
        NvtxRange r("optimizer/muon/apply");
        muon_apply_kernel<<<table.blocks, FUSED_THREADS>>>(table, master, params, result(), steps_ == 0 ? inv_norm_ : nullptr,
                                                           grads, grad_scale, inv_frobenius_, rounding_key);
        cudaCheckLaunch();
    }

    struct Sizes {
        std::vector<size_t> work_offset;
        size_t work = 0, gram = 0, blocks = 0, slices = 0;
    };
    // Work offsets are rounded up to 8 elements so every tensor's vectors stay aligned.
    static Sizes sizes(const std::vector<ParamTensor>& matrices) {
        Sizes z;
        for (const ParamTensor& t : matrices) {
            z.work_offset.push_back(z.work);
            z.work += (t.numel() + FUSED_VEC - 1) / FUSED_VEC * FUSED_VEC;
            const size_t r = std::min(t.rows, t.cols);
            z.gram = std::max(z.gram, (size_t)t.layers * r * r);
            z.blocks += (size_t)t.layers * ceil_div((long long)t.layer_numel(), FUSED_CHUNK);
            z.slices += t.layers;
        }
        return z;
    }

    floatX* result() const { return steps_ % 2 ? w_ : u_; }

    // Tensor k's L slices: X ping-pongs between u_ and w_ (iteration 0 reads u_).
    void newton_schulz(size_t k, int first_slice) {
        const ParamTensor& t = tensors_[k];
        const int L = t.layers, rows = t.rows, cols = t.cols;
        // Row-major X read column-major is X^T: for a wide X (rows <= cols) that is the c x r
        // matrix X^T (ld c); for a tall one it is the wide orientation W = X^T itself (r x c, ld r).
        const bool tall = rows > cols;
        const int r = tall ? cols : rows, c = tall ? rows : cols;
        const long long rr = (long long)r * r, sx = (long long)t.layer_numel();
        floatX *x = u_ + work_offset_[k], *y = w_ + work_offset_[k];
        const int combine_blocks = ceil_div(rr, 256);
        for (int s = 0; s < steps_; s++) {
            const NsCoefficients k = ns_coefficients(ns_, s);
            if (tall) gemm_batched_floatx(a_, x, x, r, r, c, false, true, r, r, r, sx, sx, rr, L, 1.0f, 0.0f);
            else gemm_batched_floatx(a_, x, x, r, r, c, true, false, c, c, r, sx, sx, rr, L, 1.0f, 0.0f);
            newton_schulz_combine_kernel<<<dim3(combine_blocks, L), 256>>>(b_, a_, a_left_, s == 0 ? inv_norm_ + first_slice : nullptr,
                                                                           r, k.a, k.b);
            cudaCheckLaunch();
            gemm_batched_floatx(b_, s == 0 ? a_left_ : a_, a_, r, r, r, false, false, r, r, r, rr, rr, rr, L, k.c, 1.0f);
            // X' = B X: wide, X'^T = X^T B^T; tall, W' = B W.
            if (tall) gemm_batched_floatx(y, b_, x, r, c, r, false, false, r, r, r, rr, sx, sx, L, 1.0f, 0.0f);
            else gemm_batched_floatx(y, x, b_, c, r, r, false, true, c, r, c, sx, rr, sx, L, 1.0f, 0.0f);
            std::swap(x, y);
        }
    }

    std::vector<ParamTensor> tensors_;
    std::vector<size_t> work_offset_;
    std::vector<int> strides_; // per matrix tensor: layers apart in the flat buffers
    floatX *u_ = nullptr, *w_ = nullptr, *a_ = nullptr, *a_left_ = nullptr, *b_ = nullptr;
    float *partials_ = nullptr, *inv_norm_ = nullptr, *inv_frobenius_ = nullptr;
    int steps_ = 0;
    MuonNs ns_ = MuonNs::Quintic;
};
