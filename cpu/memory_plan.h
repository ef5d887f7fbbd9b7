// The CPU trainer's memory plan: what train_gpt2cpu will allocate, summed before anything
// big is allocated, and compared with MemAvailable (/proc/meminfo), so an impossible run
// (-e d48, -e d12 -b 16 -t 1024, -e d2 -b 4000, ...) is a one-line error and not a
// std::bad_alloc halfway in. The sizes come from the functions the allocations use:
// gpt2_num_params (params, grads), GPT2Cpu::activation_floats, CpuOptimizer::allocated_floats.
#pragma once
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../common/gpt2_layout.h"
#include "../common/noise_density.h"
#include "../common/tail_index.h"
#include "../optim/cpu_optimizer.h"
#include "gpt2.h"

struct MemoryPart {
    const char* what;
    size_t bytes;
};

struct CpuMemoryPlan {
    std::vector<MemoryPart> parts;
    size_t total() const {
        size_t n = 0;
        for (const MemoryPart& p : parts) n += p.bytes;
        return n;
    }
    // "params+grads 0.95, optimizer 0.95, ..." in GiB
    std::string breakdown() const {
        std::string s;
        char buf[96];
        for (const MemoryPart& p : parts) {
            if (p.bytes == 0) continue;
            snprintf(buf, sizeof buf, "%s%s %.2f", s.empty() ? "" : ", ", p.what, p.bytes / 1073741824.0);
            s += buf;
        }
        return s;
    }
};

// loaders: how many DataLoaders of B x T the run opens (train, val, noise). Each holds two
// batch slots of inputs and targets (int) and one read buffer of B*T+1 tokens (uint16).
// noise_batches: K of --noise-every (0: no noise accumulator). state_shards: ZeRO-1's ranks
// (each keeps about 1/state_shards of the optimizer state), 1 otherwise. tail_index_bytes:
// --tail-index-every's samples and loader (tail_index_plan_bytes), 0 without it.
// zero_order (--zo): forward passes only, so no gradient buffer and no activation gradients
// (the trainer frees GPT2Cpu's grads; common/zero_order.h).
inline CpuMemoryPlan plan_cpu_memory(const GPT2Config& model, const OptimConfig& optim, int B, int T, int loaders,
                                     int noise_batches, int state_shards = 1, size_t tail_index_bytes = 0, bool zero_order = false) {
    const size_t P = gpt2_num_params(model), f = sizeof(float), bt = (size_t)B * T;
    CpuMemoryPlan plan;
    plan.parts.push_back({zero_order ? "params" : "params+grads", (zero_order ? 1 : 2) * P * f});
    plan.parts.push_back({"optimizer", CpuOptimizer::allocated_floats(optim, model, state_shards) * f});
    plan.parts.push_back({"activations", GPT2Cpu::activation_floats(model, B, T, zero_order) * f});
    plan.parts.push_back({"noise accumulator", noise_batches > 0 ? GradientNoiseAccumulator::bytes(P, noise_batches) : 0});
    plan.parts.push_back({"tail-index samples", tail_index_bytes});
    plan.parts.push_back({"ssvr params copy", optim.algorithm == Algorithm::SSVR ? P * f : 0});
    plan.parts.push_back({"data loaders", (size_t)loaders * (4 * bt * sizeof(int) + (bt + 1) * sizeof(uint16_t))});
    return plan;
}

// --tail-index-every's K x n fp32 samples (common/tail_index.h) and its B = 1 data loader.
inline size_t tail_index_plan_bytes(const GPT2Config& model, bool wte, int layer, int K, int T) {
    return TailIndexSampler::bytes(tail_index_slice(model, wte, layer).size(), K) + 4 * (size_t)T * sizeof(int) +
           (T + 1) * sizeof(uint16_t);
}

// MemAvailable from /proc/meminfo in bytes; 0 when it cannot be read (then no check).
inline size_t mem_available_bytes() {
    FILE* f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    size_t kib = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %zu kB", &kib) == 1) break;
    fclose(f);
    return kib * 1024;
}
