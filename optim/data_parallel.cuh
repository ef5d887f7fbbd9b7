// What train_gpt2cu communicates around the optimizer when several ranks train one model
// (common/comm.h; NcclComm on device buffers). Every rank runs B x T micro-batches of its own
// data with dloss scaled by 1 / ranks, so summing the ranks' gradients gives the mean.
//   -z 0: all-reduce (sum) of the floatX gradients (bf16 in the bf16 build: half the bytes of
//         fp32, as llm.c; the sum is rounded to bf16 per NCCL hop), then every rank runs the same
//         element-wise update on the whole model (identical parameters, nothing sent after).
//   -z 1: ZeRO-1 as llm.c: reduce-scatter of the gradients (each rank gets the sum over ranks
//         of its shard of shard() elements), the norms of the shards summed, each rank updates
//         its shard of the fp32 master weights and state, then the floatX parameters are
//         all-gathered. Each rank allocates the optimizer state and (without Muon) the fp32
//         master weights of its shard only (GpuOptimizer's held ranges and master_part:
//         (ranks - 1) / ranks of them saved); under Muon the master weights stay whole.
//   Muon (both): each rank orthogonalizes its layers of each hidden matrix, dealt round-robin
//         as in the CPU trainer (muon_layers in gpu_optimizer.cuh), then every layer's floatX
//         parameters are broadcast from their owner.
//         A layer's owner needs its whole reduced gradient, which a reduce-scatter shard does not
//         give: under Muon, -z 1 all-reduces the gradients; the fallback rule's tensors are each
//         split among the ranks (zero1_part, as the CPU trainer), updated, and all-gathered.
//   --sign-vote 1 (signsgd/signum): no gradient is reduced: each rank packs the signs of its own
//         gradient or momentum (optim/sign_vote.cuh, --vote-bits 1 or 2 bits per element, the
//         words all-gathered; or 8: int8 signs all-reduced), and every rank applies the vote.
//         Clipping uses each rank's own norm.
// Host scalars (the loss, the val loss, the norms) go through a small device buffer.
// Before a checkpoint sync_for_checkpoint() brings every owner's master weights to all ranks
// (whole master weights) and gather_state() every owner's optimizer state (and sharded master
// weights) to rank 0's host copy (rank 0 writes them). Under
// --sign-vote signum each rank's momentum is its own: gather_rank_state() brings ranks 1..N-1's
// to rank 0 as common/checkpoint.h's rank_state_record records, and on resume each rank reads
// its own (own_rank_state), as train_gpt2cpu does.
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "../common/checkpoint.h"
#include "../common/comm.h"
#include "../common/comm_nccl.cuh"
#include "../kernels/global_norm.cuh"
#include "../kernels/phase_timer.cuh"
#include "grad_clip.h"
#include "gpu_optimizer.cuh"
#include "sign_vote.cuh"

#if defined(ENABLE_FP32)
constexpr CommDtype COMM_FLOATX = CommDtype::F32;
#else
constexpr CommDtype COMM_FLOATX = CommDtype::BF16;
#endif

// Checkpoint pieces from their owners' device memory to rank 0's host memory, one at a time
// through a device staging buffer of the largest piece: the owner copies its piece in, broadcasts
// it (NCCL has no point-to-point here), rank 0 downloads it. Collective: every rank sends every piece.
class RootRelay {
public:
    RootRelay(Comm& comm, size_t largest) : comm_(comm), capacity_(largest) {
        cudaCheck(cudaMalloc(&staging_, std::max<size_t>(largest, 1) * sizeof(float)));
    }
    ~RootRelay() { cudaFree(staging_); }
    RootRelay(const RootRelay&) = delete;
    RootRelay& operator=(const RootRelay&) = delete;
    // src: the piece on the owner (read there only); dst: where it goes on rank 0 (used there only).
    void send(const float* src, size_t count, int owner, float* dst) {
        if (count > capacity_) fail_runtime("internal: a checkpoint piece of %zu floats exceeds the %zu-float staging buffer", count, capacity_);
        if (comm_.rank() == owner) cudaCheck(cudaMemcpy(staging_, src, count * sizeof(float), cudaMemcpyDeviceToDevice));
        comm_.broadcast(staging_, count, CommDtype::F32, owner);
        cudaCheck(cudaDeviceSynchronize());
        if (comm_.rank() == 0) cudaCheck(cudaMemcpy(dst, staging_, count * sizeof(float), cudaMemcpyDeviceToHost));
    }

private:
    Comm& comm_;
    size_t capacity_;
    float* staging_ = nullptr;
};

