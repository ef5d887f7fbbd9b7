// Stand-in for cuBLASLt (CUDA emulator): descriptors, layouts, preferences, the heuristic
// and cublasLtMatmul on cuda_emu::gemm, with the epilogues DEFAULT, BIAS, GELU, GELU_BIAS,
// GELU_AUX, GELU_AUX_BIAS (aux = the pre-activation), DGELU (output times gelu'(aux)),
// BGRADA and BGRADB (bias gradient: sums of op(A) rows / op(B) columns over k). GELU is the
// tanh approximation. One algorithm, without split-K (cublasLtMatmulAlgoConfigGetAttribute
// describes it). Column-major layouts only. Anything else: CUBLAS_STATUS_NOT_SUPPORTED
// from the heuristic (0 results) and from cublasLtMatmul, with a message.
#pragma once
#include <cstdint>
#include <cstring>

#include "cuda_emu/blas.h"

typedef enum {
    CUBLASLT_EPILOGUE_DEFAULT = 1,
    CUBLASLT_EPILOGUE_RELU = 2,
    CUBLASLT_EPILOGUE_BIAS = 4,
    CUBLASLT_EPILOGUE_RELU_BIAS = 6,
    CUBLASLT_EPILOGUE_GELU = 32,
    CUBLASLT_EPILOGUE_GELU_BIAS = 36,
    CUBLASLT_EPILOGUE_GELU_AUX = 160,
    CUBLASLT_EPILOGUE_GELU_AUX_BIAS = 164,
    CUBLASLT_EPILOGUE_DGELU = 192,
    CUBLASLT_EPILOGUE_DGELU_BGRAD = 208,
    CUBLASLT_EPILOGUE_BGRADA = 256,
    CUBLASLT_EPILOGUE_BGRADB = 512,
} cublasLtEpilogue_t;

typedef enum {
    CUBLASLT_MATMUL_DESC_COMPUTE_TYPE = 0,
    CUBLASLT_MATMUL_DESC_SCALE_TYPE = 1,
    CUBLASLT_MATMUL_DESC_POINTER_MODE = 2,
    CUBLASLT_MATMUL_DESC_TRANSA = 3,
    CUBLASLT_MATMUL_DESC_TRANSB = 4,
    CUBLASLT_MATMUL_DESC_TRANSC = 5,
    CUBLASLT_MATMUL_DESC_FILL_MODE = 6,
    CUBLASLT_MATMUL_DESC_EPILOGUE = 7,
    CUBLASLT_MATMUL_DESC_BIAS_POINTER = 8,
    CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE = 10,
    CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER = 11,
    CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD = 12,
    CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_BATCH_STRIDE = 13,
    CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE = 26,
    CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_DATA_TYPE = 27,
} cublasLtMatmulDescAttributes_t;

typedef enum {
    CUBLASLT_MATRIX_LAYOUT_TYPE = 0,
    CUBLASLT_MATRIX_LAYOUT_ORDER = 1,
    CUBLASLT_MATRIX_LAYOUT_ROWS = 2,
    CUBLASLT_MATRIX_LAYOUT_COLS = 3,
    CUBLASLT_MATRIX_LAYOUT_LD = 4,
    CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT = 5,
    CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET = 6,
} cublasLtMatrixLayoutAttribute_t;
typedef enum { CUBLASLT_ORDER_COL = 0, CUBLASLT_ORDER_ROW = 1 } cublasLtOrder_t;

typedef enum {
    CUBLASLT_MATMUL_PREF_SEARCH_MODE = 0,
    CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1,
    CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK = 3,
    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES = 5,
    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES = 6,
    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES = 7,
    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES = 8,
} cublasLtMatmulPreferenceAttributes_t;

// Split-K reduction schemes (a preference mask; the emulated algorithm never splits K).
typedef enum {
    CUBLASLT_REDUCTION_SCHEME_NONE = 0,
    CUBLASLT_REDUCTION_SCHEME_INPLACE = 1,
    CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE = 2,
    CUBLASLT_REDUCTION_SCHEME_OUTPUT_TYPE = 4,
    CUBLASLT_REDUCTION_SCHEME_MASK = 0x7,
} cublasLtReductionScheme_t;

