// GELU, tanh approximation (as cpu/gelu.h). Math in fp32 whatever floatX is.
#pragma once
#include "common.cuh"

#define GELU_SCALING_FACTOR 0.7978845608028654f // sqrt(2/pi)

__device__ inline float gelu_value(float x) {
    return 0.5f * x * (1.0f + tanhf(GELU_SCALING_FACTOR * (x + 0.044715f * x * x * x)));
}
__device__ inline float gelu_derivative(float x) {
    const float th = tanhf(GELU_SCALING_FACTOR * (x + 0.044715f * x * x * x));
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
