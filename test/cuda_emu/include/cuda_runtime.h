// Stand-in for CUDA's cuda_runtime.h: the CUDA runtime emulated on the CPU (test tool, not a
// GPU; see test/cuda_emu/README.md). One device, "CUDA emulator", compute capability 9.0,
// 80 GiB. Everything is synchronous: streams are tags, events read wall-clock time.
#pragma once
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "cuda_emu/device.h"
#include "cuda_emu/state.h"
#include "cuda_emu/types.h"
#include "library_types.h"

#define CUDART_VERSION 12080

enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4,
};
enum cudaFuncAttribute {
    cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
    cudaFuncAttributePreferredSharedMemoryCarveout = 9,
};
enum cudaDeviceAttr {
    cudaDevAttrMaxThreadsPerBlock = 1,
    cudaDevAttrMaxSharedMemoryPerBlock = 8,
    cudaDevAttrWarpSize = 10,
    cudaDevAttrMultiProcessorCount = 16,
    cudaDevAttrComputeCapabilityMajor = 75,
    cudaDevAttrComputeCapabilityMinor = 76,
    cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
};

struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem;
    size_t sharedMemPerBlock;
    size_t sharedMemPerBlockOptin;
    size_t sharedMemPerMultiprocessor;
    int regsPerBlock;
    int warpSize;
    int maxThreadsPerBlock;
    int maxThreadsDim[3];
    int maxGridSize[3];
    int maxThreadsPerMultiProcessor;
    int multiProcessorCount;
    int major, minor;
    int l2CacheSize;
    int memoryBusWidth;
    int clockRate, memoryClockRate; // kHz
};

namespace cuda_emu {
inline double now_ms() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
inline bool device_range_ok(const void* p, size_t bytes, const char* call, const char* which) {
    if (bytes == 0 || find_allocation(p, bytes)) return true;
    set_error(cudaErrorInvalidValue, false, "%s: %s range [%p, +%zu bytes) is not inside one cudaMalloc allocation", call,
              which, p, bytes);
    return false;
}
} // namespace cuda_emu

// ---- errors
inline cudaError_t cudaGetLastError() {
    cuda_emu::ErrorState& e = cuda_emu::errors();
    const cudaError_t r = e.sticky != cudaSuccess ? e.sticky : e.last;
    e.last = cudaSuccess;
    return r;
}
inline cudaError_t cudaPeekAtLastError() {
    const cuda_emu::ErrorState& e = cuda_emu::errors();
    return e.sticky != cudaSuccess ? e.sticky : e.last;
}
inline const char* cudaGetErrorString(cudaError_t code) {
    const cuda_emu::ErrorState& e = cuda_emu::errors();
    if (code == e.detail_code && !e.detail.empty()) return e.detail.c_str();
    return cuda_emu::standard_error_string(code);
}
inline const char* cudaGetErrorName(cudaError_t code) { return cuda_emu::standard_error_string(code); }