typedef enum {
    CUBLASLT_ALGO_CONFIG_ID = 0,
    CUBLASLT_ALGO_CONFIG_TILE_ID = 1,
    CUBLASLT_ALGO_CONFIG_SPLITK_NUM = 2,
    CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME = 3,
    CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING = 4,
    CUBLASLT_ALGO_CONFIG_CUSTOM_OPTION = 5,
    CUBLASLT_ALGO_CONFIG_STAGES_ID = 6,
    CUBLASLT_ALGO_CONFIG_INNER_SHAPE_ID = 7,
    CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID = 8,
} cublasLtMatmulAlgoConfigAttributes_t;

struct cublasLtContext {};
typedef cublasLtContext* cublasLtHandle_t;

struct cublasLtMatmulDescOpaque_t {
    cublasComputeType_t compute;
    cudaDataType_t scale;
    int32_t transa = CUBLAS_OP_N, transb = CUBLAS_OP_N;
    uint32_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
    const void* bias = nullptr;
    int64_t bias_batch_stride = 0;
    int32_t bias_type = -1; // -1: D's type
    void* aux = nullptr;
    int64_t aux_ld = 0, aux_batch_stride = 0;
    int32_t aux_type = -1; // -1: D's type
};
typedef cublasLtMatmulDescOpaque_t* cublasLtMatmulDesc_t;

struct cublasLtMatrixLayoutOpaque_t {
    uint32_t type;
    int32_t order = CUBLASLT_ORDER_COL;
    uint64_t rows, cols;
    int64_t ld;
    int32_t batch = 1;
    int64_t stride = 0;
};
typedef cublasLtMatrixLayoutOpaque_t* cublasLtMatrixLayout_t;

struct cublasLtMatmulPreferenceOpaque_t {
    uint64_t workspace = 0;
    uint32_t reduction_mask = CUBLASLT_REDUCTION_SCHEME_MASK;
};
typedef cublasLtMatmulPreferenceOpaque_t* cublasLtMatmulPreference_t;

struct cublasLtMatmulAlgo_t {
    uint64_t data[8];
};
struct cublasLtMatmulHeuristicResult_t {
    cublasLtMatmulAlgo_t algo;
    size_t workspaceSize;
    cublasStatus_t state;
    float wavesCount;
    int reserved[4];
};

inline cublasStatus_t cublasLtCreate(cublasLtHandle_t* h) {
    *h = new cublasLtContext();
    return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasLtDestroy(cublasLtHandle_t h) {
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}

namespace cuda_emu {
// Copies an attribute value of the exact size the attribute has, else INVALID_VALUE.
template <typename T> inline cublasStatus_t set_attribute(T* field, const void* buf, size_t size, const char* what) {
    if (size != sizeof(T)) return blas_fail(CUBLAS_STATUS_INVALID_VALUE, "%s: value of %zu bytes, expected %zu", what, size, sizeof(T));
    memcpy(field, buf, sizeof(T));
    return CUBLAS_STATUS_SUCCESS;
}
} // namespace cuda_emu

inline cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t* desc, cublasComputeType_t compute, cudaDataType_t scale) {
    *desc = new cublasLtMatmulDescOpaque_t();
    (*desc)->compute = compute;
    (*desc)->scale = scale;
    return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t desc) {
    delete desc;
    return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t attr,
                                                     const void* buf, size_t size) {
    using cuda_emu::set_attribute;
    switch (attr) {
        case CUBLASLT_MATMUL_DESC_TRANSA: return set_attribute(&d->transa, buf, size, "CUBLASLT_MATMUL_DESC_TRANSA");
        case CUBLASLT_MATMUL_DESC_TRANSB: return set_attribute(&d->transb, buf, size, "CUBLASLT_MATMUL_DESC_TRANSB");
        case CUBLASLT_MATMUL_DESC_EPILOGUE: return set_attribute(&d->epilogue, buf, size, "CUBLASLT_MATMUL_DESC_EPILOGUE");
        case CUBLASLT_MATMUL_DESC_BIAS_POINTER: return set_attribute(&d->bias, buf, size, "CUBLASLT_MATMUL_DESC_BIAS_POINTER");
        case CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE:
            return set_attribute(&d->bias_batch_stride, buf, size, "CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE");
        case CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE: return set_attribute(&d->bias_type, buf, size, "CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE");
        case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER:
            return set_attribute(&d->aux, buf, size, "CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER");
        case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD: return set_attribute(&d->aux_ld, buf, size, "CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD");
        case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_BATCH_STRIDE:
            return set_attribute(&d->aux_batch_stride, buf, size, "CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_BATCH_STRIDE");
        case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_DATA_TYPE:
            return set_attribute(&d->aux_type, buf, size, "CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_DATA_TYPE");
        case CUBLASLT_MATMUL_DESC_COMPUTE_TYPE: return set_attribute(&d->compute, buf, size, "CUBLASLT_MATMUL_DESC_COMPUTE_TYPE");
        case CUBLASLT_MATMUL_DESC_SCALE_TYPE: return set_attribute(&d->scale, buf, size, "CUBLASLT_MATMUL_DESC_SCALE_TYPE");
        default:
            return cuda_emu::blas_fail(CUBLAS_STATUS_NOT_SUPPORTED, "cublasLtMatmulDescSetAttribute: attribute %d is not emulated", (int)attr);
    }
}

