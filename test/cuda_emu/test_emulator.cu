// Self-test of the CPU emulator of CUDA (test/cuda_emu): small kernels with known results,
// and the errors a GPU would report. Built only under emulation (make build/emu/test_emulator);
// verdicts come out as emu/emulator/...
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "../check.h"

#define CHECK(call)                                                                                      \
    do {                                                                                                 \
        const cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) { printf("unexpected CUDA error at line %d: %s\n", __LINE__, cudaGetErrorString(e_)); exit(1); } \
    } while (0)

template <typename T> static T* dev(size_t n) {
    T* p = nullptr;
    CHECK(cudaMalloc(&p, n * sizeof(T)));
    return p;
}
template <typename T> static std::vector<T> host(const T* d, size_t n) {
    std::vector<T> h(n);
    CHECK(cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost));
    return h;
}

// ---- warp shuffles and votes: per lane, the results of every pattern on known values
__global__ void shuffle_kernel(int* out) {
    const int lane = threadIdx.x % 32;
    int sum = lane;
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffff, sum, o);
    const int down = __shfl_down_sync(0xffffffff, lane * 10, 3);
    const int up = __shfl_up_sync(0xffffffff, lane * 10, 5);
    const int idx = __shfl_sync(0xffffffff, lane * 10, 7);
    const int width8 = __shfl_xor_sync(0xffffffff, lane, 4, 8);
    const unsigned ballot = __ballot_sync(0xffffffff, lane % 3 == 0);
    const int any = __any_sync(0xffffffff, lane == 31), all = __all_sync(0xffffffff, lane < 31);
    int* o = out + threadIdx.x * 8;
    o[0] = sum, o[1] = down, o[2] = up, o[3] = idx, o[4] = width8, o[5] = (int)ballot, o[6] = any, o[7] = all;
}
static void test_shuffles() {
    int* d = dev<int>(64 * 8);
    shuffle_kernel<<<1, 64>>>(d);
    CHECK(cudaGetLastError());
    const std::vector<int> h = host(d, 64 * 8);
    unsigned want_ballot = 0;
    for (int l = 0; l < 32; l += 3) want_ballot |= 1u << l;
    int bad = 0;
    for (int t = 0; t < 64; t++) {
        const int lane = t % 32;
        const int want[8] = {496, lane + 3 < 32 ? (lane + 3) * 10 : lane * 10, lane >= 5 ? (lane - 5) * 10 : lane * 10, 70,
                             lane ^ 4, (int)want_ballot, 1, 0};
        for (int k = 0; k < 8; k++) bad += h[t * 8 + k] != want[k];
    }
    test_expect(bad == 0, "emulator/warp_shuffles", std::to_string(bad) + " wrong shuffle/vote results");
    cudaFree(d);
}

// ---- __syncthreads orders shared-memory writes before reads across the block
__global__ void rotate_kernel(int* out) {
    __shared__ int s[256];
    s[threadIdx.x] = threadIdx.x * 3;
    __syncthreads();
    const int v = s[(threadIdx.x + 1) % blockDim.x];
    __syncthreads();
    s[threadIdx.x] = v + 1;
    __syncthreads();
    out[blockIdx.x * blockDim.x + threadIdx.x] = s[(threadIdx.x + 7) % blockDim.x];
}
static void test_syncthreads() {
    const int n = 256, blocks = 3;
    int* d = dev<int>(n * blocks);
    rotate_kernel<<<blocks, n>>>(d);
    CHECK(cudaGetLastError());
    const std::vector<int> h = host(d, n * blocks);
    int bad = 0;
    for (int b = 0; b < blocks; b++)
        for (int t = 0; t < n; t++) bad += h[b * n + t] != ((t + 8) % n) * 3 + 1;
    test_expect(bad == 0, "emulator/syncthreads_order", std::to_string(bad) + " values read before they were written");
    cudaFree(d);
}

