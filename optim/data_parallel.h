// train_gpt2cpu's data parallelism over a Comm (common/comm.h; MPI in practice): how the
// ranks' gradients become one update. Every rank holds the whole model and computes the
// gradient of its own micro-batches; then, by scheme:
//   single     one process: nothing is communicated (the single-process trainer, unchanged).
//   allreduce  -z 0: the gradients are summed across ranks (each rank's backward is scaled by
//              1/(tokens per rank * accumulation * ranks), so the sum is the mean over all
//              tokens), every rank computes the norms and steps the whole model.
//   zero1      -z 1, elementwise optimizers: the flat parameters in contiguous shards (Zero1Plan:
//              q = floor(P / ranks) each, the last rank's also holding the P - ranks q
//              leftover elements); reduce-scatter of the gradient's first ranks x q elements
//              (the leftover all-reduced), each rank clips and updates its shard of the
//              parameters with optimizer state for its shard only (CpuOptimizer::keep_only:
//              ZeRO-1's memory saving, about (ranks - 1) / ranks of the state), the norms are
//              summed over the shards, then all-gather of the parameters (the leftover
//              broadcast from the last rank). nsgd's ||m|| (--nsgd-norm global) is the sum of the
//              shards' ||m||^2; --nsgd-norm tensor is refused (a shard may cut a layer slice).
//   zero1_muon -z 1 under muon (KellerJordan/Muon's distributed scheme): all-reduce of the
//              gradient; the hidden matrices (every layer slice) are dealt to ranks round-
//              robin, each rank orthogonalizes and updates its own and broadcasts them; each
//              fallback tensor (embeddings, LayerNorms, biases) is split into shards as above
//              and all-gathered. Each rank keeps the state of its matrices and shards only.
//              Bit-identical to -z 0.
//   sign_vote  --sign-vote 1 (signsgd, signum; optim/sign_vote.h): no gradient reduction;
//              each rank clips its own gradient (the mean over its own tokens) by its own
//              norm, takes the sign of it (signsgd) or of its own momentum (signum, fed by
//              that gradient), the signs travel in the --vote-bits format (1- or 2-bit words
//              all-gathered, or int8 signs all-reduced), and every rank applies signsgd's
//              rule with the majority vote. The logged norms are the mean over
//              ranks of the local norms (no global gradient exists); ranks 0..K-1 send
//              negated signs under --byzantine K, or under --byzantine-mode omniscient all send
//              -sign(sum of the honest ranks' values), all-reduced first; --vote-noise C adds
//              b_k xi to each rank's value before its sign (b_k: C x the all-reduced max over
//              ranks of tensor k's ||.||_inf). See optim/sign_vote.h.
// ssvr runs under -z 0 only (its second gradient is all-reduced like the first).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "../common/checkpoint.h"
#include "../common/comm.h"
#include "../common/gpt2_layout.h"
#include "cpu_optimizer.h"
#include "grad_clip.h"
#include "sign_vote.h"

enum class DpScheme { Single, AllReduce, Zero1, Zero1Muon, SignVote };

inline std::string dp_scheme_name(DpScheme s, int vote_bits) {
    switch (s) {
        case DpScheme::Single: return "single process";
        case DpScheme::AllReduce: return "all-reduce of the gradients (-z 0)";
        case DpScheme::Zero1: return "ZeRO-1: reduce-scatter, sharded update, all-gather (-z 1)";
        case DpScheme::Zero1Muon: return "ZeRO-1 for Muon: all-reduce, matrices round-robin, fallback sharded (-z 1)";
        case DpScheme::SignVote:
            return vote_bits == 8 ? "majority vote of int8 signs, all-reduced (--sign-vote 1 --vote-bits 8)"
                                  : "majority vote of " + std::to_string(vote_bits) + "-bit signs, all-gathered (--sign-vote 1 --vote-bits " +
                                        std::to_string(vote_bits) + ")";
    }
    return "?";
}

