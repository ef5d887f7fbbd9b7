// train_gpt2cpu's data parallelism over a Comm (common/comm.h; MPI in practice): how the
// ranks' gradients become one update. Every rank holds the whole model and computes the
// gradient of its own micro-batches; then, by scheme:
//   single     one process: nothing is communicated (the single-process trainer, unchanged).
//   allreduce  -z 0: the gradients are summed across ranks (each rank's backward is scaled by
//              1/(tokens per rank * accumulation * ranks), so the sum is the mean over all
//              tokens), every rank computes the norms and steps the whole model.
//   zero1      -z 1, elementwise optimizers: reduce-scatter of the gradient padded to a
//              multiple of the rank count (shard S = ceil(N / ranks)), each rank clips and
//              updates its contiguous shard of the parameters and of the optimizer state,
//              the norms are summed over the shards, then all-gather of the parameters.
//              nsgd's ||m|| is the sum of the shards' ||m||^2. (This CPU reference keeps
//              full-size state buffers and touches only its shard: ZeRO-1's arithmetic and
//              traffic, not its memory saving.)
//   zero1_muon -z 1 under muon (KellerJordan/Muon's distributed scheme): all-reduce of the
//              gradient; the hidden matrices (every layer slice) are dealt to ranks round-
//              robin, each rank orthogonalizes and updates its own and broadcasts them; the
//              fallback tensors (embeddings, LayerNorms, biases) are sharded elementwise
//              over their concatenation and all-gathered. Bit-identical to -z 0.
//   sign_vote  --sign-vote 1 (signsgd, signum; optim/sign_vote.h): no gradient reduction;
//              each rank clips its own gradient (the mean over its own tokens) by its own
//              norm, takes the sign of it (signsgd) or of its own momentum (signum, fed by
//              that gradient), the signs travel in the --vote-bits format (1- or 2-bit words
//              all-gathered, or int8 signs all-reduced), and every rank applies signsgd's
//              rule with the majority vote. The logged norms are the mean over
//              ranks of the local norms (no global gradient exists); ranks 0..K-1 send
//              negated signs under --byzantine K.
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
    if (d.byzantine > 0 && d.byzantine >= ranks)
        fail_usage("--byzantine %d must be fewer than the %d process(es) of the job", d.byzantine, ranks);
    if (d.sign_vote && d.vote_bits == 8 && ranks > 127)
        fail_usage("--vote-bits 8 sums the signs in int8, at most 127 ranks (this job has %d): use --vote-bits 1 or 2", ranks);
    if (ranks > 1 && d.zero_stage == 1 && a == Algorithm::SSVR)
        fail_usage("ssvr under data parallelism runs with -z 0 only (its second gradient at the previous parameters is all-reduced)");
}

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
        if (scheme_ == DpScheme::Zero1) {
            shard_ = (n_ + ranks_ - 1) / ranks_;
            owned_ = {{std::min(n_, rank_ * shard_), std::min(n_, (rank_ + 1) * shard_)}};
        }
        if (scheme_ == DpScheme::Zero1Muon) plan_muon_shards();
    }

    DpScheme scheme() const { return scheme_; }
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
                padded_.assign(shard_ * ranks_, 0.0f);
                std::copy(grads, grads + n_, padded_.begin());
                shard_buf_.resize(shard_);
                comm_.reduce_scatter_sum(padded_.data(), shard_buf_.data(), shard_, CommDtype::F32);
                std::copy(shard_buf_.begin(), shard_buf_.begin() + (owned_[0].second - owned_[0].first), grads + owned_[0].first);
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
        const GradNorms local = grad_norms(grads + owned_[0].first, owned_[0].second - owned_[0].first);
        double sums[2] = {local.l1, local.l2 * local.l2}, mx = local.linf;
        comm_.all_reduce_sum(sums, 2, CommDtype::F64);
        comm_.all_reduce_max(&mx, 1, CommDtype::F64);
        return GradNorms{sums[0], std::sqrt(sums[1]), mx};
    }

    // Scales the gradient this rank updates with.
    void scale(float* grads, float s) {
        if (scheme_ == DpScheme::Zero1) scale_grads(grads + owned_[0].first, owned_[0].second - owned_[0].first, s);
        else scale_grads(grads, n_, s);
    }

    // The update (see the top); afterwards every rank holds the same parameters.
    void step(float* params, const float* grads, float lr_factor, int t) {
        switch (scheme_) {
            case DpScheme::Single:
            case DpScheme::AllReduce: opt_.step(params, grads, lr_factor, t); return;
            case DpScheme::Zero1: {
                opt_.step_range(params, grads, lr_factor, t, owned_[0].first, owned_[0].second, [&](double x) {
                    comm_.all_reduce_sum(&x, 1, CommDtype::F64);
                    return x;
                });
                shard_buf_.assign(shard_, 0.0f);
                std::copy(params + owned_[0].first, params + owned_[0].second, shard_buf_.begin());
                padded_.resize(shard_ * ranks_);
                comm_.all_gather(shard_buf_.data(), padded_.data(), shard_, CommDtype::F32);
                std::copy(padded_.begin(), padded_.begin() + n_, params);
                return;
            }
            case DpScheme::Zero1Muon: step_muon(params, grads, lr_factor, t); return;
            case DpScheme::SignVote: step_sign_vote(params, grads, lr_factor); return;
        }
    }

    // Before a checkpoint: under -z 1 each rank's optimizer state is current only where it
    // owns the coordinates; this makes every state buffer whole on every rank. The owned
    // parts travel as 32-bit integers summed with zeros elsewhere: an exact copy of the bits.
    void gather_optimizer_state() {
        if (scheme_ != DpScheme::Zero1 && scheme_ != DpScheme::Zero1Muon) return;
        const std::vector<ParamGroup>& groups = opt_.groups();
        for (OptimStateBuffer& b : opt_.state()) {
            const ParamTensor* tensor = nullptr;
            for (const ParamGroup& g : groups)
                if (b.name.rfind(std::string(g.tensor.name) + ".", 0) == 0) tensor = &g.tensor;
            std::vector<uint32_t> bits(b.data.size(), 0u);
            for (const auto& r : owned_) {
                const size_t lo = std::max(r.first, tensor->offset), hi = std::min(r.second, tensor->offset + tensor->numel());
                if (lo < hi) memcpy(bits.data() + (lo - tensor->offset), b.data.data() + (lo - tensor->offset), (hi - lo) * 4);
            }
            comm_.all_reduce_sum(bits.data(), bits.size(), CommDtype::U32);
            memcpy(b.data.data(), bits.data(), bits.size() * 4);
        }
    }

    // Under the vote with signum every rank has its own momentum; a checkpoint keeps each
    // rank's as "rank<R>/optim/<tensor>.momentum" (R >= 1; rank 0's are the usual records).
    bool per_rank_state() const { return scheme_ == DpScheme::SignVote && optimizer_algorithm() == Algorithm::Signum && ranks_ > 1; }
    static std::string rank_record(int r, const std::string& name) { return "rank" + std::to_string(r) + "/optim/" + name; }
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
                out.push_back({rank_record(r, std::string(g.tensor.name) + ".momentum"),
                               all_ranks_state_.data() + (size_t)r * n_ + g.tensor.offset, g.tensor.numel()});
        return out;
    }
    // On resume: this rank's own momentum records (rank >= 1), read into its buffers after the
    // shared ones.
    std::vector<StateTensorRef> own_rank_state() {
        std::vector<StateTensorRef> out;
        if (!per_rank_state() || rank_ == 0) return out;
        for (OptimStateBuffer& b : opt_.state()) out.push_back({rank_record(rank_, b.name), b.data.data(), b.data.size()});
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
            case DpScheme::Zero1: return (long long)(2 * ring_all_gather_bytes((double)(shard_ * N) * e, N));
            case DpScheme::Zero1Muon: {
                double matrices = 0;
                for (const MatrixSlice& m : matrices_) matrices += (double)m.numel;
                return (long long)(ring_all_reduce_bytes(n * e, N) + ring_all_gather_bytes((double)(fallback_shard_ * N) * e, N) +
                                   ring_broadcast_bytes(matrices * e, N));
            }
            case DpScheme::SignVote:
                return (long long)(dist_.vote_bits == 8 ? ring_all_reduce_bytes(n, N)
                                                        : ring_all_gather_bytes((double)sign_vote_bytes(n_, dist_.vote_bits) * N, N));
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

    struct MatrixSlice {
        size_t group;
        int layer;
        size_t offset, numel;
        int owner;
    };
    // Muon's -z 1: matrix j (tensor order, then layer) belongs to rank j % ranks; the fallback
    // tensors' concatenation (length M) is sharded into ceil(M / ranks) per rank.
    void plan_muon_shards() {
        const std::vector<ParamGroup>& groups = opt_.groups();
        size_t fallback_total = 0;
        for (size_t k = 0; k < groups.size(); k++) {
            const ParamTensor& t = groups[k].tensor;
            if (groups[k].rule == Algorithm::Muon) {
                for (int l = 0; l < t.layers; l++)
                    matrices_.push_back({k, l, t.offset + (size_t)l * t.layer_numel(), t.layer_numel(), (int)(matrices_.size() % ranks_)});
            } else {
                fallback_.push_back({t.offset, t.offset + t.numel()});
                fallback_total += t.numel();
            }
        }
        fallback_shard_ = (fallback_total + ranks_ - 1) / ranks_;
        // this rank's fallback shard [rank*S', (rank+1)*S') of the concatenation, as flat ranges
        const size_t begin = std::min(fallback_total, rank_ * fallback_shard_), end = std::min(fallback_total, (rank_ + 1) * fallback_shard_);
        size_t v = 0;
        for (const auto& seg : fallback_) {
            const size_t len = seg.second - seg.first, lo = std::max(begin, v), hi = std::min(end, v + len);
            if (lo < hi) owned_.push_back({seg.first + (lo - v), seg.first + (hi - v)});
            v += len;
        }
        owned_fallback_ = owned_.size();
        for (const MatrixSlice& m : matrices_)
            if (m.owner == rank_) owned_.push_back({m.offset, m.offset + m.numel});
    }

    void step_muon(float* params, const float* grads, float lr_factor, int t) {
        for (size_t i = 0; i < owned_fallback_; i++)
            opt_.step_range(params, grads, lr_factor, t, owned_[i].first, owned_[i].second, [](double x) { return x; });
        for (const MatrixSlice& m : matrices_)
            if (m.owner == rank_) opt_.step_muon_matrix(params, grads, lr_factor, m.group, m.layer);
        // the fallback shards: packed in concatenation order, all-gathered, unpacked
        shard_buf_.assign(fallback_shard_, 0.0f);
        size_t at = 0;
        for (size_t i = 0; i < owned_fallback_; i++)
            for (size_t j = owned_[i].first; j < owned_[i].second; j++) shard_buf_[at++] = params[j];
        padded_.resize(fallback_shard_ * ranks_);
        comm_.all_gather(shard_buf_.data(), padded_.data(), fallback_shard_, CommDtype::F32);
        at = 0;
        for (const auto& seg : fallback_)
            for (size_t j = seg.first; j < seg.second; j++) params[j] = padded_[at++];
        for (const MatrixSlice& m : matrices_) comm_.broadcast(params + m.offset, m.numel, CommDtype::F32, m.owner);
    }

    void step_sign_vote(float* params, const float* grads, float lr_factor) {
        const float* source = grads;
        if (optimizer_algorithm() == Algorithm::Signum) {
            opt_.signum_momentum(grads);
            flat_.resize(n_);
            opt_.copy_momentum(flat_.data());
            source = flat_.data();
        }
        const bool byzantine = rank_ < dist_.byzantine;
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
        opt_.apply_sign_vote(params, vote_.data(), lr_factor);
    }

    Comm& comm_;
    DistConfig dist_;
    CpuOptimizer& opt_;
    size_t n_;
    int ranks_, rank_;
    DpScheme scheme_ = DpScheme::Single;
    size_t shard_ = 0;                                 // zero1: S
    std::vector<std::pair<size_t, size_t>> owned_;     // flat ranges this rank updates (zero1, zero1_muon)
    std::vector<std::pair<size_t, size_t>> fallback_;  // zero1_muon: the fallback tensors' flat ranges
    size_t fallback_shard_ = 0, owned_fallback_ = 0;   // zero1_muon: S', how many of owned_ are fallback
    std::vector<MatrixSlice> matrices_;                // zero1_muon
    std::vector<float> padded_, shard_buf_, flat_, vote_, all_ranks_state_;
    std::vector<uint32_t> mine_, gathered_;
    std::vector<int8_t> votes_int8_;
};
