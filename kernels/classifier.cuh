// Fused softmax + cross-entropy (+ dlogits) over the first V of Vp logit columns, one block
// per row: one read of the row for the max and the sum of exponentials (online softmax),
// then, when asked, a second sweep that overwrites the logits with their gradient
//   dlogits[v] = (softmax[v] - [v == target]) * dloss  for v < V,   0 for padded columns.
// No probabilities are stored. losses[n] = log(sum) + max - logit[target] (fp32).
#pragma once
#include "common.cuh"

// Combines two online-softmax states (max, sum of exp(x - max)).
__device__ inline void softmax_combine(float& m, float& s, float m2, float s2) {
    const float mn = fmaxf(m, m2);
    if (mn == -INFINITY) return;
    s = s * expf(m - mn) + s2 * expf(m2 - mn);
    m = mn;
}

__global__ void fused_classifier_kernel(floatX* logits, float* losses, const int* targets, float dloss, int V, int Vp,
                                        bool write_dlogits, bool accumulate_loss) {
    __shared__ float shared_m[32], shared_s[32];
    const int n = blockIdx.x;
    floatX* row = logits + (size_t)n * Vp;
    float m = -INFINITY, s = 0.0f;
    for (int v = threadIdx.x; v < V; v += blockDim.x) {
        const float x = to_float(row[v]);
        if (x > m) { s = s * expf(m - x) + 1.0f; m = x; }
        else s += expf(x - m);
    }
    for (int o = 16; o > 0; o >>= 1) {
        const float m2 = __shfl_xor_sync(0xffffffff, m, o), s2 = __shfl_xor_sync(0xffffffff, s, o);
        softmax_combine(m, s, m2, s2);
    }
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    if (lane == 0) { shared_m[warp] = m; shared_s[warp] = s; }
    __syncthreads();
    m = -INFINITY;
    s = 0.0f;
    for (int w = 0; w < warps; w++) softmax_combine(m, s, shared_m[w], shared_s[w]); // same order in every thread
    const int target = targets[n];
    if (threadIdx.x == 0) losses[n] = (accumulate_loss ? losses[n] : 0.0f) + (logf(s) + m - to_float(row[target]));
    if (!write_dlogits) return;
    __syncthreads(); // row[target] is read above before anyone overwrites it
    const float inv = 1.0f / s;
    for (int v = threadIdx.x; v < Vp; v += blockDim.x) {
        float d = 0.0f;
        if (v < V) d = (expf(to_float(row[v]) - m) * inv - (v == target ? 1.0f : 0.0f)) * dloss;
        row[v] = from_float<floatX>(d);
    }
}

// logits (N,Vp) -> losses (N) (accumulate_loss: added to them, so a step's micro-batches
// need one copy); with write_dlogits the logits become dlogits (scaled by dloss).
inline void fused_classifier(floatX* logits, float* losses, const int* targets, float dloss, int N, int V, int Vp,
                             bool write_dlogits, bool accumulate_loss = false) {
    fused_classifier_kernel<<<N, 1024>>>(logits, losses, targets, dloss, V, Vp, write_dlogits, accumulate_loss);
    cudaCheckLaunch();
}
