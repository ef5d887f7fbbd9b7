// What the emulated cuBLAS and cuBLASLt share: status codes, operations, compute types, and
// the checks that turn a call into a cuda_emu::GemmCall (operands must lie inside device
// allocations; a GPU would fault on anything else).
#pragma once
#include <string>

#include "../cuda_runtime.h"
#include "gemm.h"

typedef enum {
    CUBLAS_STATUS_SUCCESS = 0,
    CUBLAS_STATUS_NOT_INITIALIZED = 1,
    CUBLAS_STATUS_ALLOC_FAILED = 3,
    CUBLAS_STATUS_INVALID_VALUE = 7,
    CUBLAS_STATUS_ARCH_MISMATCH = 8,
    CUBLAS_STATUS_MAPPING_ERROR = 11,
    CUBLAS_STATUS_EXECUTION_FAILED = 13,
    CUBLAS_STATUS_INTERNAL_ERROR = 14,
    CUBLAS_STATUS_NOT_SUPPORTED = 15,
    CUBLAS_STATUS_LICENSE_ERROR = 16,
} cublasStatus_t;
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1, CUBLAS_OP_C = 2 } cublasOperation_t;
typedef enum {
    CUBLAS_COMPUTE_16F = 64,
    CUBLAS_COMPUTE_32F = 68,
    CUBLAS_COMPUTE_32F_PEDANTIC = 69,
    CUBLAS_COMPUTE_64F = 70,
    CUBLAS_COMPUTE_32I = 72,
    CUBLAS_COMPUTE_32F_FAST_16F = 74,
    CUBLAS_COMPUTE_32F_FAST_16BF = 75,
    CUBLAS_COMPUTE_32F_FAST_TF32 = 77,
} cublasComputeType_t;

namespace cuda_emu {
// Every cuBLAS(Lt) failure goes through here so cublasGetStatusString can say what it was.
inline cublasStatus_t blas_fail(cublasStatus_t status, const char* fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    blas_detail() = msg;
    blas_detail_status() = status;
    return status;
}
inline const char* blas_status_string(cublasStatus_t s) {
    switch (s) {
        case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
        case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
        case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
        case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
        case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
        case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
        case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
        case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
        case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
        case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    }
    return "CUBLAS_STATUS_UNKNOWN";
}
inline const char* blas_status_message(cublasStatus_t s) {
    static std::string msg;
    msg = blas_status_string(s);
    if ((int)s == blas_detail_status() && !blas_detail().empty()) msg += " (CUDA emulator: " + blas_detail() + ")";
    return msg.c_str();
}

// Input rounding of a compute type (fp32 accumulation in all of them), or false if the
// emulator does not offer it.
inline bool compute_rounding(cublasComputeType_t t, bool tf32_math, InputRounding* r) {
    switch (t) {
        case CUBLAS_COMPUTE_32F: *r = tf32_math ? InputRounding::TF32 : InputRounding::None; return true;
        case CUBLAS_COMPUTE_32F_PEDANTIC: *r = InputRounding::None; return true;
        case CUBLAS_COMPUTE_32F_FAST_TF32: *r = InputRounding::TF32; return true;
        case CUBLAS_COMPUTE_32F_FAST_16BF: *r = InputRounding::BF16; return true;
        default: return false;
    }
}

// Types and operand ranges of a prepared call: A and B of one type, C and D of one type,
// fp32 inputs only with fp32 outputs (what cuBLAS offers for fp32 compute).
inline cublasStatus_t validate_gemm(const char* call, const GemmCall& g) {
    if (g.m < 0 || g.n < 0 || g.k < 0 || g.batch < 0)
        return blas_fail(CUBLAS_STATUS_INVALID_VALUE, "%s: negative size m=%d n=%d k=%d batch=%d", call, g.m, g.n, g.k, g.batch);
    if (g.a.type != g.b.type || g.c.type != g.d.type || (g.a.type == Elem::F32 && g.d.type != Elem::F32))
        return blas_fail(CUBLAS_STATUS_NOT_SUPPORTED, "%s: unsupported type combination", call);
    const long long ar = g.trans_a ? g.k : g.m, ac = g.trans_a ? g.m : g.k;
    const long long br = g.trans_b ? g.n : g.k, bc = g.trans_b ? g.k : g.n;
    if (g.a.ld < (ar > 1 ? ar : 1) || g.b.ld < (br > 1 ? br : 1) || g.d.ld < (g.m > 1 ? g.m : 1) ||
        (g.c.ptr && g.c.ld < (g.m > 1 ? g.m : 1)))
        return blas_fail(CUBLAS_STATUS_INVALID_VALUE, "%s: a leading dimension is smaller than its matrix's rows (lda=%lld ldb=%lld ldd=%lld)",
                         call, g.a.ld, g.b.ld, g.d.ld);
    struct Range { const char* name; const void* p; size_t bytes; };
    const Range ranges[] = {
        {"A", g.a.ptr, g.k ? operand_extent(g.a, ar, ac, g.batch) : 0},
        {"B", g.b.ptr, g.k ? operand_extent(g.b, br, bc, g.batch) : 0},
        {"C", g.c.ptr, g.beta != 0.0f ? operand_extent(g.c, g.m, g.n, g.batch) : 0},
        {"D", g.d.ptr, operand_extent(g.d, g.m, g.n, g.batch)},
    };
    for (const Range& r : ranges)
        if (r.bytes && !find_allocation(r.p, r.bytes)) {
            set_error(cudaErrorIllegalAddress, true, "%s: matrix %s [%p, +%zu bytes) is not inside one device allocation",
                      call, r.name, r.p, r.bytes);
            return blas_fail(CUBLAS_STATUS_EXECUTION_FAILED, "%s: matrix %s [%p, +%zu bytes) is not inside one device allocation",
                             call, r.name, r.p, r.bytes);
        }
    return CUBLAS_STATUS_SUCCESS;
}
} // namespace cuda_emu

inline const char* cublasGetStatusString(cublasStatus_t status) { return cuda_emu::blas_status_message(status); }
inline const char* cublasGetStatusName(cublasStatus_t status) { return cuda_emu::blas_status_string(status); }
