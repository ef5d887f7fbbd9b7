// --zo on the GPU (train_gpt2cu): MeZO, JAGUAR SignSGD and JAGUAR Muon as in common/zero_order.h,
// with the same draws (common/zero_order_draws.h: the perturbation of step t at flat index i is a
// pure function of (--seed, t, i) on host and device alike). docs/zero_order.md has the methods.
// Data parallel: each rank's two losses are averaged over the ranks (step's mean, one all-reduce of
// two doubles), so every rank applies the same update to its whole copy of the model and state.
//
// Differences from the CPU step, all from the bf16 copy the model computes with:
//   - the perturbed weights are written into the floatX params from the fp32 master copy,
//     floatX(master + eps z), and the restore is floatX(master): exact, where the CPU's in-place
//     W + eps z - 2 eps z + eps z drifts by about an ulp per element per step;
//   - in bf16 a shift smaller than half the weight's bf16 spacing rounds away (a LayerNorm
//     gain of 1 has spacing 2^-7 = 0.0078 > MeZO's eps 1e-3), so the losses see less of the
//     perturbation than the fp32 CPU does; the fp32 build (-DENABLE_FP32) does not round;
//   - jaguar-muon's Newton-Schulz runs in bf16 (GpuMuon::step_direction on JAGUAR's fp32 m, one
//     layer of each hidden matrix per call: its work buffers hold one layer's matrices, not a
//     gradient-sized buffer) and the matrices' bf16 copy is rounded stochastically, as Muon's.
#pragma once
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "../common/zero_order_config.h"
#include "../common/zero_order_draws.h"
#include "../kernels/common.cuh"
#include "gpu_optimizer.cuh"

// params[i] = floatX(master[i] + scale z_i) on [lo, hi) (scale 0: the restore).
__global__ void zo_mezo_perturb_kernel(floatX* params, const float* master, size_t lo, size_t hi, uint64_t key, float scale) {
    const size_t i = lo + (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < hi) params[i] = from_float<floatX>(master[i] + scale * mezo_direction(key, i));
}

// MeZO's update on [lo, hi): sgd's rule (no momentum) with the estimate g z_i, then the floatX copy.
__global__ void zo_mezo_update_kernel(float* master, floatX* params, size_t lo, size_t hi, uint64_t key, float g, SgdHyper h) {
    const size_t i = lo + (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= hi) return;
    float unused = 0.0f;
    sgd_update_element(master[i], g * mezo_direction(key, i), unused, h);
    params[i] = from_float<floatX>(master[i]);
}

// JAGUAR's set of one tensor (local indices, offset: the tensor's first flat index):
// params = floatX(master + by s_i) on the set (by 0: the restore, exact).
__global__ void zo_jaguar_shift_kernel(floatX* params, const float* master, const unsigned* local, size_t n, size_t offset,
                                       uint64_t sign_key, float by) {
    const size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= n) return;
    const size_t i = offset + local[k];
    params[i] = from_float<floatX>(master[i] + by * jaguar_sign(sign_key, i));
}

// m_i = beta m_i + (1 - beta) s_i rho on the set, unchanged elsewhere (m: the tensor's slot).
__global__ void zo_jaguar_momentum_kernel(float* m, const unsigned* local, size_t n, size_t offset, uint64_t sign_key, float rho,
                                          float beta) {
    const size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= n) return;
    float& mi = m[local[k]];
    mi = beta * mi + (1.0f - beta) * (jaguar_sign(sign_key, offset + local[k]) * rho);
}

// W -= lr sign(m) on a whole tensor (signsgd's rule on m), then the floatX copy.
__global__ void zo_sign_step_kernel(float* master, floatX* params, const float* m, size_t n, SignSgdHyper h) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    signsgd_update_element(master[i], m[i], h);
    params[i] = from_float<floatX>(master[i]);
}

class GpuZeroOrder {
public:
    static constexpr int threads = 256;

