// Writing fp32 master weights into the floatX parameters the model reads.
//
// bf16 build: stochastic rounding. x rounds up (away from zero) with probability equal to
// the fraction of a bf16 ulp it sits above the value below it, so E[round(x)] = x and
// updates smaller than half an ulp are not lost on average. The 16 random bits of element i
// at step t are a pure function of (seed, t, i) (counter-based, no RNG state): a run is
// reproducible, and a resumed run writes the same bits as one never stopped.
//   key(seed, t) = splitmix64(splitmix64(seed ^ SALT) + t)           (host, once per step)
//   word(key, i) = splitmix64(key + i / 4)   element i takes bits [16 (i % 4), 16 (i % 4) + 16)
//   bf16 bits    = (float bits of x + random 16 bits) >> 16         (carry = round up)
// FP32 build: floatX is float, the master value is stored as it is.
#pragma once
#include <cstdint>
#include <cstring>

#include "../common/rng.h"
#include "../kernels/common.cuh"

// Distinguishes these streams from the init / data / sampling streams of the same seed.
constexpr uint64_t ROUNDING_SALT = 0x5352524f554e4431ull;

inline uint64_t rounding_key(uint64_t seed, int step) { return random_bits(seed ^ ROUNDING_SALT, (uint64_t)step); }

__host__ __device__ inline uint64_t rounding_mix(uint64_t x) {
    uint64_t z = x + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// 64 random bits shared by elements 4q .. 4q+3.
__host__ __device__ inline uint64_t rounding_word(uint64_t key, uint64_t quad) { return rounding_mix(key + quad); }

__host__ __device__ inline uint32_t rounding_lane(uint64_t word, uint64_t index) {
    return (uint32_t)(word >> (16 * (index & 3))) & 0xFFFFu;
}

// bf16 bit pattern of x rounded stochastically with 16 random bits. Inf stays Inf, NaN stays NaN.
__host__ __device__ inline uint16_t bf16_bits_stochastic(float x, uint32_t random16) {
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    if ((bits & 0x7F800000u) == 0x7F800000u) return (uint16_t)((bits >> 16) | ((bits & 0x007FFFFFu) ? 0x0040u : 0u));
    return (uint16_t)((bits + random16) >> 16);
}

// bf16 bit pattern of x rounded to nearest, ties to even (what __float2bfloat16 does).
__host__ __device__ inline uint16_t bf16_bits_nearest(float x) {
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    if ((bits & 0x7F800000u) == 0x7F800000u) return (uint16_t)((bits >> 16) | ((bits & 0x007FFFFFu) ? 0x0040u : 0u));
    return (uint16_t)((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

// Element i (its index in the flat parameter buffer) of value x, written to dst[i].
__device__ inline void store_param(floatX* dst, size_t i, float x, uint64_t key) {
#if defined(ENABLE_FP32)
    (void)key;
    dst[i] = x;
#else
    reinterpret_cast<uint16_t*>(dst)[i] = bf16_bits_stochastic(x, rounding_lane(rounding_word(key, i / 4), i));
#endif
}

// Eight consecutive elements starting at i (i % 8 == 0), one 16-byte store in bf16.
__device__ inline void store_params8(floatX* dst, size_t i, const float (&x)[8], uint64_t key) {
#if defined(ENABLE_FP32)
    (void)key;
    float4* d = reinterpret_cast<float4*>(dst + i);
    d[0] = make_float4(x[0], x[1], x[2], x[3]);
    d[1] = make_float4(x[4], x[5], x[6], x[7]);
#else
    const uint64_t w0 = rounding_word(key, i / 4), w1 = rounding_word(key, i / 4 + 1);
    uint32_t packed[4];
    for (int j = 0; j < 4; j++) {
        const uint64_t w = j < 2 ? w0 : w1;
        const uint32_t lo = bf16_bits_stochastic(x[2 * j], rounding_lane(w, 2 * j));
        const uint32_t hi = bf16_bits_stochastic(x[2 * j + 1], rounding_lane(w, 2 * j + 1));
        packed[j] = lo | (hi << 16);
    }
    *reinterpret_cast<uint4*>(dst + i) = make_uint4(packed[0], packed[1], packed[2], packed[3]);
#endif
}

// Eight consecutive values rounded to nearest (work buffers that feed a GEMM), p 16-byte aligned.
__device__ inline void store8_nearest(floatX* p, const float (&x)[8]) {
#if defined(ENABLE_FP32)
    float4* d = reinterpret_cast<float4*>(p);
    d[0] = make_float4(x[0], x[1], x[2], x[3]);
    d[1] = make_float4(x[4], x[5], x[6], x[7]);
#else
    uint32_t packed[4];
    for (int j = 0; j < 4; j++) packed[j] = (uint32_t)bf16_bits_nearest(x[2 * j]) | ((uint32_t)bf16_bits_nearest(x[2 * j + 1]) << 16);
    *reinterpret_cast<uint4*>(p) = make_uint4(packed[0], packed[1], packed[2], packed[3]);
#endif
}

// Round to nearest: the initial copy of the master weights (no step has happened yet).
__global__ void copy_to_floatx_kernel(floatX* dst, const float* src, size_t n) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) dst[i] = from_float<floatX>(src[i]);
}
inline void copy_to_floatx(floatX* dst, const float* src, size_t n) {
    copy_to_floatx_kernel<<<ceil_div((long long)n, 256), 256>>>(dst, src, n);
    cudaCheckLaunch();
}