class GpuDataParallel {
public:
    // num_params: the model's; the parameter and gradient buffers must hold padded_params().
    GpuDataParallel(Comm& comm, const DistConfig& d, const OptimConfig& oc, size_t num_params)
        : comm_(comm), d_(d), oc_(oc), n_(num_params), ranks_(comm.size()), rank_(comm.rank()),
          collective_(uses_collectives(comm)) {
        if (d.sign_vote && oc.algorithm != Algorithm::SignSGD && oc.algorithm != Algorithm::Signum)
            fail_usage("--sign-vote 1 is for --optim signsgd or signum, not %s", algorithm_name(oc.algorithm));
        if (d.sign_vote && d.zero_stage == 1)
            fail_usage("--sign-vote 1 sends signs, not gradients, and has no optimizer state to shard: use -z 0");
        if (d.byzantine > 0 && !d.sign_vote) fail_usage("--byzantine %d needs --sign-vote 1", d.byzantine);
        if (d.byzantine >= ranks_ && d.byzantine > 0)
            fail_usage("--byzantine %d needs more ranks than that (this job has %d)", d.byzantine, ranks_);
        if (d.sign_vote && d.vote_bits == 8 && ranks_ > 127)
            fail_usage("--vote-bits 8 sums the signs in int8, at most 127 ranks (this job has %d): use --vote-bits 1 or 2", ranks_);
        if (ranks_ > 1 && oc.algorithm == Algorithm::SSVR)
            fail_usage("ssvr's second gradient pass is not data parallel: run it on one process");
        shard_ = shard_elements(num_params, ranks_);
        cudaCheck(cudaMalloc(&scalars_, 8 * sizeof(double)));
        if (d.sign_vote) {
            if (d.vote_bits != 8) {
                words_per_rank_ = sign_vote_words(n_, d.vote_bits);
                cudaCheck(cudaMalloc(&words_, (size_t)ranks_ * words_per_rank_ * sizeof(uint32_t)));
            }
            cudaCheck(cudaMalloc(&votes_, n_));
        }
    }
    ~GpuDataParallel() {
        cudaFree(votes_);
        cudaFree(words_);
        cudaFree(scalars_);
    }
    GpuDataParallel(const GpuDataParallel&) = delete;
    GpuDataParallel& operator=(const GpuDataParallel&) = delete;

    // Several ranks, or NCCL with one (-pn 1 -pi fs|tcp: the collectives run, as a check of that path).
    static bool uses_collectives(const Comm& c) { return c.size() > 1 || std::string(c.backend()) == "nccl"; }
    // -z 1 shard: a multiple of 64 elements (aligned vectors), ranks x shard >= num_params.
    static size_t shard_elements(size_t num_params, int ranks) { return (num_params + 64 * (size_t)ranks - 1) / (64 * (size_t)ranks) * 64; }
    static size_t padded_params(size_t num_params, int ranks) { return shard_elements(num_params, ranks) * ranks; }
    // Device bytes besides the model's (the memory check): packed words of every rank and the votes.
    static size_t device_bytes(const DistConfig& d, size_t num_params, int ranks) {
        if (!d.sign_vote) return 0;
        return (d.vote_bits == 8 ? 0 : (size_t)ranks * sign_vote_bytes(num_params, d.vote_bits)) + num_params;
    }