inline cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t* layout, cudaDataType_t type, uint64_t rows,
                                                 uint64_t cols, int64_t ld) {
    *layout = new cublasLtMatrixLayoutOpaque_t();
    (*layout)->type = (uint32_t)type;
    (*layout)->rows = rows;
    (*layout)->cols = cols;
    (*layout)->ld = ld;
    return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t layout) {
    delete layout;
    return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t l, cublasLtMatrixLayoutAttribute_t attr,
                                                       const void* buf, size_t size) {
    using cuda_emu::set_attribute;
    switch (attr) {
        case CUBLASLT_MATRIX_LAYOUT_TYPE: return set_attribute(&l->type, buf, size, "CUBLASLT_MATRIX_LAYOUT_TYPE");
        case CUBLASLT_MATRIX_LAYOUT_ORDER: return set_attribute(&l->order, buf, size, "CUBLASLT_MATRIX_LAYOUT_ORDER");
        case CUBLASLT_MATRIX_LAYOUT_ROWS: return set_attribute(&l->rows, buf, size, "CUBLASLT_MATRIX_LAYOUT_ROWS");
        case CUBLASLT_MATRIX_LAYOUT_COLS: return set_attribute(&l->cols, buf, size, "CUBLASLT_MATRIX_LAYOUT_COLS");
        case CUBLASLT_MATRIX_LAYOUT_LD: return set_attribute(&l->ld, buf, size, "CUBLASLT_MATRIX_LAYOUT_LD");
        case CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT: return set_attribute(&l->batch, buf, size, "CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT");
        case CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET:
            return set_attribute(&l->stride, buf, size, "CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET");
    }
    return cuda_emu::blas_fail(CUBLAS_STATUS_NOT_SUPPORTED, "cublasLtMatrixLayoutSetAttribute: attribute %d is not emulated", (int)attr);
}

inline cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* pref) {
    *pref = new cublasLtMatmulPreferenceOpaque_t();
    return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref) {
    delete pref;
    return CUBLAS_STATUS_SUCCESS;
}
// Alignments and the search mode only steer a GPU's algorithm choice: accepted, unused.
inline cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref,
                                                           cublasLtMatmulPreferenceAttributes_t attr, const void* buf,
                                                           size_t size) {
    uint32_t u32;
    switch (attr) {
        case CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES:
            return cuda_emu::set_attribute(&pref->workspace, buf, size, "CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES");
        case CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK: {
            const cublasStatus_t s = cuda_emu::set_attribute(&u32, buf, size, "CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK");
            if (s != CUBLAS_STATUS_SUCCESS) return s;
            if (u32 & ~(uint32_t)CUBLASLT_REDUCTION_SCHEME_MASK)
                return cuda_emu::blas_fail(CUBLAS_STATUS_INVALID_VALUE, "CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK: %u has unknown bits", u32);
            pref->reduction_mask = u32;
            return CUBLAS_STATUS_SUCCESS;
        }
        case CUBLASLT_MATMUL_PREF_SEARCH_MODE:
        case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES:
        case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES:
        case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES:
        case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES: return cuda_emu::set_attribute(&u32, buf, size, "preference");
    }
    return cuda_emu::blas_fail(CUBLAS_STATUS_NOT_SUPPORTED, "cublasLtMatmulPreferenceSetAttribute: attribute %d is not emulated", (int)attr);
}

