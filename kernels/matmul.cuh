// Linear layers through cuBLASLt: floatX inputs, fp32 accumulation, bias (and GELU) fused
// into the GEMM epilogue where cuBLASLt offers it. Row-major out(N,OC) = inp(N,C) @ weight(OC,C)^T
// + bias is, in cuBLAS's column-major view, D (OC x N) = op(A) B with A = weight (stored as
// C x OC, transposed) and B = inp (C x N); D is out.
// Backward:  dinp(N,C) += dout @ weight          (D (C x N) = weight (C x OC) * dout (OC x N))
//            dweight(OC,C) += dout^T @ inp       (D (C x OC) = inp (C x N) * dout^T (N x OC))
//            dbias += column sums of dout        (deterministic two-stage reduction)
// The orientation of every call was checked by emulating the column-major calls in numpy.
#pragma once
#include "common.cuh"
#include "gelu.cuh"

// Largest power of two (up to 256) that divides the address.
inline uint32_t pointer_alignment(const void* p) {
    const uintptr_t x = (uintptr_t)p;
    uint32_t align = 256;
    while (align > 1 && x % align != 0) align /= 2;
    return align;
}

// out[n, o] += bias[o] for out (N, OC): the unfused fallback of the bias epilogue.
__global__ void add_bias_kernel(floatX* out, const floatX* bias, int N, int OC) {
    const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)N * OC) return;
    out[idx] = from_float<floatX>(to_float(out[idx]) + to_float(bias[idx % OC]));
}

// D (m x n, col-major, ld m) = alpha op(A) op(B) + beta D, with an optional epilogue.
// Returns false (and does nothing) when cuBLASLt has no algorithm for the request, so the
// caller can fall back to an unfused path; any other failure is fatal.
inline bool matmul_cublaslt(floatX* d, const floatX* a, const floatX* b, const floatX* bias, int m, int n, int k,
                            bool trans_a, bool trans_b, float beta, floatX* gelu_aux = nullptr) {
    CudaContext& ctx = cuda_ctx();
    cublasLtMatmulDesc_t op_desc;
    cublasCheck(cublasLtMatmulDescCreate(&op_desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasCheck(cublasLtMatmulDescSetAttribute(op_desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof op_a));
    cublasCheck(cublasLtMatmulDescSetAttribute(op_desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof op_b));
    cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
    if (gelu_aux) epilogue = bias ? CUBLASLT_EPILOGUE_GELU_AUX_BIAS : CUBLASLT_EPILOGUE_GELU_AUX;
    else if (bias) epilogue = CUBLASLT_EPILOGUE_BIAS;
    cublasCheck(cublasLtMatmulDescSetAttribute(op_desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof epilogue));
    if (bias) {
        const cudaDataType_t bias_type = CUBLAS_FLOATX;
        cublasCheck(cublasLtMatmulDescSetAttribute(op_desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof bias_type));
        cublasCheck(cublasLtMatmulDescSetAttribute(op_desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    }
    if (gelu_aux) {
        const int64_t ld_aux = m;
        cublasCheck(cublasLtMatmulDescSetAttribute(op_desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &gelu_aux, sizeof gelu_aux));
        cublasCheck(cublasLtMatmulDescSetAttribute(op_desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &ld_aux, sizeof ld_aux));
    }
    cublasLtMatrixLayout_t layout_a, layout_b, layout_d;
    cublasCheck(cublasLtMatrixLayoutCreate(&layout_a, CUBLAS_FLOATX, trans_a ? k : m, trans_a ? m : k, trans_a ? k : m));
    cublasCheck(cublasLtMatrixLayoutCreate(&layout_b, CUBLAS_FLOATX, trans_b ? n : k, trans_b ? k : n, trans_b ? n : k));
    cublasCheck(cublasLtMatrixLayoutCreate(&layout_d, CUBLAS_FLOATX, m, n, m));
    cublasLtMatmulPreference_t pref;
    cublasCheck(cublasLtMatmulPreferenceCreate(&pref));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                     &ctx.lt_workspace_size, sizeof ctx.lt_workspace_size));
    // The heuristic assumes 256-byte aligned pointers unless told otherwise; layer slices of
    // the flat buffers can be less aligned (e.g. biases of small models), so say what they are.
    const uint32_t align_a = pointer_alignment(a), align_b = pointer_alignment(b), align_d = pointer_alignment(d);
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a, sizeof align_a));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b, sizeof align_b));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_d, sizeof align_d));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_d, sizeof align_d));
    cublasLtMatmulHeuristicResult_t heuristic;
    int found = 0;
    const cublasStatus_t hs = cublasLtMatmulAlgoGetHeuristic(ctx.cublaslt, op_desc, layout_a, layout_b, layout_d,
                                                             layout_d, pref, 1, &heuristic, &found);
    const bool ok = hs == CUBLAS_STATUS_SUCCESS && found > 0;
    if (ok) {
        const float alpha = 1.0f;
        cublasCheck(cublasLtMatmul(ctx.cublaslt, op_desc, &alpha, a, layout_a, b, layout_b, &beta, d, layout_d, d,
                                   layout_d, &heuristic.algo, ctx.lt_workspace, ctx.lt_workspace_size, ctx.stream));
    }
    cublasCheck(cublasLtMatmulPreferenceDestroy(pref));
    cublasCheck(cublasLtMatrixLayoutDestroy(layout_a));
    cublasCheck(cublasLtMatrixLayoutDestroy(layout_b));
    cublasCheck(cublasLtMatrixLayoutDestroy(layout_d));
    cublasCheck(cublasLtMatmulDescDestroy(op_desc));
    return ok;
}