// The flag combinations data parallelism refuses, checked on every rank before anything runs.
inline void check_data_parallel_flags(const DistConfig& d, Algorithm a, int ranks) {
    const bool sign = a == Algorithm::SignSGD || a == Algorithm::Signum;
    if (d.sign_vote && !sign) fail_usage("--sign-vote 1 is for --optim signsgd or signum, not %s", algorithm_name(a));
    if (d.sign_vote && d.zero_stage == 1) fail_usage("--sign-vote 1 replaces the gradient reduction: -z 1 does not apply, leave it out");
    if (d.byzantine > 0 && !d.sign_vote) fail_usage("--byzantine %d negates the signs of the majority vote: it needs --sign-vote 1", d.byzantine);
    if (d.byzantine_omniscient && d.byzantine == 0) fail_usage("--byzantine-mode omniscient needs --byzantine K (K >= 1 adversarial ranks)");
    if (d.vote_noise > 0.0f && !d.sign_vote) fail_usage("--vote-noise %g needs --sign-vote 1", d.vote_noise);
    if (d.byzantine > 0 && d.byzantine >= ranks)
        fail_usage("--byzantine %d must be fewer than the %d process(es) of the job", d.byzantine, ranks);
    if (d.sign_vote && d.vote_bits == 8 && ranks > 127)
        fail_usage("--vote-bits 8 sums the signs in int8, at most 127 ranks (this job has %d): use --vote-bits 1 or 2", ranks);
    if (ranks > 1 && d.zero_stage == 1 && a == Algorithm::SSVR)
        fail_usage("ssvr under data parallelism runs with -z 0 only (its second gradient at the previous parameters is all-reduced)");
}

// ZeRO-1's split of the model among ranks (-z 1), the same on every rank, so each rank knows
// every rank's part (a checkpoint gathers them): elementwise optimizers, the flat parameters
// split by split_among_ranks (common/comm.h); muon, each fallback tensor split so and the
// hidden matrices dealt by muon_matrix_owner (optim/muon.h).
struct Zero1Plan {
    struct Matrix {
        size_t group;
        int layer;
        size_t offset, numel; // flat
        int owner;
    };
    size_t num_params = 0;
    int ranks = 1;
    bool muon = false;
    std::vector<Matrix> matrices;                     // muon
    std::vector<std::pair<size_t, size_t>> fallback;  // muon: the fallback tensors' flat ranges

    Zero1Plan() {}
    Zero1Plan(const std::vector<ParamGroup>& groups, size_t n, int ranks_, bool muon_) : num_params(n), ranks(ranks_), muon(muon_) {
        if (!muon) return;
        int muon_index = 0;
        for (size_t k = 0; k < groups.size(); k++) {
            const ParamTensor& t = groups[k].tensor;
            if (groups[k].rule == Algorithm::Muon) {
                for (int l = 0; l < t.layers; l++)
                    matrices.push_back({k, l, t.offset + (size_t)l * t.layer_numel(), t.layer_numel(), muon_matrix_owner(muon_index, t.layers, l, ranks)});
                muon_index++;
            } else {
                fallback.push_back({t.offset, t.offset + t.numel()});
            }
        }
    }
    // The flat ranges rank r updates elementwise: its shard, or (muon) its part of every fallback tensor.
    std::vector<std::pair<size_t, size_t>> elementwise_ranges(int r) const {
        if (!muon) return {split_among_ranks(num_params, ranks, r)};
        std::vector<std::pair<size_t, size_t>> out;
        for (const auto& t : fallback) {
            const auto part = split_among_ranks(t.second - t.first, ranks, r);
            if (part.first < part.second) out.push_back({t.first + part.first, t.first + part.second});
        }
        return out;
    }
    // Every flat range rank r updates (and keeps the optimizer state of).
    std::vector<std::pair<size_t, size_t>> owned_ranges(int r) const {
        std::vector<std::pair<size_t, size_t>> out = elementwise_ranges(r);
        for (const Matrix& m : matrices)
            if (m.owner == r) out.push_back({m.offset, m.offset + m.numel});
        std::sort(out.begin(), out.end());
        return out;
    }
};

