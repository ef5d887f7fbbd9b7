// Linear layers through cuBLASLt: floatX inputs, fp32 accumulation, bias (and GELU) fused
// into the GEMM epilogue where cuBLASLt offers it. Row-major out(N,OC) = inp(N,C) @ weight(OC,C)^T
// + bias is, in cuBLAS's column-major view, D (OC x N) = op(A) B with A = weight (stored as
// C x OC, transposed) and B = inp (C x N); D is out.
// Backward:  dinp(N,C) = dout @ weight           (D (C x N) = weight (C x OC) * dout (OC x N))
//            dweight(OC,C) += dout^T @ inp       (D (C x OC) = inp (C x N) * dout^T (N x OC))
//            dbias += column sums of dout        (deterministic two-stage reduction)
// The orientation of every call was checked by emulating the column-major calls in numpy.
#pragma once
#include <map>
#include <tuple>

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

// One cuBLASLt plan per call shape: the matmul descriptor, the three layouts and the
// heuristic's algorithm, built on first use and reused (a d12 step makes ~1,200 GEMM calls
// over ~15 shapes). The key holds everything the heuristic sees (shapes, epilogue, pointer
// alignments); the bias and aux pointers change per call (per layer) and are set on the
// cached descriptor before each matmul (a host-side store).
struct MatmulPlanKey {
    int m, n, k;
    bool trans_a, trans_b, bias, gelu_aux;
    uint32_t align_a, align_b, align_d, align_bias, align_aux; // the last two 0 without bias / aux
    bool operator<(const MatmulPlanKey& o) const {
        return std::tie(m, n, k, trans_a, trans_b, bias, gelu_aux, align_a, align_b, align_d, align_bias, align_aux) <
               std::tie(o.m, o.n, o.k, o.trans_a, o.trans_b, o.bias, o.gelu_aux, o.align_a, o.align_b, o.align_d,
                        o.align_bias, o.align_aux);
    }
};
struct MatmulPlan {
    bool ok = false; // the heuristic found an algorithm
    cublasLtMatmulDesc_t op_desc = nullptr;
    cublasLtMatrixLayout_t layout_a = nullptr, layout_b = nullptr, layout_d = nullptr;
    cublasLtMatmulHeuristicResult_t heuristic{};
};
inline std::map<MatmulPlanKey, MatmulPlan>& matmul_plans() {
    static std::map<MatmulPlanKey, MatmulPlan> plans;
    return plans;
}
// Prints each new shape's algorithm (stdout, once per shape, so on the first step); a
// program sets matmul_log_plans() = false to silence it.
inline bool& matmul_log_plans() {
    static bool on = true;
    return on;
}

// Split-K partial sums may only be reduced in the compute type (fp32): INPLACE and
// OUTPUT_TYPE add them in floatX (bf16), which would round every weight-gradient partial.
constexpr uint32_t MATMUL_REDUCTION_SCHEMES = CUBLASLT_REDUCTION_SCHEME_NONE | CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;

inline void log_matmul_plan(const MatmulPlanKey& key, const MatmulPlan& plan) {
    if (!plan.ok) {
        printf("cublaslt: %dx%dx%d %c%c%s%s: no algorithm (unfused fallback)\n", key.m, key.n, key.k, key.trans_a ? 'T' : 'N',
               key.trans_b ? 'T' : 'N', key.bias ? " bias" : "", key.gelu_aux ? " gelu_aux" : "");
        return;
    }
    int32_t id = -1, splitk = 1;
    uint32_t tile = 0, reduction = 0;
    size_t written = 0;
    const cublasLtMatmulAlgo_t* algo = &plan.heuristic.algo;
    cublasCheck(cublasLtMatmulAlgoConfigGetAttribute(algo, CUBLASLT_ALGO_CONFIG_ID, &id, sizeof id, &written));
    cublasCheck(cublasLtMatmulAlgoConfigGetAttribute(algo, CUBLASLT_ALGO_CONFIG_TILE_ID, &tile, sizeof tile, &written));
    cublasCheck(cublasLtMatmulAlgoConfigGetAttribute(algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splitk, sizeof splitk, &written));
    cublasCheck(cublasLtMatmulAlgoConfigGetAttribute(algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &reduction, sizeof reduction,
                                                     &written));
    printf("cublaslt: %dx%dx%d %c%c%s%s: algo %d tile %u split-k %d reduction %u workspace %zu waves %.2f\n", key.m, key.n,
           key.k, key.trans_a ? 'T' : 'N', key.trans_b ? 'T' : 'N', key.bias ? " bias" : "", key.gelu_aux ? " gelu_aux" : "",
           id, tile, splitk, reduction, plan.heuristic.workspaceSize, plan.heuristic.wavesCount);
}