    OptimShard optim_shard() const { return plan_shard(d_, n_, rank_, ranks_, collective_); }
    // Hands the optimizer what its sharded update needs from the other ranks (-z 1: nsgd's
    // sum of squares of the momentum, all-reduced).
    void attach(GpuOptimizer& opt) {
        if (optim_shard().shard > 0) opt.set_global_sum([this](double* sum) { comm_.all_reduce_sum(sum, 1, CommDtype::F64); });
    }
    // What GpuOptimizer updates and holds on this rank (also for the memory check, before any
    // GpuDataParallel exists). collective: uses_collectives().
    static OptimShard plan_shard(const DistConfig& d, size_t num_params, int rank, int ranks, bool collective) {
        OptimShard s;
        s.shard = d.zero_stage == 1 && collective ? shard_elements(num_params, ranks) : 0;
        s.rank = rank, s.ranks = ranks;
        return s;
    }
    bool sign_vote() const { return d_.sign_vote != 0; }
    int ranks() const { return ranks_; }

    // After the backward passes: the gradients every rank's update reads.
    void reduce_gradients(floatX* grads) {
        if (!collective_ || d_.sign_vote) return;
        PhaseScope r("optimizer/%s", d_.zero_stage == 1 && !muon() ? "reduce_scatter" : "all_reduce");
        if (d_.zero_stage == 1 && !muon()) comm_.reduce_scatter_sum(grads, grads + (size_t)rank_ * shard_, shard_, COMM_FLOATX);
        else comm_.all_reduce_sum(grads, n_, COMM_FLOATX);
    }

    // ||g||_2, ||g||_1, ||g||_inf of the gradient the update uses and the clip scale (device
    // scalar grad_scale). -z 0: the reduced gradient, one pass; -z 1: the shards' sums of squares
    // and l1 summed, linf maxed; --sign-vote: each rank clips its own gradient by its own norm,
    // the log shows the root mean square over ranks of ||g||_2, the mean ||g||_1, the max ||g||_inf.
    GradNorms norms_and_clip(float* norm_dev, float* scratch, const floatX* grads, float clip, float* grad_scale) {
        PhaseScope r("optimizer/grad_norm");
        const bool sharded = d_.zero_stage == 1 && collective_;
        const size_t begin = sharded ? std::min(n_, (size_t)rank_ * shard_) : 0;
        const size_t count = sharded ? std::min(n_, begin + shard_) - begin : n_;
        float local[GLOBAL_NORM_OUTPUTS] = {};
        if (count > 0) {
            global_norm(norm_dev, scratch, grads + begin, count);
            cudaCheck(cudaMemcpy(local, norm_dev, sizeof local, cudaMemcpyDeviceToHost));
        }
        GradNorms n;
        n.l2 = local[0], n.l1 = local[1], n.linf = local[2];
        float scale = clip_scale(n.l2, clip);
        if (sharded || (d_.sign_vote && collective_)) {
            double sums[2] = {(double)local[0] * local[0], local[1]}, mx = local[2];
            reduce_host(sums, 2, false);
            reduce_host(&mx, 1, true);
            const double div = d_.sign_vote ? ranks_ : 1;
            n.l2 = std::sqrt(sums[0] / div), n.l1 = sums[1] / div, n.linf = mx;
            if (sharded) scale = clip_scale(n.l2, clip);
        }
        cudaCheck(cudaMemcpy(grad_scale, &scale, sizeof(float), cudaMemcpyHostToDevice));
        return n;
    }

