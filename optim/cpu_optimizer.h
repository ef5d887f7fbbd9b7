// The CPU reference optimizer: walks the 16 parameter tensors with their param groups
// (param_groups.h) and applies each one's rule with lr = peak_lr * lr_factor. Owns the fp32
// state each rule needs, one buffer per (tensor, slot), named "<tensor>.<slot>":
//   sgd: "momentum" (only when momentum > 0)   signsgd: none   signum: "momentum"
//   adamw: "exp_avg", "exp_avg_sq"             lion: "exp_avg" muon: "momentum"
//   nsgd: "momentum"                           ssvr: "v", "prev_params"
// Under muon the fallback rule's slots are used for the non-matrix tensors. Each tensor's rule
// reads its group's momentum, nesterov and betas (ParamGroup::hyper: the config's, or an
// --optim-group rule's own); eps is shared. Gradients arrive already clipped.
// ssvr needs two gradients per step (optim/ssvr.h): the trainer calls ssvr_add_current with
// the step's gradient, then (steps after the first) computes the gradient at
// ssvr_previous_params on the same batch and passes it to ssvr_sub_previous, then step().
#pragma once
#include <algorithm>
#include <string>
#include <vector>

#include "../common/gpt2_layout.h"
#include "../common/utils.h"
#include "adamw.h"
#include "lion.h"
#include "muon.h"
#include "nsgd.h"
#include "optim_config.h"
#include "param_groups.h"
#include "sgd.h"
#include "signsgd.h"
#include "signum.h"
#include "ssvr.h"

// A state buffer holds the whole tensor, or under ZeRO-1 (CpuOptimizer::keep_only) only the
// pieces this rank updates: tensor elements [begin, end) of each piece, stored one after the
// other in data.
struct StatePiece {
    size_t begin, end; // tensor-local elements
    size_t at;         // where element `begin` is in data
};
struct OptimStateBuffer {
    std::string name;        // "<tensor>.<slot>", e.g. "qkvw.momentum"
    size_t tensor_offset;    // the tensor's first flat index
    size_t tensor_numel;     // the whole tensor's
    std::vector<StatePiece> pieces;
    std::vector<float> data; // the pieces' elements, zero-initialized
    bool whole() const { return pieces.size() == 1 && pieces[0].begin == 0 && pieces[0].end == tensor_numel; }
    // Tensor element i, which must lie in a piece (the n elements from it in the same piece).
    float* element(size_t i) {
        for (const StatePiece& p : pieces)
            if (i >= p.begin && i < p.end) return data.data() + p.at + (i - p.begin);
        fail_usage("internal: optimizer state %s has no element %zu on this rank", name.c_str(), i);
    }
};

inline std::vector<std::string> optim_state_slots(const ParamGroup& g) {
    switch (g.rule) {
        case Algorithm::SGD: return g.hyper.momentum > 0.0f ? std::vector<std::string>{"momentum"} : std::vector<std::string>{};
        case Algorithm::SignSGD: return {};
        case Algorithm::Signum: return {"momentum"};
        case Algorithm::AdamW: return {"exp_avg", "exp_avg_sq"};
        case Algorithm::Lion: return {"exp_avg"};
        case Algorithm::Muon: return {"momentum"};
        case Algorithm::NSGD: return {"momentum"};
        case Algorithm::SSVR: return {"v", "prev_params"};
    }
    return {};
}

class CpuOptimizer {
public:
    // cfg must have its defaults resolved (resolve_optim_defaults). owned: ZeRO-1's flat ranges
    // of this rank (keep_only), so that the whole state is never allocated; empty: all of it.
    CpuOptimizer(const OptimConfig& cfg, const GPT2Config& model, const std::vector<std::pair<size_t, size_t>>& owned = {})
        : cfg_(cfg), groups_(optim_param_groups(cfg, model)) {
        for (const ParamGroup& g : groups_) {
            std::vector<int> slots;
            for (const std::string& slot : optim_state_slots(g)) {
                slots.push_back((int)state_.size());
                state_.push_back({std::string(g.tensor.name) + "." + slot, g.tensor.offset, g.tensor.numel(), {}, {}});
            }
            slots_.push_back(slots);
        }
        keep_only(owned.empty() ? std::vector<std::pair<size_t, size_t>>{{0, num_params()}} : owned);
    }