// ---- dynamic shared memory: reverse each block's slice through it
__global__ void reverse_kernel(float* out, const float* in) {
    extern __shared__ float buf[];
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    buf[threadIdx.x] = in[i];
    __syncthreads();
    out[i] = buf[blockDim.x - 1 - threadIdx.x];
}
static void test_dynamic_smem() {
    const int n = 128, blocks = 4;
    std::vector<float> h(n * blocks);
    for (int i = 0; i < n * blocks; i++) h[i] = (float)i;
    float *in = dev<float>(n * blocks), *out = dev<float>(n * blocks);
    CHECK(cudaMemcpy(in, h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice));
    reverse_kernel<<<blocks, n, n * sizeof(float)>>>(out, in);
    CHECK(cudaGetLastError());
    const std::vector<float> r = host(out, n * blocks);
    int bad = 0;
    for (int b = 0; b < blocks; b++)
        for (int t = 0; t < n; t++) bad += r[b * n + t] != (float)(b * n + n - 1 - t);
    test_expect(bad == 0, "emulator/dynamic_shared_memory", std::to_string(bad) + " wrong values");
    // above 48 KiB only after cudaFuncSetAttribute, and never above 227 KiB
    reverse_kernel<<<1, n, 64 * 1024>>>(out, in);
    const cudaError_t without = cudaGetLastError();
    CHECK(cudaFuncSetAttribute(reverse_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024));
    reverse_kernel<<<1, n, 64 * 1024>>>(out, in);
    const cudaError_t with = cudaGetLastError();
    const cudaError_t too_big = cudaFuncSetAttribute(reverse_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 228 * 1024);
    cudaGetLastError();
    test_expect(without != cudaSuccess && with == cudaSuccess && too_big != cudaSuccess, "emulator/dynamic_shared_memory_limit",
                "64 KiB without the attribute, with it, 228 KiB attribute: " + std::string(cudaGetErrorName(without)) + ", " +
                    cudaGetErrorName(with) + ", " + cudaGetErrorName(too_big));
    cudaFree(in);
    cudaFree(out);
}

// ---- atomics from every thread of several blocks
__global__ void atomic_kernel(int* count, unsigned* maxv, float* fsum) {
    const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    atomicAdd(count, 1);
    atomicMax(maxv, (i * 7919u) % 1000u);
    atomicAdd(fsum, 0.5f);
}
static void test_atomics() {
    int* count = dev<int>(1);
    unsigned* maxv = dev<unsigned>(1);
    float* fsum = dev<float>(1);
    CHECK(cudaMemset(count, 0, 4));
    CHECK(cudaMemset(maxv, 0, 4));
    CHECK(cudaMemset(fsum, 0, 4));
    atomic_kernel<<<5, 200>>>(count, maxv, fsum);
    CHECK(cudaGetLastError());
    unsigned want_max = 0;
    for (unsigned i = 0; i < 1000; i++) want_max = std::max(want_max, (i * 7919u) % 1000u);
    const int c = host(count, 1)[0];
    const unsigned m = host(maxv, 1)[0];
    const float f = host(fsum, 1)[0];
    test_expect(c == 1000 && m == want_max && f == 500.0f, "emulator/atomics",
                "count " + std::to_string(c) + " max " + std::to_string(m) + " sum " + std::to_string(f));
}

