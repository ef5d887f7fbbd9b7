// The majority vote's wire formats (--vote-bits 1, 2, 8; optim/sign_vote.cuh) through the GPU
// trainer's communicator (make_gpu_comm: NcclComm under mpirun), side by side with the bf16
// all-reduce of -z 0 as the peer: which of the 1-bit all-gather and the int8 all-reduce is
// faster on NCCL, at this rank count.
//   mpirun -np 8 build/nccl/vote_comm     8 GPUs: the measurement (make build/nccl/vote_comm)
//   build/dev/vote_comm                   one process (the GPU kit): checks, kernel times only
// Checks first, on every rank: each rank rebuilds every rank's gradient from its seed (exact
// zeros: one rank's at i % 7 == r, every rank's at i % 11 == 0), so it computes the reference
// vote sign(sum of the ranks' signs) itself (1 bit: sign(0) = +1; ties 0) and compares its own
// vote for each format exactly. Then timings (GPU only, rank 0 prints; d12's 124,475,904
// parameters): the collective alone and the whole vote (pack, collective, count), per format.
#include <memory>
#include <string>
#include <vector>

#include "dev_common.cuh" // first: cudaCheck, which comm_nccl.cuh uses
#include "../../common/comm_nccl.cuh"
#include "../../optim/sign_vote.cuh"

#if defined(ENABLE_FP32)
constexpr CommDtype VOTE_COMM_FLOATX = CommDtype::F32;
#else
constexpr CommDtype VOTE_COMM_FLOATX = CommDtype::BF16;
#endif

// The sign rank r sends for x under `bits` (the reference: written out, not sign_vote.h's).
static int sent_sign(float x, int bits) { return bits == 1 ? (x < 0.0f ? -1 : 1) : (x > 0.0f) - (x < 0.0f); }

// Rank r's gradient: random, with the exact zeros above.
static std::vector<float> rank_gradient(size_t n, int r) {
    std::vector<float> g = random_vector(n, 500 + r, -1.0f, 1.0f);
    for (size_t i = 0; i < n; i++)
        if (i % 7 == (size_t)r || i % 11 == 0) g[i] = 0.0f;
    return g;
}

// One vote in format `bits` of this rank's gradient into votes (n int8): pack, collective, count.
struct VoteBuffers {
    size_t n;
    int ranks, rank;
    bool collective;
    uint32_t* words; // ranks x the 2-bit words (the larger format)
    int8_t* votes;
    floatX* grads;
    SignVoteTable table;
};
static void vote(Comm& comm, VoteBuffers& b, int bits) {
    if (bits == 8) {
        sign_vote_pack(nullptr, b.votes, b.grads, nullptr, b.table, b.n, 8, false, false);
        if (b.collective) comm.all_reduce_sum(b.votes, b.n, CommDtype::I8);
        return;
    }
    const size_t w = sign_vote_words(b.n, bits);
    uint32_t* mine = b.words + (size_t)b.rank * w;
    sign_vote_pack(mine, nullptr, b.grads, nullptr, b.table, b.n, bits, false, false);
    if (b.collective) comm.all_gather(mine, b.words, w, CommDtype::U32);
    sign_vote_count(b.votes, b.words, b.ranks, b.n, bits);
}

static VoteBuffers make_buffers(const Comm& comm, size_t n, bool collective) {
    VoteBuffers b;
    b.n = n, b.ranks = comm.size(), b.rank = comm.rank(), b.collective = collective;
    b.words = device_alloc<uint32_t>((size_t)b.ranks * sign_vote_words(n, 2));
    b.votes = device_alloc<int8_t>(n);
    b.grads = device_alloc<floatX>(n);
    b.table.tensors[b.table.count++] = {0, n, nullptr, 0.0f, 0.0f};
    return b;
}
static void free_buffers(VoteBuffers& b) { cudaFree(b.words), cudaFree(b.votes), cudaFree(b.grads); }