    // JAGUAR's index lists are allocated here, once: every step's sets have the same sizes.
    GpuZeroOrder(const ZoConfig& zo, const GPT2Config& model, uint64_t seed)
        : zo_(zo), model_(model), seed_(seed), set_begin_(set_layout(zo, model)) {
        if (set_begin_.back() > 0) cudaCheck(cudaMalloc(&set_idx_, set_begin_.back() * sizeof(unsigned)));
    }
    ~GpuZeroOrder() { cudaFree(set_idx_); }
    GpuZeroOrder(const GpuZeroOrder&) = delete;
    GpuZeroOrder& operator=(const GpuZeroOrder&) = delete;

    // One step; loss(): this rank's mean loss of the step's batch (same batch every call) at the
    // current params; mean(x, 2): the two losses averaged over the ranks in place (one all-reduce),
    // so every rank computes the same estimate and applies the same update.
    template <class LossFn, class MeanFn>
    ZoStepResult step(float* master, floatX* params, GpuOptimizer& opt, const OptimConfig& oc, LossFn loss, MeanFn mean, float lr_factor,
                      int t) {
        return zo_.method == ZoMethod::MeZO ? mezo_step(master, params, opt, oc, loss, mean, lr_factor, t)
                                            : jaguar_step(master, params, opt, oc, loss, mean, lr_factor, t);
    }

    // Device bytes this class allocates: JAGUAR's index lists and jaguar-muon's Newton-Schulz work.
    static size_t device_bytes(const ZoConfig& zo, const OptimConfig& oc, const GPT2Config& model) {
        return set_index_bytes(zo, model) + newton_schulz_bytes(zo, oc, model);
    }
    // JAGUAR's sets as 4-byte local indices, one step's (about --zo-fraction^2 of each matrix's
    // entries, --zo-fraction of each vector's); 0 for MeZO.
    static size_t set_index_bytes(const ZoConfig& zo, const GPT2Config& model) { return set_layout(zo, model).back() * sizeof(unsigned); }
    // jaguar-muon's Newton-Schulz work (GpuMuon on one layer of each hidden matrix); 0 for the others.
    static size_t newton_schulz_bytes(const ZoConfig& zo, const OptimConfig& oc, const GPT2Config& model) {
        if (zo.method != ZoMethod::JaguarMuon) return 0;
        const std::vector<ParamTensor> layer = one_layer_matrices(optim_param_groups(oc, model));
        return layer.empty() ? 0 : GpuMuon::device_bytes(layer);
    }

private:
    static unsigned blocks(size_t n) { return (unsigned)((n + threads - 1) / threads); }

    void mezo_perturb(float* master, floatX* params, uint64_t key, float scale) {
        for (const auto& r : mezo_ranges(model_))
            if (r.second > r.first) zo_mezo_perturb_kernel<<<blocks(r.second - r.first), threads>>>(params, master, r.first, r.second, key, scale);
        cudaCheck(cudaGetLastError());
    }

    // L+ and L- over the ranks (both at once: one all-reduce), then the estimate (L+ - L-) / (2 shift).
    template <class MeanFn> static void average_losses(ZoStepResult* r, MeanFn mean, float shift) {
        double losses[2] = {r->loss_plus, r->loss_minus};
        mean(losses, 2);
        r->loss_plus = losses[0], r->loss_minus = losses[1];
        r->estimate = (r->loss_plus - r->loss_minus) / (2.0 * shift);
    }