// ---- bf16 round-to-nearest-even on the device, for values whose rounding is known
__global__ void bf16_kernel(unsigned short* out, const float* in, int n) {
    const int i = threadIdx.x;
    if (i < n) out[i] = __bfloat16_as_ushort(__float2bfloat16(in[i]));
}
static float from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static void test_bf16() {
    const std::vector<float> in = {1.0f, 1.0f + 1.0f / 256, 1.0f + 3.0f / 256, -(1.0f + 1.0f / 256), 1.0f + 1.0f / 128 + 1e-6f,
                                   3.4e38f, INFINITY, from_bits(0x7fc00001u), from_bits(0xffffffffu), 0.0f, from_bits(0x00010000u)};
    const std::vector<unsigned short> want = {0x3f80, 0x3f80, 0x3f82, 0xbf80, 0x3f81, 0x7f80, 0x7f80, 0x7fc0, 0xffff, 0x0000, 0x0001};
    float* d_in = dev<float>(in.size());
    unsigned short* d_out = dev<unsigned short>(in.size());
    CHECK(cudaMemcpy(d_in, in.data(), in.size() * 4, cudaMemcpyHostToDevice));
    bf16_kernel<<<1, 32>>>(d_out, d_in, (int)in.size());
    CHECK(cudaGetLastError());
    const std::vector<unsigned short> got = host(d_out, in.size());
    std::string bad;
    for (size_t i = 0; i < in.size(); i++)
        if (got[i] != want[i]) bad += " value " + std::to_string(i) + " gave " + std::to_string(got[i]);
    const __nv_bfloat16 a = 1.5f, b = 2.25f;
    const bool ops = (float)(a * b) == 3.375f && (float)(a + b) == 3.75f && (float)__bfloat162float(__float2bfloat16(0.1f)) == 0.10009765625f;
    test_expect(bad.empty() && ops, "emulator/bf16_rounding", bad.empty() ? "bf16 operators wrong" : bad);
}

