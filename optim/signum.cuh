// Signum (optim/signum.h) as one fused launch; one fp32 momentum buffer (20 bytes moved per bf16
// parameter).
#pragma once
#include "fused_elementwise.cuh"
#include "optim_config.h"
#include "signum.h"

struct SignumRule {
    static constexpr int SLOTS = 1;
    SignumHyper h;
    static SignumRule make(const OptimConfig& c, float lr, float wd, int) { return {{lr, wd, c.momentum}}; }
    __device__ void update(float& p, float g, float* s) const { signum_update_element(p, g, s[0], h); }
};

__global__ void __launch_bounds__(FUSED_THREADS) signum_step_kernel(FusedStepArgs a, FusedTable<SignumRule> t) {
    fused_elementwise_step(a, t);
}

inline void launch_fused_step(const FusedStepArgs& a, const FusedTable<SignumRule>& t) {
    signum_step_kernel<<<t.blocks, FUSED_THREADS>>>(a, t);
    cudaCheckLaunch();
}
