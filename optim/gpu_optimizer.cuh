// The GPU optimizer: the CPU reference's rules (optim/*.h, the same OPTIM_HD functions) on
// fp32 master weights and fp32 state, writing the floatX parameters the model reads with
// stochastic rounding seeded by (seed, step): a run is reproducible and a resumed run (master,
// params and state restored) continues identically. Per step:
//   - every tensor of the element-wise rule: one fused launch (sgd.cuh ... lion.cuh) with a
//     table of per-tensor offsets, lr, weight decay and state buffers;
//   - under muon: the 4 hidden matrices through GpuMuon (muon.cuh: momentum, Newton-Schulz
//     on cuBLAS batched over the layers, apply), the rest in one launch of the fallback rule.
// Gradients are floatX and are multiplied by the clip scale (a device scalar, see
// kernels/global_norm.cuh) as they are read. State buffers are named and ordered as
// CpuOptimizer's (optim/cpu_optimizer.h), so checkpoints are interchangeable.
// Data parallelism (optim/data_parallel.cuh) gives each rank an OptimShard: the element-wise
// rules update only the flat elements [begin, end) (-z 1: this rank's shard), and Muon
// orthogonalizes only this rank's layers of each matrix (owned_pieces() says who owns what).
// Each state buffer holds only the elements this rank updates (held(): ZeRO-1's memory saving;
// the whole tensor with one rank). Under -z 1 without Muon the fp32 master weights too are the
// rank's shard only (master_part(): the caller keeps just that part, and step() takes the master
// pointer of that part); with Muon (whose layers are not the flat shard) they stay whole.
// sign_vote_table(): --sign-vote's constants.
//   - nsgd: three launches (nsgd.cuh; --nsgd-norm tensor: the slices' gradient norms, their
//     inverses, the update; global: momentum with norm partials, the norm, the update);
//   - ssvr: ssvr_add_current / ssvr_sub_previous fold the two gradients into v (ssvr.cuh),
//     step() copies the floatX parameters into the previous-parameter buffer (flat, the
//     params layout; its checkpoint slots "<tensor>.prev_params" are converted to and from
//     fp32 by download_state / upload_state), then one fused sign step.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "../common/gpt2_layout.h"
#include "adamw.cuh"
#include "cpu_optimizer.h" // optim_state_slots
#include "lion.cuh"
#include "muon.cuh"
#include "nsgd.cuh"
#include "param_groups.h"
#include "sgd.cuh"
#include "signsgd.cuh"
#include "sign_vote.cuh"
#include "signum.cuh"
#include "ssvr.cuh"
#include "stochastic_rounding.cuh"

// Which part of the update this rank computes (one process: all of it).
struct OptimShard {
    size_t shard = 0;        // -z 1: elements per rank, rank r updates [r * shard, (r + 1) * shard); 0: all
    int rank = 0, ranks = 1; // Muon: rank r orthogonalizes muon_layers(L, k, r, ranks) of matrix tensor k
};

// The layers of Muon matrix tensor k (in Muon's order; L layers each) that rank r orthogonalizes,
// those muon_matrix_owner (optim/muon.h, the CPU trainer's round-robin) gives it: `count` layers
// first, first + ranks, first + 2 ranks, ...
struct LayerSet {
    int first, count, stride;
};
inline LayerSet muon_layers(int L, int k, int rank, int ranks) {
    const int first = (int)((((long long)rank - (long long)k * L) % ranks + ranks) % ranks);
    return {first, first < L ? (L - first + ranks - 1) / ranks : 0, ranks};
}

// Elements [begin, end) of a tensor (tensor-local) whose current master value and state live on
// rank `owner` (-1: on every rank).
struct OwnedPiece { size_t begin, end; int owner; };
// The tensor elements (tensor-local) a state buffer holds, one after the other: `count` in all,
// in pieces of `piece` elements `stride` apart from `begin` (Muon's layers of this rank), or
// (piece 0) the one range [begin, begin + count).
struct HeldRange {
    size_t begin, count;
    size_t piece = 0, stride = 0;
    size_t pieces() const { return piece ? count / piece : (count ? 1 : 0); }
    size_t piece_len() const { return piece ? piece : count; }
    size_t piece_begin(size_t j) const { return begin + j * stride; }
    // Where tensor element i is in the buffer (i must be held).
    size_t index_of(size_t i) const {
        if (!piece) return i - begin;
        const size_t j = (i - begin) / stride;
        return j * piece + (i - piece_begin(j));
    }
};

