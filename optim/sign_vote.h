// signSGD / Signum with majority vote (Bernstein et al. 2018, "signSGD: compressed optimisation
// for non-convex problems", and "signSGD with majority vote is communication efficient and
// fault tolerant", 2019): each rank sends only the signs of its local gradient (signsgd) or
// of its local momentum (signum); the update direction is the sign of their sum.
//
// Wire format, per rank: for every group of 32 coordinates i = 32w .. 32w+31, two uint32
//   words[2w]     bit i%32 set: x_i > 0      (the "plus" plane)
//   words[2w + 1] bit i%32 set: x_i < 0      (the "minus" plane)
// so a coordinate is +1, -1 or 0 (neither bit: sign(0) = 0 survives, as in signsgd.h, which
// keeps wte's padding rows and unused wpe rows still). 2 bits per coordinate: d12's 124.5M
// parameters are 31.1 MB per rank per step against 249 MB for a bf16 all-reduce (1 bit,
// 15.6 MB, cannot say 0). The trailing bits of the last group are 0.
// Byzantine rank (--byzantine K: ranks 0..K-1): sends the negated signs, i.e. the two planes
// swapped.
// Vote, after an all-gather of every rank's words: vote_i = sign(sum_r s_r,i), ties 0; every
// rank computes the same vote and applies signsgd's rule with it: p -= lr*wd*p; p -= lr*vote.
// Plain C++ with OPTIM_HD elements, so kernels can mirror it one word per thread.
#pragma once
#include <cstddef>
#include <cstdint>

#include "elementwise.h"

inline size_t sign_vote_words(size_t n) { return 2 * ((n + 31) / 32); }
inline size_t sign_vote_bytes(size_t n) { return sign_vote_words(n) * sizeof(uint32_t); }

// The two words of group w of x[0..n) (negated when byzantine).
OPTIM_HD inline void sign_vote_pack_group(const float* x, size_t n, size_t w, bool byzantine, uint32_t* plus, uint32_t* minus) {
    uint32_t p = 0, m = 0;
    for (size_t b = 0; b < 32; b++) {
        const size_t i = 32 * w + b;
        if (i >= n) break;
        p |= (uint32_t)(x[i] > 0.0f) << b;
        m |= (uint32_t)(x[i] < 0.0f) << b;
    }
    *plus = byzantine ? m : p;
    *minus = byzantine ? p : m;
}

inline void sign_vote_pack(const float* x, size_t n, bool byzantine, uint32_t* words) {
    const long long groups = (long long)((n + 31) / 32);
#pragma omp parallel for
    for (long long w = 0; w < groups; w++) sign_vote_pack_group(x, n, (size_t)w, byzantine, &words[2 * w], &words[2 * w + 1]);
}

// The sign rank r sent for coordinate i (+1, -1 or 0).
OPTIM_HD inline int sign_vote_unpack(const uint32_t* rank_words, size_t i) {
    const size_t w = i / 32, b = i % 32;
    return (int)((rank_words[2 * w] >> b) & 1u) - (int)((rank_words[2 * w + 1] >> b) & 1u);
}

// gathered: ranks x sign_vote_words(n) words (rank r's at r * sign_vote_words(n), as
// Comm::all_gather lays them out). vote[i] = sign(sum over ranks), ties 0.
OPTIM_HD inline float sign_vote_element(const uint32_t* gathered, int ranks, size_t words_per_rank, size_t i) {
    int sum = 0;
    for (int r = 0; r < ranks; r++) sum += sign_vote_unpack(gathered + (size_t)r * words_per_rank, i);
    return (float)((sum > 0) - (sum < 0));
}

inline void sign_vote_tally(const uint32_t* gathered, int ranks, size_t n, float* vote) {
    const size_t words = sign_vote_words(n);
#pragma omp parallel for
    for (long long i = 0; i < (long long)n; i++) vote[i] = sign_vote_element(gathered, ranks, words, (size_t)i);
}
