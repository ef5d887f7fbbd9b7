// Kernel execution for the CUDA emulator.
//
// A launch runs its blocks one after another (x fastest, then y, z), so results are
// deterministic. The threads of a block are fibers (fiber.h) that run one at a time, in
// a fixed order, until they reach a __syncthreads or a warp collective; there they wait
// until every thread of the block (or every lane the mask names) has arrived. Warp
// collectives exchange values through per-warp slots. A block whose threads can no longer
// all make progress (a __syncthreads some threads never reach, a shuffle naming an exited
// lane) is an execution error reported like a CUDA error (sticky, cudaErrorLaunchFailure).
//
// threadIdx, blockIdx, blockDim and gridDim are plain globals set before each fiber runs.
// Static __shared__ variables are function statics (one block runs at a time); dynamic
// shared memory is one buffer, filled with 0xFF (NaN) for every block.
#pragma once
#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "fiber.h"
#include "state.h"
#include "types.h"

inline uint3 threadIdx;
inline uint3 blockIdx;
inline dim3 blockDim;
inline dim3 gridDim;
constexpr int warpSize = 32;

namespace cuda_emu {

constexpr size_t DEFAULT_DYNAMIC_SMEM = 48 * 1024;  // without cudaFuncSetAttribute
constexpr size_t MAX_DYNAMIC_SMEM = 227 * 1024;     // opt-in limit of compute capability 9.0

alignas(128) inline unsigned char dynamic_smem_buffer[MAX_DYNAMIC_SMEM];
inline void* dynamic_shared_memory() { return dynamic_smem_buffer; }

// cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes)
inline std::map<const void*, size_t>& dynamic_smem_limits() {
    static std::map<const void*, size_t> m;
    return m;
}

enum class FiberState : uint8_t { Runnable, AtBarrier, AtWarp, Done };
enum class Collective : uint8_t { None, Shuffle, Vote, SyncWarp, Wmma };
inline const char* collective_name(Collective c) {
    switch (c) {
        case Collective::Shuffle: return "a shuffle";
        case Collective::Vote: return "a vote (__ballot/__any/__all)";
        case Collective::SyncWarp: return "__syncwarp";
        case Collective::Wmma: return "a wmma operation";
        default: return "nothing";
    }
}

// A thread of the block. Its context is where to resume it once it has been suspended.
struct Fiber {
    FiberContext ctx;
    FiberState state;
};

// A warp collective in progress: lanes write their value into slot[parity], the last lane
// to arrive releases the others, and the next collective uses the other parity so that a
// lane running ahead cannot overwrite values the others have yet to read.
struct WarpSync {
    unsigned mask = 0;    // lanes of the pending collective (0: none pending)
    unsigned arrived = 0; // lanes that have arrived
    Collective kind = Collective::None;
    int parity = 0;
    uint64_t slot[2][32];
};

// Threads run on "workers": a worker is a stack that runs threads one after another for as
// long as they finish without waiting, so a kernel without __syncthreads or collectives runs
// its whole block on one stack with no context switch at all. A thread that waits keeps its
// worker's stack; the next thread then starts on another. A waiting thread is resumed, in
// the order threads became ready (FIFO), by whichever thread waits or finishes next.
struct BlockRun {
    const char* kernel = "";
    void (*invoke)(void*) = nullptr;
    void* call = nullptr;
    std::vector<Fiber> fibers;
    std::vector<uint3> tids; // threadIdx of each thread, for the launch's block shape
    std::vector<WarpSync> warps;
    std::vector<int> ready; // ring buffer of threads ready to resume
    size_t ready_head = 0, ready_count = 0;
    std::vector<int> free_stacks; // stacks of finished workers; never-used ones are counted
    int stacks_used = 0;
    int threads = 0, next_unstarted = 0, live = 0, at_barrier = 0, exited = 0;
    int new_worker_stack = -1; // handed to the worker being started
    int barrier_parity = 0;
    int barrier_count[2] = {0, 0}; // __syncthreads_count/and/or
    Fiber* current = nullptr;
    FiberContext scheduler, discarded;
    bool failed = false;
    std::string failure;
    StackPool stacks;
};
inline BlockRun g_block_run; // a global, not a function static: no initialization guard on every access
inline BlockRun& block_run() { return g_block_run; }
inline int current_thread() { return (int)(block_run().current - block_run().fibers.data()); }

inline void make_ready(int t) {
    BlockRun& b = block_run();
    b.fibers[t].state = FiberState::Runnable;
    size_t tail = b.ready_head + b.ready_count++;
    if (tail >= b.ready.size()) tail -= b.ready.size(); // no division on this hot path
    b.ready[tail] = t;
}
inline void become_current(int t) {
    BlockRun& b = block_run();
    b.current = &b.fibers[t];
    threadIdx = b.tids[t];
}

inline void worker_main();
// Leaves the running context (saved in *from): resumes a ready thread, else starts the next
// thread on a new worker, else returns to the scheduler (all waiting, or all done).
inline void switch_away(FiberContext* from) {
    BlockRun& b = block_run();
    if (b.ready_count > 0) {
        const int t = b.ready[b.ready_head];
        if (++b.ready_head == b.ready.size()) b.ready_head = 0;
        b.ready_count--;
        become_current(t);
        fiber_switch(from, &b.fibers[t].ctx);
    } else if (b.next_unstarted < b.threads) {
        const int t = b.next_unstarted++;
        if (b.free_stacks.empty()) {
            b.new_worker_stack = b.stacks_used++;
        } else {
            b.new_worker_stack = b.free_stacks.back();
            b.free_stacks.pop_back();
        }
        become_current(t);
        fiber_prepare(&b.fibers[t].ctx, b.stacks.stack(b.new_worker_stack), StackPool::STACK_BYTES, worker_main);
        fiber_switch(from, &b.fibers[t].ctx);
    } else {
        fiber_switch(from, &b.scheduler);
    }
}

inline void worker_main() {
    BlockRun& b = block_run();
    const int stack = b.new_worker_stack;
    for (;;) {
        b.invoke(b.call);
        b.current->state = FiberState::Done;
        b.live--;
        b.exited++;
        if (b.ready_count > 0 || b.next_unstarted == b.threads) break;
        become_current(b.next_unstarted++); // the next thread on this same stack
    }
    b.free_stacks.push_back(stack); // no one reuses it before this switch completes
    switch_away(&b.discarded);
}

// Fails the launch from inside a thread: the block is abandoned, the error becomes sticky.
[[noreturn]] inline void kernel_fail(const char* fmt, ...) {
    BlockRun& b = block_run();
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    b.failed = true;
    b.failure = msg;
    for (;;) fiber_switch(&b.discarded, &b.scheduler); // never resumed
}

// __syncthreads: wait until every thread of the block has arrived. Returns the barrier's
// parity, for the counting variants.
inline int block_barrier(int predicate) {
    BlockRun& b = block_run();
    const int parity = b.barrier_parity;
    b.barrier_count[parity] += predicate != 0;
    b.current->state = FiberState::AtBarrier;
    b.at_barrier++;
    switch_away(&b.current->ctx);
    return parity;
}

// Joins the warp collective `kind` over `mask` with `value`; returns the parity of the slot
// row holding every participating lane's value once all have arrived.
inline int warp_collective(Collective kind, unsigned mask, uint64_t value) {
    BlockRun& b = block_run();
    const int t = current_thread(), lane = t % 32;
    WarpSync& w = b.warps[t / 32];
    const int first = (t / 32) * 32;
    const int lanes_in_warp = b.threads - first < 32 ? b.threads - first : 32;
    const unsigned existing = lanes_in_warp == 32 ? 0xffffffffu : ((1u << lanes_in_warp) - 1);
    mask &= existing;
    if (!(mask & (1u << lane)))
        kernel_fail("thread %d calls %s with mask 0x%08x that does not include its own lane %d", t,
                    collective_name(kind), mask, lane);
    if (w.mask == 0) {
        w.mask = mask;
        w.kind = kind;
    } else if (w.mask != mask || w.kind != kind) {
        kernel_fail("warp %d diverged: lane %d calls %s with mask 0x%08x while lanes 0x%08x wait in %s with mask 0x%08x",
                    t / 32, lane, collective_name(kind), mask, w.arrived, collective_name(w.kind), w.mask);
    }
    const int parity = w.parity;
    w.slot[parity][lane] = value;
    w.arrived |= 1u << lane;
    if (w.arrived == w.mask) { // last to arrive: release the others, carry on
        for (int l = 0; l < 32; l++)
            if ((w.mask & (1u << l)) && l != lane) make_ready(first + l);
        w.mask = 0;
        w.arrived = 0;
        w.kind = Collective::None;
        w.parity ^= 1;
    } else {
        b.current->state = FiberState::AtWarp;
        switch_away(&b.current->ctx);
    }
    return parity;
}

// ---- the scheduler (host side)
inline std::string describe_stuck_block() {
    BlockRun& b = block_run();
    char buf[512];
    int first_warp_waiter = -1;
    for (int i = 0; i < b.threads && first_warp_waiter < 0; i++)
        if (b.fibers[i].state == FiberState::AtWarp) first_warp_waiter = i;
    if (first_warp_waiter < 0) {
        snprintf(buf, sizeof buf, "%d of %d threads wait at __syncthreads but %d threads exited without reaching it",
                 b.at_barrier, b.threads, b.exited);
        return buf;
    }
    const WarpSync& w = b.warps[first_warp_waiter / 32];
    snprintf(buf, sizeof buf,
             "warp %d waits in %s for lanes 0x%08x, but lanes 0x%08x never arrive (%d threads at __syncthreads, %d exited)",
             first_warp_waiter / 32, collective_name(w.kind), w.mask, w.mask & ~w.arrived, b.at_barrier, b.exited);
    return buf;
}

// Runs one block; false (with b.failure) when it cannot complete.
inline bool run_block(dim3 block) {
    BlockRun& b = block_run();
    const int n = (int)(block.x * block.y * block.z);
    b.threads = n;
    b.next_unstarted = 0;
    b.live = n;
    b.at_barrier = 0;
    b.exited = 0;
    b.barrier_parity = 0;
    b.barrier_count[0] = b.barrier_count[1] = 0;
    b.fibers.resize(n); // states need no reset: every thread sets its own before anyone reads it
    b.warps.assign((n + 31) / 32, WarpSync());
    b.ready.resize(n);
    b.ready_head = b.ready_count = 0;
    b.free_stacks.clear();
    b.stacks_used = 0;
    for (;;) {
        switch_away(&b.scheduler); // back here when nothing can run
        if (b.failed) return false;
        if (b.live == 0) return true;
        if (b.at_barrier == b.live && b.exited == 0) { // everyone at __syncthreads: release in order
            b.at_barrier = 0;
            b.barrier_parity ^= 1;
            b.barrier_count[b.barrier_parity] = 0;
            for (int i = 0; i < n; i++) make_ready(i);
            continue;
        }
        b.failure = describe_stuck_block();
        return false;
    }
}

struct LaunchConfig {
    dim3 grid, block;
    size_t smem;
    cudaStream_t stream;
    LaunchConfig(dim3 g, dim3 bl, size_t s = 0, cudaStream_t st = nullptr) : grid(g), block(bl), smem(s), stream(st) {}
};

// The checks a GPU makes before it runs anything: a configuration error, not sticky.
inline bool launch_config_ok(const char* name, const void* kernel, const LaunchConfig& c) {
    const dim3 g = c.grid, bl = c.block;
    const unsigned long long threads = (unsigned long long)bl.x * bl.y * bl.z;
    const char* problem = nullptr;
    char buf[256];
    if (g.x == 0 || g.y == 0 || g.z == 0 || threads == 0) problem = "a grid or block dimension is zero";
    else if (threads > 1024 || bl.x > 1024 || bl.y > 1024 || bl.z > 64) problem = "more than 1024 threads per block (or block.z > 64)";
    else if (g.x > 2147483647u || g.y > 65535 || g.z > 65535) problem = "grid.x > 2^31-1 or grid.y/z > 65535";
    if (problem) {
        set_error(cudaErrorInvalidConfiguration, false, "kernel %s launched with grid (%u,%u,%u) block (%u,%u,%u): %s", name,
                  g.x, g.y, g.z, bl.x, bl.y, bl.z, problem);
        return false;
    }
    auto it = dynamic_smem_limits().find(kernel);
    const size_t limit = it == dynamic_smem_limits().end() ? DEFAULT_DYNAMIC_SMEM : it->second;
    if (c.smem > limit) {
        snprintf(buf, sizeof buf, "%zu bytes of dynamic shared memory exceed the kernel's limit of %zu%s", c.smem, limit,
                 limit == DEFAULT_DYNAMIC_SMEM ? " (raise it with cudaFuncSetAttribute)" : "");
        set_error(cudaErrorInvalidValue, false, "kernel %s: %s", name, buf);
        return false;
    }
    return true;
}

// A pointer argument must be null or point into device (or pinned host) memory: a host
// pointer would fault on a GPU.
template <typename T> inline bool argument_ok(const char* name, int index, const T& value) {
    if constexpr (std::is_pointer_v<T> && !std::is_function_v<std::remove_pointer_t<T>>) {
        if (value != nullptr && !find_allocation((const void*)value, 0) && !is_pinned((const void*)value)) {
            set_error(cudaErrorIllegalAddress, true,
                      "kernel %s argument %d is %p, which is not device memory (a host pointer?)", name, index,
                      (const void*)value);
            return false;
        }
    }
    return true;
}

template <typename Tuple, size_t... I> inline bool arguments_ok(const char* name, const Tuple& t, std::index_sequence<I...>) {
    return (argument_ok(name, (int)I + 1, std::get<I>(t)) && ...);
}

inline void run_grid(const char* name, const LaunchConfig& c, void (*invoke)(void*), void* call) {
    ProfileScope scope(name);
    BlockRun& b = block_run();
    b.kernel = name;
    b.invoke = invoke;
    b.call = call;
    b.failed = false;
    gridDim = c.grid;
    blockDim = c.block;
    const dim3 bl = c.block;
    b.tids.resize(bl.x * bl.y * bl.z);
    for (unsigned i = 0; i < b.tids.size(); i++) b.tids[i] = uint3{i % bl.x, (i / bl.x) % bl.y, i / (bl.x * bl.y)};
    for (unsigned z = 0; z < c.grid.z; z++)
        for (unsigned y = 0; y < c.grid.y; y++)
            for (unsigned x = 0; x < c.grid.x; x++) {
                blockIdx = uint3{x, y, z};
                if (c.smem) memset(dynamic_smem_buffer, 0xFF, c.smem);
                if (!run_block(c.block)) {
                    set_error(cudaErrorLaunchFailure, true, "kernel %s, block (%u,%u,%u): %s", name, x, y, z,
                              b.failure.c_str());
                    b.failed = false;
                    return;
                }
            }
}

// What `kernel<<<grid, block, smem, stream>>>(args...)` becomes (rewrite_launches.py).
// Arguments are converted to the kernel's parameter types once; every thread gets a copy.
template <typename... P, typename... A>
void launch_kernel(const char* name, void (*kernel)(P...), const LaunchConfig& c, A&&... args) {
    static_assert(sizeof...(P) == sizeof...(A), "kernel launched with the wrong number of arguments");
    if (errors().sticky != cudaSuccess) return;
    if (!launch_config_ok(name, (const void*)kernel, c)) return;
    using Params = std::tuple<std::decay_t<P>...>;
    struct Call {
        void (*kernel)(P...);
        Params params;
        static void invoke(void* self) {
            Call* call = (Call*)self;
            std::apply(call->kernel, call->params);
        }
    };
    Call call{kernel, Params(std::forward<A>(args)...)};
    if (!arguments_ok(name, call.params, std::index_sequence_for<P...>())) return;
    run_grid(name, c, &Call::invoke, &call);
}

// The same for a template kernel whose template arguments come from the call: `call`
// invokes it (overload resolution and conversions happen there). Such a kernel has no
// pointer for cudaFuncSetAttribute, so it gets the default dynamic shared-memory limit;
// name its template arguments to raise it.
template <typename Invoke, typename... A>
void launch_kernel_deduced(const char* name, Invoke call_kernel, const LaunchConfig& c, A&&... args) {
    if (errors().sticky != cudaSuccess) return;
    if (!launch_config_ok(name, nullptr, c)) return;
    using Args = std::tuple<std::decay_t<A>...>;
    struct Call {
        Invoke invoke_kernel;
        Args args;
        static void invoke(void* self) {
            Call* call = (Call*)self;
            std::apply(call->invoke_kernel, call->args);
        }
    };
    Call call{call_kernel, Args(std::forward<A>(args)...)};
    if (!arguments_ok(name, call.args, std::index_sequence_for<A...>())) return;
    run_grid(name, c, &Call::invoke, &call);
}

template <typename T> inline uint64_t to_slot(const T& v) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "warp collectives move values of up to 8 bytes");
    uint64_t s = 0;
    memcpy(&s, &v, sizeof(T));
    return s;
}
template <typename T> inline T from_slot(uint64_t s) {
    T v;
    memcpy(&v, &s, sizeof(T));
    return v;
}
inline unsigned existing_lanes(unsigned mask) {
    const int first = (current_thread() / 32) * 32, n = block_run().threads - first;
    return n >= 32 ? mask : mask & ((1u << n) - 1);
}
// Shuffles: every lane publishes its value, then reads lane `src` (its own when src is -1).
template <typename T> inline T shuffle(unsigned mask, T v, int src) {
    const int parity = warp_collective(Collective::Shuffle, mask, to_slot(v));
    // A source lane outside the collective (undefined on a GPU) gives the caller's own value.
    if (src < 0 || !(existing_lanes(mask) >> src & 1)) return v;
    return from_slot<T>(block_run().warps[current_thread() / 32].slot[parity][src]);
}
inline unsigned vote(unsigned mask, int predicate) {
    const int parity = warp_collective(Collective::Vote, mask, predicate != 0);
    const WarpSync& w = block_run().warps[current_thread() / 32];
    unsigned ballot = 0;
    const int first = (current_thread() / 32) * 32;
    for (int l = 0; l < 32 && first + l < block_run().threads; l++)
        if ((mask >> l & 1) && w.slot[parity][l]) ballot |= 1u << l;
    return ballot;
}

} // namespace cuda_emu

