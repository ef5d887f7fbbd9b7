// signSGD / Signum with majority vote (--sign-vote 1) on the GPU: each rank packs the signs of
// its own gradient (signsgd) or its own momentum (signum) in the --vote-bits wire format of
// optim/sign_vote.h (the same OPTIM_HD sign and unpack functions), the ranks all-gather the
// packed words (1 or 2 bits per element) or all-reduce the int8 signs (8), every rank takes the
// vote (the sign of the sum of the ranks' signs, 0 on a tie) and applies the same update,
// p -= lr * wd * p; p -= lr * vote, so the parameters stay identical. 1 bit sends sign(0) as
// +1; 2 bits and int8 keep sign(0) = 0, so one rank's vote equals plain signsgd bit for bit.
// --byzantine K: ranks 0..K-1 send negated signs (blind), or (--byzantine-mode omniscient) all
// send -sign(the honest ranks' sum). With omniscient ranks or --vote-noise the value each rank
// signs is first written in fp32 (sign_vote_values; signum's momentum is updated there), the
// honest sum all-reduced from it and the noise scale taken over it (sign_vote_linf), then the
// pack kernels read it instead of the gradient, adding b_k xi_i before the sign (optim/sign_vote.h).
//   sign_vote_pack:  grads (x clip scale) -> [signum: m = beta m + (1 - beta) g] -> words, or
//                    int8 signs into the vote buffer (bits 8)
//   sign_vote_count: the N ranks' words -> int8 vote per element (bits 1, 2; bits 8: the
//                    all-reduced sums already are the tally)
//   sign_vote_apply: sign(vote) -> master (fp32) and params (floatX, stochastic rounding)
// Every kernel maps consecutive threads to consecutive elements (coalesced). The word layout is
// unchanged by that: bit j of word w (and of each half of a 2-bit pair) is element 32 w + j,
// which in the pack kernel is lane j of warp w's __ballot_sync, so the wire format and saved
// state read the same as before.
// Bytes moved per element (bf16: sizeof(floatX) = 2; signum adds its momentum, read and
// written, 8):
//   pack (bits 1, 2): grad 2 [+ 8] + bits / 8 written;  pack (bits 8): grad 2 [+ 8] + 1 written
//   count: ranks * bits / 8 read (the warp shares each word: one load for 32 lanes) + 1 written
//   apply: vote 1 + master 8 (read and written) + param 2 written
#pragma once
#include <cstdint>

#include "../common/gpt2_layout.h"
#include "../common/utils.h"
#include "sign_vote.h"
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

// --vote-noise: the noise of this rank and step. linf (device, one per tensor): the ranks' max
// of ||value||_inf, all-reduced; b_k = c * linf[k]. linf nullptr: no noise.
struct SignVoteNoise {
    const float* linf = nullptr;
    float c = 0.0f;
    uint64_t key = 0; // vote_noise_key(seed, rank, step)
};

// The value whose sign element i sends: values[i] when given (written by sign_vote_values),
// else its scaled gradient, or (signum) its momentum, updated in place. k: the tensor search's cursor.
__device__ inline float sign_vote_source(const floatX* grads, float scale, const SignVoteTable& table, size_t i, bool signum, int* k) {
    const float v = to_float(grads[i]) * scale;
    if (!signum) return v;
    *k = sign_vote_tensor(table, i, *k);
    const SignVoteTensor& t = table.tensors[*k];
    float* m = t.momentum + (i - t.offset);
    *m = table.beta * *m + (1.0f - table.beta) * v;
    return *m;
}

__device__ inline float sign_vote_sent_value(const float* values, const floatX* grads, float scale, const SignVoteTable& table, size_t i,
                                             bool signum, const SignVoteNoise& noise) {
    int k = 0;
    const float v = values ? values[i] : sign_vote_source(grads, scale, table, i, signum, &k);
    if (!noise.linf) return v;
    k = sign_vote_tensor(table, i, 0);
    return vote_noisy_value(v, noise.c * noise.linf[k], noise.key, i);
}

// One thread per element: values[i] = the value element i would sign (signum: momentum updated).
__global__ void sign_vote_values_kernel(float* values, const floatX* grads, const float* grad_scale, SignVoteTable table, size_t n,
                                        bool signum) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    int k = 0;
    values[i] = sign_vote_source(grads, grad_scale ? *grad_scale : 1.0f, table, i, signum, &k);
}

// linf[k] = max(linf[k], |values[i]|) over tensor k (linf zeroed before): the bits of a
// non-negative float order as the float does, so an integer atomicMax takes the float max.
// A warp whose 32 elements lie in one tensor reduces first and sends one atomic.
__global__ void sign_vote_linf_kernel(float* linf, const float* values, SignVoteTable table, size_t n) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    const size_t first = i - threadIdx.x % 32; // the warp's first element
    if (first >= n) return;                    // whole warps leave together
    const int k = i < n ? sign_vote_tensor(table, i, 0) : -1;
    float a = i < n ? fabsf(values[i]) : 0.0f;
    const int k0 = __shfl_sync(0xffffffffu, k, 0);
    const bool uniform = __all_sync(0xffffffffu, k == k0 || k < 0);
    if (uniform) {
        for (int off = 16; off > 0; off /= 2) a = fmaxf(a, __shfl_xor_sync(0xffffffffu, a, off));
        if (threadIdx.x % 32 == 0) atomicMax((unsigned int*)&linf[k0], __float_as_uint(a));
    } else if (k >= 0) {
        atomicMax((unsigned int*)&linf[k], __float_as_uint(a));
    }
}

