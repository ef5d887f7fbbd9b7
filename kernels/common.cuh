// Shared CUDA plumbing: error checks that fail with one line, the activation/parameter
// element type floatX (bf16 by default, fp32 with -DENABLE_FP32), NVTX ranges, and the
// process-wide cuBLAS / cuBLASLt handles with their workspace.
#pragma once
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <nvtx3/nvToolsExt.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "../common/utils.h"

// ---------------------------------------------------------------------------------------
// Errors: "error: CUDA <message> at file:line", exit 1.
inline void cuda_check(cudaError_t err, const char* file, int line) {
    if (err != cudaSuccess) fail_runtime("CUDA %s at %s:%d", cudaGetErrorString(err), file, line);
}
inline void cublas_check(cublasStatus_t status, const char* file, int line) {
    if (status != CUBLAS_STATUS_SUCCESS) fail_runtime("cuBLAS %s (%d) at %s:%d", cublasGetStatusString(status), (int)status, file, line);
}
#define cudaCheck(err) cuda_check((err), __FILE__, __LINE__)
#define cublasCheck(status) cublas_check((status), __FILE__, __LINE__)
// After a kernel launch: catches bad launch configurations right where they happen.
#define cudaCheckLaunch() cuda_check(cudaGetLastError(), __FILE__, __LINE__)

// ---------------------------------------------------------------------------------------
// Element type of parameters, gradients and activations.
#if defined(ENABLE_FP32)
typedef float floatX;
#define PRECISION_NAME "fp32"
constexpr cudaDataType_t CUBLAS_FLOATX = CUDA_R_32F;
#else
typedef __nv_bfloat16 floatX;
#define PRECISION_NAME "bf16"
constexpr cudaDataType_t CUBLAS_FLOATX = CUDA_R_16BF;
#endif

__host__ __device__ inline float to_float(float x) { return x; }
__host__ __device__ inline float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
template <typename T> __host__ __device__ inline T from_float(float x);
template <> __host__ __device__ inline float from_float<float>(float x) { return x; }
template <> __host__ __device__ inline __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16(x); }

inline int ceil_div(long long a, long long b) { return (int)((a + b - 1) / b); }

// n floatX values from the device, as fp32 (exact: every floatX is an fp32 value).
inline std::vector<float> download(const floatX* d, size_t n) {
    std::vector<floatX> tmp(n);
    cudaCheck(cudaMemcpy(tmp.data(), d, n * sizeof(floatX), cudaMemcpyDeviceToHost));
    std::vector<float> out(n);
    for (size_t i = 0; i < n; i++) out[i] = to_float(tmp[i]);
    return out;
}