// -z 1 (shard.shard > 0): the tensor-local elements [first, second) of element-wise tensor t
// that rank r updates and holds the state of: its part of rank r's flat shard; or, when Muon
// deals the hidden matrices whole (muon), its part of the tensor itself, floor(numel / ranks)
// each and the leftover to the last rank, as the CPU trainer's Zero1Plan splits the fallback
// tensors (so only they are all-gathered, and evenly).
inline std::pair<size_t, size_t> zero1_part(const ParamTensor& t, const OptimShard& s, int r, bool muon) {
    const size_t numel = t.numel();
    if (muon) return split_among_ranks(numel, s.ranks, r);
    const size_t lo = (size_t)r * s.shard, hi = lo + s.shard;
    const size_t b = std::min(std::max(lo, t.offset), t.offset + numel) - t.offset;
    const size_t e = std::max(std::min(hi, t.offset + numel), t.offset) - t.offset;
    return {b, std::max(b, e)};
}

class GpuOptimizer {
public:
    // cfg must have its defaults resolved. rounding_seed: the run's --seed. muon_work false (--zo
    // jaguar-muon, optim/zero_order.cuh): Muon's state without GpuMuon, whose work buffers hold
    // every matrix (2 floatX per element); step() then leaves the matrices alone.
    GpuOptimizer(const OptimConfig& cfg, const GPT2Config& model, uint64_t rounding_seed = 0, const OptimShard& shard = OptimShard{},
                 bool muon_work = true)
        : cfg_(cfg), groups_(optim_param_groups(cfg, model)), rounding_seed_(rounding_seed), shard_(shard) {
        if (shard_.shard > 0 && (cfg_.algorithm == Algorithm::SSVR || (cfg_.algorithm == Algorithm::Muon && cfg_.muon_fallback == Algorithm::SSVR)))
            fail_usage("-z 1 shards element-wise rules; ssvr (a second gradient pass) is not sharded: use -z 0 on one process");
        if (shard_.shard > 0 && cfg_.algorithm == Algorithm::NSGD && cfg_.nsgd_norm == NsgdNorm::Tensor)
            fail_usage("-z 1 shards nsgd's layer slices across ranks: use --nsgd-norm global or -z 0 with --nsgd-norm tensor");
        const Layout layout = plan(cfg_, groups_, shard_);
        if (layout.state_floats > 0) {
            cudaCheck(cudaMalloc(&state_base_, layout.state_floats * sizeof(float)));
            cudaCheck(cudaMemset(state_base_, 0, layout.state_floats * sizeof(float)));
        }
        if (layout.prev_params > 0) {
            num_params_ = layout.prev_params;
            cudaCheck(cudaMalloc(&prev_params_, num_params_ * sizeof(floatX)));
            cudaCheck(cudaMemset(prev_params_, 0, num_params_ * sizeof(floatX)));
        }
        if (layout.nsgd_scratch > 0) cudaCheck(cudaMalloc(&nsgd_scratch_, layout.nsgd_scratch * sizeof(float)));
        for (size_t k = 0; k < groups_.size(); k++) {
            std::vector<float*> slots;
            const std::vector<std::string> names = optim_state_slots(groups_[k]);
            for (size_t j = 0; j < names.size(); j++) {
                state_names_.push_back(std::string(groups_[k].tensor.name) + "." + names[j]);
                state_numel_.push_back(groups_[k].tensor.numel());
                state_held_.push_back(layout.held[k]);
                if (is_prev_params(names[j])) { // floatX, in prev_params_
                    state_held_.back() = {0, groups_[k].tensor.numel()};
                    state_.push_back(nullptr);
                    state_floatx_.push_back(prev_params_ + groups_[k].tensor.offset);
                    continue;
                }
                float* buf = state_base_ + layout.slot_offsets[k][j];
                slots.push_back(buf);
                state_.push_back(buf);
                state_floatx_.push_back(nullptr);
            }
            slots_.push_back(slots);
            if (groups_[k].rule == Algorithm::Muon) muon_tensors_.push_back(k);
            else add_rule(groups_[k].rule);
        }
        // this rank's layers of each Muon matrix (all of them with one rank)
        std::vector<ParamTensor> mine;
        std::vector<int> strides;
        for (size_t j = 0; j < muon_tensors_.size(); j++) {
            const ParamTensor& t = groups_[muon_tensors_[j]].tensor;
            const LayerSet r = muon_layers(t.layers, (int)j, shard_.rank, shard_.ranks);
            muon_ranges_.push_back(r);
            if (r.count == 0) continue;
            ParamTensor part = t; // its layers first, first + stride, ... (GpuMuon's layer stride)
            part.offset = t.offset + (size_t)r.first * t.layer_numel();
            part.layers = r.count;
            mine.push_back(part);
            strides.push_back(r.stride);
        }
        if (!mine.empty() && muon_work) muon_.reset(new GpuMuon(mine, strides));
    }
    ~GpuOptimizer() {
        cudaFree(nsgd_scratch_);
        cudaFree(prev_params_);
        cudaFree(state_base_);
    }
    GpuOptimizer(const GpuOptimizer&) = delete;
    GpuOptimizer& operator=(const GpuOptimizer&) = delete;