inline MatmulPlan build_matmul_plan(const MatmulPlanKey& key, const floatX* bias, const floatX* gelu_aux) {
    CudaContext& ctx = cuda_ctx();
    MatmulPlan plan;
    const int m = key.m, n = key.n, k = key.k;
    cublasCheck(cublasLtMatmulDescCreate(&plan.op_desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t op_a = key.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = key.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasCheck(cublasLtMatmulDescSetAttribute(plan.op_desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof op_a));
    cublasCheck(cublasLtMatmulDescSetAttribute(plan.op_desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof op_b));
    cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
    if (key.gelu_aux) epilogue = key.bias ? CUBLASLT_EPILOGUE_GELU_AUX_BIAS : CUBLASLT_EPILOGUE_GELU_AUX;
    else if (key.bias) epilogue = CUBLASLT_EPILOGUE_BIAS;
    cublasCheck(cublasLtMatmulDescSetAttribute(plan.op_desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof epilogue));
    if (key.bias) {
        const cudaDataType_t bias_type = CUBLAS_FLOATX;
        cublasCheck(cublasLtMatmulDescSetAttribute(plan.op_desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof bias_type));
        cublasCheck(cublasLtMatmulDescSetAttribute(plan.op_desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    }
    if (key.gelu_aux) {
        const int64_t ld_aux = m;
        cublasCheck(cublasLtMatmulDescSetAttribute(plan.op_desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &gelu_aux,
                                                   sizeof gelu_aux));
        cublasCheck(cublasLtMatmulDescSetAttribute(plan.op_desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &ld_aux, sizeof ld_aux));
    }
    const bool ta = key.trans_a, tb = key.trans_b;
    cublasCheck(cublasLtMatrixLayoutCreate(&plan.layout_a, CUBLAS_FLOATX, ta ? k : m, ta ? m : k, ta ? k : m));
    cublasCheck(cublasLtMatrixLayoutCreate(&plan.layout_b, CUBLAS_FLOATX, tb ? n : k, tb ? k : n, tb ? n : k));
    cublasCheck(cublasLtMatrixLayoutCreate(&plan.layout_d, CUBLAS_FLOATX, m, n, m));
    cublasLtMatmulPreference_t pref;
    cublasCheck(cublasLtMatmulPreferenceCreate(&pref));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                     &ctx.lt_workspace_size, sizeof ctx.lt_workspace_size));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK,
                                                     &MATMUL_REDUCTION_SCHEMES, sizeof MATMUL_REDUCTION_SCHEMES));
    // The heuristic assumes 256-byte aligned pointers unless told otherwise; layer slices of
    // the flat buffers can be less aligned (e.g. biases of small models), so say what they are.
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &key.align_a, sizeof key.align_a));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &key.align_b, sizeof key.align_b));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &key.align_d, sizeof key.align_d));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &key.align_d, sizeof key.align_d));
    int found = 0;
    const cublasStatus_t hs = cublasLtMatmulAlgoGetHeuristic(ctx.cublaslt, plan.op_desc, plan.layout_a, plan.layout_b,
                                                             plan.layout_d, plan.layout_d, pref, 1, &plan.heuristic, &found);
    plan.ok = hs == CUBLAS_STATUS_SUCCESS && found > 0;
    cublasCheck(cublasLtMatmulPreferenceDestroy(pref));
    return plan;
}