    // The update: the optimizer on this rank's part, then the parameters from their owners; or
    // the vote.
    void step(GpuOptimizer& opt, float* master, floatX* params, const floatX* grads, const float* grad_scale, float lr_factor,
              int t) {
        if (d_.sign_vote) {
            PhaseScope r("optimizer/sign_vote");
            const SignVoteTable table = opt.sign_vote_table(lr_factor);
            const bool signum = oc_.algorithm == Algorithm::Signum, byzantine = rank_ < d_.byzantine;
            if (d_.vote_bits == 8) { // the all-reduced int8 signs are the tally
                sign_vote_pack(nullptr, votes_, grads, grad_scale, table, n_, 8, signum, byzantine);
                if (collective_) comm_.all_reduce_sum(votes_, n_, CommDtype::I8);
            } else {
                uint32_t* mine = words_ + (size_t)rank_ * words_per_rank_;
                sign_vote_pack(mine, nullptr, grads, grad_scale, table, n_, d_.vote_bits, signum, byzantine);
                if (collective_) comm_.all_gather(mine, words_, words_per_rank_, CommDtype::U32);
                sign_vote_count(votes_, words_, ranks_, n_, d_.vote_bits);
            }
            sign_vote_apply(master, params, votes_, table, n_, opt.step_rounding_key(t));
            return;
        }
        opt.step(master, params, grads, grad_scale, lr_factor, t);
        if (!collective_) return;
        PhaseScope r("optimizer/all_gather");
        // Muon's layers first: then every rank's shard holds them current for the all-gather
        group([&] {
            for (size_t k = 0; k < opt.groups().size(); k++) {
                if (opt.groups()[k].rule != Algorithm::Muon) continue;
                for (const OwnedPiece& p : opt.owned_pieces(k))
                    comm_.broadcast(params + opt.groups()[k].tensor.offset + p.begin, p.end - p.begin, COMM_FLOATX, p.owner);
            }
        });
        if (d_.zero_stage == 1 && !muon()) comm_.all_gather(params + (size_t)rank_ * shard_, params, shard_, COMM_FLOATX);
        if (d_.zero_stage == 1 && muon()) // each fallback tensor from its parts (zero1_part); the matrices came by broadcast
            group([&] {
                for (const ParamGroup& g : opt.groups())
                    if (g.rule != Algorithm::Muon) all_gather_split(comm_, params + g.tensor.offset, g.tensor.numel(), COMM_FLOATX);
            });
    }

    // Every owner's master weights to all ranks (before rank 0 writes a checkpoint), where
    // every rank holds the whole master weights (sharded ones go through gather_state).
    void sync_for_checkpoint(GpuOptimizer& opt, float* master) {
        if (!collective_ || opt.master_sharded()) return;
        group([&] {
            for (size_t k = 0; k < opt.groups().size(); k++) {
                const size_t offset = opt.groups()[k].tensor.offset;
                for (const OwnedPiece& p : opt.owned_pieces(k))
                    if (p.owner >= 0) comm_.broadcast(master + offset + p.begin, p.end - p.begin, CommDtype::F32, p.owner);
            }
        });
        cudaCheck(cudaDeviceSynchronize());
    }
    // Every other owner's optimizer state into rank 0's host copy (host: state_numel()[k] floats
    // per state buffer, nullptr on the other ranks; rank 0's own part it downloads itself), and
    // under sharded master weights (master: this rank's part) their parts into host_master, one
    // piece at a time (RootRelay; collective).
    void gather_state(const GpuOptimizer& opt, const float* master, std::vector<std::vector<float>>* host,
                      std::vector<float>* host_master) {
        if (!collective_) return;
        // every piece any owner sends, listed alike on every rank: the staging buffer must hold the
        // largest of them all, not just of this rank's own (the last rank's part is the smallest)
        struct Piece { const float* src; size_t count; int owner; float* dst; };
        std::vector<Piece> pieces;
        for (int r = 1; r < ranks_ && opt.master_sharded(); r++) {
            const HeldRange part = opt.master_part(n_, r);
            if (part.count > 0) pieces.push_back({master, part.count, r, rank_ == 0 ? host_master->data() + part.begin : nullptr});
        }
        size_t s = 0; // state buffer index: tensors in order, their slots in order
        for (size_t k = 0; k < opt.groups().size(); k++) {
            const size_t slots = optim_state_slots(opt.groups()[k]).size();
            for (size_t j = 0; j < slots; j++, s++) {
                if (!opt.state()[s]) continue; // floatX (ssvr: one process only)
                for (const OwnedPiece& p : opt.owned_pieces(k))
                    if (p.owner > 0) // not every rank's, nor rank 0's: those are in its own download
                        pieces.push_back({rank_ == p.owner ? opt.state()[s] + opt.held()[s].index_of(p.begin) : nullptr, p.end - p.begin,
                                          p.owner, rank_ == 0 ? (*host)[s].data() + p.begin : nullptr});
            }
        }
        size_t largest = 0;
        for (const Piece& p : pieces) largest = std::max(largest, p.count);
        RootRelay relay(comm_, largest);
        for (const Piece& p : pieces) relay.send(p.src, p.count, p.owner, p.dst);
    }