    template <class LossFn, class MeanFn>
    ZoStepResult mezo_step(float* master, floatX* params, GpuOptimizer& opt, const OptimConfig& oc, LossFn loss, MeanFn mean, float lr_factor,
                           int t) {
        const uint64_t key = zo_step_key(seed_, t, ZoStream::MezoDirection);
        ZoStepResult r;
        mezo_perturb(master, params, key, zo_.eps);
        r.loss_plus = loss();
        mezo_perturb(master, params, key, -zo_.eps);
        r.loss_minus = loss();
        mezo_perturb(master, params, key, 0.0f); // back to floatX(W), exactly
        average_losses(&r, mean, zo_.eps);
        if (!std::isfinite(r.estimate)) return r;
        for (const ParamGroup& group : opt.groups()) {
            const SgdHyper h{group.peak_lr * lr_factor, group.weight_decay ? oc.weight_decay : 0.0f, 0.0f, false};
            const size_t lo = group.tensor.offset;
            const size_t hi = lo + gpt2_real_numel(group.tensor, model_);
            zo_mezo_update_kernel<<<blocks(hi - lo), threads>>>(master, params, lo, hi, key, (float)r.estimate, h);
        }
        cudaCheck(cudaGetLastError());
        return r;
    }

    // Where tensor k's index list starts in the one device buffer, [k] to [k + 1) (tensor order,
    // the optimizer's groups'): its layers' sets one after the other. All zero for MeZO.
    static std::vector<size_t> set_layout(const ZoConfig& zo, const GPT2Config& model) {
        std::vector<size_t> begin = {0};
        for (const ParamTensor& p : gpt2_param_tensors(model))
            begin.push_back(begin.back() + (zo.method == ZoMethod::MeZO ? 0 : (size_t)p.layers * jaguar_set_size(model, p, zo.fraction)));
        return begin;
    }
    size_t set_n(size_t k) const { return set_begin_[k + 1] - set_begin_[k]; }
    const unsigned* set_idx(size_t k) const { return set_idx_ + set_begin_[k]; }

    // The step's sets as local indices per tensor, into the buffer of the constructor (jaguar_sets:
    // host, the CPU's); one copy to the device.
    void upload_sets(const GpuOptimizer& opt, int t) {
        const std::vector<JaguarSet> sets = jaguar_sets(model_, zo_.fraction, seed_, t);
        local_.clear();
        size_t set = 0;
        for (size_t k = 0; k < opt.groups().size(); k++) {
            const ParamTensor& tensor = opt.groups()[k].tensor;
            for (int l = 0; l < tensor.layers; l++, set++)
                for (size_t e = 0; e < sets[set].size(); e++) local_.push_back((unsigned)(sets[set].flat(e) - tensor.offset));
            if (k + 1 >= set_begin_.size() || local_.size() != set_begin_[k + 1])
                fail_runtime("internal: JAGUAR's sets of %s do not fit the index lists planned for them", tensor.name);
        }
        cudaCheck(cudaMemcpy(set_idx_, local_.data(), local_.size() * sizeof(unsigned), cudaMemcpyHostToDevice));
    }
    void jaguar_shift(float* master, floatX* params, const GpuOptimizer& opt, uint64_t sign_key, float by) {
        for (size_t k = 0; k < opt.groups().size(); k++)
            if (set_n(k)) zo_jaguar_shift_kernel<<<blocks(set_n(k)), threads>>>(params, master, set_idx(k), set_n(k),
                                                                                  opt.groups()[k].tensor.offset, sign_key, by);
        cudaCheck(cudaGetLastError());
    }

    template <class LossFn, class MeanFn>
    ZoStepResult jaguar_step(float* master, floatX* params, GpuOptimizer& opt, const OptimConfig& oc, LossFn loss, MeanFn mean,
                             float lr_factor, int t) {
        const uint64_t sign_key = zo_step_key(seed_, t, ZoStream::JaguarSigns);
        upload_sets(opt, t);
        ZoStepResult r;
        jaguar_shift(master, params, opt, sign_key, zo_.tau);
        r.loss_plus = loss();
        jaguar_shift(master, params, opt, sign_key, -zo_.tau);
        r.loss_minus = loss();
        jaguar_shift(master, params, opt, sign_key, 0.0f); // floatX(W) on the set, exactly
        average_losses(&r, mean, zo_.tau);
        if (!std::isfinite(r.estimate)) return r;
        for (size_t k = 0; k < opt.groups().size(); k++) {
            const ParamGroup& group = opt.groups()[k];
            float* m = momentum(opt, group);
            if (set_n(k))
                zo_jaguar_momentum_kernel<<<blocks(set_n(k)), threads>>>(m, set_idx(k), set_n(k), group.tensor.offset, sign_key,
                                                                         (float)r.estimate, zo_.beta);
            if (group.rule == Algorithm::Muon) continue; // jaguar-muon's matrices: muon_step, once every m is updated
            const SignSgdHyper h{group.peak_lr * lr_factor, group.weight_decay ? oc.weight_decay : 0.0f};
            const size_t n = group.tensor.numel();
            zo_sign_step_kernel<<<blocks(n), threads>>>(master + group.tensor.offset, params + group.tensor.offset, m, n, h);
        }
        cudaCheck(cudaGetLastError());
        muon_step(master, params, opt, oc, lr_factor, t);
        return r;
    }