    // ZeRO-1 (optim/data_parallel.h): from now on this optimizer updates only the flat ranges
    // `owned` (disjoint), and every state buffer keeps only their intersection with its
    // tensor, zeroed: the memory ZeRO-1 saves. Call before any step or resume (the
    // constructor's `owned` does it without allocating the whole state first).
    void keep_only(const std::vector<std::pair<size_t, size_t>>& owned) {
        for (size_t k = 0; k < groups_.size(); k++) {
            const size_t offset = groups_[k].tensor.offset, numel = groups_[k].tensor.numel();
            std::vector<StatePiece> pieces;
            size_t total = 0;
            for (const auto& r : owned) {
                const size_t lo = std::max(r.first, offset), hi = std::min(r.second, offset + numel);
                if (lo >= hi) continue;
                pieces.push_back({lo - offset, hi - offset, total});
                total += hi - lo;
            }
            for (int j : slots_[k]) {
                state_[j].pieces = pieces;
                state_[j].data.assign(total, 0.0f);
                state_[j].data.shrink_to_fit();
            }
        }
    }
    // Floats of state this optimizer holds now (after keep_only: this rank's share).
    size_t state_floats() const {
        size_t n = 0;
        for (const OptimStateBuffer& b : state_) n += b.data.size();
        return n;
    }

    // One update of the flat parameter buffer. t is the 1-based step count (AdamW's bias
    // correction); lr_factor comes from the schedule.
    void step(float* params, const float* grads, float lr_factor, int t) {
        step_ranges(params, grads, lr_factor, t, {{0, num_params()}}, [](double x) { return x; });
        for (size_t k = 0; k < groups_.size(); k++)
            if (groups_[k].rule == Algorithm::Muon)
                for (int l = 0; l < groups_[k].tensor.layers; l++) step_muon_matrix(params, grads, lr_factor, k, l);
    }

    // The elementwise rules on the flat coordinates of `ranges` only (disjoint [begin, end)),
    // the same arithmetic as step() (ZeRO-1, optim/data_parallel.h: each rank its part).
    // Muon's matrices are left to step_muon_matrix. nsgd --nsgd-norm global: ||m||^2 over the
    // ranges goes through global_sum (the sum over ranks; identity in one process) before
    // anything is applied; --nsgd-norm tensor: the ranges must hold whole layer slices.
    template <class GlobalSum>
    void step_ranges(float* params, const float* grads, float lr_factor, int t, const std::vector<std::pair<size_t, size_t>>& ranges,
                     GlobalSum global_sum) {
        // nsgd global: every tensor's momentum first, for the norm over the whole model
        const bool nsgd_global = cfg_.nsgd_norm == NsgdNorm::Global;
        double nsgd_sum_sq = 0.0;
        bool nsgd = false;
        for (size_t k = 0; k < groups_.size(); k++) {
            if (groups_[k].rule != Algorithm::NSGD || !nsgd_global) continue;
            nsgd = true;
            for (const auto& r : ranges) {
                size_t lo, n;
                if (!clip_range(k, r.first, r.second, &lo, &n)) continue;
                nsgd_sum_sq += nsgd_momentum(grads + lo, slot(k, 0, lo - groups_[k].tensor.offset), n, cfg_.momentum);
            }
        }
        const float nsgd_inv = nsgd ? nsgd_inv_norm(global_sum(nsgd_sum_sq)) : 0.0f;
        for (size_t k = 0; k < groups_.size(); k++) {
            const ParamGroup& group = groups_[k];
            if (group.rule == Algorithm::Muon) continue;
            for (const auto& r : ranges) {
                size_t lo, n;
                if (!clip_range(k, r.first, r.second, &lo, &n)) continue;
                const size_t at = lo - group.tensor.offset; // tensor-local: the state's index
                float* p = params + lo;
                const float* g = grads + lo;
                const float lr = group.peak_lr * lr_factor;
                const float wd = group.weight_decay ? cfg_.weight_decay : 0.0f;
                const RuleHyper& h = group.hyper;
                float* s0 = slot(k, 0, at);
                switch (group.rule) {
                    case Algorithm::SGD: sgd_update(p, g, s0, n, {lr, wd, h.momentum, h.nesterov == 1}); break;
                    case Algorithm::SignSGD: signsgd_update(p, g, n, {lr, wd}); break;
                    case Algorithm::Signum: signum_update(p, g, s0, n, {lr, wd, h.momentum}); break;
                    case Algorithm::AdamW: adamw_update(p, g, s0, slot(k, 1, at), n, {lr, wd, h.beta1, h.beta2, cfg_.eps}, t); break;
                    case Algorithm::Lion: lion_update(p, g, s0, n, {lr, wd, h.beta1, h.beta2}); break;
                    case Algorithm::Muon: break;
                    case Algorithm::NSGD:
                        if (nsgd_global) nsgd_apply(p, s0, n, nsgd_inv, {lr, wd, cfg_.momentum});
                        else nsgd_slices(k, p, g, s0, at, n, {lr, wd, cfg_.momentum});
                        break;
                    case Algorithm::SSVR: ssvr_apply(p, slot(k, 1, at), s0, n, {lr, wd}); break;
                }
            }
        }
    }

