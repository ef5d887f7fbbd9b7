// GPU optimizer (first version): every rule runs on fp32 master weights with fp32 state and
// writes the floatX copy the model uses. The element-wise rules call the very functions of
// optim/*.h (OPTIM_HD), so their arithmetic is the CPU reference's. Muon: a momentum kernel,
// then Newton-Schulz on all layer slices of a tensor at once through fp32 strided-batched
// cuBLAS GEMMs, then the apply kernel. Gradients are floatX and are multiplied by the
// clip scale (a device scalar, see global_norm.cuh) as they are read.
#pragma once
#include <string>
#include <vector>

#include "../common/gpt2_layout.h"
#include "../optim/cpu_optimizer.h" // optim_state_slots, and through it every rule
#include "../optim/param_groups.h"
#include "common.cuh"

struct ElementwiseHyper {
    SgdHyper sgd;
    SignSgdHyper signsgd;
    SignumHyper signum;
    AdamWHyper adamw;
    AdamWStepScalars adamw_scalars;
    LionHyper lion;
};

// grad_scale: device scalar (the clip factor); nullptr means 1.
template <Algorithm RULE>
__global__ void elementwise_update_kernel(float* master, floatX* param, const floatX* grad, float* s0, float* s1,
                                          size_t n, const float* grad_scale, ElementwiseHyper h) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float g = to_float(grad[i]) * (grad_scale ? *grad_scale : 1.0f);
    float p = master[i];
    if constexpr (RULE == Algorithm::SGD) {
        float unused = 0.0f;
        sgd_update_element(p, g, s0 ? s0[i] : unused, h.sgd);
    } else if constexpr (RULE == Algorithm::SignSGD) {
        signsgd_update_element(p, g, h.signsgd);
    } else if constexpr (RULE == Algorithm::Signum) {
        signum_update_element(p, g, s0[i], h.signum);
    } else if constexpr (RULE == Algorithm::AdamW) {
        adamw_update_element(p, g, s0[i], s1[i], h.adamw, h.adamw_scalars);
    } else if constexpr (RULE == Algorithm::Lion) {
        lion_update_element(p, g, s0[i], h.lion);
    }
    master[i] = p;
    param[i] = from_float<floatX>(p);
}

__global__ void muon_momentum_kernel(float* u, float* m, const floatX* grad, size_t n, const float* grad_scale,
                                     MuonHyper h) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float g = to_float(grad[i]) * (grad_scale ? *grad_scale : 1.0f);
    muon_momentum_element(g, m[i], u[i], h);
}

// One block per slice: X /= ||X||_F + 1e-7.
__global__ void muon_normalize_kernel(float* x, size_t slice) {
    float* s = x + blockIdx.x * slice;
    float sum = 0.0f;
    for (size_t i = threadIdx.x; i < slice; i += blockDim.x) sum += s[i] * s[i];
    const float inv = 1.0f / (sqrtf(block_sum(sum)) + 1e-7f);
    for (size_t i = threadIdx.x; i < slice; i += blockDim.x) s[i] *= inv;
}

__global__ void muon_apply_kernel(float* master, floatX* param, const float* o, size_t n, float scaled_lr, MuonHyper h) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float p = master[i];
    muon_apply_element(p, o[i], scaled_lr, h);
    master[i] = p;
    param[i] = from_float<floatX>(p);
}

__global__ void copy_to_floatx_kernel(floatX* dst, const float* src, size_t n) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) dst[i] = from_float<floatX>(src[i]);
}
inline void copy_to_floatx(floatX* dst, const float* src, size_t n) {
    copy_to_floatx_kernel<<<ceil_div((long long)n, 256), 256>>>(dst, src, n);
    cudaCheckLaunch();
}

