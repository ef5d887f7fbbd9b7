// expf that the compiler can vectorize: no calls, no branches, so a loop over a logit row
// runs 4 (SSE2) to 16 (AVX-512) lanes at a time. glibc's expf is a call per element, and
// the fused classifier takes exp of every one of the 50257 logits of a row twice a step.
// Within 2 ulp of expf on [-87, 88] (test/test_gradcheck.cpp checks it on a dense grid);
// x is clamped to [-87.3, 88.7], so below -87.3 it returns exp(-87.3) = 1.2e-38 (a logit that
// far under its row's max adds nothing a float sum of the row can hold).
#pragma once
#include <algorithm>
#include <cstdint>

inline float vector_exp(float x) {
    // x = n ln2 + r with n = round(x / ln2) and |r| <= ln2 / 2; exp(x) = 2^n exp(r).
    const float clamped = std::min(std::max(x, -87.3f), 88.7f);
    const float shifter = 12582912.0f; // 1.5 * 2^23: adding it rounds to the nearest integer
    const float n = (clamped * 1.44269504f + shifter) - shifter;
    // ln2 in two parts (Cody and Waite) so that r keeps its low bits
    const float r = (clamped - n * 0.693359375f) - n * -2.12194440e-4f;
    // exp(r) by its Taylor series to r^7: the first omitted term is below 6e-9 for |r| <= ln2/2
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const int32_t bits = ((int32_t)n + 127) << 23; // 2^n as a float's exponent field
    return p * __builtin_bit_cast(float, bits);
}

// tanh(x) = 1 - 2 / (exp(2x) + 1) through vector_exp, vectorizable like it. Its absolute
// error is a few 1e-8 everywhere (its relative error near 0 is larger): what GELU needs,
// since it uses 1 + tanh and 1 - tanh^2.
inline float vector_tanh(float x) {
    return 1.0f - 2.0f / (vector_exp(2.0f * x) + 1.0f);
}
