// signSGD / Signum with majority vote (Bernstein et al. 2018, "signSGD: compressed optimisation
// for non-convex problems", and "signSGD with majority vote is communication efficient and
// fault tolerant", 2019): each rank sends only the signs of its local gradient (signsgd) or
// of its local momentum (signum); the update direction is the sign of their sum.
//
// Wire formats (--vote-bits), per rank, over the flat coordinates i:
//   1  (default) one uint32 per 32 coordinates, words[w] bit i%32 set: x_i < 0. A coordinate
//      is +1 or -1: 1 bit cannot say 0, so sign(0) = +1 (a coordinate whose gradient is 0 on
//      every rank, e.g. wte's padding rows or wpe rows past T, moves by lr each step).
//      d12's 124.5M parameters: 15.6 MB per rank per step against 249 MB for a bf16 all-reduce.
//   2  two uint32 per 32 coordinates, words[2w] bit set: x_i > 0, words[2w + 1]: x_i < 0, so
//      sign(0) = 0 survives, as in signsgd.h (one rank's vote is then signsgd bit for bit).
//      31.1 MB for d12. Both are all-gathered; the trailing bits of the last group are 0.
//   8  one int8 per coordinate, sign(x) in {-1, 0, +1}, all-reduced (summed) instead of
//      all-gathered: a ring all-reduce sends 2 (N-1)/N bytes per coordinate whatever the rank
//      count N, the all-gather of 1-bit words (N-1)/8, so int8 sends less beyond N = 16 ranks
//      (scripts/comm_model.py). The int8 sum holds at most 127 ranks.
// Byzantine ranks (--byzantine K: ranks 0..K-1), by --byzantine-mode:
//   blind       (default; Bernstein et al. 2019) each sends the negation of its own signs.
//   omniscient  (Mengoli, Moll, Strozzi, El-Mhamdi 2025, arXiv 2502.19170: colluding adversaries
//               that know the honest gradients) all send -sign(sum of the honest ranks' values),
//               i.e. -sign(mean honest gradient) on every coordinate. They learn the sum by an extra
//               fp32 all-reduce to which only honest ranks contribute (a research simulation,
//               counted in comm_bytes). The honest values are the ones each would sign (its clipped
//               gradient, or its signum momentum), before any --vote-noise.
// Noisy vote (--vote-noise C; Chen, Chen, Sun, Wu, Hong, NeurIPS 2020, arXiv 1906.01736): every
// rank that signs its own value signs x_i + b_k xi_i instead, xi_i ~ N(0, 1), independent per rank,
// coordinate and step: value i (the flat index) of the common/rng.h stream
// vote_noise_key(seed, rank, step); b_k = C * max over ranks of ||x over tensor k||_inf (one
// all-reduce max of 16 floats). The noise goes in before the sign, never after the vote.
// Vote: vote_i = sign(sum_r s_r,i), ties 0; every rank computes the same vote and applies
// signsgd's rule with it: p -= lr*wd*p; p -= lr*vote.
// Plain C++ with OPTIM_HD elements, so kernels can mirror it one word per thread.
#pragma once
#include <cstddef>
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "../common/rng.h"
#include "elementwise.h"

inline bool sign_vote_bits_valid(int bits) { return bits == 1 || bits == 2 || bits == 8; }
// uint32 words per rank of the all-gathered formats (bits 1 or 2).
inline size_t sign_vote_words(size_t n, int bits) { return (size_t)bits * ((n + 31) / 32); }
// Bytes each rank contributes to the vote's collective.
inline size_t sign_vote_bytes(size_t n, int bits) { return bits == 8 ? n : sign_vote_words(n, bits) * sizeof(uint32_t); }

// The sign a rank sends for x: 1 bit: -1 below 0, else +1; 2 bits and int8: sign(x).
OPTIM_HD inline int sign_vote_sign(float x, int bits, bool byzantine) {
    const int s = bits == 1 ? (x < 0.0f ? -1 : 1) : (x > 0.0f) - (x < 0.0f);
    return byzantine ? -s : s;
}

// The words of group w of x[0..n): one (bits 1) or two (bits 2) at words + bits * w.
OPTIM_HD inline void sign_vote_pack_group(const float* x, size_t n, size_t w, int bits, bool byzantine, uint32_t* words) {
    uint32_t plus = 0, minus = 0;
    for (size_t b = 0; b < 32; b++) {
        const size_t i = 32 * w + b;
        if (i >= n) break;
        const int s = sign_vote_sign(x[i], bits, byzantine);
        plus |= (uint32_t)(s > 0) << b;
        minus |= (uint32_t)(s < 0) << b;
    }
    if (bits == 1) words[w] = minus;
    else words[2 * w] = plus, words[2 * w + 1] = minus;
}

inline void sign_vote_pack(const float* x, size_t n, int bits, bool byzantine, uint32_t* words) {
    const long long groups = (long long)((n + 31) / 32);
#pragma omp parallel for
    for (long long w = 0; w < groups; w++) sign_vote_pack_group(x, n, (size_t)w, bits, byzantine, words);
}