int main(int argc, char** argv) {
    DEV_SKIP_WITHOUT_DEVICE("vote_comm.cu");
    (void)argc, (void)argv;
    std::unique_ptr<Comm> comm = make_gpu_comm(DistConfig{});
    const int R = comm->size(), rank = comm->rank();
    const bool collective = R > 1;
    if (rank > 0 && !freopen("/dev/null", "w", stdout)) fail_runtime("cannot silence stdout"); // rank 0 reports
    printf("vote_comm: %d rank(s) (%s)\n", R, comm->backend());

    // ---- checks: every format's vote against the reference, on every rank
    const size_t n_check = DEV_SIZE(1000003, 40003);
    std::vector<std::vector<float>> g(R);
    for (int r = 0; r < R; r++) g[r] = rank_gradient(n_check, r);
    VoteBuffers check = make_buffers(*comm, n_check, collective);
    upload_into(check.grads, g[rank]);
    for (int bits : {1, 2, 8}) {
        std::vector<int> want(n_check);
        size_t ties = 0;
        for (size_t i = 0; i < n_check; i++) {
            int sum = 0;
            for (int r = 0; r < R; r++) sum += sent_sign(g[r][i], bits);
            want[i] = (sum > 0) - (sum < 0);
            ties += sum == 0;
        }
        vote(*comm, check, bits);
        std::vector<int8_t> got(n_check);
        cudaCheck(cudaMemcpy(got.data(), check.votes, n_check, cudaMemcpyDeviceToHost));
        size_t wrong = 0;
        for (size_t i = 0; i < n_check; i++) wrong += ((got[i] > 0) - (got[i] < 0)) != want[i]; // int8: the sum's sign
        // this rank's verdict for every rank to see: the max over ranks of "wrong"
        int32_t bad = wrong > 0;
        if (collective) {
            int32_t* d_bad = device_alloc<int32_t>(1);
            cudaCheck(cudaMemcpy(d_bad, &bad, sizeof bad, cudaMemcpyHostToDevice));
            comm->all_reduce_max(d_bad, 1, CommDtype::I32);
            cudaCheck(cudaMemcpy(&bad, d_bad, sizeof bad, cudaMemcpyDeviceToHost));
            cudaFree(d_bad);
        }
        const std::string name = "vote_comm/" + std::string(bits == 8 ? "int8" : bits == 1 ? "1bit" : "2bit") + "_" + std::to_string(R) + "_ranks";
        test_expect(bad == 0, name.c_str(),
                    (std::to_string(wrong) + " of rank 0's votes wrong (" + std::to_string(ties) + " ties); a rank disagreed: " + (bad ? "yes" : "no")).c_str());
    }
    free_buffers(check);

#if !defined(CUDA_EMULATION) // emulated time says nothing about a GPU
    // ---- timings at d12's size (random signs; the values do not change the traffic)
    const size_t n = 124475904;
    VoteBuffers b = make_buffers(*comm, n, collective);
    upload_into(b.grads, random_vector(n, 900 + rank, -1.0f, 1.0f));
    floatX* bf16_grads = device_alloc<floatX>(n);
    cudaCheck(cudaMemset(bf16_grads, 0, n * sizeof(floatX)));
    if (!collective) printf("one rank: no collective runs; the times below are the pack and count kernels (mpirun -np N build/nccl/vote_comm for NCCL)\n");
    printf("\n| what (d12, %d ranks) | MB per rank | collective ms | whole vote ms | vs the %s all-reduce |\n|---|---|---|---|---|\n", R, PRECISION_NAME);
    comm->barrier();
    const float peer = collective ? time_ms([&] { comm->all_reduce_sum(bf16_grads, n, VOTE_COMM_FLOATX); }) : 0.0f;
    printf("| %s all-reduce of the gradients (-z 0) | %.1f | %.3f | - | %s |\n", PRECISION_NAME, n * sizeof(floatX) / 1e6, peer, collective ? "1.00" : "-");
    for (int bits : {1, 2, 8}) {
        const size_t w = sign_vote_words(n, bits);
        comm->barrier();
        const float coll = !collective ? 0.0f
                           : bits == 8 ? time_ms([&] { comm->all_reduce_sum(b.votes, n, CommDtype::I8); })
                                       : time_ms([&] { comm->all_gather(b.words + (size_t)rank * w, b.words, w, CommDtype::U32); });
        comm->barrier();
        const float whole = time_ms([&] { vote(*comm, b, bits); });
        printf("| --vote-bits %d: %s | %.1f | %.3f | %.3f | %s |\n", bits, bits == 8 ? "int8 all-reduce" : "all-gather of words",
               sign_vote_bytes(n, bits) / 1e6, coll, whole, peer > 0 ? (std::to_string(whole / peer).substr(0, 5) + "x").c_str() : "-");
    }
    free_buffers(b);
    cudaFree(bf16_grads);
#endif
    return test_exit_code();
}
