// CUDA's qualifiers, vector types, dim3 and error codes for the CPU emulator.
#pragma once
#include <cstddef>
#include <cstdint>

#ifndef CUDA_EMULATION
#define CUDA_EMULATION 1
#endif

// Qualifiers: everything is host code here.
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __restrict__ __restrict
#define __align__(n) __attribute__((aligned(n)))
#define __constant__
#define __managed__
// __global__ and __shared__ are rewritten by test/cuda_emu/rewrite_launches.py (it needs to
// see which kernels are templates; __shared__ becomes static, or the dynamic shared-memory
// buffer for `extern __shared__`).

// ---- vector types (sizes and alignments as CUDA's)
#define CUDA_EMU_VEC2(T, name, align)                                                       \
    struct __attribute__((aligned(align))) name { T x, y; };                                \
    inline name make_##name(T x, T y) { return name{x, y}; }
#define CUDA_EMU_VEC3(T, name)                                                              \
    struct name { T x, y, z; };                                                             \
    inline name make_##name(T x, T y, T z) { return name{x, y, z}; }
#define CUDA_EMU_VEC4(T, name, align)                                                       \
    struct __attribute__((aligned(align))) name { T x, y, z, w; };                          \
    inline name make_##name(T x, T y, T z, T w) { return name{x, y, z, w}; }
CUDA_EMU_VEC2(float, float2, 8)
CUDA_EMU_VEC3(float, float3)
CUDA_EMU_VEC4(float, float4, 16)
CUDA_EMU_VEC2(int, int2, 8)
CUDA_EMU_VEC3(int, int3)
CUDA_EMU_VEC4(int, int4, 16)
CUDA_EMU_VEC2(unsigned int, uint2, 8)
CUDA_EMU_VEC3(unsigned int, uint3)
CUDA_EMU_VEC4(unsigned int, uint4, 16)
CUDA_EMU_VEC2(double, double2, 16)
#undef CUDA_EMU_VEC2
#undef CUDA_EMU_VEC3
#undef CUDA_EMU_VEC4

struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
    constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
    constexpr operator uint3() const { return uint3{x, y, z}; }
};

enum cudaError_t {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInitializationError = 3,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevicePointer = 17,
    cudaErrorInvalidMemcpyDirection = 21,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidDevice = 101,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorNotReady = 600,
    cudaErrorIllegalAddress = 700,
    cudaErrorLaunchOutOfResources = 701,
    cudaErrorLaunchFailure = 719,
    cudaErrorNotSupported = 801,
};
typedef cudaError_t cudaError;

struct CUstream_st { int id; };
typedef CUstream_st* cudaStream_t;
struct CUevent_st { double ms; bool recorded; };
typedef CUevent_st* cudaEvent_t;

#define cudaStreamDefault 0x0
#define cudaStreamNonBlocking 0x1
#define cudaEventDefault 0x0
#define cudaEventBlockingSync 0x1
#define cudaEventDisableTiming 0x2
#define cudaHostAllocDefault 0x0
