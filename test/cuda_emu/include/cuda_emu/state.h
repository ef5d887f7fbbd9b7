// The emulator's process-wide state: the CUDA error state (last and sticky errors with a
// detailed one-line message) and the registry of device allocations with guard zones.
#pragma once
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

#include "types.h"

namespace cuda_emu {

// ---------------------------------------------------------------------------------------
// Errors. Configuration errors (bad launch, bad argument) are returned once by
// cudaGetLastError, as on a GPU; execution errors (a block that cannot finish, an
// overwritten guard zone) are sticky: every later runtime call returns them.
struct ErrorState {
    cudaError_t last = cudaSuccess;
    cudaError_t sticky = cudaSuccess;
    cudaError_t detail_code = cudaSuccess;
    std::string detail; // what cudaGetErrorString(detail_code) returns
};
inline ErrorState& errors() {
    static ErrorState e;
    return e;
}

inline const char* standard_error_string(cudaError_t e) {
    switch (e) {
        case cudaSuccess: return "no error";
        case cudaErrorInvalidValue: return "invalid argument";
        case cudaErrorMemoryAllocation: return "out of memory";
        case cudaErrorInitializationError: return "initialization error";
        case cudaErrorInvalidConfiguration: return "invalid configuration argument";
        case cudaErrorInvalidDevicePointer: return "invalid device pointer";
        case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
        case cudaErrorNoDevice: return "no CUDA-capable device is detected";
        case cudaErrorInvalidDevice: return "invalid device ordinal";
        case cudaErrorInvalidResourceHandle: return "invalid resource handle";
        case cudaErrorNotReady: return "device not ready";
        case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
        case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
        case cudaErrorLaunchFailure: return "unspecified launch failure";
        case cudaErrorNotSupported: return "operation not supported";
    }
    return "unknown error";
}

inline cudaError_t set_error(cudaError_t code, bool sticky, const char* fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ErrorState& e = errors();
    e.detail = std::string(standard_error_string(code)) + " (CUDA emulator: " + msg + ")";
    e.detail_code = code;
    if (e.last == cudaSuccess) e.last = code;
    if (sticky && e.sticky == cudaSuccess) e.sticky = code;
    return code;
}
// An API call's result: the sticky error if there is one.
inline cudaError_t api_result(cudaError_t code = cudaSuccess) {
    if (errors().sticky != cudaSuccess) return errors().sticky;
    if (code != cudaSuccess && errors().last == cudaSuccess) errors().last = code;
    return code;
}

// ---------------------------------------------------------------------------------------
// Device memory: host memory with a guard zone on each side. New memory is 0xFF bytes (NaN
// in fp32 and bf16), so outputs a kernel forgets to write show up as NaN.
constexpr size_t GUARD = 256; // also the alignment cudaMalloc guarantees
constexpr unsigned char GUARD_BYTE = 0xA5;
constexpr size_t DEVICE_MEMORY = 80ull << 30; // what the emulated device reports

struct Allocation {
    size_t bytes;
    char* raw; // GUARD bytes before the user pointer, the rest after
    size_t raw_bytes;
};
struct Memory {
    std::map<uintptr_t, Allocation> device; // by user pointer
    std::map<uintptr_t, size_t> pinned;     // cudaMallocHost: reachable from kernels too
    size_t used = 0;
};
inline Memory& memory() {
    static Memory m;
    return m;
}

// The allocation holding [p, p+bytes), or nullptr. bytes == 0 also accepts one-past-the-end.
inline const Allocation* find_allocation(const void* p, size_t bytes, uintptr_t* base = nullptr) {
    const uintptr_t x = (uintptr_t)p;
    std::map<uintptr_t, Allocation>& dev = memory().device;
    auto it = dev.upper_bound(x);
    if (it == dev.begin()) return nullptr;
    --it;
    const uintptr_t start = it->first, end = start + it->second.bytes;
    if (x < start || x + bytes > end || (bytes > 0 && x >= end)) return nullptr;
    if (base) *base = start;
    return &it->second;
}
inline bool is_pinned(const void* p) {
    const uintptr_t x = (uintptr_t)p;
    std::map<uintptr_t, size_t>& pin = memory().pinned;
    auto it = pin.upper_bound(x);
    if (it == pin.begin()) return false;
    --it;
    return x <= it->first + it->second;
}

// Offset of the first overwritten guard byte relative to the user pointer, or 0 if intact.
inline long long damaged_guard(uintptr_t user, const Allocation& a) {
    for (size_t i = 0; i < GUARD; i++)
        if ((unsigned char)a.raw[i] != GUARD_BYTE) return (long long)i - (long long)GUARD;
    const char* tail = (const char*)user + a.bytes;
    const size_t tail_bytes = a.raw + a.raw_bytes - tail;
    for (size_t i = 0; i < tail_bytes; i++)
        if ((unsigned char)tail[i] != GUARD_BYTE) return (long long)(a.bytes + i);
    return 0;
}
inline cudaError_t check_guards(const char* when) {
    for (const auto& kv : memory().device) {
        const long long off = damaged_guard(kv.first, kv.second);
        if (off != 0)
            return set_error(cudaErrorIllegalAddress, true,
                             "out-of-bounds write found at %s: byte %lld of the %zu-byte allocation at %p", when, off,
                             kv.second.bytes, (void*)kv.first);
    }
    return cudaSuccess;
}

// ---------------------------------------------------------------------------------------
// CUDA_EMU_PROFILE=1 in the environment: wall time per kernel and per BLAS call, printed
// to stderr at exit (where an emulated program spends its time; says nothing about a GPU).
struct ProfileEntry {
    double ms = 0;
    long calls = 0;
};
struct Profile {
    bool on = getenv("CUDA_EMU_PROFILE") != nullptr;
    std::map<std::string, ProfileEntry> entries;
    ~Profile() {
        if (!on) return;
        std::multimap<double, std::string> by_time;
        double total = 0;
        for (const auto& kv : entries) {
            by_time.emplace(-kv.second.ms, kv.first);
            total += kv.second.ms;
        }
        fprintf(stderr, "CUDA emulator profile (wall ms, calls): total %.0f ms\n", total);
        for (const auto& kv : by_time)
            fprintf(stderr, "  %10.1f ms %8ld  %s\n", -kv.first, entries[kv.second].calls, kv.second.c_str());
    }
};
inline Profile& profile() {
    static Profile p;
    return p;
}
class ProfileScope {
public:
    explicit ProfileScope(const char* name) : name_(profile().on ? name : nullptr) {
        if (name_) start_ = std::chrono::steady_clock::now();
    }
    ~ProfileScope() {
        if (!name_) return;
        ProfileEntry& e = profile().entries[name_];
        e.ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
        e.calls++;
    }

private:
    const char* name_;
    std::chrono::steady_clock::time_point start_;
};

} // namespace cuda_emu
