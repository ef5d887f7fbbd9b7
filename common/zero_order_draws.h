// --zo's random draws (common/zero_order.h has the methods): every one a pure function of
// (--seed, step, flat index), so train_gpt2cpu and train_gpt2cu (optim/zero_order.cuh) draw the
// same perturbation. The per-index draws (RNG_HD) run on the host and on the device; on a real
// GPU sqrtf/logf/sinf/cosf may differ from the host's in the last bits, under emulation not.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gpt2_layout.h"
#include "rng.h"

// The random stream of step t (1-based) of a run seeded `seed`; purpose keeps the draws of
// one step apart (MeZO's z, JAGUAR's sets, JAGUAR's signs).
enum class ZoStream : uint64_t { MezoDirection = 1, JaguarSets = 2, JaguarSigns = 3 };
RNG_HD inline uint64_t zo_step_key(uint64_t seed, int t, ZoStream purpose) {
    return splitmix64(splitmix64(seed ^ 0x7a65726f6f726465ull) + (uint64_t)t * 4 + (uint64_t)purpose);
}

// MeZO's direction at flat index i: Box-Muller in fp32 on one 64-bit draw per pair (2k, 2k+1),
// two 24-bit uniforms in (0, 1) from its upper 48 bits (|z| < 5.8). Regenerated three times
// per step over every parameter, so it is kept cheaper than common/rng.h's double-precision
// random_normal (measured about 2x slower per value).
RNG_HD inline float mezo_direction(uint64_t key, size_t i) {
    const uint64_t bits = random_bits(key, (uint64_t)(i >> 1));
    const float u1 = ((float)(bits >> 40) + 0.5f) * (1.0f / 16777216.0f);
    const float u2 = ((float)((bits >> 16) & 0xFFFFFF) + 0.5f) * (1.0f / 16777216.0f);
    const float r = sqrtf(-2.0f * logf(u1)), angle = 6.28318530718f * u2;
    return r * ((i & 1) ? sinf(angle) : cosf(angle));
}

// Flat [begin, end) ranges MeZO perturbs: everything but wte's padding rows.
inline std::vector<std::pair<size_t, size_t>> mezo_ranges(const GPT2Config& c) {
    const size_t wte_valid = (size_t)c.vocab_size * c.channels, wte_all = (size_t)c.padded_vocab_size * c.channels;
    return {{0, wte_valid}, {wte_all, gpt2_num_params(c)}};
}

// params += scale * z over mezo_ranges.
inline void mezo_perturb(float* params, const GPT2Config& c, uint64_t key, float scale) {
    for (const auto& r : mezo_ranges(c))
#pragma omp parallel for
        for (long long i = (long long)r.first; i < (long long)r.second; i++) params[i] += scale * mezo_direction(key, (size_t)i);
}

// JAGUAR's sign of coordinate i (flat index): +1 or -1.
RNG_HD inline float jaguar_sign(uint64_t key, size_t i) { return (random_bits(key, (uint64_t)i) & 1) ? 1.0f : -1.0f; }

// k distinct indices of [0, n), sorted: a partial Fisher-Yates shuffle driven by counter draws.
inline std::vector<int> jaguar_choose(int n, int k, uint64_t key) {
    std::vector<int> idx(n);
    for (int i = 0; i < n; i++) idx[i] = i;
    for (int i = 0; i < k; i++) {
        const int j = i + (int)(random_bits(key, (uint64_t)i) % (uint64_t)(n - i));
        std::swap(idx[i], idx[j]);
    }
    idx.resize(k);
    std::sort(idx.begin(), idx.end());
    return idx;
}

// How many of n to sample: floor(n * fraction), at least 1 (the authors' code: max(1, int(n * 0.1))).
inline int jaguar_count(int n, float fraction) { return std::max(1, std::min(n, (int)((double)n * fraction))); }

// The rows JAGUAR samples in a slice of tensor p: wte's V real rows (its padding rows never
// produce loss), every row of the others.
inline int jaguar_sampled_rows(const GPT2Config& c, const ParamTensor& p) { return std::string(p.name) == "wte" ? c.vocab_size : p.rows; }
// The size of each of tensor p's sets (one per layer slice), fixed by the shape and the fraction:
// what GpuZeroOrder allocates for the index lists once.
inline size_t jaguar_set_size(const GPT2Config& c, const ParamTensor& p, float fraction) {
    return (size_t)jaguar_count(jaguar_sampled_rows(c, p), fraction) * (p.cols == 1 ? 1 : jaguar_count(p.cols, fraction));
}

// One layer slice's coordinate set: rows x cols of a matrix (cols = {0} for a vector, whose
// entries are its rows). offset: the slice's first flat index; width: its row length.
struct JaguarSet {
    size_t offset;
    int width;
    std::vector<int> rows, cols;
    size_t size() const { return rows.size() * cols.size(); }
    size_t flat(size_t k) const { return offset + (size_t)rows[k / cols.size()] * width + cols[k % cols.size()]; }
};

// The sets of step t: every layer slice of every tensor, in tensor order.
inline std::vector<JaguarSet> jaguar_sets(const GPT2Config& c, float fraction, uint64_t seed, int t) {
    const uint64_t key = zo_step_key(seed, t, ZoStream::JaguarSets);
    std::vector<JaguarSet> sets;
    uint64_t slice = 0;
    for (const ParamTensor& p : gpt2_param_tensors(c))
        for (int l = 0; l < p.layers; l++, slice++) {
            JaguarSet s;
            s.offset = p.offset + (size_t)l * p.layer_numel();
            s.width = p.cols;
            const int rows = jaguar_sampled_rows(c, p);
            const uint64_t k = splitmix64(key + 2 * slice);
            s.rows = jaguar_choose(rows, jaguar_count(rows, fraction), k);
            s.cols = p.cols == 1 ? std::vector<int>{0} : jaguar_choose(p.cols, jaguar_count(p.cols, fraction), splitmix64(k + 1));
            sets.push_back(std::move(s));
        }
    return sets;
}

// The two losses of a step and its estimate (MeZO: the projected gradient g; JAGUAR: rho).
struct ZoStepResult {
    double loss_plus, loss_minus, estimate;
    double loss() const { return 0.5 * (loss_plus + loss_minus); }
};

