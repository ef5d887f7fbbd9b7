// Causal multi-head self-attention (as cpu/attention.h) with cuBLAS strided-batched GEMMs
// over the B*NH heads and a fused scale + causal mask + softmax kernel.
//   qkv (B,T,3C) --permute--> q,k,v (B,NH,T,hs)
//   preatt = q k^T (unscaled), att = softmax(scale * preatt) over t2 <= t (0 above the diagonal)
//   y = att v (B,NH,T,hs) --unpermute--> out (B,T,C)
// Backward (att is kept from the forward pass, q/k/v are re-permuted from qkv):
//   datt = dy v^T,  dv = att^T dy,  dpreatt = scale * att * (datt - sum_t2 att*datt),
//   dq = dpreatt k,  dk = dpreatt^T q;  written (not accumulated) into dqkv.
// In cuBLAS's column-major view a row-major (T,hs) head matrix is hs x T with ld hs.
#pragma once
#include <cmath>

#include "common.cuh"

// Gathers q, k, v (B,NH,T,hs) from qkv (B,T,3C).
__global__ void attention_permute_kernel(floatX* q, floatX* k, floatX* v, const floatX* qkv, int B, int T, int NH,
                                         int hs) {
    const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const int C = NH * hs;
    if (idx >= (long long)B * T * C) return;
    const int i = idx % hs, t = (idx / hs) % T, h = (idx / ((long long)hs * T)) % NH, b = idx / ((long long)hs * T * NH);
    const size_t src = ((size_t)b * T + t) * 3 * C + (size_t)h * hs + i;
    q[idx] = qkv[src];
    k[idx] = qkv[src + C];
    v[idx] = qkv[src + 2 * C];
}

// out (B,T,C) from y (B,NH,T,hs).
__global__ void attention_unpermute_kernel(floatX* out, const floatX* y, int B, int T, int NH, int hs) {
    const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const int C = NH * hs;
    if (idx >= (long long)B * T * C) return;
    const int i = idx % hs, t = (idx / hs) % T, h = (idx / ((long long)hs * T)) % NH, b = idx / ((long long)hs * T * NH);
    out[((size_t)b * T + t) * C + (size_t)h * hs + i] = y[idx];
}

// y (B,NH,T,hs) from x (B,T,C): the inverse of attention_unpermute_kernel.
__global__ void attention_gather_heads_kernel(floatX* y, const floatX* x, int B, int T, int NH, int hs) {
    const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const int C = NH * hs;
    if (idx >= (long long)B * T * C) return;
    const int i = idx % hs, t = (idx / hs) % T, h = (idx / ((long long)hs * T)) % NH, b = idx / ((long long)hs * T * NH);
    y[idx] = x[((size_t)b * T + t) * C + (size_t)h * hs + i];
}
inline void attention_gather_heads(floatX* y, const floatX* x, int B, int T, int NH, int hs) {
    attention_gather_heads_kernel<<<ceil_div((long long)B * T * NH * hs, 256), 256>>>(y, x, B, T, NH, hs);
    cudaCheckLaunch();
}

// dqkv (B,T,3C) from dq, dk, dv (B,NH,T,hs); overwrites.
__global__ void attention_unpermute_qkv_kernel(floatX* dqkv, const floatX* dq, const floatX* dk, const floatX* dv,
                                               int B, int T, int NH, int hs) {
    const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const int C = NH * hs;
    if (idx >= (long long)B * T * C) return;
    const int i = idx % hs, t = (idx / hs) % T, h = (idx / ((long long)hs * T)) % NH, b = idx / ((long long)hs * T * NH);
    const size_t dst = ((size_t)b * T + t) * 3 * C + (size_t)h * hs + i;
    dqkv[dst] = dq[idx];
    dqkv[dst + C] = dk[idx];
    dqkv[dst + 2 * C] = dv[idx];
}

// One warp per row (bh, t): att[t2] = softmax(scale * preatt[t2]) for t2 <= t, 0 after.
__global__ void attention_softmax_forward_kernel(floatX* att, const floatX* preatt, int rows, int T, float scale) {
    const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (row >= rows) return;
    const int lane = threadIdx.x % 32, t = row % T;
    const floatX* p = preatt + (size_t)row * T;
    floatX* a = att + (size_t)row * T;
    float maxv = -INFINITY;
    for (int t2 = lane; t2 <= t; t2 += 32) maxv = fmaxf(maxv, scale * to_float(p[t2]));
    maxv = warp_max(maxv);
    float sum = 0.0f;
    for (int t2 = lane; t2 <= t; t2 += 32) sum += expf(scale * to_float(p[t2]) - maxv);
    const float inv = 1.0f / warp_sum(sum);
    for (int t2 = lane; t2 < T; t2 += 32)
        a[t2] = from_float<floatX>(t2 <= t ? expf(scale * to_float(p[t2]) - maxv) * inv : 0.0f);
}

// dpreatt[t2] = scale * att[t2] * (datt[t2] - sum_t2' att*datt), 0 above the diagonal.
// dpreatt may alias datt.
__global__ void attention_softmax_backward_kernel(floatX* dpreatt, const floatX* datt, const floatX* att, int rows,
                                                  int T, float scale) {
    const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (row >= rows) return;
    const int lane = threadIdx.x % 32, t = row % T;
    const floatX* a = att + (size_t)row * T;
    const floatX* da = datt + (size_t)row * T;
    floatX* dp = dpreatt + (size_t)row * T;
    float weighted = 0.0f;
    for (int t2 = lane; t2 <= t; t2 += 32) weighted += to_float(a[t2]) * to_float(da[t2]);
    weighted = warp_sum(weighted);
    for (int t2 = lane; t2 < T; t2 += 32)
        dp[t2] = from_float<floatX>(t2 <= t ? scale * to_float(a[t2]) * (to_float(da[t2]) - weighted) : 0.0f);
}