    // Bytes of device memory an optimizer for this config allocates (for the memory check).
    static size_t device_bytes(const OptimConfig& cfg, const GPT2Config& model, const OptimShard& shard = OptimShard{}, bool muon_work = true) {
        const Layout layout = plan(cfg, optim_param_groups(cfg, model), shard);
        return layout.state_floats * sizeof(float) + layout.prev_params * sizeof(floatX) + layout.nsgd_scratch * sizeof(float) +
               (layout.matrices.empty() || !muon_work ? 0 : GpuMuon::device_bytes(layout.matrices));
    }

    // One update: master (fp32) and params (floatX) are the flat buffers; grad_scale is a
    // device scalar or nullptr. t is the 1-based step count (AdamW's bias correction and the
    // rounding stream).
    void step(float* master, floatX* params, const floatX* grads, const float* grad_scale, float lr_factor, int t) {
        FusedStepArgs args = {master, params, grads, grad_scale, rounding_key(rounding_seed_, t)};
        if (master_sharded()) args.master_offset = master_part(model_params()).begin;
        for (Algorithm rule : elementwise_rules_) {
            NvtxRange r("optimizer/%s", algorithm_name(rule));
            switch (rule) {
                case Algorithm::SGD: // each sgd tensor by its group's momentum (optim_state_slots)
                    launch<SgdMomentumRule>(rule, args, lr_factor, t);
                    launch<SgdPlainRule>(rule, args, lr_factor, t);
                    break;
                case Algorithm::SignSGD: launch<SignSgdRule>(rule, args, lr_factor, t); break;
                case Algorithm::Signum: launch<SignumRule>(rule, args, lr_factor, t); break;
                case Algorithm::AdamW: launch<AdamWRule>(rule, args, lr_factor, t); break;
                case Algorithm::Lion: launch<LionRule>(rule, args, lr_factor, t); break;
                case Algorithm::NSGD:
                    if (cfg_.nsgd_norm == NsgdNorm::Tensor) launch_nsgd_slice_step(args, nsgd_slice_table(lr_factor), nsgd_scratch_);
                    else launch_nsgd_step(args, table<NsgdRule>(rule, lr_factor, t), cfg_.momentum, nsgd_scratch_, global_sum_ ? &global_sum_ : nullptr);
                    break;
                case Algorithm::SSVR:
                    // the parameters the model read at this step: the next step's previous parameters
                    cudaCheck(cudaMemcpyAsync(prev_params_, params, num_params_ * sizeof(floatX), cudaMemcpyDeviceToDevice));
                    launch<SsvrRule>(rule, args, lr_factor, t);
                    break;
                case Algorithm::Muon: break; // never element-wise
            }
        }
        if (!muon_) return;
        std::vector<float*> momentum;
        std::vector<MuonHyper> hyper;
        for (size_t j = 0; j < muon_tensors_.size(); j++) {
            const size_t k = muon_tensors_[j];
            if (muon_ranges_[j].count == 0) continue;
            momentum.push_back(slots_[k][0]); // this rank's layers, one after the other
            hyper.push_back(muon_hyper(with_group_hyper(cfg_, groups_[k]), groups_[k].peak_lr * lr_factor, weight_decay(k)));
        }
        muon_->step(master, params, grads, grad_scale, momentum, hyper, args.rounding_key);
    }