// --vote-bits 8: the int8 signs, summed across ranks in place by the all-reduce.
inline void sign_vote_pack_int8(const float* x, size_t n, bool byzantine, int8_t* out) {
#pragma omp parallel for simd
    for (long long i = 0; i < (long long)n; i++) out[i] = (int8_t)sign_vote_sign(x[i], 8, byzantine);
}

// The sign rank r sent for coordinate i (+1, -1, or 0 with 2 bits).
OPTIM_HD inline int sign_vote_unpack(const uint32_t* rank_words, size_t i, int bits) {
    const size_t w = i / 32, b = i % 32;
    if (bits == 1) return 1 - 2 * (int)((rank_words[w] >> b) & 1u);
    return (int)((rank_words[2 * w] >> b) & 1u) - (int)((rank_words[2 * w + 1] >> b) & 1u);
}

// gathered: ranks x sign_vote_words(n, bits) words (rank r's at r * words_per_rank, as
// Comm::all_gather lays them out). vote[i] = sign(sum over ranks), ties 0.
OPTIM_HD inline float sign_vote_element(const uint32_t* gathered, int ranks, size_t words_per_rank, size_t i, int bits) {
    int sum = 0;
    for (int r = 0; r < ranks; r++) sum += sign_vote_unpack(gathered + (size_t)r * words_per_rank, i, bits);
    return (float)((sum > 0) - (sum < 0));
}

inline void sign_vote_tally(const uint32_t* gathered, int ranks, size_t n, int bits, float* vote) {
    const size_t words = sign_vote_words(n, bits);
#pragma omp parallel for
    for (long long i = 0; i < (long long)n; i++) vote[i] = sign_vote_element(gathered, ranks, words, (size_t)i, bits);
}

// --vote-bits 8: vote[i] = sign of the all-reduced int8 sum.
inline void sign_vote_tally_int8(const int8_t* sums, size_t n, float* vote) {
#pragma omp parallel for simd
    for (long long i = 0; i < (long long)n; i++) vote[i] = (float)((sums[i] > 0) - (sums[i] < 0));
}

// ---- noisy vote (--vote-noise) and the omniscient attack (--byzantine-mode omniscient)

// Distinguishes the vote noise from the init / data / rounding streams of the same seed.
constexpr uint64_t VOTE_NOISE_SALT = 0x564f54454e4f4953ull;
inline uint64_t vote_noise_key(uint64_t seed, int rank, int step) {
    return random_bits(random_bits(seed ^ VOTE_NOISE_SALT, (uint64_t)rank), (uint64_t)step);
}
// x + b xi with xi = normal(key, i), i the flat index (b = 0: x itself).
OPTIM_HD inline float vote_noisy_value(float x, float b, uint64_t key, size_t i) {
    return b > 0.0f ? x + b * (float)random_normal(key, (uint64_t)i) : x;
}
// out[i] = x[i] + b xi_i over [offset, offset + count) (out may be x).
inline void sign_vote_add_noise(const float* x, size_t offset, size_t count, float b, uint64_t key, float* out) {
#pragma omp parallel for
    for (long long j = 0; j < (long long)count; j++) out[offset + j] = vote_noisy_value(x[offset + j], b, key, offset + (size_t)j);
}
// --vote-agreement: the fraction of the n coordinates where vote[i] == sign(mean[i]) (sign(0) = 0),
// and the same fraction weighted by |mean[i]| (1 when every mean is 0). mean may be any positive
// multiple of the mean (the all-reduced sum).
struct VoteAgreement { double fraction, weighted; };
inline VoteAgreement sign_vote_agreement(const float* vote, const float* mean, size_t n) {
    double agree = 0, w_agree = 0, w_all = 0;
#pragma omp parallel for reduction(+ : agree, w_agree, w_all)
    for (long long i = 0; i < (long long)n; i++) {
        const float m = mean[i];
        const bool same = vote[i] == (float)((m > 0.0f) - (m < 0.0f));
        agree += same;
        w_agree += same ? std::fabs((double)m) : 0.0;
        w_all += std::fabs((double)m);
    }
    return {n ? agree / (double)n : 1.0, w_all > 0 ? w_agree / w_all : 1.0};
}
// E[the sign a rank sends for x + b xi], xi ~ N(0, 1): erf(x / (b sqrt 2)); b = 0: the sign itself
// (sign_vote_sign's convention for sign(0)); negated for a blind Byzantine rank.
inline float sign_vote_expected_sign(float x, float b, int bits, bool byzantine) {
    const float e = b > 0.0f ? (float)std::erf((double)x / ((double)b * std::sqrt(2.0))) : (float)sign_vote_sign(x, bits, false);
    return byzantine ? -e : e;
}
// ||x[offset, offset + count)||_inf.
inline float sign_vote_linf(const float* x, size_t offset, size_t count) {
    float m = 0.0f;
    for (size_t j = 0; j < count; j++) m = std::max(m, std::fabs(x[offset + j]));
    return m;
}