namespace cuda_emu {
// Everything cublasLtMatmul needs, checked; pointers are filled in by the caller.
inline cublasStatus_t lt_prepare(const char* call, cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t la,
                                 cublasLtMatrixLayout_t lb, cublasLtMatrixLayout_t lc, cublasLtMatrixLayout_t ld_,
                                 GemmCall* g) {
    if (!compute_rounding(desc->compute, false, &g->rounding) || desc->scale != CUDA_R_32F)
        return blas_fail(CUBLAS_STATUS_NOT_SUPPORTED, "%s: compute type %d / scale type %d not emulated", call,
                         (int)desc->compute, (int)desc->scale);
    if (desc->transa == CUBLAS_OP_C || desc->transb == CUBLAS_OP_C)
        return blas_fail(CUBLAS_STATUS_NOT_SUPPORTED, "%s: CUBLAS_OP_C is not emulated", call);
    for (cublasLtMatrixLayout_t l : {la, lb, lc, ld_})
        if (l->order != CUBLASLT_ORDER_COL) return blas_fail(CUBLAS_STATUS_NOT_SUPPORTED, "%s: only column-major layouts are emulated", call);
    if (!elem_of((cudaDataType_t)la->type, &g->a.type) || !elem_of((cudaDataType_t)lb->type, &g->b.type) ||
        !elem_of((cudaDataType_t)lc->type, &g->c.type) || !elem_of((cudaDataType_t)ld_->type, &g->d.type))
        return blas_fail(CUBLAS_STATUS_NOT_SUPPORTED, "%s: only CUDA_R_32F and CUDA_R_16BF matrices are emulated", call);
    g->trans_a = desc->transa == CUBLAS_OP_T;
    g->trans_b = desc->transb == CUBLAS_OP_T;
    g->m = (int)ld_->rows;
    g->n = (int)ld_->cols;
    g->k = (int)(g->trans_a ? la->rows : la->cols);
    const uint64_t a_m = g->trans_a ? la->cols : la->rows;
    const uint64_t b_k = g->trans_b ? lb->cols : lb->rows, b_n = g->trans_b ? lb->rows : lb->cols;
    if (a_m != (uint64_t)g->m || b_k != (uint64_t)g->k || b_n != (uint64_t)g->n || lc->rows != ld_->rows || lc->cols != ld_->cols)
        return blas_fail(CUBLAS_STATUS_INVALID_VALUE, "%s: layouts do not fit together: op(A) %llux%d, op(B) %llux%llu, D %dx%d",
                         call, (unsigned long long)a_m, g->k, (unsigned long long)b_k, (unsigned long long)b_n, g->m, g->n);
    if (la->batch != ld_->batch || lb->batch != ld_->batch || lc->batch != ld_->batch)
        return blas_fail(CUBLAS_STATUS_INVALID_VALUE, "%s: batch counts differ", call);
    g->batch = ld_->batch;
    g->a.ld = la->ld, g->a.stride = la->stride;
    g->b.ld = lb->ld, g->b.stride = lb->stride;
    g->c.ld = lc->ld, g->c.stride = lc->stride;
    g->d.ld = ld_->ld, g->d.stride = ld_->stride;
    const uint32_t e = desc->epilogue;
    const bool bias = e == CUBLASLT_EPILOGUE_BIAS || e == CUBLASLT_EPILOGUE_GELU_BIAS || e == CUBLASLT_EPILOGUE_GELU_AUX_BIAS;
    const bool bgrad = e == CUBLASLT_EPILOGUE_BGRADA || e == CUBLASLT_EPILOGUE_BGRADB;
    const bool aux = e == CUBLASLT_EPILOGUE_GELU_AUX || e == CUBLASLT_EPILOGUE_GELU_AUX_BIAS || e == CUBLASLT_EPILOGUE_DGELU;
    const bool known = e == CUBLASLT_EPILOGUE_DEFAULT || bias || bgrad || aux || e == CUBLASLT_EPILOGUE_GELU;
    if (!known) return blas_fail(CUBLAS_STATUS_NOT_SUPPORTED, "%s: epilogue %u is not emulated", call, e);
    if (g->batch != 1 && (bias || bgrad || aux))
        return blas_fail(CUBLAS_STATUS_NOT_SUPPORTED, "%s: batched epilogues are not emulated", call);
    g->gelu = e == CUBLASLT_EPILOGUE_GELU || e == CUBLASLT_EPILOGUE_GELU_BIAS || e == CUBLASLT_EPILOGUE_GELU_AUX ||
              e == CUBLASLT_EPILOGUE_GELU_AUX_BIAS;
    g->dgelu = e == CUBLASLT_EPILOGUE_DGELU;
    const cudaDataType_t d_type = (cudaDataType_t)ld_->type;
    if ((bias || bgrad) && !elem_of(desc->bias_type < 0 ? d_type : (cudaDataType_t)desc->bias_type, bias ? &g->bias_type : &g->bgrad_type))
        return blas_fail(CUBLAS_STATUS_NOT_SUPPORTED, "%s: bias data type %d not emulated", call, desc->bias_type);
    if (aux && !elem_of(desc->aux_type < 0 ? d_type : (cudaDataType_t)desc->aux_type, &g->aux_type))
        return blas_fail(CUBLAS_STATUS_NOT_SUPPORTED, "%s: aux data type %d not emulated", call, desc->aux_type);
    if ((bias || bgrad) && !desc->bias) return blas_fail(CUBLAS_STATUS_INVALID_VALUE, "%s: the epilogue needs a bias pointer", call);
    if (aux && (!desc->aux || desc->aux_ld < g->m))
        return blas_fail(CUBLAS_STATUS_INVALID_VALUE, "%s: the epilogue needs an aux pointer and aux ld >= %d", call, g->m);
    if (bias) g->bias = desc->bias;
    if (bgrad) {
        g->bgrad = (void*)desc->bias;
        g->bgrad_of_a = e == CUBLASLT_EPILOGUE_BGRADA;
    }
    if (aux) {
        g->aux = desc->aux;
        g->aux_ld = desc->aux_ld;
    }
    return CUBLAS_STATUS_SUCCESS;
}
} // namespace cuda_emu