    // ssvr (optim/ssvr.h; the caller runs the passes): v = g_t + (1 - beta) v, with the step's
    // gradient, then v -= (1 - beta) g_prev with the gradient at ssvr_previous_params().
    void ssvr_add_current(const floatX* grads, const float* grad_scale) {
        launch_ssvr_fold(table<SsvrRule>(Algorithm::SSVR, 1.0f, 1), grads, grad_scale, cfg_.momentum, true);
    }
    void ssvr_sub_previous(const floatX* grads, const float* grad_scale) {
        launch_ssvr_fold(table<SsvrRule>(Algorithm::SSVR, 1.0f, 1), grads, grad_scale, cfg_.momentum, false);
    }
    // The floatX parameters before the last step (the params layout); the trainer swaps this
    // pointer with the model's for the previous-gradient pass and back.
    floatX* ssvr_previous_params() const { return prev_params_; }
    floatX*& ssvr_previous_params_ref() { return prev_params_; }

    // State buffer k to and from fp32 host memory of state_numel()[k] floats (the whole
    // tensor): what a checkpoint saves and restores. Only the held() elements travel (the rest
    // of host is left as it is). Converts the floatX previous parameters of ssvr.
    void download_state(size_t k, float* host) const {
        if (state_[k]) {
            const HeldRange& h = state_held_[k];
            for (size_t j = 0; j < h.pieces(); j++)
                cudaCheck(cudaMemcpy(host + h.piece_begin(j), state_[k] + j * h.piece_len(), h.piece_len() * sizeof(float), cudaMemcpyDeviceToHost));
            return;
        }
        const std::vector<float> v = download(state_floatx_[k], state_numel_[k]);
        std::copy(v.begin(), v.end(), host);
    }
    void upload_state(size_t k, const float* host) {
        if (state_[k]) {
            const HeldRange& h = state_held_[k];
            for (size_t j = 0; j < h.pieces(); j++)
                cudaCheck(cudaMemcpy(state_[k] + j * h.piece_len(), host + h.piece_begin(j), h.piece_len() * sizeof(float), cudaMemcpyHostToDevice));
            return;
        }
        std::vector<floatX> x(state_numel_[k]);
        for (size_t i = 0; i < x.size(); i++) x[i] = from_float<floatX>(host[i]);
        cudaCheck(cudaMemcpy(state_floatx_[k], x.data(), x.size() * sizeof(floatX), cudaMemcpyHostToDevice));
    }

    // --sign-vote (optim/sign_vote.cuh): every tensor's range, lr, weight decay and (signum) momentum.
    SignVoteTable sign_vote_table(float lr_factor) const {
        if (cfg_.algorithm != Algorithm::SignSGD && cfg_.algorithm != Algorithm::Signum)
            fail_usage("--sign-vote 1 is for --optim signsgd or signum, not %s", algorithm_name(cfg_.algorithm));
        SignVoteTable t;
        t.beta = cfg_.momentum;
        for (size_t k = 0; k < groups_.size(); k++)
            t.tensors[t.count++] = {groups_[k].tensor.offset, groups_[k].tensor.numel(),
                                    cfg_.algorithm == Algorithm::Signum ? slots_[k][0] : nullptr, groups_[k].peak_lr * lr_factor,
                                    weight_decay(k)};
        return t;
    }
    uint64_t step_rounding_key(int t) const { return rounding_key(rounding_seed_, t); }
    // -z 1 (optim/data_parallel.cuh): sums a device double over the ranks in place; nsgd's
    // norm over the whole momentum adds the shards' sums of squares through it.
    void set_global_sum(std::function<void(double*)> f) { global_sum_ = std::move(f); }

    // -z 1 without Muon: the master weights are sharded like the state, rank r keeping flat
    // elements [r * shard, (r + 1) * shard) of the num_params (r: this rank by default).
    bool master_sharded() const { return shard_.shard > 0 && muon_tensors_.empty(); }
    HeldRange master_part(size_t num_params, int r = -1) const {
        if (!master_sharded()) return {0, num_params};
        const size_t b = std::min(num_params, (size_t)(r < 0 ? shard_.rank : r) * shard_.shard), e = std::min(num_params, b + shard_.shard);
        return {b, e - b};
    }

