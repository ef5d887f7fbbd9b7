// GELU, tanh approximation (as cpu/gelu.h). Math in fp32 whatever floatX is.
#pragma once
#include "common.cuh"

#define GELU_SCALING_FACTOR 0.7978845608028654f // sqrt(2/pi)

// --use_fast_math turns tanhf into tanh.approx.f32 on sm_75+ (about 5e-4 relative error):
// harmless next to bf16's 4e-3, far too coarse for the fp32 build's 1e-5 comparisons. There,
// tanh(u) = 1 - 2/(exp(2u)+1) (exp and divide stay accurate to ~1e-7 under fast math;
// saturates correctly to +-1 when exp over/underflows).
__device__ inline float gelu_tanh(float u) {
#if defined(ENABLE_FP32)
    return 1.0f - 2.0f / (expf(2.0f * u) + 1.0f);
#else
    return tanhf(u);
#endif
}

__device__ inline float gelu_value(float x) {
    return 0.5f * x * (1.0f + gelu_tanh(GELU_SCALING_FACTOR * (x + 0.044715f * x * x * x)));
}
__device__ inline float gelu_derivative(float x) {
    const float th = gelu_tanh(GELU_SCALING_FACTOR * (x + 0.044715f * x * x * x));
    const float du_dx = GELU_SCALING_FACTOR * (1.0f + 3.0f * 0.044715f * x * x);
    return 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du_dx;
}

__global__ void gelu_forward_kernel(floatX* out, const floatX* inp, size_t n) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = from_float<floatX>(gelu_value(to_float(inp[i])));
}

// dinp = gelu'(inp) * dout (overwrites; dinp may alias dout).
__global__ void gelu_backward_kernel(floatX* dinp, const floatX* inp, const floatX* dout, size_t n) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) dinp[i] = from_float<floatX>(gelu_derivative(to_float(inp[i])) * to_float(dout[i]));
}

inline void gelu_forward(floatX* out, const floatX* inp, size_t n) {
    gelu_forward_kernel<<<ceil_div((long long)n, 256), 256>>>(out, inp, n);
    cudaCheckLaunch();
}
inline void gelu_backward(floatX* dinp, const floatX* inp, const floatX* dout, size_t n) {
    gelu_backward_kernel<<<ceil_div((long long)n, 256), 256>>>(dinp, inp, dout, n);
    cudaCheckLaunch();
}
