// Lion (optim/lion.h) as one fused launch; one fp32 buffer (20 bytes moved per bf16 parameter).
#pragma once
#include "fused_elementwise.cuh"
#include "lion.h"
#include "optim_config.h"

struct LionRule {
    static constexpr int SLOTS = 1;
    LionHyper h;
    static LionRule make(const OptimConfig& c, float lr, float wd, int) { return {{lr, wd, c.beta1, c.beta2}}; }
    __device__ void update(float& p, float g, float* s) const { lion_update_element(p, g, s[0], h); }
};

__global__ void __launch_bounds__(FUSED_THREADS) lion_step_kernel(FusedStepArgs a, FusedTable<LionRule> t) {
    fused_elementwise_step(a, t);
}

inline void launch_fused_step(const FusedStepArgs& a, const FusedTable<LionRule>& t) {
    lion_step_kernel<<<t.blocks, FUSED_THREADS>>>(a, t);
    cudaCheckLaunch();
}