    // Who holds group k's current master weights and state: its Muon layers' owners, its -z 1
    // shards' owners, or every rank.
    std::vector<OwnedPiece> owned_pieces(size_t k) const {
        const ParamTensor& t = groups_[k].tensor;
        std::vector<OwnedPiece> pieces;
        if (groups_[k].rule == Algorithm::Muon) {
            size_t j = 0;
            while (muon_tensors_[j] != k) j++;
            for (int l = 0; l < t.layers; l++)
                pieces.push_back({(size_t)l * t.layer_numel(), (size_t)(l + 1) * t.layer_numel(), muon_matrix_owner((int)j, t.layers, l, shard_.ranks)});
        } else if (shard_.shard > 0) {
            for (int r = 0; r < shard_.ranks; r++) {
                const std::pair<size_t, size_t> part = zero1_part(t, shard_, r, !muon_tensors_.empty());
                if (part.second > part.first) pieces.push_back({part.first, part.second, r});
            }
        } else {
            pieces.push_back({0, t.numel(), -1});
        }
        return pieces;
    }
    const std::vector<float*>& slots(size_t k) const { return slots_[k]; }

    const std::vector<ParamGroup>& groups() const { return groups_; }
    const std::vector<std::string>& state_names() const { return state_names_; }
    const std::vector<float*>& state() const { return state_; }
    const std::vector<size_t>& state_numel() const { return state_numel_; }
    // The tensor elements state buffer k holds on this rank (HeldRange: one range, or Muon's layers).
    const std::vector<HeldRange>& held() const { return state_held_; }
    // Floats of fp32 state this rank holds, and the whole model's.
    size_t held_floats() const {
        size_t n = 0;
        for (size_t k = 0; k < state_.size(); k++) n += state_[k] ? state_held_[k].count : 0;
        return n;
    }
    size_t whole_floats() const {
        size_t n = 0;
        for (size_t k = 0; k < state_.size(); k++) n += state_[k] ? state_numel_[k] : 0;
        return n;
    }

private:
    static bool is_prev_params(const std::string& slot) { return slot == "prev_params"; }
    size_t model_params() const { return groups_.back().tensor.offset + groups_.back().tensor.numel(); }

    // Where each (tensor, slot) fp32 state buffer lives in one allocation (each 256-byte
    // aligned), which tensors Muon orthogonalizes, the floatX previous parameters of ssvr
    // (elements of the flat buffer) and nsgd's norm scratch (one partial per block, the norm).
    // Each state buffer holds held[k] of its tensor k: all of it; -z 1, an element-wise rule's
    // part in this rank's shard; Muon's momentum, this rank's layers (muon_layers).
    struct Layout {
        std::vector<std::vector<size_t>> slot_offsets;
        std::vector<HeldRange> held;
        size_t state_floats = 0, prev_params = 0, nsgd_scratch = 0, nsgd_slices = 0;
        std::vector<ParamTensor> matrices;
    };
    static Layout plan(const OptimConfig& cfg, const std::vector<ParamGroup>& groups, const OptimShard& shard) {
        Layout layout;
        int muon_index = 0;
        bool muon = false;
        for (const ParamGroup& g : groups) muon |= g.rule == Algorithm::Muon;
        for (const ParamGroup& g : groups) {
            const size_t numel = g.tensor.numel();
            HeldRange h = {0, numel};
            if (g.rule == Algorithm::Muon) {
                const LayerSet l = muon_layers(g.tensor.layers, muon_index++, shard.rank, shard.ranks);
                const size_t ln = g.tensor.layer_numel();
                h = l.stride == 1 ? HeldRange{(size_t)l.first * ln, (size_t)l.count * ln}
                                  : HeldRange{(size_t)l.first * ln, (size_t)l.count * ln, ln, (size_t)l.stride * ln};
            } else if (shard.shard > 0) {
                const std::pair<size_t, size_t> part = zero1_part(g.tensor, shard, shard.rank, muon);
                h = {part.first, part.second - part.first};
            }
            layout.held.push_back(h);
            std::vector<size_t> offsets;
            for (const std::string& slot : optim_state_slots(g)) {
                if (is_prev_params(slot)) {
                    layout.prev_params = std::max(layout.prev_params, g.tensor.offset + g.tensor.numel());
                    continue;
                }
                offsets.push_back(layout.state_floats);
                layout.state_floats += (h.count + 63) / 64 * 64;
            }
            layout.slot_offsets.push_back(offsets);
            if (g.rule == Algorithm::Muon) layout.matrices.push_back(g.tensor);
            if (g.rule == Algorithm::NSGD && cfg.nsgd_norm == NsgdNorm::Tensor) {
                layout.nsgd_scratch += (size_t)g.tensor.layers * ceil_div((long long)g.tensor.layer_numel(), FUSED_CHUNK);
                layout.nsgd_slices += (size_t)g.tensor.layers;
            } else if (g.rule == Algorithm::NSGD) {
                layout.nsgd_scratch += ceil_div((long long)g.tensor.numel(), FUSED_CHUNK);
            }
        }
        if (layout.nsgd_slices > 0) layout.nsgd_scratch = nsgd_slice_scratch_floats(layout.nsgd_scratch, layout.nsgd_slices);
        else if (layout.nsgd_scratch > 0) layout.nsgd_scratch = nsgd_scratch_floats(layout.nsgd_scratch);
        return layout;
    }