// Column-major strided-batched GEMM: C = op(A) op(B) (+ beta C), floatX, fp32 accumulation.
inline void batched_gemm(floatX* c, const floatX* a, const floatX* b, int m, int n, int k, bool trans_a, bool trans_b,
                         int lda, int ldb, int ldc, long long stride_a, long long stride_b, long long stride_c,
                         int batch, float beta = 0.0f) {
    const float alpha = 1.0f;
    cublasCheck(cublasGemmStridedBatchedEx(cuda_ctx().cublas, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                                           trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, &alpha, a, CUBLAS_FLOATX, lda,
                                           stride_a, b, CUBLAS_FLOATX, ldb, stride_b, &beta, c, CUBLAS_FLOATX, ldc,
                                           stride_c, batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

// Scratch the attention layer needs beyond its outputs (sizes in elements):
//   qkvr: 3*B*T*C (q, k, v permuted),  preatt: B*NH*T*T,  y: B*T*C.
// out (B,T,C) and att (B,NH,T,T, kept for backward) are written.
inline void attention_forward(floatX* out, floatX* att, floatX* qkvr, floatX* preatt, floatX* y, const floatX* qkv,
                              int B, int T, int C, int NH) {
    const int hs = C / NH, BH = B * NH;
    const long long NC = (long long)B * T * C, TT = (long long)T * T;
    floatX *q = qkvr, *k = qkvr + NC, *v = qkvr + 2 * NC;
    attention_permute_kernel<<<ceil_div(NC, 256), 256>>>(q, k, v, qkv, B, T, NH, hs);
    cudaCheckLaunch();
    // preatt^T (col-major T x T per head) = k q^T: A = k (hs x T) transposed, B = q (hs x T).
    batched_gemm(preatt, k, q, T, T, hs, true, false, hs, hs, T, (long long)T * hs, (long long)T * hs, TT, BH);
    const float scale = 1.0f / sqrtf((float)hs);
    attention_softmax_forward_kernel<<<ceil_div((long long)BH * T, 8), 256>>>(att, preatt, BH * T, T, scale);
    cudaCheckLaunch();
    // y^T (hs x T) = v^T (hs x T2) att^T (T2 x T)
    batched_gemm(y, v, att, hs, T, T, false, false, hs, T, hs, (long long)T * hs, TT, (long long)T * hs, BH);
    attention_unpermute_kernel<<<ceil_div(NC, 256), 256>>>(out, y, B, T, NH, hs);
    cudaCheckLaunch();
}

// Scratch: qkvr 3*B*T*C, dqkvr 3*B*T*C, dy B*T*C, datt B*NH*T*T. dqkv is overwritten.
inline void attention_backward(floatX* dqkv, floatX* qkvr, floatX* dqkvr, floatX* dy, floatX* datt, const floatX* dout,
                               const floatX* qkv, const floatX* att, int B, int T, int C, int NH) {
    const int hs = C / NH, BH = B * NH;
    const long long NC = (long long)B * T * C, TT = (long long)T * T, Th = (long long)T * hs;
    floatX *q = qkvr, *k = qkvr + NC, *v = qkvr + 2 * NC;
    floatX *dq = dqkvr, *dk = dqkvr + NC, *dv = dqkvr + 2 * NC;
    attention_permute_kernel<<<ceil_div(NC, 256), 256>>>(q, k, v, qkv, B, T, NH, hs);
    cudaCheckLaunch();
    // dout (B,T,C) -> dy (B,NH,T,hs)
    attention_gather_heads(dy, dout, B, T, NH, hs);
    // datt^T (T2 x T) = v dy^T: A = v (hs x T2) transposed, B = dy (hs x T)
    batched_gemm(datt, v, dy, T, T, hs, true, false, hs, hs, T, Th, Th, TT, BH);
    // dv^T (hs x T2) = dy^T (hs x T) att (T x T2): B = att_cm transposed
    batched_gemm(dv, dy, att, hs, T, T, false, true, hs, T, hs, Th, TT, Th, BH);
    const float scale = 1.0f / sqrtf((float)hs);
    attention_softmax_backward_kernel<<<ceil_div((long long)BH * T, 8), 256>>>(datt, datt, att, BH * T, T, scale);
    cudaCheckLaunch();
    floatX* dpreatt = datt;
    // dq^T (hs x T) = k^T (hs x T2) dpreatt^T (T2 x T)
    batched_gemm(dq, k, dpreatt, hs, T, T, false, false, hs, T, hs, Th, TT, Th, BH);
    // dk^T (hs x T2) = q^T (hs x T) dpreatt (T x T2)
    batched_gemm(dk, q, dpreatt, hs, T, T, false, true, hs, T, hs, Th, TT, Th, BH);
    attention_unpermute_qkv_kernel<<<ceil_div(NC, 256), 256>>>(dqkv, dq, dk, dv, B, T, NH, hs);
    cudaCheckLaunch();
}