// fp32 column-major strided-batched GEMM for Newton-Schulz.
inline void gemm_f32_batched(float* c, const float* a, const float* b, int m, int n, int k, bool ta, bool tb, int lda,
                             int ldb, int ldc, long long sa, long long sb, long long sc, int batch, float alpha,
                             float beta) {
    cublasCheck(cublasGemmStridedBatchedEx(cuda_ctx().cublas, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                           m, n, k, &alpha, a, CUDA_R_32F, lda, sa, b, CUDA_R_32F, ldb, sb, &beta, c,
                                           CUDA_R_32F, ldc, sc, batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

class GpuOptimizer {
public:
    // cfg must have its defaults resolved.
    GpuOptimizer(const OptimConfig& cfg, const GPT2Config& model) : cfg_(cfg), groups_(optim_param_groups(cfg, model)) {
        size_t muon_slice_max = 0, muon_gram_max = 0;
        for (const ParamGroup& g : groups_) {
            std::vector<float*> slots;
            for (const std::string& slot : optim_state_slots(g.rule, cfg_)) {
                float* buf = nullptr;
                cudaCheck(cudaMalloc(&buf, g.tensor.numel() * sizeof(float)));
                cudaCheck(cudaMemset(buf, 0, g.tensor.numel() * sizeof(float)));
                state_bytes_ += g.tensor.numel() * sizeof(float);
                slots.push_back(buf);
                state_names_.push_back(std::string(g.tensor.name) + "." + slot);
                state_.push_back(buf);
                state_numel_.push_back(g.tensor.numel());
            }
            slots_.push_back(slots);
            if (g.rule == Algorithm::Muon) {
                const size_t r = std::min(g.tensor.rows, g.tensor.cols);
                muon_slice_max = std::max(muon_slice_max, g.tensor.numel());
                muon_gram_max = std::max(muon_gram_max, (size_t)g.tensor.layers * r * r);
            }
        }
        if (muon_slice_max) {
            cudaCheck(cudaMalloc(&muon_x_, muon_slice_max * sizeof(float)));
            cudaCheck(cudaMalloc(&muon_y_, muon_slice_max * sizeof(float)));
            cudaCheck(cudaMalloc(&muon_a_, muon_gram_max * sizeof(float)));
            cudaCheck(cudaMalloc(&muon_b_, muon_gram_max * sizeof(float)));
        }
    }
    ~GpuOptimizer() {
        for (float* s : state_) cudaFree(s);
        cudaFree(muon_x_);
        cudaFree(muon_y_);
        cudaFree(muon_a_);
        cudaFree(muon_b_);
    }
    GpuOptimizer(const GpuOptimizer&) = delete;
    GpuOptimizer& operator=(const GpuOptimizer&) = delete;

    // Bytes of device memory an optimizer for this config allocates (for the memory check).
    static size_t device_bytes(const OptimConfig& cfg, const GPT2Config& model) {
        size_t bytes = 0, muon_slice_max = 0, muon_gram_max = 0;
        for (const ParamGroup& g : optim_param_groups(cfg, model)) {
            bytes += optim_state_slots(g.rule, cfg).size() * g.tensor.numel() * sizeof(float);
            if (g.rule == Algorithm::Muon) {
                const size_t r = std::min(g.tensor.rows, g.tensor.cols);
                muon_slice_max = std::max(muon_slice_max, g.tensor.numel());
                muon_gram_max = std::max(muon_gram_max, (size_t)g.tensor.layers * r * r);
            }
        }
        return bytes + 2 * (muon_slice_max + muon_gram_max) * sizeof(float);
    }

    // One update: master (fp32) and params (floatX) are the flat buffers; grad_scale is a
    // device scalar or nullptr. t is the 1-based step count.
    void step(float* master, floatX* params, const floatX* grads, const float* grad_scale, float lr_factor, int t) {
        for (size_t k = 0; k < groups_.size(); k++) {
            const ParamGroup& group = groups_[k];
            const ParamTensor& tensor = group.tensor;
            NvtxRange range("optimizer/%s/%s", algorithm_name(group.rule), tensor.name);
            const size_t n = tensor.numel(), off = tensor.offset;
            const float lr = group.peak_lr * lr_factor;
            const float wd = group.weight_decay ? cfg_.weight_decay : 0.0f;
            float* s0 = slots_[k].size() > 0 ? slots_[k][0] : nullptr;
            float* s1 = slots_[k].size() > 1 ? slots_[k][1] : nullptr;
            if (group.rule == Algorithm::Muon) {
                muon_step(tensor, master + off, params + off, grads + off, s0, grad_scale,
                          {lr, wd, cfg_.momentum, cfg_.nesterov == 1, cfg_.muon_ns_steps});
                continue;
            }
            ElementwiseHyper h{};
            h.sgd = {lr, wd, cfg_.momentum, cfg_.nesterov == 1};
            h.signsgd = {lr, wd};
            h.signum = {lr, wd, cfg_.momentum};
            h.adamw = {lr, wd, cfg_.beta1, cfg_.beta2, cfg_.eps};
            h.adamw_scalars = adamw_step_scalars(h.adamw, t);
            h.lion = {lr, wd, cfg_.beta1, cfg_.beta2};
            const int blocks = ceil_div((long long)n, 256);
            float* m = master + off;
            floatX* p = params + off;
            const floatX* g = grads + off;
            switch (group.rule) {
                case Algorithm::SGD: elementwise_update_kernel<Algorithm::SGD><<<blocks, 256>>>(m, p, g, s0, s1, n, grad_scale, h); break;
                case Algorithm::SignSGD: elementwise_update_kernel<Algorithm::SignSGD><<<blocks, 256>>>(m, p, g, s0, s1, n, grad_scale, h); break;
                case Algorithm::Signum: elementwise_update_kernel<Algorithm::Signum><<<blocks, 256>>>(m, p, g, s0, s1, n, grad_scale, h); break;
                case Algorithm::AdamW: elementwise_update_kernel<Algorithm::AdamW><<<blocks, 256>>>(m, p, g, s0, s1, n, grad_scale, h); break;
                case Algorithm::Lion: elementwise_update_kernel<Algorithm::Lion><<<blocks, 256>>>(m, p, g, s0, s1, n, grad_scale, h); break;
                case Algorithm::Muon: break;
            }
            cudaCheckLaunch();
        }
    }

    const std::vector<ParamGroup>& groups() const { return groups_; }
    const std::vector<std::string>& state_names() const { return state_names_; }
    const std::vector<float*>& state() const { return state_; }
    const std::vector<size_t>& state_numel() const { return state_numel_; }

private:
    void muon_step(const ParamTensor& tensor, float* master, floatX* params, const floatX* grads, float* momentum,
                   const float* grad_scale, const MuonHyper& h) {
        const size_t n = tensor.numel(), slice = tensor.layer_numel();
        const int L = tensor.layers, rows = tensor.rows, cols = tensor.cols;
        muon_momentum_kernel<<<ceil_div((long long)n, 256), 256>>>(muon_x_, momentum, grads, n, grad_scale, h);
        cudaCheckLaunch();
        muon_normalize_kernel<<<L, 1024>>>(muon_x_, slice);
        cudaCheckLaunch();
        // Wide orientation X (r x c), r = min(rows, cols). Memory read column-major is X^T
        // (c x r, ld c) when rows <= cols, and X itself (r x c, ld r) when rows > cols.
        const bool tall = rows > cols;
        const int r = tall ? cols : rows, c = tall ? rows : cols;
        const long long rr = (long long)r * r, sx = (long long)slice;
        float *x = muon_x_, *y = muon_y_;
        for (int s = 0; s < h.ns_steps; s++) {
            if (tall) gemm_f32_batched(muon_a_, x, x, r, r, c, false, true, r, r, r, sx, sx, rr, L, 1.0f, 0.0f);
            else gemm_f32_batched(muon_a_, x, x, r, r, c, true, false, c, c, r, sx, sx, rr, L, 1.0f, 0.0f);
            // B = b A + c A A (A symmetric, so its orientation does not matter)
            cudaCheck(cudaMemcpyAsync(muon_b_, muon_a_, rr * L * sizeof(float), cudaMemcpyDeviceToDevice));
            gemm_f32_batched(muon_b_, muon_a_, muon_a_, r, r, r, false, false, r, r, r, rr, rr, rr, L, NS_C, NS_B);
            // Y = a X + B X
            cudaCheck(cudaMemcpyAsync(y, x, n * sizeof(float), cudaMemcpyDeviceToDevice));
            if (tall) gemm_f32_batched(y, muon_b_, x, r, c, r, false, false, r, r, r, rr, sx, sx, L, 1.0f, NS_A);
            else gemm_f32_batched(y, x, muon_b_, c, r, r, false, false, c, r, c, sx, rr, sx, L, 1.0f, NS_A);
            std::swap(x, y);
        }
        muon_apply_kernel<<<ceil_div((long long)n, 256), 256>>>(master, params, x, n, muon_scaled_lr(h.lr, rows, cols), h);
        cudaCheckLaunch();
    }

    OptimConfig cfg_;
    std::vector<ParamGroup> groups_;
    std::vector<std::vector<float*>> slots_;
    std::vector<float*> state_;
    std::vector<std::string> state_names_;
    std::vector<size_t> state_numel_;
    size_t state_bytes_ = 0;
    float *muon_x_ = nullptr, *muon_y_ = nullptr, *muon_a_ = nullptr, *muon_b_ = nullptr;
};