class CpuDataParallel {
public:
    CpuDataParallel(Comm& comm, const DistConfig& dist, CpuOptimizer& optimizer, size_t num_params)
        : comm_(comm), dist_(dist), opt_(optimizer), n_(num_params), ranks_(comm.size()), rank_(comm.rank()) {
        const Algorithm a = optimizer_algorithm();
        check_data_parallel_flags(dist, a, ranks_);
        if (ranks_ == 1 && !dist.sign_vote) scheme_ = DpScheme::Single;
        else if (dist.sign_vote) scheme_ = DpScheme::SignVote;
        else if (dist.zero_stage == 0) scheme_ = DpScheme::AllReduce;
        else scheme_ = a == Algorithm::Muon ? DpScheme::Zero1Muon : DpScheme::Zero1;
        if (sharded()) {
            plan_ = Zero1Plan(optimizer.groups(), n_, ranks_, scheme_ == DpScheme::Zero1Muon);
            elementwise_ = plan_.elementwise_ranges(rank_);
            if (scheme_ == DpScheme::Zero1) shard_buf_.resize(n_ / ranks_); // the reduce-scatter's receive buffer
            for (const OptimStateBuffer& b : optimizer.state()) full_state_floats_ += b.tensor_numel;
            // an optimizer built whole (not from zero1_state_ranges) is cut down here
            if (full_state_floats_ > 0 && optimizer.state_floats() == full_state_floats_) opt_.keep_only(plan_.owned_ranges(rank_));
        }
    }

    // The run's --seed: the vote noise's streams (vote_noise_key).
    void set_seed(uint64_t seed) { seed_ = seed; }
    bool sharded() const { return scheme_ == DpScheme::Zero1 || scheme_ == DpScheme::Zero1Muon; }
    // The flat ranges whose optimizer state rank `rank` keeps under -z 1 (for CpuOptimizer's
    // constructor, before any CpuDataParallel exists); empty when the state is not sharded.
    static std::vector<std::pair<size_t, size_t>> zero1_state_ranges(const DistConfig& d, const OptimConfig& cfg, const GPT2Config& model,
                                                                     int ranks, int rank) {
        if (ranks == 1 || d.sign_vote || d.zero_stage != 1) return {};
        const std::vector<ParamGroup> groups = optim_param_groups(cfg, model);
        return Zero1Plan(groups, gpt2_num_params(model), ranks, cfg.algorithm == Algorithm::Muon).owned_ranges(rank);
    }
    // Optimizer state floats this rank keeps, and the whole model's (equal unless -z 1).
    size_t state_floats() const { return opt_.state_floats(); }
    size_t full_state_floats() const { return sharded() ? full_state_floats_ : opt_.state_floats(); }

    DpScheme scheme() const { return scheme_; }
    // --vote-agreement: the last step's fields for the train record (empty when off).
    const std::vector<std::pair<std::string, double>>& vote_agreement() const { return agreement_; }
    int ranks() const { return ranks_; }
    int rank() const { return rank_; }
    bool is_root() const { return rank_ == 0; }

    // What each rank's backward scales by: the mean over all ranks' tokens once summed; under
    // the vote, each rank's own mean (its gradient is never summed).
    int gradient_divisor() const { return scheme_ == DpScheme::SignVote ? 1 : ranks_; }

    // The mean over ranks of x (losses: each rank's is the mean over equally many tokens).
    double mean(double x) {
        if (ranks_ == 1) return x;
        comm_.all_reduce_sum(&x, 1, CommDtype::F64);
        return x / ranks_;
    }

    // The lowest rank whose own loss or gradient is not finite, or -1: that rank reports
    // the failure, so the error line names the rank where it happened.
    int first_nonfinite_rank(double local_loss, const float* grads) {
        if (ranks_ == 1) return -1;
        const double sq = grad_norms(grads, n_).l2;
        int32_t bad = (std::isfinite(local_loss) && std::isfinite(sq)) ? 0 : ranks_ - rank_; // max picks the lowest rank
        comm_.all_reduce_max(&bad, 1, CommDtype::I32);
        return bad ? ranks_ - bad : -1;
    }