// ---- device
inline cudaError_t cudaGetDeviceCount(int* count) {
    *count = 1;
    return cudaSuccess;
}
inline cudaError_t cudaSetDevice(int device) {
    return cuda_emu::api_result(device == 0 ? cudaSuccess : cudaErrorInvalidDevice);
}
inline cudaError_t cudaGetDevice(int* device) {
    *device = 0;
    return cuda_emu::api_result();
}
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
    if (device != 0) return cuda_emu::api_result(cudaErrorInvalidDevice);
    memset(p, 0, sizeof *p);
    strcpy(p->name, "CUDA emulator");
    p->totalGlobalMem = cuda_emu::DEVICE_MEMORY;
    p->sharedMemPerBlock = cuda_emu::DEFAULT_DYNAMIC_SMEM;
    p->sharedMemPerBlockOptin = cuda_emu::MAX_DYNAMIC_SMEM;
    p->sharedMemPerMultiprocessor = 228 * 1024;
    p->regsPerBlock = 65536;
    p->warpSize = 32;
    p->maxThreadsPerBlock = 1024;
    p->maxThreadsDim[0] = p->maxThreadsDim[1] = 1024;
    p->maxThreadsDim[2] = 64;
    p->maxGridSize[0] = 2147483647;
    p->maxGridSize[1] = p->maxGridSize[2] = 65535;
    p->maxThreadsPerMultiProcessor = 2048;
    p->multiProcessorCount = 132;
    p->major = 9;
    p->minor = 0;
    p->l2CacheSize = 50 << 20;
    p->memoryBusWidth = 5120;
    p->clockRate = 1980000;
    p->memoryClockRate = 2619000;
    return cuda_emu::api_result();
}
inline cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, device) != cudaSuccess) return cuda_emu::api_result(cudaErrorInvalidDevice);
    switch (attr) {
        case cudaDevAttrMaxThreadsPerBlock: *value = p.maxThreadsPerBlock; break;
        case cudaDevAttrMaxSharedMemoryPerBlock: *value = (int)p.sharedMemPerBlock; break;
        case cudaDevAttrWarpSize: *value = p.warpSize; break;
        case cudaDevAttrMultiProcessorCount: *value = p.multiProcessorCount; break;
        case cudaDevAttrComputeCapabilityMajor: *value = p.major; break;
        case cudaDevAttrComputeCapabilityMinor: *value = p.minor; break;
        case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = (int)p.sharedMemPerBlockOptin; break;
        default: return cuda_emu::api_result(cudaErrorInvalidValue);
    }
    return cuda_emu::api_result();
}
inline cudaError_t cudaDeviceSynchronize() {
    if (cuda_emu::errors().sticky != cudaSuccess) return cuda_emu::errors().sticky;
    return cuda_emu::api_result(cuda_emu::check_guards("cudaDeviceSynchronize"));
}
inline cudaError_t cudaRuntimeGetVersion(int* v) { *v = CUDART_VERSION; return cudaSuccess; }
inline cudaError_t cudaDriverGetVersion(int* v) { *v = CUDART_VERSION; return cudaSuccess; }

// ---- memory
inline cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
    *total_bytes = cuda_emu::DEVICE_MEMORY;
    *free_bytes = cuda_emu::DEVICE_MEMORY - cuda_emu::memory().used;
    return cuda_emu::api_result();
}
inline cudaError_t cudaMalloc(void** ptr, size_t bytes) {
    using namespace cuda_emu;
    *ptr = nullptr;
    if (errors().sticky != cudaSuccess) return errors().sticky;
    if (bytes > DEVICE_MEMORY - memory().used)
        return set_error(cudaErrorMemoryAllocation, false, "cudaMalloc of %zu bytes exceeds the device's free memory", bytes);
    const size_t raw_bytes = GUARD + (bytes + GUARD - 1) / GUARD * GUARD + GUARD;
    char* raw = (char*)aligned_alloc(GUARD, raw_bytes);
    if (!raw)
        return set_error(cudaErrorMemoryAllocation, false, "cudaMalloc of %zu bytes: the host has no memory for it", bytes);
    memset(raw, GUARD_BYTE, raw_bytes);
    memset(raw + GUARD, 0xFF, bytes);
    memory().device[(uintptr_t)(raw + GUARD)] = Allocation{bytes, raw, raw_bytes};
    memory().used += bytes;
    *ptr = raw + GUARD;
    return cudaSuccess;
}
template <typename T> inline cudaError_t cudaMalloc(T** ptr, size_t bytes) { return cudaMalloc((void**)ptr, bytes); }
inline cudaError_t cudaFree(void* ptr) {
    using namespace cuda_emu;
    if (!ptr) return api_result();
    auto it = memory().device.find((uintptr_t)ptr);
    if (it == memory().device.end())
        return api_result(set_error(cudaErrorInvalidDevicePointer, false, "cudaFree(%p): not a cudaMalloc pointer", ptr));
    const long long off = damaged_guard(it->first, it->second);
    cudaError_t r = cudaSuccess;
    if (off != 0)
        r = set_error(cudaErrorIllegalAddress, true, "out-of-bounds write found at cudaFree: byte %lld of the %zu-byte allocation at %p",
                      off, it->second.bytes, ptr);
    memory().used -= it->second.bytes;
    free(it->second.raw);
    memory().device.erase(it);
    return api_result(r);
}
inline cudaError_t cudaMallocHost(void** ptr, size_t bytes) {
    *ptr = aligned_alloc(cuda_emu::GUARD, (bytes + cuda_emu::GUARD - 1) / cuda_emu::GUARD * cuda_emu::GUARD + cuda_emu::GUARD);
    if (!*ptr) return cuda_emu::api_result(cudaErrorMemoryAllocation);
    cuda_emu::memory().pinned[(uintptr_t)*ptr] = bytes;
    return cuda_emu::api_result();
}
template <typename T> inline cudaError_t cudaMallocHost(T** ptr, size_t bytes) { return cudaMallocHost((void**)ptr, bytes); }
inline cudaError_t cudaHostAlloc(void** ptr, size_t bytes, unsigned int) { return cudaMallocHost(ptr, bytes); }
inline cudaError_t cudaFreeHost(void* ptr) {
    if (ptr) {
        cuda_emu::memory().pinned.erase((uintptr_t)ptr);
        free(ptr);
    }
    return cuda_emu::api_result();
}
inline cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
    using namespace cuda_emu;
    if (errors().sticky != cudaSuccess) return errors().sticky;
    const bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    const bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault) return api_result(cudaErrorInvalidMemcpyDirection);
    if ((dst_dev && !device_range_ok(dst, bytes, "cudaMemcpy", "destination")) ||
        (src_dev && !device_range_ok(src, bytes, "cudaMemcpy", "source")))
        return cudaErrorInvalidValue;
    if (bytes) memmove(dst, src, bytes);
    return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t = nullptr) {
    return cudaMemcpy(dst, src, bytes, kind);
}
inline cudaError_t cudaMemset(void* dst, int value, size_t bytes) {
    using namespace cuda_emu;
    if (errors().sticky != cudaSuccess) return errors().sticky;
    if (!device_range_ok(dst, bytes, "cudaMemset", "destination")) return cudaErrorInvalidValue;
    if (bytes) memset(dst, value, bytes);
    return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t = nullptr) {
    return cudaMemset(dst, value, bytes);
}
// Frees everything and clears the errors (the emulator's self-tests use it to go on after
// an execution error).
inline cudaError_t cudaDeviceReset() {
    using namespace cuda_emu;
    for (auto& kv : memory().device) free(kv.second.raw);
    memory().device.clear();
    memory().used = 0;
    dynamic_smem_limits().clear();
    errors() = ErrorState();
    return cudaSuccess;
}