inline void matmul_or_fail(floatX* d, const floatX* a, const floatX* b, const floatX* bias, int m, int n, int k,
                           bool trans_a, bool trans_b, float beta) {
    if (!matmul_cublaslt(d, a, b, bias, m, n, k, trans_a, trans_b, beta))
        fail_runtime("cuBLASLt found no algorithm for a %dx%dx%d matmul", m, n, k);
}

// out(N,OC) = inp(N,C) @ weight(OC,C)^T + bias (bias nullable).
// The bias epilogue when cuBLASLt offers it for these pointers, else the GEMM and a bias kernel.
inline void matmul_forward(floatX* out, const floatX* inp, const floatX* weight, const floatX* bias, int N, int C,
                           int OC) {
    if (matmul_cublaslt(out, weight, inp, bias, OC, N, C, true, false, 0.0f)) return;
    matmul_or_fail(out, weight, inp, nullptr, OC, N, C, true, false, 0.0f);
    if (bias) {
        add_bias_kernel<<<ceil_div((long long)N * OC, 256), 256>>>(out, bias, N, OC);
        cudaCheckLaunch();
    }
}

// pre = inp @ weight^T + bias, out = gelu(pre): one GEMM with the GELU_AUX_BIAS epilogue
// when cuBLASLt offers it, else the plain GEMM and the GELU kernel. The fp32 build (tight
// comparisons) always takes the unfused path: the epilogue's GELU accuracy is undocumented
// (a fast tanh would be ~5e-4 off), the GELU kernel's is known (gelu.cuh).
inline void matmul_forward_gelu(floatX* out, floatX* pre, const floatX* inp, const floatX* weight, const floatX* bias,
                                int N, int C, int OC) {
#if !defined(ENABLE_FP32)
    if (matmul_cublaslt(out, weight, inp, bias, OC, N, C, true, false, 0.0f, pre)) return;
#endif
    matmul_forward(pre, inp, weight, bias, N, C, OC);
    gelu_forward(out, pre, (size_t)N * OC);
}

// Accumulates dinp, dweight and (if non-null) dbias.
inline void matmul_backward(floatX* dinp, floatX* dweight, floatX* dbias, const floatX* dout, const floatX* inp,
                            const floatX* weight, int N, int C, int OC) {
    matmul_or_fail(dinp, weight, dout, nullptr, C, N, OC, false, false, 1.0f);
    matmul_or_fail(dweight, inp, dout, nullptr, C, OC, N, false, true, 1.0f);
    if (dbias) column_sum_accumulate(dbias, dout, N, OC);
}