    // The step's gradient reduction (see the top), in place on the flat gradient.
    void reduce_gradients(float* grads) {
        switch (scheme_) {
            case DpScheme::Single:
            case DpScheme::SignVote: return;
            case DpScheme::AllReduce:
            case DpScheme::Zero1Muon: comm_.all_reduce_sum(grads, n_, CommDtype::F32); return;
            case DpScheme::Zero1: {
                // ranks x q elements reduce-scattered, the leftover after them all-reduced
                const size_t q = n_ / ranks_, left = n_ - q * ranks_;
                comm_.reduce_scatter_sum(grads, shard_buf_.data(), q, CommDtype::F32);
                std::copy(shard_buf_.begin(), shard_buf_.begin() + q, grads + rank_ * q);
                if (left > 0) comm_.all_reduce_sum(grads + q * ranks_, left, CommDtype::F32);
                return;
            }
        }
    }

    // ||g||_1, ||g||_2, ||g||_inf of the reduced gradient (the mean over ranks of the local
    // ones under the vote).
    GradNorms norms(const float* grads) {
        if (scheme_ != DpScheme::Zero1 && scheme_ != DpScheme::SignVote) return grad_norms(grads, n_);
        if (scheme_ == DpScheme::SignVote) {
            const GradNorms local = grad_norms(grads, n_);
            double v[3] = {local.l1, local.l2, local.linf};
            comm_.all_reduce_sum(v, 3, CommDtype::F64);
            return GradNorms{v[0] / ranks_, v[1] / ranks_, v[2] / ranks_};
        }
        const GradNorms local = grad_norms(grads + elementwise_[0].first, elementwise_[0].second - elementwise_[0].first);
        double sums[2] = {local.l1, local.l2 * local.l2}, mx = local.linf;
        comm_.all_reduce_sum(sums, 2, CommDtype::F64);
        comm_.all_reduce_max(&mx, 1, CommDtype::F64);
        return GradNorms{sums[0], std::sqrt(sums[1]), mx};
    }

    // Scales the gradient this rank updates with.
    void scale(float* grads, float s) {
        if (scheme_ == DpScheme::Zero1) scale_grads(grads + elementwise_[0].first, elementwise_[0].second - elementwise_[0].first, s);
        else scale_grads(grads, n_, s);
    }

    // The update (see the top); afterwards every rank holds the same parameters.
    void step(float* params, const float* grads, float lr_factor, int t) {
        switch (scheme_) {
            case DpScheme::Single:
            case DpScheme::AllReduce: opt_.step(params, grads, lr_factor, t); return;
            case DpScheme::Zero1: {
                opt_.step_ranges(params, grads, lr_factor, t, elementwise_, [&](double x) {
                    comm_.all_reduce_sum(&x, 1, CommDtype::F64);
                    return x;
                });
                all_gather_split(comm_, params, n_, CommDtype::F32);
                return;
            }
            case DpScheme::Zero1Muon: step_muon(params, grads, lr_factor, t); return;
            case DpScheme::SignVote: step_sign_vote(params, grads, lr_factor, t); return;
        }
    }

