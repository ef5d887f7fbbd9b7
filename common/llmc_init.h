// --init llmc: llm.c train_gpt2.cu's random initialization of a model named by -e (dN),
// reproduced from its definition, so the same seed starts both tools at the same weights.
//
// The generator is MT19937 (Matsumoto and Nishimura) seeded with init_genrand(seed), as
// PyTorch and llm.c's llmc/rand.h seed it. A float draw is (next32 & 0xFFFFFF) / 2^24.
// normal(n values, std), for n >= 16: n float draws u[0..n-1], then every full block of 16
// becomes 8 Box-Muller pairs, for t in 0..7:
//     r = sqrtf(-2 logf(1 - u[t] + 1e-12f)),  theta = (float)(2 pi * u[t + 8])   (pi in double)
//     x[t] = r cosf(theta) std,  x[t + 8] = r sinf(theta) std                     (all float)
// and when n is not a multiple of 16, 16 fresh draws replace the last 16 values, which are
// transformed the same way. (n < 16, never a GPT-2 tensor, draws pairs of doubles.)
// The fill order: layer 0 first fills wte (only the vocab_size real rows; padding rows stay
// 0), wpe, then for every layer l = 0..L-1, in this order, qkvw[l], attprojw[l], fcw[l],
// fcprojw[l]; std 0.02, the residual projections attprojw and fcprojw 0.02 / sqrt(2L).
// LayerNorm gains are 1, biases 0. llm.c always seeds 42 (this project's default --seed).
// In llm.c's bf16 build these fp32 values are rounded to bf16, and its fp32 master weights
// start from the rounded values; train_gpt2cu does the same (set_params_rounded).
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "gpt2_layout.h"

class Mt19937 {
public:
    explicit Mt19937(uint32_t seed) {
        s_[0] = seed;
        for (uint32_t j = 1; j < kN; j++) s_[j] = 1812433253u * (s_[j - 1] ^ (s_[j - 1] >> 30)) + j;
        next_ = kN; // regenerate before the first draw
    }
    uint32_t next32() {
        if (next_ >= kN) twist();
        uint32_t y = s_[next_++];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c5680u;
        y ^= (y << 15) & 0xefc60000u;
        y ^= y >> 18;
        return y;
    }
    float next_float() { return (float)(next32() & 0xFFFFFFu) * (1.0f / 16777216.0f); }
    double next_double() {
        const uint64_t hi = next32(), lo = next32();
        return (double)(((hi << 32) | lo) & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
    }

private:
    static constexpr uint32_t kN = 624, kM = 397;
    void twist() {
        for (uint32_t j = 0; j < kN; j++) {
            const uint32_t y = (s_[j] & 0x80000000u) | (s_[(j + 1) % kN] & 0x7fffffffu);
            s_[j] = s_[(j + kM) % kN] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
        }
        next_ = 0;
    }
    uint32_t s_[kN];
    uint32_t next_;
};

namespace llmc_init_detail {
inline void box_muller_16(float* x, float std_dev) {
    const double pi = 3.14159265358979323846;
    for (int t = 0; t < 8; t++) {
        const float u1 = 1.0f - x[t], u2 = x[t + 8];
        const float radius = sqrtf(-2.0f * logf(u1 + 1e-12f));
        const float theta = (float)(2.0 * pi * u2);
        x[t] = radius * cosf(theta) * std_dev + 0.0f; // + mean, 0
        x[t + 8] = radius * sinf(theta) * std_dev + 0.0f;
    }
}
inline void normal(float* x, size_t n, float std_dev, Mt19937& rng) {
    const double pi = 3.14159265358979323846;
    if (n < 16) {
        for (size_t t = 0; t < n; t += 2) {
            const float u1 = (float)rng.next_double(), u2 = (float)rng.next_double();
            const float radius = sqrtf(-2.0f * logf(1.0f - u2 + 1e-12f));
            const float theta = (float)(2.0 * pi * u1);
            x[t] = radius * cosf(theta) * std_dev + 0.0f;
            if (t + 1 < n) x[t + 1] = (float)((double)(radius * sinf(theta)) * std_dev + 0.0);
        }
        return;
    }
    for (size_t t = 0; t < n; t++) x[t] = rng.next_float();
    for (size_t i = 0; i + 16 <= n; i += 16) box_muller_16(x + i, std_dev);
    if (n % 16 != 0) {
        float* tail = x + n - 16;
        for (int i = 0; i < 16; i++) tail[i] = rng.next_float();
        box_muller_16(tail, std_dev);
    }
}
} // namespace llmc_init_detail

// Fills the flat parameter buffer (gpt2_param_tensors layout = llm.c's) as llm.c does.
inline void gpt2_init_params_llmc(const GPT2Config& cfg, uint32_t seed, float* params) {
    const std::vector<ParamTensor> t = gpt2_param_tensors(cfg);
    for (const ParamTensor& p : t) {
        const std::string name = p.name;
        const float v = (name == "ln1w" || name == "ln2w" || name == "lnfw") ? 1.0f : 0.0f;
        for (size_t i = 0; i < p.numel(); i++) params[p.offset + i] = v;
    }
    enum { WTE = 0, WPE = 1, QKVW = 4, ATTPROJW = 6, FCW = 10, FCPROJW = 12 };
    Mt19937 rng(seed);
    const float residual_std = 0.02f * (1.0f / sqrtf(2.0f * (float)cfg.num_layers));
    llmc_init_detail::normal(params + t[WTE].offset, (size_t)cfg.vocab_size * cfg.channels, 0.02f, rng);
    llmc_init_detail::normal(params + t[WPE].offset, t[WPE].numel(), 0.02f, rng);
    for (int l = 0; l < cfg.num_layers; l++) {
        for (int k : {QKVW, ATTPROJW, FCW, FCPROJW}) {
            const float std_dev = (k == ATTPROJW || k == FCPROJW) ? residual_std : 0.02f;
            llmc_init_detail::normal(params + t[k].offset + (size_t)l * t[k].layer_numel(), t[k].layer_numel(), std_dev, rng);
        }
    }
}
