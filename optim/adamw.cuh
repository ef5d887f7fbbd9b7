// AdamW (optim/adamw.h) as one fused launch; two fp32 buffers (28 bytes moved per bf16 parameter).
// The bias-correction scalars of step t are computed on the host, per tensor (they depend
// on its lr), exactly as the CPU reference computes them.
#pragma once
#include "adamw.h"
#include "fused_elementwise.cuh"
#include "optim_config.h"

struct AdamWRule {
    static constexpr int SLOTS = 2;
    AdamWHyper h;
    AdamWStepScalars s;
    static AdamWRule make(const OptimConfig& c, float lr, float wd, int t) {
        const AdamWHyper h = {lr, wd, c.beta1, c.beta2, c.eps};
        return {h, adamw_step_scalars(h, t)};
    }
    __device__ void update(float& p, float g, float* st) const { adamw_update_element(p, g, st[0], st[1], h, s); }
};

__global__ void __launch_bounds__(FUSED_THREADS) adamw_step_kernel(FusedStepArgs a, FusedTable<AdamWRule> t) {
    fused_elementwise_step(a, t);
}

inline void launch_fused_step(const FusedStepArgs& a, const FusedTable<AdamWRule>& t) {
    adamw_step_kernel<<<t.blocks, FUSED_THREADS>>>(a, t);
    cudaCheckLaunch();
}