    // Before a checkpoint (collective): the optimizer state as rank 0 saves it. Unsharded:
    // the buffers themselves. -z 1: every owner broadcasts its pieces and rank 0 assembles
    // whole buffers (a copy held until release_checkpoint_state; the other ranks pass the
    // pieces through a scratch buffer); ranks other than 0 get an empty list.
    std::vector<StateTensorRef> checkpoint_state() {
        std::vector<StateTensorRef> out;
        if (!sharded()) {
            for (OptimStateBuffer& b : opt_.state()) out.push_back({b.name, b.data.data(), b.data.size()});
            return out;
        }
        whole_state_.resize(opt_.state().size());
        std::vector<std::vector<std::pair<size_t, size_t>>> owned(ranks_);
        for (int r = 0; r < ranks_; r++) owned[r] = plan_.owned_ranges(r);
        for (size_t j = 0; j < opt_.state().size(); j++) {
            OptimStateBuffer& b = opt_.state()[j];
            if (rank_ == 0) whole_state_[j].assign(b.tensor_numel, 0.0f);
            for (int r = 0; r < ranks_; r++)
                for (const auto& range : owned[r]) {
                    const size_t lo = std::max(range.first, b.tensor_offset), hi = std::min(range.second, b.tensor_offset + b.tensor_numel);
                    if (lo >= hi) continue;
                    const size_t at = lo - b.tensor_offset, count = hi - lo;
                    if (r == 0) { // rank 0's own: no traffic
                        if (rank_ == 0) std::copy(b.element(at), b.element(at) + count, whole_state_[j].data() + at);
                        continue;
                    }
                    float* buf = rank_ == r ? b.element(at) : rank_ == 0 ? whole_state_[j].data() + at : scratch(count);
                    comm_.broadcast(buf, count, CommDtype::F32, r);
                }
            if (rank_ == 0) out.push_back({b.name, whole_state_[j].data(), b.tensor_numel});
        }
        return out;
    }
    void release_checkpoint_state() {
        whole_state_ = {};
        scratch_ = {};
    }
    // On resume: where this rank's optimizer state goes, as parts of the checkpoint's records.
    std::vector<StateTensorRef> resume_state() {
        std::vector<StateTensorRef> out;
        for (OptimStateBuffer& b : opt_.state()) {
            if (b.whole()) {
                out.push_back({b.name, b.data.data(), b.data.size()});
                continue;
            }
            if (b.pieces.empty()) out.push_back({b.name, nullptr, 0, 0, b.tensor_numel}); // none here: the record is still checked
            for (const StatePiece& p : b.pieces) out.push_back({b.name, b.data.data() + p.at, p.end - p.begin, p.begin, b.tensor_numel});
        }
        return out;
    }

    // Under the vote with signum every rank has its own momentum; a checkpoint keeps each
    // rank's (common/checkpoint.h's rank_state_record; rank 0's are the usual records).
    bool per_rank_state() const { return scheme_ == DpScheme::SignVote && optimizer_algorithm() == Algorithm::Signum && ranks_ > 1; }
    // Every rank's momentum buffers gathered (collective); rank 0 passes the result to
    // save_checkpoint as extra records. Empty unless per_rank_state().
    std::vector<StateTensorRef> gather_rank_state() {
        std::vector<StateTensorRef> out;
        if (!per_rank_state()) return out;
        std::vector<float> mine(n_);
        opt_.copy_momentum(mine.data());
        all_ranks_state_.resize(n_ * ranks_);
        comm_.all_gather(mine.data(), all_ranks_state_.data(), n_, CommDtype::F32);
        for (int r = 1; r < ranks_; r++)
            for (const ParamGroup& g : opt_.groups())
                out.push_back({rank_state_record(r, std::string(g.tensor.name) + ".momentum"),
                               all_ranks_state_.data() + (size_t)r * n_ + g.tensor.offset, g.tensor.numel()});
        return out;
    }
    // On resume: this rank's own momentum records (rank >= 1), read into its buffers after the
    // shared ones.
    std::vector<StateTensorRef> own_rank_state() {
        std::vector<StateTensorRef> out;
        if (!per_rank_state() || rank_ == 0) return out;
        for (OptimStateBuffer& b : opt_.state()) out.push_back({rank_state_record(rank_, b.name), b.data.data(), b.data.size()});
        return out;
    }