// ---------------------------------------------------------------------------------------
// Device intrinsics
inline void __syncthreads() { cuda_emu::block_barrier(0); }
inline int __syncthreads_count(int predicate) {
    const int parity = cuda_emu::block_barrier(predicate);
    return cuda_emu::block_run().barrier_count[parity];
}
inline int __syncthreads_and(int predicate) { return __syncthreads_count(predicate) == (int)(blockDim.x * blockDim.y * blockDim.z); }
inline int __syncthreads_or(int predicate) { return __syncthreads_count(predicate) != 0; }
inline void __syncwarp(unsigned mask = 0xffffffffu) { cuda_emu::warp_collective(cuda_emu::Collective::SyncWarp, mask, 0); }
inline void __threadfence() {}
inline void __threadfence_block() {}
inline unsigned __activemask() { return cuda_emu::existing_lanes(0xffffffffu); }

template <typename T> inline T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
    const int lane = cuda_emu::current_thread() % 32;
    return cuda_emu::shuffle(mask, v, (lane & ~(width - 1)) + (src & (width - 1)));
}
template <typename T> inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
    const int lane = cuda_emu::current_thread() % 32;
    const int src = lane ^ lane_mask;
    return cuda_emu::shuffle(mask, v, src >= (lane & ~(width - 1)) + width ? -1 : src);
}
template <typename T> inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
    const int lane = cuda_emu::current_thread() % 32;
    return cuda_emu::shuffle(mask, v, (lane & (width - 1)) + (int)delta < width ? lane + (int)delta : -1);
}
template <typename T> inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
    const int lane = cuda_emu::current_thread() % 32;
    return cuda_emu::shuffle(mask, v, (lane & (width - 1)) >= (int)delta ? lane - (int)delta : -1);
}
inline unsigned __ballot_sync(unsigned mask, int predicate) { return cuda_emu::vote(mask, predicate); }
inline int __any_sync(unsigned mask, int predicate) { return cuda_emu::vote(mask, predicate) != 0; }
inline int __all_sync(unsigned mask, int predicate) {
    return cuda_emu::vote(mask, predicate) == cuda_emu::existing_lanes(mask);
}