// ---- cuBLAS / cuBLASLt against a direct loop (column-major, transposes, alpha/beta, epilogues)
static void gemm_reference(std::vector<double>& c, const std::vector<float>& a, const std::vector<float>& b, int m, int n,
                           int k, bool ta, bool tb, int lda, int ldb, int ldc, float alpha, float beta) {
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            double s = 0;
            for (int p = 0; p < k; p++)
                s += (double)(ta ? a[p + (size_t)i * lda] : a[i + (size_t)p * lda]) * (tb ? b[j + (size_t)p * ldb] : b[p + (size_t)j * ldb]);
            c[i + (size_t)j * ldc] = alpha * s + beta * c[i + (size_t)j * ldc];
        }
}
static void test_gemm() {
    cublasHandle_t handle;
    cublasCreate(&handle);
    const int m = 37, n = 23, k = 41;
    std::vector<float> a(64 * 64), b(64 * 64), c0(64 * 64);
    for (size_t i = 0; i < a.size(); i++) a[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    for (size_t i = 0; i < b.size(); i++) b[i] = (float)((i * 53) % 97) / 48.0f - 1.0f;
    for (size_t i = 0; i < c0.size(); i++) c0[i] = (float)((i * 11) % 13) - 6.0f;
    float *d_a = dev<float>(a.size()), *d_b = dev<float>(b.size()), *d_c = dev<float>(c0.size());
    CHECK(cudaMemcpy(d_a, a.data(), a.size() * 4, cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(d_b, b.data(), b.size() * 4, cudaMemcpyHostToDevice));
    double worst = 0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            const float alpha = 0.75f, beta = ta ? 0.5f : 0.0f;
            CHECK(cudaMemcpy(d_c, c0.data(), c0.size() * 4, cudaMemcpyHostToDevice));
            const cublasStatus_t s = cublasGemmEx(handle, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k,
                                                  &alpha, d_a, CUDA_R_32F, 64, d_b, CUDA_R_32F, 64, &beta, d_c, CUDA_R_32F, 50,
                                                  CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
            std::vector<double> want(c0.begin(), c0.end());
            gemm_reference(want, a, b, m, n, k, ta, tb, 64, 64, 50, alpha, beta);
            const std::vector<float> got = host(d_c, c0.size());
            worst = std::max(worst, s == CUBLAS_STATUS_SUCCESS ? relative_error(got.data(), want.data(), 50 * n) : INFINITY);
        }
    test_expect(worst < 1e-6, "emulator/cublas_gemm_fp32", "relative error " + std::to_string(worst));

    // bf16 in/out, strided batch of 3
    const int batch = 3;
    std::vector<__nv_bfloat16> ab(a.size()), bb(b.size());
    for (size_t i = 0; i < a.size(); i++) ab[i] = a[i], bb[i] = b[i];
    __nv_bfloat16 *d_ab = dev<__nv_bfloat16>(a.size()), *d_bb = dev<__nv_bfloat16>(b.size()), *d_cb = dev<__nv_bfloat16>(batch * 16 * 16);
    CHECK(cudaMemcpy(d_ab, ab.data(), ab.size() * 2, cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(d_bb, bb.data(), bb.size() * 2, cudaMemcpyHostToDevice));
    const float one = 1.0f, zero = 0.0f;
    cublasStatus_t s = cublasGemmStridedBatchedEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, 16, 16, 20, &one, d_ab, CUDA_R_16BF, 20, 400,
                                                  d_bb, CUDA_R_16BF, 20, 320, &zero, d_cb, CUDA_R_16BF, 16, 256, batch,
                                                  CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    const std::vector<__nv_bfloat16> got = host(d_cb, batch * 256);
    double bad_bf16 = s == CUBLAS_STATUS_SUCCESS ? 0 : INFINITY;
    for (int bt = 0; bt < batch && bad_bf16 == 0; bt++)
        for (int j = 0; j < 16; j++)
            for (int i = 0; i < 16; i++) {
                float acc = 0; // fp32, p ascending: what the emulator promises, rounded once
                for (int p = 0; p < 20; p++) acc += (float)ab[bt * 400 + p + i * 20] * (float)bb[bt * 320 + p + j * 20];
                if (__bfloat16_as_ushort(got[bt * 256 + i + j * 16]) != __bfloat16_as_ushort(__float2bfloat16(acc))) bad_bf16++;
            }
    test_expect(bad_bf16 == 0, "emulator/cublas_gemm_bf16_batched", std::to_string(bad_bf16) + " outputs differ from fp32 accumulation rounded once");

    // cuBLASLt: D = gelu(op(A) B + bias) with the pre-activation in aux
    cublasLtHandle_t lt;
    cublasLtCreate(&lt);
    cublasLtMatmulDesc_t desc;
    cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F);
    const cublasOperation_t opT = CUBLAS_OP_T;
    cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof opT);
    const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_GELU_AUX_BIAS;
    cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi);
    float *d_bias = dev<float>(m), *d_aux = dev<float>(m * n), *d_d = dev<float>(m * n);
    std::vector<float> bias(m);
    for (int i = 0; i < m; i++) bias[i] = 0.1f * i - 1.0f;
    CHECK(cudaMemcpy(d_bias, bias.data(), m * 4, cudaMemcpyHostToDevice));
    cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &d_bias, sizeof d_bias);
    const int64_t aux_ld = m;
    cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &d_aux, sizeof d_aux);
    cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &aux_ld, sizeof aux_ld);
    cublasLtMatrixLayout_t la, lb, ld;
    cublasLtMatrixLayoutCreate(&la, CUDA_R_32F, k, m, 64);
    cublasLtMatrixLayoutCreate(&lb, CUDA_R_32F, k, n, 64);
    cublasLtMatrixLayoutCreate(&ld, CUDA_R_32F, m, n, m);
    cublasLtMatmulPreference_t pref;
    cublasLtMatmulPreferenceCreate(&pref);
    cublasLtMatmulHeuristicResult_t heur;
    int found = 0;
    cublasLtMatmulAlgoGetHeuristic(lt, desc, la, lb, ld, ld, pref, 1, &heur, &found);
    s = cublasLtMatmul(lt, desc, &one, d_a, la, d_b, lb, &zero, d_d, ld, d_d, ld, &heur.algo, nullptr, 0, nullptr);
    std::vector<double> pre(m * n, 0.0);
    gemm_reference(pre, a, b, m, n, k, true, false, 64, 64, m, 1.0f, 0.0f);
    std::vector<double> act(m * n);
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            double& x = pre[i + j * m];
            x += bias[i];
            act[i + j * m] = 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
        }
    const double e_aux = relative_error(host(d_aux, m * n).data(), pre.data(), m * n);
    const double e_out = relative_error(host(d_d, m * n).data(), act.data(), m * n);
    test_expect(found == 1 && s == CUBLAS_STATUS_SUCCESS && e_aux < 1e-6 && e_out < 1e-6, "emulator/cublaslt_gelu_aux_bias",
                "found " + std::to_string(found) + ", aux error " + std::to_string(e_aux) + ", out error " + std::to_string(e_out));
    // an unsupported request fails loudly instead of computing something else
    const cublasLtEpilogue_t relu = CUBLASLT_EPILOGUE_RELU;
    cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &relu, sizeof relu);
    s = cublasLtMatmul(lt, desc, &one, d_a, la, d_b, lb, &zero, d_d, ld, d_d, ld, &heur.algo, nullptr, 0, nullptr);
    test_expect(s == CUBLAS_STATUS_NOT_SUPPORTED, "emulator/cublaslt_unsupported_epilogue", cublasGetStatusString(s));
    // an operand that runs past its allocation (wrong ld) is an error, not a silent read
    float* d_small = dev<float>(10);
    s = cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, d_small, CUDA_R_32F, 4, d_b, CUDA_R_32F, 4, &zero, d_c,
                     CUDA_R_32F, 4, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    test_expect(s == CUBLAS_STATUS_EXECUTION_FAILED, "emulator/cublas_operand_out_of_bounds", cublasGetStatusString(s));
    cudaDeviceReset(); // clears the sticky error of the out-of-bounds operand
}