    // Bytes of gradient and parameter data this rank sends per step (common/comm.h's ring
    // estimates, the figure train_gpt2cu reports too). The scalar reductions (loss, norms: under
    // 64 bytes) are left out. element_bytes: 4 here (fp32), 2 for bf16.
    long long comm_bytes_per_step(size_t element_bytes = sizeof(float)) const {
        const double e = (double)element_bytes, n = (double)n_;
        const int N = ranks_;
        switch (scheme_) {
            case DpScheme::Single: return 0;
            case DpScheme::AllReduce: return (long long)ring_all_reduce_bytes(n * e, N);
            // the leftover elements' all-reduce and broadcast (fewer than `ranks` each) left out
            case DpScheme::Zero1: return (long long)(2 * ring_all_gather_bytes((double)(n_ / N * N) * e, N));
            case DpScheme::Zero1Muon: {
                double matrices = 0, fallback = 0;
                for (const Zero1Plan::Matrix& m : plan_.matrices) matrices += (double)m.numel;
                for (const auto& t : plan_.fallback) fallback += (double)((t.second - t.first) / N * N);
                return (long long)(ring_all_reduce_bytes(n * e, N) + ring_all_gather_bytes(fallback * e, N) + ring_broadcast_bytes(matrices * e, N));
            }
            case DpScheme::SignVote: {
                double bytes = dist_.vote_bits == 8 ? ring_all_reduce_bytes(n, N)
                                                    : ring_all_gather_bytes((double)sign_vote_bytes(n_, dist_.vote_bits) * N, N);
                // the omniscient adversaries' fp32 all-reduce of the honest values; the noise scale's max per tensor
                if (dist_.byzantine > 0 && dist_.byzantine_omniscient) bytes += ring_all_reduce_bytes(n * sizeof(float), N);
                if (dist_.vote_noise > 0.0f) bytes += ring_all_reduce_bytes((double)opt_.groups().size() * sizeof(float), N);
                return (long long)bytes;
            }
        }
        return 0;
    }

private:
    Algorithm optimizer_algorithm() const {
        // the chosen algorithm: the rule of the hidden matrices (muon's fallback elsewhere)
        for (const ParamGroup& g : opt_.groups())
            if (g.tensor.kind == ParamKind::HiddenMatrix) return g.rule;
        return opt_.groups().front().rule;
    }

    void step_muon(float* params, const float* grads, float lr_factor, int t) {
        opt_.step_ranges(params, grads, lr_factor, t, elementwise_, [](double x) { return x; }); // (no fallback rule is nsgd)
        for (const Zero1Plan::Matrix& m : plan_.matrices)
            if (m.owner == rank_) opt_.step_muon_matrix(params, grads, lr_factor, m.group, m.layer);
        for (const auto& f : plan_.fallback) all_gather_split(comm_, params + f.first, f.second - f.first, CommDtype::F32);
        for (const Zero1Plan::Matrix& m : plan_.matrices) comm_.broadcast(params + m.offset, m.numel, CommDtype::F32, m.owner);
    }
    float* scratch(size_t count) {
        if (scratch_.size() < count) scratch_.resize(count);
        return scratch_.data();
    }

    void step_sign_vote(float* params, const float* grads, float lr_factor, int t) {
        const float* source = grads;
        if (optimizer_algorithm() == Algorithm::Signum) {
            opt_.signum_momentum(grads);
            flat_.resize(n_);
            opt_.copy_momentum(flat_.data());
            source = flat_.data();
        }
        const bool byzantine = rank_ < dist_.byzantine, colluder = byzantine && dist_.byzantine_omniscient;
        const float* own = source;
        if (dist_.byzantine > 0 && dist_.byzantine_omniscient) {
            // the colluders learn the honest ranks' sum and all send its negated sign
            honest_.assign(source, source + n_);
            if (byzantine) std::fill(honest_.begin(), honest_.end(), 0.0f);
            comm_.all_reduce_sum(honest_.data(), n_, CommDtype::F32);
            if (byzantine) source = honest_.data();
        }
        if (dist_.vote_noise > 0.0f) {
            const float* noisy = add_vote_noise(own, t, !colluder); // collective: a colluder's own value joins the max
            if (!colluder) source = noisy;
        }
        const int bits = dist_.vote_bits;
        vote_.resize(n_);
        if (bits == 8) {
            votes_int8_.resize(n_);
            sign_vote_pack_int8(source, n_, byzantine, votes_int8_.data());
            comm_.all_reduce_sum(votes_int8_.data(), n_, CommDtype::I8);
            sign_vote_tally_int8(votes_int8_.data(), n_, vote_.data());
        } else {
            const size_t words = sign_vote_words(n_, bits);
            mine_.resize(words);
            sign_vote_pack(source, n_, bits, byzantine, mine_.data());
            gathered_.resize(words * ranks_);
            comm_.all_gather(mine_.data(), gathered_.data(), words, CommDtype::U32);
            sign_vote_tally(gathered_.data(), ranks_, n_, bits, vote_.data());
        }
        if (dist_.vote_agreement) measure_agreement(own, byzantine, colluder);
        opt_.apply_sign_vote(params, vote_.data(), lr_factor);
    }