// Atomics: plain read-modify-write (one OS thread runs every fiber).
template <typename T> inline T atomicAdd(T* p, T v) { const T old = *p; *p = old + v; return old; }
template <typename T> inline T atomicSub(T* p, T v) { const T old = *p; *p = old - v; return old; }
template <typename T> inline T atomicMax(T* p, T v) { const T old = *p; *p = old > v ? old : v; return old; }
template <typename T> inline T atomicMin(T* p, T v) { const T old = *p; *p = old < v ? old : v; return old; }
template <typename T> inline T atomicExch(T* p, T v) { const T old = *p; *p = v; return old; }
template <typename T> inline T atomicCAS(T* p, T compare, T v) { const T old = *p; if (old == compare) *p = v; return old; }
template <typename T> inline T atomicAnd(T* p, T v) { const T old = *p; *p = old & v; return old; }
template <typename T> inline T atomicOr(T* p, T v) { const T old = *p; *p = old | v; return old; }

template <typename T> inline T __ldg(const T* p) { return *p; }

// ---- math: CUDA's device functions by their host equivalents. Fast-math intrinsics are
// computed accurately here, so emulated results can be slightly more accurate than a GPU's.
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
// (glibc's math.h declares __expf and friends itself, so these are macros, not functions.)
#define __expf expf
#define __exp10f exp10f
#define __logf logf
#define __log2f log2f
#define __log10f log10f
#define __sinf sinf
#define __cosf cosf
#define __tanf tanf
#define __tanhf tanhf
#define __powf powf
inline float __fdividef(float x, float y) { return x / y; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline int __float2int_rn(float x) { return (int)nearbyintf(x); }
inline int __float2int_rz(float x) { return (int)x; }
inline float __int2float_rn(int x) { return (float)x; }
inline unsigned __float_as_uint(float x) { unsigned u; memcpy(&u, &x, 4); return u; }
inline float __uint_as_float(unsigned u) { float x; memcpy(&x, &u, 4); return x; }
inline int __float_as_int(float x) { int u; memcpy(&u, &x, 4); return u; }
inline float __int_as_float(int u) { float x; memcpy(&x, &u, 4); return x; }
inline long long __double_as_longlong(double x) { long long u; memcpy(&u, &x, 8); return u; }
inline double __longlong_as_double(long long u) { double x; memcpy(&x, &u, 8); return x; }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
inline int __ffs(int x) { return __builtin_ffs(x); }

// CUDA's global min/max overloads.
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }
inline unsigned long min(unsigned long a, unsigned long b) { return a < b ? a : b; }
inline unsigned long max(unsigned long a, unsigned long b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }
