// Data-parallel communication, one interface for both trainers. Implementations:
//   SingleProcessComm (here): one process, every collective is a copy or nothing.
//   common/comm_mpi.h: Open MPI, host memory (train_gpt2cpu; also NCCL's bootstrap).
//   common/comm_nccl.cuh: NCCL, device memory, on the trainer's stream (train_gpt2cu).
// Collectives are blocking from the caller's point of view on the host; the NCCL one is
// ordered on its stream. Buffers are host memory for MPI and device memory for NCCL.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "utils.h"

enum class CommDtype { F32, F64, BF16, I8, I32, U32 };

inline size_t comm_dtype_bytes(CommDtype t) {
    switch (t) {
        case CommDtype::F64: return 8;
        case CommDtype::BF16: return 2;
        case CommDtype::I8: return 1;
        default: return 4;
    }
}

// The launch flags, as llm.c spells them (-pn -pr -pg -pi -pf -ps), and the data-parallel
// algorithm (-z, --sign-vote, --byzantine).
struct DistConfig {
    int num_processes = 1;        // -pn: processes in the job (mpirun sets it from the environment)
    int process_rank = 0;         // -pr: this process's rank (mpirun: from the environment)
    int gpus_per_node = 8;        // -pg: local rank = rank % gpus_per_node (without MPI)
    std::string init_method = "mpi"; // -pi mpi|fs|tcp: how NCCL's unique id reaches every rank
    std::string fs_path = "/tmp";    // -pf: shared-filesystem rendezvous directory (-pi fs)
    std::string server_ip;           // -ps: rank 0's address (-pi tcp)
    int zero_stage = 0;           // -z 0: all-reduce the gradients; 1: ZeRO-1 (sharded optimizer state)
    int sign_vote = 0;            // --sign-vote: signsgd/signum by majority vote of 1-bit signs
    int vote_bits = 1;            // --vote-bits 1|2|8: the vote's wire format (optim/sign_vote.h)
    int byzantine = 0;            // --byzantine K: ranks 0..K-1 send negated signs (research flag)
    int byzantine_omniscient = 0; // --byzantine-mode omniscient: they vote -sign(mean honest gradient) instead (optim/sign_vote.h)
    float vote_noise = 0.0f;      // --vote-noise C: N(0, b^2) added before each rank's sign, b = C max_ranks ||g||_inf per tensor
    int rank_data_split = 0;      // --rank-data-split first-token: rank r keeps the documents whose first token is in its range
    int vote_agreement = 0;       // --vote-agreement 1: log how often the vote agrees with sign(mean of the ranks' values) (diagnostic)
    bool num_processes_given = false, process_rank_given = false; // -pn/-pr on the command line (common/launch_env.h)
};

// The world size a launcher (mpirun; srun with PMI) announces in the environment, 0 when
// none started this process (common/comm_mpi.h picks the implementation with it).
inline int launcher_world_size() {
    for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"})
        if (const char* v = getenv(var)) return atoi(v);
    return 0;
}

// A positive whole number of seconds from the environment variable NAME, else FALLBACK.
inline int env_seconds(const char* name, int fallback) {
    const char* v = getenv(name);
    const int s = v && *v ? atoi(v) : 0;
    return s > 0 ? s : fallback;
}
// GPT2_COMM_TIMEOUT (seconds, default 600): how long a collective may wait for the other
// ranks before the job ends naming the rank that never arrived (MPI: common/comm_mpi.h), or
// stay pending after every rank reached it (NCCL: common/comm_nccl.cuh).
inline int comm_timeout_seconds() { return env_seconds("GPT2_COMM_TIMEOUT", 600); }