namespace cuda_emu {
// What the heuristic was asked, for tests of the caller's preferences (emulation only): the
// number of calls, and of calls whose reduction-scheme mask admits split-K partial sums
// reduced in the output type (INPLACE, OUTPUT_TYPE), e.g. bf16.
struct LtHeuristicStats {
    long calls = 0, output_type_reductions_allowed = 0;
};
inline LtHeuristicStats& lt_heuristic_stats() {
    static LtHeuristicStats s;
    return s;
}
} // namespace cuda_emu

// One algorithm for every supported request; none (NOT_SUPPORTED) otherwise.
inline cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t, cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a,
                                                     cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c,
                                                     cublasLtMatrixLayout_t d, cublasLtMatmulPreference_t pref, int requested,
                                                     cublasLtMatmulHeuristicResult_t* results, int* returned) {
    *returned = 0;
    cuda_emu::lt_heuristic_stats().calls++;
    if (pref && (pref->reduction_mask & (CUBLASLT_REDUCTION_SCHEME_INPLACE | CUBLASLT_REDUCTION_SCHEME_OUTPUT_TYPE)))
        cuda_emu::lt_heuristic_stats().output_type_reductions_allowed++;
    cuda_emu::GemmCall g;
    const cublasStatus_t s = cuda_emu::lt_prepare("cublasLtMatmulAlgoGetHeuristic", desc, a, b, c, d, &g);
    if (s != CUBLAS_STATUS_SUCCESS) return s;
    if (requested < 1) return cuda_emu::blas_fail(CUBLAS_STATUS_INVALID_VALUE, "cublasLtMatmulAlgoGetHeuristic: requested %d algorithms", requested);
    memset(&results[0], 0, sizeof results[0]);
    results[0].state = CUBLAS_STATUS_SUCCESS;
    results[0].wavesCount = 1.0f;
    *returned = 1;
    return CUBLAS_STATUS_SUCCESS;
}