    // Muon on one whole matrix: layer l of tensor group k (a hidden matrix).
    void step_muon_matrix(float* params, const float* grads, float lr_factor, size_t k, int l) {
        const ParamGroup& group = groups_[k];
        const ParamTensor& tensor = group.tensor;
        const float lr = group.peak_lr * lr_factor;
        const float wd = group.weight_decay ? cfg_.weight_decay : 0.0f;
        const MuonHyper h = muon_hyper(with_group_hyper(cfg_, group), lr, wd); // the group's momentum, nesterov
        const size_t slice = tensor.layer_numel(), at = (size_t)l * slice;
        muon_update_matrix(params + tensor.offset + at, grads + tensor.offset + at, slot(k, 0, at), tensor.rows, tensor.cols, h,
                           &scratch_);
    }

    // Signum under --sign-vote (optim/sign_vote.h): m = beta m + (1 - beta) g with this
    // rank's own gradient, for every tensor; m is what the rank's vote is the sign of. The
    // update itself is then signsgd's rule with the vote (apply_sign_vote).
    void signum_momentum(const float* grads) {
        for (size_t k = 0; k < groups_.size(); k++) {
            float* m = slot(k, 0);
            const float* g = grads + groups_[k].tensor.offset;
            const float beta = groups_[k].hyper.momentum;
#pragma omp parallel for simd
            for (long long i = 0; i < (long long)groups_[k].tensor.numel(); i++) m[i] = beta * m[i] + (1.0f - beta) * g[i];
        }
    }
    // The momentum of every tensor, concatenated in the flat parameter order.
    void copy_momentum(float* flat) const {
        for (size_t k = 0; k < groups_.size(); k++) {
            const std::vector<float>& m = state_[slots_[k].at(0)].data;
            std::copy(m.begin(), m.end(), flat + groups_[k].tensor.offset);
        }
    }
    // p -= lr*wd*p; p -= lr*vote, per tensor with its lr and weight decay: signsgd_update with
    // the vote as the gradient (sign(vote) = vote), the last two lines of signsgd.h and signum.h.
    void apply_sign_vote(float* params, const float* vote, float lr_factor) {
        for (const ParamGroup& group : groups_) {
            const float lr = group.peak_lr * lr_factor, wd = group.weight_decay ? cfg_.weight_decay : 0.0f;
            signsgd_update(params + group.tensor.offset, vote + group.tensor.offset, group.tensor.numel(), {lr, wd});
        }
    }

    size_t num_params() const {
        const ParamTensor& last = groups_.back().tensor;
        return last.offset + last.numel();
    }