// Bits 1 and 2: one thread per element, one warp per word: lane j's sign becomes bit j of the
// warp's ballots; lane 0 writes the word (bits 1: minus), lanes 0 and 1 the pair (bits 2).
// Elements past n vote 0. A warp is all in or all past the end (n's last word), so none exits
// before the ballot.
__global__ void sign_vote_pack_words_kernel(uint32_t* words, const floatX* grads, const float* grad_scale, SignVoteTable table,
                                            size_t n, int bits, bool signum, bool negate, const float* values, SignVoteNoise noise) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, w = i / 32;
    const int lane = (int)(i % 32);
    if (w * 32 >= n) return;
    int s = 0;
    if (i < n) s = sign_vote_sign(sign_vote_sent_value(values, grads, grad_scale ? *grad_scale : 1.0f, table, i, signum, noise), bits, negate);
    const uint32_t plus = __ballot_sync(0xffffffffu, s > 0), minus = __ballot_sync(0xffffffffu, s < 0);
    if (bits == 1) {
        if (lane == 0) words[w] = minus;
    } else if (lane < 2) {
        words[2 * w + lane] = lane == 0 ? plus : minus;
    }
}

// Bits 8: one thread per element, its sign as an int8.
__global__ void sign_vote_pack_int8_kernel(int8_t* out, const floatX* grads, const float* grad_scale, SignVoteTable table, size_t n,
                                           bool signum, bool negate, const float* values, SignVoteNoise noise) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    out[i] = (int8_t)sign_vote_sign(sign_vote_sent_value(values, grads, grad_scale ? *grad_scale : 1.0f, table, i, signum, noise), 8, negate);
}

// all: ranks x sign_vote_words(n, bits) words (rank r's at r * words_per_rank). One thread per
// element: bit (i % 32) of each rank's word i / 32 (the warp's lanes read the same word).
__global__ void sign_vote_count_kernel(int8_t* vote, const uint32_t* all, size_t words_per_rank, int ranks, size_t n, int bits) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, w = i / 32;
    if (i >= n) return;
    const int bit = (int)(i % 32);
    int sum = 0;
    for (int r = 0; r < ranks; r++) {
        const uint32_t* mine = all + r * words_per_rank;
        const uint32_t minus = bits == 1 ? mine[w] : mine[2 * w + 1];
        const uint32_t plus = bits == 1 ? ~minus : mine[2 * w];
        sum += (int)((plus >> bit) & 1u) - (int)((minus >> bit) & 1u);
    }
    vote[i] = (int8_t)((sum > 0) - (sum < 0));
}

// One thread per element: decoupled weight decay then sign(vote), as signsgd_update_element.
__global__ void sign_vote_apply_kernel(float* master, floatX* params, const int8_t* vote, SignVoteTable table, size_t n,
                                       uint64_t rounding_key) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const SignVoteTensor& t = table.tensors[sign_vote_tensor(table, i, 0)];
    float p = master[i];
    p -= t.lr * t.weight_decay * p;
    p -= t.lr * (float)((vote[i] > 0) - (vote[i] < 0));
    master[i] = p;
    store_param(params, i, p, rounding_key);
}

// bits 1, 2: into words; bits 8: int8 signs into votes (words unused). values: sign these
// (from sign_vote_values, or the honest sum) instead of the gradient; noise: before the sign.
inline void sign_vote_pack(uint32_t* words, int8_t* votes, const floatX* grads, const float* grad_scale, const SignVoteTable& table,
                           size_t n, int bits, bool signum, bool negate, const float* values = nullptr, SignVoteNoise noise = {}) {
    if (bits == 8) {
        sign_vote_pack_int8_kernel<<<ceil_div((long long)n, SIGN_VOTE_THREADS), SIGN_VOTE_THREADS>>>(votes, grads, grad_scale, table, n,
                                                                                                     signum, negate, values, noise);
    } else {
        sign_vote_pack_words_kernel<<<ceil_div((long long)n, SIGN_VOTE_THREADS), SIGN_VOTE_THREADS>>>(words, grads, grad_scale, table,
                                                                                                      n, bits, signum, negate, values, noise);
    }
    cudaCheckLaunch();
}
inline void sign_vote_values(float* values, const floatX* grads, const float* grad_scale, const SignVoteTable& table, size_t n,
                             bool signum) {
    sign_vote_values_kernel<<<ceil_div((long long)n, SIGN_VOTE_THREADS), SIGN_VOTE_THREADS>>>(values, grads, grad_scale, table, n, signum);
    cudaCheckLaunch();
}
// linf: table.count floats, overwritten with each tensor's ||values||_inf.
inline void sign_vote_linf(float* linf, const float* values, const SignVoteTable& table, size_t n) {
    cudaCheck(cudaMemset(linf, 0, table.count * sizeof(float)));
    sign_vote_linf_kernel<<<ceil_div((long long)n, SIGN_VOTE_THREADS), SIGN_VOTE_THREADS>>>(linf, values, table, n);
    cudaCheckLaunch();
}
inline void sign_vote_count(int8_t* vote, const uint32_t* all, int ranks, size_t n, int bits) {
    sign_vote_count_kernel<<<ceil_div((long long)n, SIGN_VOTE_THREADS), SIGN_VOTE_THREADS>>>(vote, all, sign_vote_words(n, bits), ranks,
                                                                                               n, bits);
    cudaCheckLaunch();
}
inline void sign_vote_apply(float* master, floatX* params, const int8_t* vote, const SignVoteTable& table, size_t n,
                            uint64_t rounding_key) {
    sign_vote_apply_kernel<<<ceil_div((long long)n, SIGN_VOTE_THREADS), SIGN_VOTE_THREADS>>>(master, params, vote, table, n,
                                                                                             rounding_key);
    cudaCheckLaunch();
}