    bool per_rank_state() const { return d_.sign_vote && oc_.algorithm == Algorithm::Signum && ranks_ > 1; }
    // Collective, under per_rank_state(): every state buffer of ranks 1..N-1 to rank 0 (store
    // and refs filled there, as extra checkpoint records), through RootRelay.
    void gather_rank_state(const GpuOptimizer& opt, std::vector<std::vector<float>>* store, std::vector<StateTensorRef>* refs) {
        if (!per_rank_state() || !collective_) return;
        size_t largest = 0;
        for (size_t numel : opt.state_numel()) largest = std::max(largest, numel);
        RootRelay relay(comm_, largest);
        if (rank_ == 0) store->resize((size_t)(ranks_ - 1) * opt.state().size());
        for (int r = 1; r < ranks_; r++)
            for (size_t s = 0; s < opt.state().size(); s++) {
                const size_t count = opt.state_numel()[s];
                float* dst = nullptr;
                if (rank_ == 0) {
                    std::vector<float>& host = (*store)[(size_t)(r - 1) * opt.state().size() + s];
                    host.resize(count);
                    dst = host.data();
                    refs->push_back({rank_state_record(r, opt.state_names()[s]), dst, count});
                }
                relay.send(opt.state()[s], count, r, dst);
            }
    }
    // On resume (rank >= 1, per_rank_state()): this rank's own records, read into host_state
    // (the host copy of every state buffer) after the shared ones.
    std::vector<StateTensorRef> own_rank_state(const GpuOptimizer& opt, std::vector<std::vector<float>>& host_state) const {
        std::vector<StateTensorRef> out;
        if (!per_rank_state() || rank_ == 0) return out;
        for (size_t s = 0; s < opt.state().size(); s++)
            out.push_back({rank_state_record(rank_, opt.state_names()[s]), host_state[s].data(), host_state[s].size()});
        return out;
    }

    // The gradient sum over ranks in place (the noise statistics' micro-batch gradients).
    void all_reduce_gradients(floatX* grads) {
        if (collective_) comm_.all_reduce_sum(grads, n_, COMM_FLOATX);
    }
    // The lowest rank where `here` holds, or -1 (collective).
    int lowest_rank_where(bool here) {
        if (!collective_) return here ? rank_ : -1;
        double v = here ? ranks_ - rank_ : 0; // the max picks the lowest rank
        reduce_host(&v, 1, true);
        return v > 0 ? ranks_ - (int)v : -1;
    }
    // The max over ranks of a small host integer (the stop signal every rank agrees on).
    int max_over_ranks(int x) {
        if (!collective_) return x;
        double v = x;
        reduce_host(&v, 1, true);
        return (int)v;
    }
    // The sum over ranks of a host count (HellaSwag's answers right); exact below 2^53.
    long sum_over_ranks(long x) {
        if (!collective_) return x;
        double v = (double)x;
        reduce_host(&v, 1, false);
        return (long)v;
    }
    // The sums over ranks of n host values in place (the per-group update norms' squares).
    void sum_over_ranks(double* x, int n) {
        if (collective_) reduce_host(x, n, false);
    }
    // Mean over ranks of a host value (each rank's loss over its own batches).
    double mean(double x) {
        if (!collective_) return x;
        reduce_host(&x, 1, false);
        return x / ranks_;
    }