    // One layer slice of each of Muon's matrices (offsets: layer 0; step_direction gives each call's).
    static std::vector<ParamTensor> one_layer_matrices(const std::vector<ParamGroup>& groups) {
        std::vector<ParamTensor> out;
        for (const ParamGroup& g : groups)
            if (g.rule == Algorithm::Muon) out.push_back(g.tensor), out.back().layers = 1;
        return out;
    }

    // jaguar-muon's hidden matrices, layer by layer: W -= lr scale NS(m) (+ decoupled decay), the
    // CPU's newton_schulz_cpu on m and muon_apply_element (common/zero_order.h), through
    // GpuMuon::step_direction; ns_ holds one layer of each matrix, never a gradient-sized buffer.
    void muon_step(float* master, floatX* params, const GpuOptimizer& opt, const OptimConfig& oc, float lr_factor, int t) {
        std::vector<const ParamGroup*> matrices;
        std::vector<MuonHyper> hyper;
        for (const ParamGroup& g : opt.groups())
            if (g.rule == Algorithm::Muon) {
                matrices.push_back(&g);
                hyper.push_back(MuonHyper{g.peak_lr * lr_factor, g.weight_decay ? oc.weight_decay : 0.0f, 0.0f, false, oc.muon_ns_steps,
                                          oc.muon_scale, oc.muon_ns});
            }
        if (matrices.empty()) return;
        if (!ns_) ns_.reset(new GpuMuon(one_layer_matrices(opt.groups()))); // counted by device_bytes
        for (int l = 0; l < matrices[0]->tensor.layers; l++) {
            std::vector<size_t> offsets;
            std::vector<float*> direction;
            for (const ParamGroup* g : matrices) {
                const size_t at = (size_t)l * g->tensor.layer_numel();
                offsets.push_back(g->tensor.offset + at);
                direction.push_back(momentum(opt, *g) + at);
            }
            ns_->step_direction(master, params, offsets, direction, hyper, opt.step_rounding_key(t));
        }
    }

    // JAGUAR's m of a tensor: signum's "<tensor>.momentum" slot, whole (--zo refuses -z 1).
    static float* momentum(const GpuOptimizer& opt, const ParamGroup& group) {
        const std::string name = std::string(group.tensor.name) + ".momentum";
        for (size_t j = 0; j < opt.state_names().size(); j++)
            if (opt.state_names()[j] == name && opt.state()[j]) return opt.state()[j];
        fail_usage("internal: --zo jaguar needs the device buffer %s", name.c_str());
    }

    ZoConfig zo_;
    GPT2Config model_;
    uint64_t seed_;
    std::vector<size_t> set_begin_; // JAGUAR: tensor k's index list is set_idx_[set_begin_[k], set_begin_[k + 1])
    unsigned* set_idx_ = nullptr;   // one step's sets, allocated once (set_index_bytes)
    std::vector<unsigned> local_;   // their host copy, reused every step
    std::unique_ptr<GpuMuon> ns_; // jaguar-muon: Newton-Schulz work of one layer's matrices
};
