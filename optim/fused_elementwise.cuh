// What the fused element-wise optimizer kernels share (sgd.cuh ... lion.cuh; muon.cuh uses
// the loads and stores). One launch updates every tensor that follows a rule: a small table,
// passed by value as a kernel parameter, gives each tensor its offset, size, state buffers
// and its own rule constants (lr, weight decay, per-step scalars), so parameter groups cost
// no extra pass. Block b finds its tensor by a scan of the table (at most 16 entries); each
// thread updates 8 consecutive elements with 16-byte loads and stores when the tensor's
// offset is a multiple of 8 elements, element by element otherwise and in a tensor's tail.
// Per element: g = grad * clip scale; the rule updates the fp32 master value and fp32 state
// (the OPTIM_HD functions of optim/*.h); the floatX parameter is written rounded
// stochastically (stochastic_rounding.cuh).
#pragma once
#include <cstdint>

#include "../common/gpt2_layout.h"
#include "../common/utils.h"
#include "stochastic_rounding.cuh"

constexpr int FUSED_THREADS = 256;
constexpr int FUSED_VEC = 8; // elements per thread: 16 bytes of bf16, 32 of fp32
constexpr int FUSED_CHUNK = FUSED_THREADS * FUSED_VEC;

// ---------------------------------------------------------------------------------------
// 8 consecutive values, p 16-byte aligned.
__device__ inline void load8(const float* p, float (&v)[8]) {
    const float4 a = reinterpret_cast<const float4*>(p)[0], b = reinterpret_cast<const float4*>(p)[1];
    v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
}
// bf16 -> fp32 is exact: the 16 bits become the high half of the float.
__device__ inline void load8(const __nv_bfloat16* p, float (&v)[8]) {
    const uint4 raw = *reinterpret_cast<const uint4*>(p);
    const uint32_t w[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
    for (int j = 0; j < 4; j++) {
        v[2 * j] = __uint_as_float(w[j] << 16);
        v[2 * j + 1] = __uint_as_float(w[j] & 0xFFFF0000u);
    }
}
__device__ inline void store8(float* p, const float (&v)[8]) {
    reinterpret_cast<float4*>(p)[0] = make_float4(v[0], v[1], v[2], v[3]);
    reinterpret_cast<float4*>(p)[1] = make_float4(v[4], v[5], v[6], v[7]);
}

// ---------------------------------------------------------------------------------------
// A Rule (one per algorithm file) is a small struct with
//   static constexpr int SLOTS;                                   fp32 state buffers per tensor
//   __device__ void update(float& p, float g, float* state) const  one element
template <typename Rule> struct FusedTensor {
    size_t offset;        // into the flat master / param / grad buffers
    size_t numel;
    unsigned first_block; // blocks [first_block, the next tensor's first_block) update it
    bool vectorized;      // offset % 8 == 0: 16-byte loads and stores
    float* state[Rule::SLOTS > 0 ? Rule::SLOTS : 1] = {};
    Rule rule;            // this tensor's lr, weight decay and per-step constants
};

template <typename Rule> struct FusedTable {
    int count = 0;
    unsigned blocks = 0; // the launch's grid
    FusedTensor<Rule> tensors[NUM_PARAM_TENSORS];

    // state: Rule::SLOTS buffers of t.numel() floats.
    void add(const ParamTensor& t, float* const* state, const Rule& rule) { add_range(t, 0, t.numel(), state, rule); }
    // Elements [begin, begin + n) of t only (a ZeRO-1 shard); state: Rule::SLOTS buffers whose
    // first float is element `begin`'s (a shard's state holds that part only).
    void add_range(const ParamTensor& t, size_t begin, size_t n, float* const* state, const Rule& rule) {
        if (n == 0) return;
        if (count == NUM_PARAM_TENSORS) fail_runtime("fused optimizer table holds at most %d tensors", NUM_PARAM_TENSORS);
        FusedTensor<Rule>& e = tensors[count++];
        e.offset = t.offset + begin;
        e.numel = n;
        e.first_block = blocks;
        e.vectorized = e.offset % FUSED_VEC == 0 && begin % FUSED_VEC == 0; // the state buffers' alignment too
        for (int j = 0; j < Rule::SLOTS; j++) e.state[j] = state[j];
        e.rule = rule;
        blocks += (unsigned)ceil_div((long long)e.numel, FUSED_CHUNK);
    }
};

struct FusedStepArgs {
    float* master;           // holds flat elements from master_offset on (-z 1: the rank's shard)
    floatX* params;
    const floatX* grads;
    const float* grad_scale; // device scalar (the clip factor) or nullptr for 1
    uint64_t rounding_key;   // rounding_key(seed, step)
    size_t master_offset = 0;
};

// The tensor this block updates (its index in TABLE) and this thread's first element in it.
template <typename Rule>
__device__ inline int fused_tensor_of_block(const FusedTable<Rule>& table, size_t* local) {
    int k = 0;
    while (k + 1 < table.count && blockIdx.x >= table.tensors[k + 1].first_block) k++;
    *local = (size_t)(blockIdx.x - table.tensors[k].first_block) * FUSED_CHUNK + (size_t)threadIdx.x * FUSED_VEC;
    return k;
}

// A pass over state slot 0 alone (nsgd's momentum, ssvr's gradient folds): fold(g, s) on each
// of this thread's at most FUSED_VEC elements of its block's tensor, g the gradient times its
// clip scale, s the slot's element (written back); 16-byte loads and stores where the tensor
// is 8-aligned, element by element in its tail.
template <typename Rule, typename Fold>
__device__ inline void fused_state0_pass(const FusedTable<Rule>& table, const floatX* grads, const float* grad_scale, Fold fold) {
    size_t local;
    const FusedTensor<Rule>& t = table.tensors[fused_tensor_of_block(table, &local)];
    const float scale = grad_scale ? *grad_scale : 1.0f;
    if (t.vectorized && local + FUSED_VEC <= t.numel) {
        float g[FUSED_VEC], s[FUSED_VEC];
        load8(grads + t.offset + local, g);
        load8(t.state[0] + local, s);
#pragma unroll
        for (int e = 0; e < FUSED_VEC; e++) fold(g[e] * scale, s[e]);
        store8(t.state[0] + local, s);
        return;
    }
    for (int e = 0; e < FUSED_VEC && local + e < t.numel; e++) fold(to_float(grads[t.offset + local + e]) * scale, t.state[0][local + e]);
}

// The body of every fused element-wise kernel.
template <typename Rule>
__device__ inline void fused_elementwise_step(const FusedStepArgs& a, const FusedTable<Rule>& table) {
    constexpr int S = Rule::SLOTS > 0 ? Rule::SLOTS : 1;
    size_t local;
    const int k = fused_tensor_of_block(table, &local);
    const size_t numel = table.tensors[k].numel, offset = table.tensors[k].offset;
    if (local >= numel) return;
    const Rule rule = table.tensors[k].rule;
    float* state[S] = {};
    for (int j = 0; j < Rule::SLOTS; j++) state[j] = table.tensors[k].state[j] + local;
    const size_t i = offset + local;
    float* master = a.master + (i - a.master_offset); // element i's master weight
    const int count = numel - local < FUSED_VEC ? (int)(numel - local) : FUSED_VEC;
    const bool vec = table.tensors[k].vectorized && count == FUSED_VEC;
    const float scale = a.grad_scale ? *a.grad_scale : 1.0f;

    float p[FUSED_VEC], g[FUSED_VEC], s[S][FUSED_VEC];
    if (vec) {
        load8(master, p);
        load8(a.grads + i, g);
        for (int j = 0; j < Rule::SLOTS; j++) load8(state[j], s[j]);
    } else {
#pragma unroll
        for (int e = 0; e < FUSED_VEC; e++) {
            if (e >= count) break;
            p[e] = master[e];
            g[e] = to_float(a.grads[i + e]);
            for (int j = 0; j < Rule::SLOTS; j++) s[j][e] = state[j][e];
        }
    }
#pragma unroll
    for (int e = 0; e < FUSED_VEC; e++) {
        if (e >= count) break;
        float st[S];
        for (int j = 0; j < S; j++) st[j] = s[j][e];
        rule.update(p[e], g[e] * scale, st);
        for (int j = 0; j < S; j++) s[j][e] = st[j];
    }
    if (vec) {
        store8(master, p);
        for (int j = 0; j < Rule::SLOTS; j++) store8(state[j], s[j]);
        store_params8(a.params, i, p, a.rounding_key);
    } else {
#pragma unroll
        for (int e = 0; e < FUSED_VEC; e++) {
            if (e >= count) break;
            master[e] = p[e];
            for (int j = 0; j < Rule::SLOTS; j++) state[j][e] = s[j][e];
            store_param(a.params, i + e, p[e], a.rounding_key);
        }
    }
}

// Bytes one element moves through a fused step (the floor the benchmark compares against):
// read grad, master and each state slot, write master, each state slot and the parameter.
inline size_t fused_bytes_per_element(int slots) { return 2 * sizeof(floatX) + 8 + 8 * (size_t)slots; }