// ---- wmma: a 16x16x16 bf16 product against a direct loop
__global__ void wmma_kernel(float* c, const __nv_bfloat16* a, const __nv_bfloat16* b) {
    using namespace nvcuda;
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> fb;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
    wmma::fill_fragment(acc, 1.0f);
    wmma::load_matrix_sync(fa, a, 16);
    wmma::load_matrix_sync(fb, b, 16);
    wmma::mma_sync(acc, fa, fb, acc);
    for (int i = 0; i < acc.num_elements; i++) acc.x[i] *= 2.0f;
    wmma::store_matrix_sync(c, acc, 16, wmma::mem_row_major);
}
static void test_wmma() {
    std::vector<__nv_bfloat16> a(256), b(256);
    for (int i = 0; i < 256; i++) a[i] = (float)(i % 7) - 3.0f, b[i] = (float)(i % 5) * 0.5f;
    __nv_bfloat16 *d_a = dev<__nv_bfloat16>(256), *d_b = dev<__nv_bfloat16>(256);
    float* d_c = dev<float>(256);
    CHECK(cudaMemcpy(d_a, a.data(), 512, cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(d_b, b.data(), 512, cudaMemcpyHostToDevice));
    wmma_kernel<<<1, 32>>>(d_c, d_a, d_b);
    CHECK(cudaGetLastError());
    const std::vector<float> c = host(d_c, 256);
    int bad = 0;
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) {
            float s = 0; // a row-major, b col-major: b(k, j) at b[k + 16 j]
            for (int p = 0; p < 16; p++) s += (float)a[i * 16 + p] * (float)b[p + 16 * j];
            bad += c[i * 16 + j] != 2.0f * (1.0f + s);
        }
    test_expect(bad == 0, "emulator/wmma_mma", std::to_string(bad) + " wrong elements");
}

// ---- templates: explicit and deduced template arguments
template <typename T> __global__ void fill_kernel(T* out, T value, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = value;
}
static void test_templates() {
    float* d = dev<float>(100);
    fill_kernel<float><<<dim3(std::max(1, 2)),   // a launch over several lines, nested parentheses
                         dim3(64)>>>(d, std::min(2.5f, (float)(3)),
                                     100);
    fill_kernel<<<1, 32>>>(d, 7.0f, 10); // T deduced
    CHECK(cudaGetLastError());
    const std::string untouched = "k<<<1, 2>>>(x)"; // literals are not rewritten
    const std::vector<float> h = host(d, 100);
    int bad = 0;
    for (int i = 0; i < 100; i++) bad += h[i] != (i < 10 ? 7.0f : 2.5f);
    test_expect(bad == 0 && untouched.size() == 14, "emulator/template_kernels", std::to_string(bad) + " wrong values");
}

