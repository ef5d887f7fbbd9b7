// LayerNorm over the last dim (eps 1e-5, biased variance), one warp per row, statistics in
// fp32 (two passes over the row, which is re-read from L1/L2). mean and rstd are fp32.
// Backward: dinp accumulates per row; dweight/dbias are deterministic two-stage column
// reductions (no atomics).
#pragma once
#include "common.cuh"

constexpr float LN_EPS = 1e-5f;

// One warp normalizes row n of x (already in global memory) into out.
__device__ inline void layernorm_row(floatX* out, float* mean, float* rstd, const floatX* x, const floatX* weight,
                                     const floatX* bias, int n, int C, int lane) {
    float sum = 0.0f;
    for (int c = lane; c < C; c += 32) sum += to_float(x[c]);
    const float m = warp_sum(sum) / C;
    float var = 0.0f;
    for (int c = lane; c < C; c += 32) {
        const float d = to_float(x[c]) - m;
        var += d * d;
    }
    const float r = rsqrtf(warp_sum(var) / C + LN_EPS);
    for (int c = lane; c < C; c += 32) {
        const float xhat = (to_float(x[c]) - m) * r;
        out[c] = from_float<floatX>(xhat * to_float(weight[c]) + to_float(bias[c]));
    }
    if (lane == 0) {
        mean[n] = m;
        rstd[n] = r;
    }
}

__global__ void layernorm_forward_kernel(floatX* out, float* mean, float* rstd, const floatX* inp,
                                         const floatX* weight, const floatX* bias, int N, int C) {
    const int n = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (n >= N) return;
    layernorm_row(out + (size_t)n * C, mean, rstd, inp + (size_t)n * C, weight, bias, n, C, threadIdx.x % 32);
}

// residual = a + b, then out = layernorm(residual): saves one launch and one read of the row.
__global__ void fused_residual_layernorm_forward_kernel(floatX* residual, floatX* out, float* mean, float* rstd,
                                                        const floatX* a, const floatX* b, const floatX* weight,
                                                        const floatX* bias, int N, int C) {
    const int n = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (n >= N) return;
    const int lane = threadIdx.x % 32;
    const size_t row = (size_t)n * C;
    for (int c = lane; c < C; c += 32) residual[row + c] = from_float<floatX>(to_float(a[row + c]) + to_float(b[row + c]));
    __syncwarp();
    layernorm_row(out + row, mean, rstd, residual + row, weight, bias, n, C, lane);
}

inline void layernorm_forward(floatX* out, float* mean, float* rstd, const floatX* inp, const floatX* weight,
                              const floatX* bias, int N, int C) {
    layernorm_forward_kernel<<<ceil_div(N, 8), 256>>>(out, mean, rstd, inp, weight, bias, N, C);
    cudaCheckLaunch();
}

inline void fused_residual_layernorm_forward(floatX* residual, floatX* out, float* mean, float* rstd, const floatX* a,
                                             const floatX* b, const floatX* weight, const floatX* bias, int N, int C) {
    fused_residual_layernorm_forward_kernel<<<ceil_div(N, 8), 256>>>(residual, out, mean, rstd, a, b, weight, bias, N, C);
    cudaCheckLaunch();
}

// dinp[n,:] += rstd * (g - mean(g) - xhat * mean(g * xhat)), g = weight * dout.
__global__ void layernorm_backward_dinp_kernel(floatX* dinp, const floatX* dout, const floatX* inp,
                                               const floatX* weight, const float* mean, const float* rstd, int N,
                                               int C) {
    const int n = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (n >= N) return;
    const int lane = threadIdx.x % 32;
    const floatX* x = inp + (size_t)n * C;
    const floatX* d = dout + (size_t)n * C;
    floatX* dx = dinp + (size_t)n * C;
    const float m = mean[n], r = rstd[n];
    float sum_g = 0.0f, sum_g_xhat = 0.0f;
    for (int c = lane; c < C; c += 32) {
        const float g = to_float(weight[c]) * to_float(d[c]);
        sum_g += g;
        sum_g_xhat += g * (to_float(x[c]) - m) * r;
    }
    const float mean_g = warp_sum(sum_g) / C, mean_g_xhat = warp_sum(sum_g_xhat) / C;
    for (int c = lane; c < C; c += 32) {
        const float xhat = (to_float(x[c]) - m) * r;
        const float g = to_float(weight[c]) * to_float(d[c]);
        dx[c] = from_float<floatX>(to_float(dx[c]) + r * (g - mean_g - xhat * mean_g_xhat));
    }
}

// Stage 1 of dweight/dbias: partial[chunk][c] = sum over the chunk's rows of dout*xhat (and dout).
__global__ void layernorm_backward_params_partial_kernel(float* partial_w, float* partial_b, const floatX* dout,
                                                         const floatX* inp, const float* mean, const float* rstd,
                                                         int N, int C, int rows_per_chunk) {
    __shared__ float tile_w[8][33], tile_b[8][33];
    const int c = blockIdx.x * 32 + threadIdx.x, chunk = blockIdx.y;
    const int n0 = chunk * rows_per_chunk, n1 = min(N, n0 + rows_per_chunk);
    float sw = 0.0f, sb = 0.0f;
    if (c < C)
        for (int n = n0 + threadIdx.y; n < n1; n += 8) {
            const float d = to_float(dout[(size_t)n * C + c]);
            sw += d * (to_float(inp[(size_t)n * C + c]) - mean[n]) * rstd[n];
            sb += d;
        }
    tile_w[threadIdx.y][threadIdx.x] = sw;
    tile_b[threadIdx.y][threadIdx.x] = sb;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float tw = 0.0f, tb = 0.0f;
        for (int y = 0; y < 8; y++) { tw += tile_w[y][threadIdx.x]; tb += tile_b[y][threadIdx.x]; }
        partial_w[(size_t)chunk * C + c] = tw;
        partial_b[(size_t)chunk * C + c] = tb;
    }
}

// Accumulates into dinp, dweight, dbias (as cpu/layernorm.h).
inline void layernorm_backward(floatX* dinp, floatX* dweight, floatX* dbias, const floatX* dout, const floatX* inp,
                               const floatX* weight, const float* mean, const float* rstd, int N, int C) {
    layernorm_backward_dinp_kernel<<<ceil_div(N, 8), 256>>>(dinp, dout, inp, weight, mean, rstd, N, C);
    cudaCheckLaunch();
    const int rows_per_chunk = ceil_div(N, COLSUM_CHUNKS);
    const int chunks = ceil_div(N, rows_per_chunk);
    float* partial = reduce_scratch(2 * (size_t)chunks * C);
    float* partial_b = partial + (size_t)chunks * C;
    layernorm_backward_params_partial_kernel<<<dim3(ceil_div(C, 32), chunks), dim3(32, 8)>>>(
        partial, partial_b, dout, inp, mean, rstd, N, C, rows_per_chunk);
    cudaCheckLaunch();
    colsum_final_kernel<<<ceil_div(C, 256), 256>>>(dweight, partial, chunks, C, true);
    cudaCheckLaunch();
    colsum_final_kernel<<<ceil_div(C, 256), 256>>>(dbias, partial_b, chunks, C, true);
    cudaCheckLaunch();
}