    void add_rule(Algorithm rule) {
        for (Algorithm r : elementwise_rules_)
            if (r == rule) return;
        elementwise_rules_.push_back(rule);
    }

    float weight_decay(size_t k) const { return groups_[k].weight_decay ? cfg_.weight_decay : 0.0f; }

    // The table of every tensor whose rule is `rule` (-z 1: their parts on this rank, zero1_part).
    template <typename Rule> FusedTable<Rule> table(Algorithm rule, float lr_factor, int t) const {
        FusedTable<Rule> table;
        for (size_t k = 0; k < groups_.size(); k++) {
            if (groups_[k].rule != rule) continue;
            if (rule == Algorithm::SGD && slots_[k].size() != (size_t)Rule::SLOTS) continue; // the other sgd kernel's
            if (slots_[k].size() != (size_t)Rule::SLOTS) fail_runtime("%s: %zu state buffers, the kernel expects %d", groups_[k].tensor.name, slots_[k].size(), Rule::SLOTS);
            const ParamTensor& p = groups_[k].tensor;
            size_t begin = 0, end = p.numel();
            if (shard_.shard > 0) std::tie(begin, end) = zero1_part(p, shard_, shard_.rank, !muon_tensors_.empty());
            if (end > begin)
                table.add_range(p, begin, end - begin, slots_[k].data(),
                                Rule::make(with_group_hyper(cfg_, groups_[k]), groups_[k].peak_lr * lr_factor, weight_decay(k), t));
        }
        return table;
    }
    // --nsgd-norm tensor: every nsgd tensor whole, with its slices (no -z 1: the constructor refuses it).
    NsgdSliceTable nsgd_slice_table(float lr_factor) const {
        NsgdSliceTable table;
        for (size_t k = 0; k < groups_.size(); k++)
            if (groups_[k].rule == Algorithm::NSGD)
                table.add(groups_[k].tensor, slots_[k][0], {groups_[k].peak_lr * lr_factor, weight_decay(k), cfg_.momentum});
        return table;
    }
    // One fused launch over every tensor whose rule is `rule` (none when this rank's shard has none).
    template <typename Rule> void launch(Algorithm rule, const FusedStepArgs& args, float lr_factor, int t) {
        const FusedTable<Rule> tab = table<Rule>(rule, lr_factor, t);
        if (tab.count > 0) launch_fused_step(args, tab);
    }

    OptimConfig cfg_;
    std::vector<ParamGroup> groups_;
    uint64_t rounding_seed_;
    OptimShard shard_;
    std::vector<LayerSet> muon_ranges_; // per Muon tensor: this rank's layers
    float* state_base_ = nullptr;
    std::vector<std::vector<float*>> slots_; // per tensor: its state buffers
    std::vector<float*> state_;          // fp32 buffers; nullptr for the floatX ones
    std::vector<floatX*> state_floatx_;  // ssvr's previous parameters; nullptr for the fp32 ones
    floatX* prev_params_ = nullptr;
    size_t num_params_ = 0;
    float* nsgd_scratch_ = nullptr;
    std::vector<std::string> state_names_;
    std::vector<size_t> state_numel_;
    std::vector<HeldRange> state_held_;  // per state buffer: the tensor elements it holds
    std::vector<Algorithm> elementwise_rules_; // the rules with a fused launch (one each; sgd: two, with and without momentum)
    std::vector<size_t> muon_tensors_;        // group indices of Muon's matrices
    std::unique_ptr<GpuMuon> muon_;
    std::function<void(double*)> global_sum_; // -z 1: nsgd's sum of squares over the ranks
};
