// SSVR (optim/ssvr.h) on the GPU: the sign step is one fused launch (SsvrRule, the fp32 state
// v); the two gradient folds are element-wise launches over the same table layout, reading
// the floatX gradient times its clip scale:
//   ssvr_fold_kernel(add = true):  v = g * scale + past * v
//   ssvr_fold_kernel(add = false): v -= past * g * scale
// The folds load like the fused step (fused_state0_pass): 8 elements per thread, 16-byte loads and stores where
// the tensor is 8-aligned, element by element in its tail. Bytes moved per element: grad
// sizeof(floatX) + v read and written 8 (bf16: 10); the step (fused_bytes_per_element(1)):
// grad 2, master and v read and written 8 each, param 2 written (bf16: 20).
// The previous parameters are the floatX parameters the model read at the previous step,
// kept in a flat floatX buffer by GpuOptimizer (a device-to-device copy before the update).
#pragma once
#include "fused_elementwise.cuh"
#include "optim_config.h"
#include "ssvr.h"

struct SsvrRule {
    static constexpr int SLOTS = 1;
    SsvrHyper h;
    static SsvrRule make(const OptimConfig&, float lr, float wd, int) { return {{lr, wd}}; }
    __device__ void update(float& p, float, float* s) const { ssvr_apply_element(p, s[0], h); }
};

__global__ void __launch_bounds__(FUSED_THREADS) ssvr_fold_kernel(FusedTable<SsvrRule> table, const floatX* grads,
                                                                  const float* grad_scale, float past, bool add) {
    fused_state0_pass(table, grads, grad_scale, [&](float g, float& v) {
        if (add) ssvr_add_current_element(g, v, past);
        else ssvr_sub_previous_element(g, v, past);
    });
}

__global__ void __launch_bounds__(FUSED_THREADS) ssvr_step_kernel(FusedStepArgs a, FusedTable<SsvrRule> t) {
    fused_elementwise_step(a, t);
}

inline void launch_fused_step(const FusedStepArgs& a, const FusedTable<SsvrRule>& t) {
    ssvr_step_kernel<<<t.blocks, FUSED_THREADS>>>(a, t);
    cudaCheckLaunch();
}
inline void launch_ssvr_fold(const FusedTable<SsvrRule>& t, const floatX* grads, const float* grad_scale, float past, bool add) {
    ssvr_fold_kernel<<<t.blocks, FUSED_THREADS>>>(t, grads, grad_scale, past, add);
    cudaCheckLaunch();
}
