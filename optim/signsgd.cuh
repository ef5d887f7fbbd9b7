// SignSGD (optim/signsgd.h) as one fused launch; no state (12 bytes moved per bf16 parameter).
#pragma once
#include "fused_elementwise.cuh"
#include "optim_config.h"
#include "signsgd.h"

struct SignSgdRule {
    static constexpr int SLOTS = 0;
    SignSgdHyper h;
    static SignSgdRule make(const OptimConfig&, float lr, float wd, int) { return {{lr, wd}}; }
    __device__ void update(float& p, float g, float*) const { signsgd_update_element(p, g, h); }
};

__global__ void __launch_bounds__(FUSED_THREADS) signsgd_step_kernel(FusedStepArgs a, FusedTable<SignSgdRule> t) {
    fused_elementwise_step(a, t);
}

inline void launch_fused_step(const FusedStepArgs& a, const FusedTable<SignSgdRule>& t) {
    signsgd_step_kernel<<<t.blocks, FUSED_THREADS>>>(a, t);
    cudaCheckLaunch();
}