// ---- errors a GPU reports
__global__ void write_past_end_kernel(float* x, int n) {
    if (threadIdx.x == 0) x[n] = 1.0f;
}
__global__ void early_return_kernel(float* x) {
    if (threadIdx.x < 16) return; // these 16 never reach the barrier the others wait at
    __syncthreads();
    x[threadIdx.x] = 1.0f;
}
__global__ void partial_shuffle_kernel(float* x) {
    if (threadIdx.x >= 8) return;
    x[threadIdx.x] = __shfl_xor_sync(0xffffffff, 1.0f, 1); // names 24 lanes that have exited
}
static void test_errors() {
    float* x = dev<float>(64);
    write_past_end_kernel<<<1, 32>>>(x, 64);
    const cudaError_t launch = cudaGetLastError();
    const cudaError_t oob = cudaDeviceSynchronize();
    test_expect(launch == cudaSuccess && oob == cudaErrorIllegalAddress, "emulator/out_of_bounds_write_caught",
                std::string("cudaDeviceSynchronize gave ") + cudaGetErrorString(oob));
    cudaDeviceReset();

    x = dev<float>(64);
    write_past_end_kernel<<<1, 2048>>>(x, 0);
    const cudaError_t big = cudaGetLastError();
    const cudaError_t after = cudaGetLastError(); // a configuration error is reported once, not sticky
    test_expect(big == cudaErrorInvalidConfiguration && after == cudaSuccess, "emulator/launch_2048_threads_rejected",
                std::string(cudaGetErrorString(big)));
    write_past_end_kernel<<<dim3(1, 70000), 32>>>(x, 0);
    const cudaError_t grid = cudaGetLastError();
    test_expect(grid == cudaErrorInvalidConfiguration, "emulator/launch_grid_y_70000_rejected", cudaGetErrorString(grid));

    early_return_kernel<<<1, 64>>>(x);
    const cudaError_t barrier = cudaGetLastError();
    const std::string barrier_msg = cudaGetErrorString(barrier);
    test_expect(barrier == cudaErrorLaunchFailure && barrier_msg.find("exited without reaching") != std::string::npos,
                "emulator/missing_syncthreads_arrival_detected", barrier_msg);
    cudaDeviceReset();

    x = dev<float>(64);
    partial_shuffle_kernel<<<1, 32>>>(x);
    const cudaError_t shfl = cudaGetLastError();
    test_expect(shfl == cudaErrorLaunchFailure, "emulator/shuffle_with_exited_lanes_detected", cudaGetErrorString(shfl));
    cudaDeviceReset();

    std::vector<float> host_buffer(64);
    write_past_end_kernel<<<1, 32>>>(host_buffer.data(), 0);
    const cudaError_t host_ptr = cudaGetLastError();
    test_expect(host_ptr == cudaErrorIllegalAddress, "emulator/host_pointer_argument_rejected", cudaGetErrorString(host_ptr));
    cudaDeviceReset();

    x = dev<float>(4);
    const std::vector<float> eight(8, 1.0f);
    const cudaError_t copy = cudaMemcpy(x, eight.data(), 8 * sizeof(float), cudaMemcpyHostToDevice);
    cudaGetLastError();
    test_expect(copy == cudaErrorInvalidValue, "emulator/memcpy_past_allocation_rejected", cudaGetErrorString(copy));
    const std::vector<float> fresh = host(x, 4);
    test_expect(std::isnan(fresh[0]) && std::isnan(fresh[3]), "emulator/new_memory_is_nan", "cudaMalloc memory is not NaN-filled");
    cudaDeviceReset();
}

int main() {
    test_shuffles();
    test_syncthreads();
    test_dynamic_smem();
    test_atomics();
    test_bf16();
    test_gemm();
    test_wmma();
    test_templates();
    test_errors();
    return test_exit_code();
}
