// signSGD / Signum with majority vote (--sign-vote 1) on the GPU: each rank packs the signs of
// its own gradient (signsgd) or its own momentum (signum), the ranks all-gather the packed
// words, every rank takes the vote (the sign of the sum of the ranks' signs, 0 on a tie) and
// applies the same update, p -= lr * wd * p; p -= lr * vote, so the parameters stay identical.
//
// Packed format: 32 elements of the flat parameter buffer per pair of uint32 words,
//   words[2w] bit j = 1: element 32w + j is positive,  words[2w + 1] bit j = 1: it is negative,
// both 0 for a zero (sign(0) = 0 survives: zero gradients, e.g. wpe rows at positions >= T, keep
// their single-process behaviour, and one rank's vote equals plain signsgd bit for bit). That is
// 2 bits per element (d / 4 bytes per rank and step); a 1-bit format would map sign(0) to +1.
// --byzantine K: ranks 0..K-1 pack negated signs.
//   sign_vote_pack:  grads (x clip scale) -> [signum: m = beta m + (1 - beta) g] -> words
//   sign_vote_count: the N ranks' words -> int8 vote per element
//   sign_vote_apply: vote -> master (fp32) and params (floatX, stochastic rounding)
#pragma once
#include <cstdint>

#include "../common/gpt2_layout.h"
#include "../common/utils.h"
#include "stochastic_rounding.cuh"

constexpr int SIGN_VOTE_THREADS = 256;

// Per tensor: its range in the flat buffers, its momentum (signum; nullptr for signsgd) and
// its lr and weight decay (parameter groups).
struct SignVoteTensor {
    size_t offset, numel;
    float* momentum;
    float lr, weight_decay;
};
struct SignVoteTable {
    int count = 0;
    float beta = 0.0f; // signum's momentum coefficient
    SignVoteTensor tensors[NUM_PARAM_TENSORS];
};

// Index of the tensor holding flat element i, searching on from k (elements ascend).
__device__ inline int sign_vote_tensor(const SignVoteTable& t, size_t i, int k) {
    while (k + 1 < t.count && i >= t.tensors[k + 1].offset) k++;
    return k;
}

inline size_t sign_vote_words(size_t n) { return 2 * ((n + 31) / 32); }

// One thread per 32 elements. momentum tensors updated in place (signum).
__global__ void sign_vote_pack_kernel(uint32_t* words, const floatX* grads, const float* grad_scale, SignVoteTable table,
                                      size_t n, bool signum, bool negate) {
    const size_t w = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (w * 32 >= n) return;
    const float scale = grad_scale ? *grad_scale : 1.0f;
    uint32_t pos = 0, neg = 0;
    int k = 0;
    for (int j = 0; j < 32; j++) {
        const size_t i = w * 32 + j;
        if (i >= n) break;
        float v = to_float(grads[i]) * scale;
        if (signum) {
            k = sign_vote_tensor(table, i, k);
            const SignVoteTensor& t = table.tensors[k];
            float* m = t.momentum + (i - t.offset);
            *m = table.beta * *m + (1.0f - table.beta) * v;
            v = *m;
        }
        if (negate) v = -v;
        pos |= (uint32_t)(v > 0.0f) << j;
        neg |= (uint32_t)(v < 0.0f) << j;
    }
    words[2 * w] = pos;
    words[2 * w + 1] = neg;
}

// all: ranks x sign_vote_words(n) words (rank r's at r * words_per_rank). One thread per 32 elements.
__global__ void sign_vote_count_kernel(int8_t* vote, const uint32_t* all, size_t words_per_rank, int ranks, size_t n) {
    const size_t w = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (w * 32 >= n) return;
    int sum[32] = {};
    for (int r = 0; r < ranks; r++) {
        const uint32_t pos = all[r * words_per_rank + 2 * w], neg = all[r * words_per_rank + 2 * w + 1];
#pragma unroll
        for (int j = 0; j < 32; j++) sum[j] += (int)((pos >> j) & 1u) - (int)((neg >> j) & 1u);
    }
    for (int j = 0; j < 32 && w * 32 + j < n; j++) vote[w * 32 + j] = (int8_t)((sum[j] > 0) - (sum[j] < 0));
}

// One thread per element: decoupled weight decay then the vote, as signsgd_update_element.
__global__ void sign_vote_apply_kernel(float* master, floatX* params, const int8_t* vote, SignVoteTable table, size_t n,
                                       uint64_t rounding_key) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const SignVoteTensor& t = table.tensors[sign_vote_tensor(table, i, 0)];
    float p = master[i];
    p -= t.lr * t.weight_decay * p;
    p -= t.lr * (float)vote[i];
    master[i] = p;
    store_param(params, i, p, rounding_key);
}

inline void sign_vote_pack(uint32_t* words, const floatX* grads, const float* grad_scale, const SignVoteTable& table,
                           size_t n, bool signum, bool negate) {
    const size_t threads = (n + 31) / 32;
    sign_vote_pack_kernel<<<ceil_div((long long)threads, SIGN_VOTE_THREADS), SIGN_VOTE_THREADS>>>(words, grads, grad_scale, table,
                                                                                                    n, signum, negate);
    cudaCheckLaunch();
}
inline void sign_vote_count(int8_t* vote, const uint32_t* all, int ranks, size_t n) {
    const size_t threads = (n + 31) / 32;
    sign_vote_count_kernel<<<ceil_div((long long)threads, SIGN_VOTE_THREADS), SIGN_VOTE_THREADS>>>(vote, all, sign_vote_words(n),
                                                                                                     ranks, n);
    cudaCheckLaunch();
}
inline void sign_vote_apply(float* master, floatX* params, const int8_t* vote, const SignVoteTable& table, size_t n,
                            uint64_t rounding_key) {
    sign_vote_apply_kernel<<<ceil_div((long long)n, SIGN_VOTE_THREADS), SIGN_VOTE_THREADS>>>(master, params, vote, table, n,
                                                                                             rounding_key);
    cudaCheckLaunch();
}
