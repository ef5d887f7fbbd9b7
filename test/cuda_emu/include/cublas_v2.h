// Stand-in for cuBLAS (CUDA emulator): the calls the tree makes, on cuda_emu::gemm.
// GemmEx / GemmStridedBatchedEx / Sgemm(StridedBatched): column-major, fp32 or bf16 in and
// out, fp32 compute (TF32 / BF16 fast modes round the inputs first). Anything else returns
// CUBLAS_STATUS_NOT_SUPPORTED with a message (cublasGetStatusString).
#pragma once
#include "cuda_emu/blas.h"

typedef enum { CUBLAS_GEMM_DEFAULT = -1, CUBLAS_GEMM_DEFAULT_TENSOR_OP = 99 } cublasGemmAlgo_t;
typedef enum {
    CUBLAS_DEFAULT_MATH = 0,
    CUBLAS_TENSOR_OP_MATH = 1,
    CUBLAS_PEDANTIC_MATH = 2,
    CUBLAS_TF32_TENSOR_OP_MATH = 3,
} cublasMath_t;
typedef enum { CUBLAS_POINTER_MODE_HOST = 0, CUBLAS_POINTER_MODE_DEVICE = 1 } cublasPointerMode_t;

struct cublasContext {
    cublasMath_t math = CUBLAS_DEFAULT_MATH;
    cudaStream_t stream = nullptr;
};
typedef cublasContext* cublasHandle_t;

inline cublasStatus_t cublasCreate(cublasHandle_t* handle) {
    *handle = new cublasContext();
    return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasDestroy(cublasHandle_t handle) {
    delete handle;
    return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
    handle->math = mode;
    return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
    handle->stream = stream;
    return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasSetWorkspace(cublasHandle_t, void*, size_t) { return CUBLAS_STATUS_SUCCESS; }
// Device and host scalars are both host memory here, so either mode reads them directly.
inline cublasStatus_t cublasSetPointerMode(cublasHandle_t, cublasPointerMode_t) { return CUBLAS_STATUS_SUCCESS; }

inline cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                                 int m, int n, int k, const void* alpha, const void* A, cudaDataType_t Atype,
                                                 int lda, long long strideA, const void* B, cudaDataType_t Btype, int ldb,
                                                 long long strideB, const void* beta, void* C, cudaDataType_t Ctype, int ldc,
                                                 long long strideC, int batchCount, cublasComputeType_t computeType,
                                                 cublasGemmAlgo_t) {
    using namespace cuda_emu;
    const char* call = "cublasGemmStridedBatchedEx";
    if (!handle) return blas_fail(CUBLAS_STATUS_NOT_INITIALIZED, "%s: no handle", call);
    if (errors().sticky != cudaSuccess) return blas_fail(CUBLAS_STATUS_EXECUTION_FAILED, "%s: earlier CUDA error", call);
    GemmCall g;
    if (!elem_of(Atype, &g.a.type) || !elem_of(Btype, &g.b.type) || !elem_of(Ctype, &g.c.type))
        return blas_fail(CUBLAS_STATUS_NOT_SUPPORTED, "%s: only CUDA_R_32F and CUDA_R_16BF operands are emulated", call);
    if (!compute_rounding(computeType, handle->math == CUBLAS_TF32_TENSOR_OP_MATH, &g.rounding))
        return blas_fail(CUBLAS_STATUS_NOT_SUPPORTED, "%s: compute type %d is not emulated", call, (int)computeType);
    if (transa == CUBLAS_OP_C || transb == CUBLAS_OP_C)
        return blas_fail(CUBLAS_STATUS_NOT_SUPPORTED, "%s: CUBLAS_OP_C is not emulated", call);
    g.m = m, g.n = n, g.k = k, g.batch = batchCount;
    g.trans_a = transa == CUBLAS_OP_T, g.trans_b = transb == CUBLAS_OP_T;
    g.a.ptr = A, g.a.ld = lda, g.a.stride = strideA;
    g.b.ptr = B, g.b.ld = ldb, g.b.stride = strideB;
    g.c.ptr = C, g.c.ld = ldc, g.c.stride = strideC;
    g.d = g.c;
    g.alpha = *(const float*)alpha;
    g.beta = *(const float*)beta;
    const cublasStatus_t s = validate_gemm(call, g);
    if (s != CUBLAS_STATUS_SUCCESS) return s;
    gemm(g);
    return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                                   int k, const void* alpha, const void* A, cudaDataType_t Atype, int lda, const void* B,
                                   cudaDataType_t Btype, int ldb, const void* beta, void* C, cudaDataType_t Ctype, int ldc,
                                   cublasComputeType_t computeType, cublasGemmAlgo_t algo) {
    return cublasGemmStridedBatchedEx(handle, transa, transb, m, n, k, alpha, A, Atype, lda, 0, B, Btype, ldb, 0, beta, C,
                                      Ctype, ldc, 0, 1, computeType, algo);
}
inline cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                                int m, int n, int k, const float* alpha, const float* A, int lda,
                                                long long strideA, const float* B, int ldb, long long strideB,
                                                const float* beta, float* C, int ldc, long long strideC, int batchCount) {
    return cublasGemmStridedBatchedEx(handle, transa, transb, m, n, k, alpha, A, CUDA_R_32F, lda, strideA, B, CUDA_R_32F,
                                      ldb, strideB, beta, C, CUDA_R_32F, ldc, strideC, batchCount, CUBLAS_COMPUTE_32F,
                                      CUBLAS_GEMM_DEFAULT);
}
inline cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                                  int k, const float* alpha, const float* A, int lda, const float* B, int ldb,
                                  const float* beta, float* C, int ldc) {
    return cublasSgemmStridedBatched(handle, transa, transb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}