    // Bytes this rank sends per optimizer step (common/comm.h's ring estimates, as train_gpt2cpu
    // reports them): all-reduce, reduce-scatter, all-gather of the floatX buffers; the packed-sign
    // all-gather or the int8 all-reduce; Muon's broadcasts of the matrices. Host scalars left out.
    long bytes_per_step(const GpuOptimizer& opt) const {
        const int N = ranks_;
        const double P = (double)n_ * sizeof(floatX);
        if (N == 1) return 0;
        if (d_.sign_vote)
            return (long)(d_.vote_bits == 8 ? ring_all_reduce_bytes((double)n_, N) : ring_all_gather_bytes((double)words_per_rank_ * 4 * N, N));
        const double padded = ring_all_gather_bytes((double)shard_ * N * sizeof(floatX), N); // one reduce-scatter or all-gather
        // -z 1: the parameters' all-gather after the gradients' reduce-scatter; Muon: the all-reduce
        // and the fallback tensors' all-gathers (their leftovers' broadcasts, under N elements each, left out)
        double fallback = 0;
        for (const ParamGroup& g : opt.groups())
            if (g.rule != Algorithm::Muon) fallback += (double)(g.tensor.numel() / N * N) * sizeof(floatX);
        double bytes = d_.zero_stage != 1 ? ring_all_reduce_bytes(P, N)
                       : muon()           ? ring_all_reduce_bytes(P, N) + ring_all_gather_bytes(fallback, N)
                                          : 2 * padded;
        for (const ParamGroup& g : opt.groups())
            if (g.rule == Algorithm::Muon) bytes += ring_broadcast_bytes((double)g.tensor.numel() * sizeof(floatX), N);
        return (long)bytes;
    }
    std::string describe(const GpuOptimizer& opt) const {
        char buf[256];
        const std::string vote = d_.vote_bits == 8 ? "majority vote of int8 signs (all-reduce)"
                                                   : "majority vote of " + std::to_string(d_.vote_bits) + "-bit signs (all-gather)";
        const char* scheme = d_.sign_vote ? vote.c_str() :
                             d_.zero_stage == 1 ? (muon() ? "ZeRO-1 of the fallback rule (all-reduce gradients, all-gather parameters)"
                                                          : "ZeRO-1 (reduce-scatter gradients, all-gather parameters)")
                                                : "all-reduce of the gradients";
        snprintf(buf, sizeof buf, "data parallel: %d ranks (%s), %s%s; %.2f MB sent per rank per step", ranks_, comm_.backend(), scheme,
                 d_.byzantine ? (", " + std::to_string(d_.byzantine) + " Byzantine rank(s)").c_str() : "", bytes_per_step(opt) / 1e6);
        std::string out = buf;
        if (opt.held_floats() < opt.whole_floats()) {
            snprintf(buf, sizeof buf, "\noptimizer state: this rank keeps %.2f MB of the whole %.2f MB", opt.held_floats() * 4 / 1e6,
                     opt.whole_floats() * 4 / 1e6);
            out += buf;
        }
        if (opt.master_sharded()) {
            snprintf(buf, sizeof buf, "\nfp32 master weights: this rank keeps %.2f MB of the whole %.2f MB", opt.master_part(n_).count * 4 / 1e6,
                     n_ * 4 / 1e6);
            out += buf;
        }
        return out;
    }

private:
    bool muon() const { return oc_.algorithm == Algorithm::Muon; }
    void reduce_host(double* v, int n, bool max) {
        cudaCheck(cudaMemcpy(scalars_, v, n * sizeof(double), cudaMemcpyHostToDevice));
        if (max) comm_.all_reduce_max(scalars_, n, CommDtype::F64);
        else comm_.all_reduce_sum(scalars_, n, CommDtype::F64);
        cudaCheck(cudaMemcpy(v, scalars_, n * sizeof(double), cudaMemcpyDeviceToHost));
    }
    // Several collectives as one NCCL group (one launch instead of one per buffer).
    template <typename F> void group(F&& f) {
#ifdef USE_NCCL
        NcclComm* nccl = dynamic_cast<NcclComm*>(&comm_);
        if (nccl) nccl->group_start();
        f();
        if (nccl) nccl->group_end();
#else
        f();
#endif
    }

    Comm& comm_;
    DistConfig d_;
    OptimConfig oc_;
    size_t n_, shard_ = 0, words_per_rank_ = 0;
    int ranks_, rank_;
    bool collective_;
    double* scalars_ = nullptr;
    uint32_t* words_ = nullptr;
    int8_t* votes_ = nullptr;
};