    // --vote-agreement: how often the vote, and the sign of the vote's expected tally (the sum
    // over ranks of E[sent sign] given the values: erf(x / (b sqrt 2)) under the noise, the sign
    // itself without), equal sign(mean over ranks of each rank's own value before noise and
    // attack); plain and weighted by |mean|. Chen et al.'s point: without noise the vote follows
    // the ranks' median, whose sign need not be the mean's; noise makes the expected tally follow
    // the mean. Two extra fp32 all-reduces of the model (diagnostic, not in comm_bytes).
    void measure_agreement(const float* own, bool byzantine, bool colluder) {
        mean_.assign(own, own + n_);
        comm_.all_reduce_sum(mean_.data(), n_, CommDtype::F32); // the sum: its sign is the mean's
        tally_.resize(n_);
        const std::vector<ParamGroup>& groups = opt_.groups();
        for (size_t k = 0; k < groups.size(); k++) {
            const float b = dist_.vote_noise > 0.0f ? dist_.vote_noise * noise_scale_[k] : 0.0f;
            const size_t a = groups[k].tensor.offset;
            const float* x = colluder ? honest_.data() : own;
            for (size_t i = a; i < a + groups[k].tensor.numel(); i++)
                tally_[i] = colluder ? -(float)sign_vote_sign(x[i], dist_.vote_bits, false)
                                     : sign_vote_expected_sign(x[i], b, dist_.vote_bits, byzantine);
        }
        comm_.all_reduce_sum(tally_.data(), n_, CommDtype::F32);
        for (float& t : tally_) t = (float)((t > 0.0f) - (t < 0.0f));
        const VoteAgreement a = sign_vote_agreement(vote_.data(), mean_.data(), n_);
        const VoteAgreement e = sign_vote_agreement(tally_.data(), mean_.data(), n_);
        agreement_ = {{"vote_mean_agree", a.fraction}, {"vote_mean_agree_w", a.weighted},
                      {"vote_expected_mean_agree", e.fraction}, {"vote_expected_mean_agree_w", e.weighted}};
    }

    // --vote-noise: source + b_k xi into noisy_ (b_k = C x the ranks' max of tensor k's
    // ||source||_inf); with draw false only the max is taken part in.
    const float* add_vote_noise(const float* source, int t, bool draw) {
        const std::vector<ParamGroup>& groups = opt_.groups();
        std::vector<float> scale(groups.size());
        for (size_t k = 0; k < groups.size(); k++) scale[k] = sign_vote_linf(source, groups[k].tensor.offset, groups[k].tensor.numel());
        comm_.all_reduce_max(scale.data(), scale.size(), CommDtype::F32);
        noise_scale_ = scale; // --vote-agreement's expected tally
        if (!draw) return source;
        noisy_.resize(n_);
        const uint64_t key = vote_noise_key(seed_, rank_, t);
        for (size_t k = 0; k < groups.size(); k++)
            sign_vote_add_noise(source, groups[k].tensor.offset, groups[k].tensor.numel(), dist_.vote_noise * scale[k], key, noisy_.data());
        return noisy_.data();
    }

    Comm& comm_;
    DistConfig dist_;
    uint64_t seed_ = 0;
    std::vector<float> honest_, noisy_, mean_, tally_, noise_scale_;
    std::vector<std::pair<std::string, double>> agreement_;
    CpuOptimizer& opt_;
    size_t n_;
    int ranks_, rank_;
    DpScheme scheme_ = DpScheme::Single;
    Zero1Plan plan_;                                       // -z 1
    std::vector<std::pair<size_t, size_t>> elementwise_;   // -z 1: the flat ranges this rank updates elementwise
    size_t full_state_floats_ = 0;                         // -z 1: the unsharded optimizer's state
    std::vector<float> shard_buf_, scratch_, flat_, vote_, all_ranks_state_;
    std::vector<std::vector<float>> whole_state_;          // rank 0, at a checkpoint under -z 1
    std::vector<uint32_t> mine_, gathered_;
    std::vector<int8_t> votes_int8_;
};