// Frees every cached plan (cuda_context_destroy's companion; the next call rebuilds).
inline void matmul_plans_clear() {
    for (auto& kv : matmul_plans()) {
        MatmulPlan& p = kv.second;
        cublasCheck(cublasLtMatrixLayoutDestroy(p.layout_a));
        cublasCheck(cublasLtMatrixLayoutDestroy(p.layout_b));
        cublasCheck(cublasLtMatrixLayoutDestroy(p.layout_d));
        cublasCheck(cublasLtMatmulDescDestroy(p.op_desc));
    }
    matmul_plans().clear();
}

// D (m x n, col-major, ld m) = alpha op(A) op(B) + beta D, with an optional epilogue. beta = 0
// never reads D (cuBLAS semantics), so D need not be initialized.
// Returns false (and does nothing) when cuBLASLt has no algorithm for the request, so the
// caller can fall back to an unfused path; any other failure is fatal.
inline bool matmul_cublaslt(floatX* d, const floatX* a, const floatX* b, const floatX* bias, int m, int n, int k,
                            bool trans_a, bool trans_b, float beta, floatX* gelu_aux = nullptr) {
    CudaContext& ctx = cuda_ctx();
    const MatmulPlanKey key{m, n, k, trans_a, trans_b, bias != nullptr, gelu_aux != nullptr,
                            pointer_alignment(a), pointer_alignment(b), pointer_alignment(d),
                            bias ? pointer_alignment(bias) : 0u, gelu_aux ? pointer_alignment(gelu_aux) : 0u};
    auto it = matmul_plans().find(key);
    if (it == matmul_plans().end()) {
        it = matmul_plans().emplace(key, build_matmul_plan(key, bias, gelu_aux)).first;
        if (matmul_log_plans()) log_matmul_plan(key, it->second);
    }
    const MatmulPlan& plan = it->second;
    if (!plan.ok) return false;
    if (bias) cublasCheck(cublasLtMatmulDescSetAttribute(plan.op_desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    if (gelu_aux)
        cublasCheck(cublasLtMatmulDescSetAttribute(plan.op_desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &gelu_aux, sizeof gelu_aux));
    const float alpha = 1.0f;
    cublasCheck(cublasLtMatmul(ctx.cublaslt, plan.op_desc, &alpha, a, plan.layout_a, b, plan.layout_b, &beta, d, plan.layout_d,
                               d, plan.layout_d, &plan.heuristic.algo, ctx.lt_workspace, ctx.lt_workspace_size, ctx.stream));
    return true;
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
// when cuBLASLt offers it and `fuse` is set, else the plain GEMM and the GELU kernel. The
// epilogue computes GELU of the unrounded pre-activation with its own tanh, so a caller that
// recomputes GELU later with gelu_forward (-r 1) passes fuse = false to get the same values.
// The fp32 build (tight comparisons) always takes the unfused path: the epilogue's GELU
// accuracy is undocumented (a fast tanh would be ~5e-4 off), the GELU kernel's is known.
inline void matmul_forward_gelu(floatX* out, floatX* pre, const floatX* inp, const floatX* weight, const floatX* bias,
                                int N, int C, int OC, bool fuse = true) {
#if !defined(ENABLE_FP32)
    if (fuse && matmul_cublaslt(out, weight, inp, bias, OC, N, C, true, false, 0.0f, pre)) return;
#endif
    matmul_forward(pre, inp, weight, bias, N, C, OC);
    gelu_forward(out, pre, (size_t)N * OC);
}

// dinp is overwritten (a beta = 0 product: no memset first); dweight and (if non-null)
// dbias accumulate.
inline void matmul_backward(floatX* dinp, floatX* dweight, floatX* dbias, const floatX* dout, const floatX* inp,
                            const floatX* weight, int N, int C, int OC) {
    matmul_or_fail(dinp, weight, dout, nullptr, C, N, OC, false, false, 0.0f);
    matmul_or_fail(dweight, inp, dout, nullptr, C, OC, N, false, true, 1.0f);
    if (dbias) column_sum_accumulate(dbias, dout, N, OC);
}