// The emulated algorithm: id 0, tile undefined, no split-K (reduction scheme NONE, which every
// mask admits), default swizzling, options, stages and shapes. Sizes as cuBLASLt's.
inline cublasStatus_t cublasLtMatmulAlgoConfigGetAttribute(const cublasLtMatmulAlgo_t* algo,
                                                           cublasLtMatmulAlgoConfigAttributes_t attr, void* buf,
                                                           size_t size, size_t* written) {
    size_t need = 4;
    if (attr == CUBLASLT_ALGO_CONFIG_INNER_SHAPE_ID || attr == CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID) need = 2;
    if ((int)attr < 0 || (int)attr > (int)CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID)
        return cuda_emu::blas_fail(CUBLAS_STATUS_NOT_SUPPORTED, "cublasLtMatmulAlgoConfigGetAttribute: attribute %d is not emulated", (int)attr);
    if (size == 0) {
        if (!written) return cuda_emu::blas_fail(CUBLAS_STATUS_INVALID_VALUE, "cublasLtMatmulAlgoConfigGetAttribute: size 0 and no sizeWritten");
        *written = need;
        return CUBLAS_STATUS_SUCCESS;
    }
    if (!algo || !buf || size != need)
        return cuda_emu::blas_fail(CUBLAS_STATUS_INVALID_VALUE, "cublasLtMatmulAlgoConfigGetAttribute: attribute %d has %zu bytes, got %zu",
                                   (int)attr, need, size);
    const uint32_t value = attr == CUBLASLT_ALGO_CONFIG_SPLITK_NUM ? 1u : 0u;
    if (need == 2) { const uint16_t v16 = (uint16_t)value; memcpy(buf, &v16, 2); }
    else memcpy(buf, &value, 4);
    if (written) *written = need;
    return CUBLAS_STATUS_SUCCESS;
}

inline cublasStatus_t cublasLtMatmul(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, const void* alpha, const void* A,
                                     cublasLtMatrixLayout_t la, const void* B, cublasLtMatrixLayout_t lb, const void* beta,
                                     const void* C, cublasLtMatrixLayout_t lc, void* D, cublasLtMatrixLayout_t ld,
                                     const cublasLtMatmulAlgo_t*, void*, size_t, cudaStream_t) {
    using namespace cuda_emu;
    const char* call = "cublasLtMatmul";
    if (!handle) return blas_fail(CUBLAS_STATUS_NOT_INITIALIZED, "%s: no handle", call);
    if (errors().sticky != cudaSuccess) return blas_fail(CUBLAS_STATUS_EXECUTION_FAILED, "%s: earlier CUDA error", call);
    GemmCall g;
    cublasStatus_t s = lt_prepare(call, desc, la, lb, lc, ld, &g);
    if (s != CUBLAS_STATUS_SUCCESS) return s;
    g.a.ptr = A, g.b.ptr = B, g.c.ptr = C, g.d.ptr = D;
    g.alpha = *(const float*)alpha;
    g.beta = *(const float*)beta;
    if ((s = validate_gemm(call, g)) != CUBLAS_STATUS_SUCCESS) return s;
    // the epilogue's vectors and aux matrix must lie in device memory too
    struct Range { const char* name; const void* p; size_t bytes; };
    const Range ranges[] = {
        {"bias", g.bias, g.bias ? (size_t)g.m * elem_bytes(g.bias_type) : 0},
        {"bias gradient", g.bgrad, g.bgrad ? (size_t)(g.bgrad_of_a ? g.m : g.n) * elem_bytes(g.bgrad_type) : 0},
        {"aux", g.aux, g.aux && g.n ? ((size_t)(g.n - 1) * g.aux_ld + g.m) * elem_bytes(g.aux_type) : 0},
    };
    for (const Range& r : ranges)
        if (r.bytes && !find_allocation(r.p, r.bytes)) {
            set_error(cudaErrorIllegalAddress, true, "%s: %s [%p, +%zu bytes) is not inside one device allocation", call,
                      r.name, r.p, r.bytes);
            return blas_fail(CUBLAS_STATUS_EXECUTION_FAILED, "%s: %s [%p, +%zu bytes) is not inside one device allocation",
                             call, r.name, r.p, r.bytes);
        }
    gemm(g);
    return CUBLAS_STATUS_SUCCESS;
}