    // ssvr (see the top): v = g_t + (1 - beta) v over every tensor.
    void ssvr_add_current(const float* grads) {
        for (size_t k = 0; k < groups_.size(); k++)
            ::ssvr_add_current(grads + groups_[k].tensor.offset, slot(k, 0), groups_[k].tensor.numel(), cfg_.momentum);
    }
    // v -= (1 - beta) g_prev, g_prev the gradient at ssvr_previous_params on the same batch.
    void ssvr_sub_previous(const float* grads) {
        for (size_t k = 0; k < groups_.size(); k++)
            ::ssvr_sub_previous(grads + groups_[k].tensor.offset, slot(k, 0), groups_[k].tensor.numel(), cfg_.momentum);
    }
    // The parameters before the last step() into the flat buffer out.
    void ssvr_previous_params(float* out) const {
        for (size_t k = 0; k < groups_.size(); k++) {
            const std::vector<float>& prev = state_[slots_[k][1]].data;
            std::copy(prev.begin(), prev.end(), out + groups_[k].tensor.offset);
        }
    }
    // ssvr's two gradients in one call, before step(t): v = g_t + (1 - beta) v with `grads`
    // (the step's clipped gradient), then for t > 1 params become the previous step's,
    // gradient_at_previous() must leave in `grads` the clipped gradient there on this step's
    // batch, params are restored and v -= (1 - beta) g_prev. The trainer and the tests share it.
    template <class GradientAtPrevious>
    void ssvr_gradients(std::vector<float>& params, const float* grads, int t, GradientAtPrevious&& gradient_at_previous) {
        ssvr_add_current(grads);
        if (t == 1) return;
        std::vector<float> current = params;
        ssvr_previous_params(params.data());
        gradient_at_previous();
        params.swap(current);
        ssvr_sub_previous(grads);
    }
    // Floats the optimizer allocates for cfg and model: its state buffers (about 1/shards of
    // them under ZeRO-1) plus Muon's largest scratch (momentum-update and orthogonalized
    // matrix, and newton_schulz_cpu's temporaries).
    static size_t allocated_floats(const OptimConfig& cfg, const GPT2Config& model, int shards = 1) {
        size_t n = 0, scratch = 0;
        for (const ParamGroup& g : optim_param_groups(cfg, model)) {
            n += optim_state_slots(g).size() * g.tensor.numel();
            if (g.rule == Algorithm::Muon) scratch = std::max(scratch, muon_scratch_floats(g.tensor.rows, g.tensor.cols));
        }
        return (n + shards - 1) / shards + scratch;
    }

    const std::vector<ParamGroup>& groups() const { return groups_; }
    const OptimConfig& config() const { return cfg_; }
    // Every state buffer, in tensor order then slot order: what a checkpoint saves and restores.
    std::vector<OptimStateBuffer>& state() { return state_; }
    const std::vector<OptimStateBuffer>& state() const { return state_; }

private:
    // Slot i of tensor k at tensor element `at` (its piece must hold the elements read from it).
    float* slot(size_t tensor, size_t i, size_t at = 0) {
        return i < slots_[tensor].size() ? state_[slots_[tensor][i]].element(at) : nullptr;
    }
    // nsgd --nsgd-norm tensor on tensor k's elements [at, at + n), which must be whole layer
    // slices (ZeRO-1 shards, which cut slices, are refused with it in parse_train_args).
    void nsgd_slices(size_t k, float* p, const float* g, float* m, size_t at, size_t n, const NsgdHyper& h) {
        const size_t slice = groups_[k].tensor.layer_numel();
        if (at % slice != 0 || n % slice != 0)
            fail_usage("nsgd --nsgd-norm tensor: %s's elements [%zu, %zu) are not whole layer slices of %zu (a ZeRO-1 shard?)",
                       groups_[k].tensor.name, at, at + n, slice);
        for (size_t i = 0; i < n; i += slice) nsgd_slice_update(p + i, g + i, m + i, slice, h);
    }
    // The part of tensor k inside the flat range [begin, end): its first flat index and length.
    bool clip_range(size_t k, size_t begin, size_t end, size_t* lo, size_t* n) const {
        const size_t a = std::max(begin, groups_[k].tensor.offset), b = std::min(end, groups_[k].tensor.offset + groups_[k].tensor.numel());
        if (a >= b) return false;
        *lo = a;
        *n = b - a;
        return true;
    }

    OptimConfig cfg_;
    std::vector<ParamGroup> groups_;
    std::vector<OptimStateBuffer> state_;
    std::vector<std::vector<int>> slots_; // per tensor: indices into state_
    std::vector<float> scratch_;          // Muon's momentum-update and orthogonalized matrices
};