// Bytes one rank sends in a collective under the ring algorithms NCCL uses for large buffers
// (an estimate from the sizes, not a measurement; MPI may pick other algorithms), averaged over
// the ranks: what both trainers report as comm_bytes. all-reduce of B bytes: 2 (N-1)/N B;
// all-gather into (or reduce-scatter from) a T-byte buffer: (N-1)/N T; broadcast of B: (N-1)/N B.
inline double ring_all_reduce_bytes(double bytes, int ranks) { return 2.0 * (ranks - 1) / ranks * bytes; }
inline double ring_all_gather_bytes(double total_bytes, int ranks) { return (double)(ranks - 1) / ranks * total_bytes; }
inline double ring_broadcast_bytes(double bytes, int ranks) { return (double)(ranks - 1) / ranks * bytes; }

class Comm {
public:
    virtual ~Comm() {}
    int rank() const { return rank_; }
    int size() const { return size_; }
    int local_rank() const { return local_rank_; }
    virtual const char* backend() const = 0;
    // buf[0..count) = the sum over ranks of every rank's buf, in place.
    virtual void all_reduce_sum(void* buf, size_t count, CommDtype t) = 0;
    // buf = the max over ranks (used for ||g||_inf and for agreeing on a failure flag).
    virtual void all_reduce_max(void* buf, size_t count, CommDtype t) = 0;
    // recv[0..count) = sum over ranks r of rank r's send[rank()*count .. (rank()+1)*count).
    virtual void reduce_scatter_sum(const void* send, void* recv, size_t count, CommDtype t) = 0;
    // recv[r*count .. (r+1)*count) = rank r's send[0..count). send may be recv's own part
    // (recv + rank()*count): in place.
    virtual void all_gather(const void* send, void* recv, size_t count, CommDtype t) = 0;
    virtual void broadcast(void* buf, size_t count, CommDtype t, int root) = 0;
    virtual void barrier() = 0;
    // Ends every process of the job with exit code `code` (the error line is already printed).
    [[noreturn]] virtual void abort_job(int code) = 0;

protected:
    int rank_ = 0, size_ = 1, local_rank_ = 0;
};

// ZeRO-1's split of numel elements among ranks (both trainers): rank r's part is
// [r q, (r + 1) q) with q = floor(numel / ranks), the last rank's running on to numel, so the
// collectives move a uniform q per rank and the leftover (fewer than `ranks`) separately.
inline std::pair<size_t, size_t> split_among_ranks(size_t numel, int ranks, int r) {
    const size_t q = numel / ranks;
    return {r * q, r == ranks - 1 ? numel : (r + 1) * q};
}
// buf[0..numel) made whole on every rank from the parts split_among_ranks gives each: an
// in-place all-gather of the ranks x q elements and a broadcast of the leftover from the last rank.
inline void all_gather_split(Comm& comm, void* buf, size_t numel, CommDtype t) {
    const int ranks = comm.size();
    const size_t q = numel / ranks, bytes = comm_dtype_bytes(t);
    char* b = static_cast<char*>(buf);
    if (q > 0) comm.all_gather(b + (size_t)comm.rank() * q * bytes, b, q, t);
    if (numel > q * ranks) comm.broadcast(b + q * ranks * bytes, numel - q * ranks, t, ranks - 1);
}

class SingleProcessComm : public Comm {
public:
    const char* backend() const override { return "single"; }
    void all_reduce_sum(void*, size_t, CommDtype) override {}
    void all_reduce_max(void*, size_t, CommDtype) override {}
    void reduce_scatter_sum(const void* send, void* recv, size_t count, CommDtype t) override { copy(send, recv, count, t); }
    void all_gather(const void* send, void* recv, size_t count, CommDtype t) override { copy(send, recv, count, t); }
    void broadcast(void*, size_t, CommDtype, int) override {}
    void barrier() override {}
    [[noreturn]] void abort_job(int code) override { exit(code); }

private:
    // Host memory only: the CUDA trainer's single-process path never calls these on device buffers.
    static void copy(const void* send, void* recv, size_t count, CommDtype t) {
        if (send != recv) memmove(recv, send, count * comm_dtype_bytes(t));
    }
};