// ---------------------------------------------------------------------------------------
// Warp and block reductions (sum / max in fp32). Block size must be a multiple of 32.
__device__ inline float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffff, v, o);
    return v;
}
__device__ inline float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffff, v, o));
    return v;
}
// Every thread of the block gets the result; the order of additions is fixed by the
// block shape, so results are deterministic.
__device__ inline float block_sum(float v) {
    __shared__ float shared[32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    v = lane < warps ? shared[lane] : 0.0f;
    return warp_sum(v);
}
__device__ inline float block_max(float v) {
    __shared__ float shared[32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    v = lane < warps ? shared[lane] : -INFINITY;
    return warp_max(v);
}

// The double sum over the block of v, through shared[blockDim.x] (a power of two); every
// thread gets it, in a fixed order (the noise and tail-index statistics, kept in double).
__device__ inline double block_sum_double(double v, double* shared) {
    shared[threadIdx.x] = v;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
        if ((int)threadIdx.x < half) shared[threadIdx.x] += shared[threadIdx.x + half];
        __syncthreads();
    }
    const double total = shared[0];
    __syncthreads();
    return total;
}

// ---------------------------------------------------------------------------------------
// NVTX: `NvtxRange r("forward/block %d", l);` marks the enclosing scope in Nsight Systems.
class NvtxRange {
public:
    explicit NvtxRange(const char* fmt, ...) {
        char buf[128];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        nvtxRangePushA(buf);
    }
    ~NvtxRange() { nvtxRangePop(); }
    NvtxRange(const NvtxRange&) = delete;
    NvtxRange& operator=(const NvtxRange&) = delete;
};

// ---------------------------------------------------------------------------------------
// Handles shared by every kernel family; created once by cuda_context_init().
struct CudaContext {
    cublasHandle_t cublas = nullptr;
    cublasLtHandle_t cublaslt = nullptr;
    void* lt_workspace = nullptr;
    size_t lt_workspace_size = 32ull << 20; // 32 MiB, as cuBLAS recommends for Hopper
    cudaStream_t stream = 0;                // the legacy default stream: one stream, in order
};
inline CudaContext& cuda_ctx() {
    static CudaContext ctx;
    return ctx;
}
inline void cuda_context_init() {
    CudaContext& c = cuda_ctx();
    if (c.cublas) return;
    cublasCheck(cublasCreate(&c.cublas));
    cublasCheck(cublasLtCreate(&c.cublaslt));
    cudaCheck(cudaMalloc(&c.lt_workspace, c.lt_workspace_size));
    // FP32 build: keep fp32 GEMMs in true fp32 (no TF32), so results match the CPU reference.
    cublasCheck(cublasSetMathMode(c.cublas, CUBLAS_DEFAULT_MATH));
}
inline void cuda_context_destroy() {
    CudaContext& c = cuda_ctx();
    if (!c.cublas) return;
    cudaCheck(cudaFree(c.lt_workspace));
    cublasCheck(cublasLtDestroy(c.cublaslt));
    cublasCheck(cublasDestroy(c.cublas));
    c = CudaContext();
}

// No device: tools that can run without a GPU print this and leave.
inline bool cuda_device_available() {
    int count = 0;
    return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

// ---------------------------------------------------------------------------------------
// Deterministic column sums in two stages: stage 1 splits the rows into a fixed number of
// chunks, each block sums 32 columns of one chunk in a fixed order into fp32 partials;
// stage 2 adds the partials in chunk order. The same result on every run.
constexpr int COLSUM_CHUNKS = 128;

// Grows a device scratch buffer shared by the reductions (allocation only on growth).
inline float* reduce_scratch(size_t floats) {
    static float* buf = nullptr;
    static size_t capacity = 0;
    if (floats > capacity) {
        if (buf) cudaCheck(cudaFree(buf));
        cudaCheck(cudaMalloc(&buf, floats * sizeof(float)));
        capacity = floats;
    }
    return buf;
}

__global__ void colsum_partial_kernel(float* partial, const floatX* in, int N, int C, int rows_per_chunk) {
    __shared__ float tile[8][33];
    const int c = blockIdx.x * 32 + threadIdx.x, chunk = blockIdx.y;
    const int n0 = chunk * rows_per_chunk, n1 = min(N, n0 + rows_per_chunk);
    float sum = 0.0f;
    if (c < C)
        for (int n = n0 + threadIdx.y; n < n1; n += 8) sum += to_float(in[(size_t)n * C + c]);
    tile[threadIdx.y][threadIdx.x] = sum;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float total = 0.0f;
        for (int y = 0; y < 8; y++) total += tile[y][threadIdx.x];
        partial[(size_t)chunk * C + c] = total;
    }
}

// out[c] (+)= sum of partials over chunks; accumulate = false overwrites.
template <typename OutT>
__global__ void colsum_final_kernel(OutT* out, const float* partial, int chunks, int C, bool accumulate) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float sum = accumulate ? to_float(out[c]) : 0.0f;
    for (int k = 0; k < chunks; k++) sum += partial[(size_t)k * C + c];
    out[c] = from_float<OutT>(sum);
}

// out[c] += sum over n of in[n, c] for in (N, C).
inline void column_sum_accumulate(floatX* out, const floatX* in, int N, int C) {
    const int rows_per_chunk = ceil_div(N, COLSUM_CHUNKS);
    const int chunks = ceil_div(N, rows_per_chunk);
    float* partial = reduce_scratch((size_t)chunks * C);
    colsum_partial_kernel<<<dim3(ceil_div(C, 32), chunks), dim3(32, 8)>>>(partial, in, N, C, rows_per_chunk);
    cudaCheckLaunch();
    colsum_final_kernel<<<ceil_div(C, 256), 256>>>(out, partial, chunks, C, true);
    cudaCheckLaunch();
}
