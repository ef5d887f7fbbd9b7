// Counter-based random numbers: value i of stream `key` is a pure function of (key, i),
// so the CPU, the GPU and the PyTorch oracle (test/gpt2_oracle.py, in numpy) all draw
// the same initial weights, whatever order they fill them in.
//
//   bits(key, i)    = splitmix64(splitmix64(key) + i)                 (uint64, wrapping)
//   uniform(key, i) = ((bits >> 11) + 0.5) * 2^-53                    in (0, 1), double
//   normal(key, i)  = sqrt(-2 ln uniform(key, 2i)) * cos(2 pi uniform(key, 2i+1))
//
// Weight init (as GPT-2 / llm.c): tensor number k (llm.c order, 0..15) uses stream
// key = seed * 16 + k; matrices get N(0, 0.02), the residual output projections
// (attprojw, fcprojw) N(0, 0.02 / sqrt(2L)), LayerNorm gains 1, biases 0; padding rows
// of wte are 0 (element i of wte is drawn with counter i, padding rows are skipped).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "gpt2_layout.h"

// The stream functions also run on the GPU (optim/sign_vote.cuh's vote noise, optim/zero_order.cuh's
// perturbations).
#ifdef __CUDACC__
#define RNG_HD __host__ __device__
#else
#define RNG_HD
#endif

RNG_HD inline uint64_t splitmix64(uint64_t x) {
    uint64_t z = x + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

RNG_HD inline uint64_t random_bits(uint64_t key, uint64_t i) { return splitmix64(splitmix64(key) + i); }

RNG_HD inline double random_uniform(uint64_t key, uint64_t i) {
    return ((double)(random_bits(key, i) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

RNG_HD inline double random_normal(uint64_t key, uint64_t i) {
    const double two_pi = 6.283185307179586476925286766559;
    double u1 = random_uniform(key, 2 * i), u2 = random_uniform(key, 2 * i + 1);
    return ::sqrt(-2.0 * ::log(u1)) * ::cos(two_pi * u2); // ::, not std::: callable on the device
}

// Fills the flat parameter buffer with GPT-2's initialization (see the header comment).
inline void gpt2_init_params(const GPT2Config& cfg, uint64_t seed, float* params) {
    std::vector<ParamTensor> tensors = gpt2_param_tensors(cfg);
    const float residual_std = 0.02f / std::sqrt(2.0f * (float)cfg.num_layers);
    for (size_t k = 0; k < tensors.size(); k++) {
        const ParamTensor& t = tensors[k];
        float* p = params + t.offset;
        const uint64_t key = seed * 16 + k;
        const std::string name = t.name;
        if (t.kind == ParamKind::Vector) {
            const bool is_gain = name == "ln1w" || name == "ln2w" || name == "lnfw";
            for (size_t i = 0; i < t.numel(); i++) p[i] = is_gain ? 1.0f : 0.0f;
            continue;
        }
        const float std_dev = (name == "attprojw" || name == "fcprojw") ? residual_std : 0.02f;
        const size_t valid = gpt2_real_numel(t, cfg);
#pragma omp parallel for
        for (long long i = 0; i < (long long)t.numel(); i++)
            p[i] = (size_t)i < valid ? (float)(std_dev * random_normal(key, (uint64_t)i)) : 0.0f;
    }
}