// ---- streams and events (all work is done when the call returns)
inline cudaError_t cudaStreamCreate(cudaStream_t* s) {
    *s = new CUstream_st{1};
    return cuda_emu::api_result();
}
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int) { return cudaStreamCreate(s); }
inline cudaError_t cudaStreamDestroy(cudaStream_t s) {
    delete s;
    return cuda_emu::api_result();
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaDeviceSynchronize(); }
inline cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned int = 0) { return cuda_emu::api_result(); }
inline cudaError_t cudaEventCreate(cudaEvent_t* e) {
    *e = new CUevent_st{0.0, false};
    return cuda_emu::api_result();
}
inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned int) { return cudaEventCreate(e); }
inline cudaError_t cudaEventDestroy(cudaEvent_t e) {
    delete e;
    return cuda_emu::api_result();
}
inline cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t = nullptr) {
    e->ms = cuda_emu::now_ms();
    e->recorded = true;
    return cuda_emu::api_result();
}
inline cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaDeviceSynchronize(); }
inline cudaError_t cudaEventQuery(cudaEvent_t) { return cuda_emu::api_result(); }
// Wall-clock milliseconds of the emulated work between the two records.
inline cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t stop) {
    if (!start->recorded || !stop->recorded) return cuda_emu::api_result(cudaErrorInvalidResourceHandle);
    *ms = (float)(stop->ms - start->ms);
    return cuda_emu::api_result();
}

// ---- kernels
template <typename T> inline cudaError_t cudaFuncSetAttribute(T* kernel, cudaFuncAttribute attr, int value) {
    if (attr == cudaFuncAttributePreferredSharedMemoryCarveout) return cuda_emu::api_result();
    if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 || (size_t)value > cuda_emu::MAX_DYNAMIC_SMEM)
        return cuda_emu::api_result(cuda_emu::set_error(
            cudaErrorInvalidValue, false, "cudaFuncSetAttribute(attribute %d, %d): the limit is %zu bytes", (int)attr,
            value, cuda_emu::MAX_DYNAMIC_SMEM));
    cuda_emu::dynamic_smem_limits()[(const void*)kernel] = (size_t)value;
    return cuda_emu::api_result();
}
