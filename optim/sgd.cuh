// SGD (optim/sgd.h) as one fused launch. With momentum one fp32 buffer per tensor
// (20 bytes moved per bf16 parameter), without none (12 bytes).
#pragma once
#include "fused_elementwise.cuh"
#include "optim_config.h"
#include "sgd.h"

struct SgdMomentumRule {
    static constexpr int SLOTS = 1;
    SgdHyper h;
    static SgdMomentumRule make(const OptimConfig& c, float lr, float wd, int) { return {{lr, wd, c.momentum, c.nesterov == 1}}; }
    __device__ void update(float& p, float g, float* s) const { sgd_update_element(p, g, s[0], h); }
};

struct SgdPlainRule {
    static constexpr int SLOTS = 0;
    SgdHyper h;
    static SgdPlainRule make(const OptimConfig&, float lr, float wd, int) { return {{lr, wd, 0.0f, false}}; }
    __device__ void update(float& p, float g, float*) const {
        float unused = 0.0f;
        sgd_update_element(p, g, unused, h);
    }
};

__global__ void __launch_bounds__(FUSED_THREADS) sgd_momentum_step_kernel(FusedStepArgs a, FusedTable<SgdMomentumRule> t) {
    fused_elementwise_step(a, t);
}
__global__ void __launch_bounds__(FUSED_THREADS) sgd_step_kernel(FusedStepArgs a, FusedTable<SgdPlainRule> t) {
    fused_elementwise_step(a, t);
}

inline void launch_fused_step(const FusedStepArgs& a, const FusedTable<SgdMomentumRule>& t) {
    sgd_momentum_step_kernel<<<t.blocks, FUSED_THREADS>>>(a, t);
    cudaCheckLaunch();
}
inline void launch_fused_step(const FusedStepArgs& a, const FusedTable<SgdPlainRule>& t) {
    sgd_step_kernel<<<t.blocks, FUSED_THREADS>>>(a, t);
    cudaCheckLaunch();
}
