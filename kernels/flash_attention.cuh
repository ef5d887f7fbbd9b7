// Fused causal flash attention for head size 64, bf16 in and out, fp32 accumulation, on tensor
// cores through nvcuda::wmma. Same maths as kernels/attention.cuh (and cpu/attention.h), but
// no T x T matrix ever reaches memory: scores live one 64 x 64 tile at a time in shared memory.
//
// Forward (one block per 64-query tile and head): for each 64-key tile up to the diagonal,
//   S = Q K^T (tensor cores) -> shared memory -> per row: online softmax (running max m and
//   sum l, rescale of the output row by exp(m_old - m_new)), P in bf16 -> O += P V.
//   Writes out (B,T,C) = O / l and lse (B,NH,T) = m + log l (in units of scale * q.k).
// Backward (deterministic: every output element has one writer, no atomics):
//   D = rowsum(dO * O) per (b, h, t) first; then
//   dK, dV per 64-key tile, looping over the query tiles at or after it:
//     P^T = exp(scale K Q^T - lse), dV += P^T dO, dP^T = V dO^T, dS^T = scale P^T (dP^T - D),
//     dK += dS^T Q;
//   dQ per 64-query tile, looping over the key tiles up to the diagonal: dQ += dS K.
// The mapping of wmma fragment elements to threads is unspecified, so every per-row operation
// (mask, max, exp, rescale) goes through a per-warp shared-memory copy of the tile; a lane
// owns columns lane and lane+32 of each of its warp's 16 rows.
// Rows past T (when T is not a multiple of 64) are loaded as zeros and never written.
#pragma once
#include <mma.h>

#include <cmath>

#include "common.cuh"

constexpr int FLASH_HEAD_SIZE = 64;
constexpr int FLASH_TILE = 64;               // query and key rows per tile
constexpr int FLASH_WARPS = FLASH_TILE / 16; // each warp owns 16 rows of the block's tile
constexpr int FLASH_THREADS = FLASH_WARPS * 32;
constexpr int FLASH_LDH = FLASH_HEAD_SIZE + 8; // bf16 tile row stride: padding against bank conflicts
constexpr int FLASH_LDF = FLASH_TILE + 4;      // fp32 tile row stride

// bf16 wmma needs compute capability 8.0: for older targets (GPU_ARCH=75 ...) the kernels
// compile empty, and flash_attention_supported() is false on such devices.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#define FLASH_DEVICE_CODE 0
#else
#define FLASH_DEVICE_CODE 1
#endif

// On the current device, in this build.
inline bool flash_attention_supported(int head_size) {
#if defined(ENABLE_FP32)
    (void)head_size;
    return false; // wmma here is bf16-only; the FP32 build keeps the cuBLAS path
#else
    int device = 0, major = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess)
        return false;
    return head_size == FLASH_HEAD_SIZE && major >= 8;
#endif
}

namespace flash_detail {
using namespace nvcuda;
typedef __nv_bfloat16 bf16;
#if FLASH_DEVICE_CODE
typedef wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> FragA;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> FragBRow;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> FragBCol; // B = X^T for row-major X
typedef wmma::fragment<wmma::accumulator, 16, 16, 16, float> FragAcc;

// Copies 64 rows (row0..row0+63, zeros past T) of one head's 64 channels into a shared tile.
// src points at channel 0 of the head in row 0; rows are `stride` elements apart.
__device__ inline void load_tile(bf16* dst, const bf16* src, int row0, int T, size_t stride) {
    for (int i = threadIdx.x; i < FLASH_TILE * (FLASH_HEAD_SIZE / 8); i += FLASH_THREADS) {
        const int r = i / (FLASH_HEAD_SIZE / 8), c8 = (i % (FLASH_HEAD_SIZE / 8)) * 8;
        uint4 v = make_uint4(0, 0, 0, 0);
        if (row0 + r < T) v = *reinterpret_cast<const uint4*>(src + (size_t)(row0 + r) * stride + c8);
        *reinterpret_cast<uint4*>(dst + r * FLASH_LDH + c8) = v;
    }
}

// acc[16 x 64] = A[16 x 64] (4 row-major fragments over the head dimension) times X^T, where X
// is 64 rows x 64 channels in shared memory: scores q.k^T or dO.v^T. Stored to out (fp32).
__device__ inline void rows_times_tile_transposed(float* out, const FragA (&a)[4], const bf16* x) {
    for (int n = 0; n < 4; n++) {
        FragAcc acc;
        wmma::fill_fragment(acc, 0.0f);
        for (int k = 0; k < 4; k++) {
            FragBCol b;
            wmma::load_matrix_sync(b, x + n * 16 * FLASH_LDH + k * 16, FLASH_LDH);
            wmma::mma_sync(acc, a[k], b, acc);
        }
        wmma::store_matrix_sync(out + n * 16, acc, FLASH_LDF, wmma::mem_row_major);
    }
}

// acc[n] += P[16 x 64] (bf16, shared, row stride FLASH_LDH) times X[64 x 64] (shared).
__device__ inline void accumulate_rows_times_tile(FragAcc (&acc)[4], const bf16* p, const bf16* x) {
    for (int k = 0; k < 4; k++) {
        FragA a;
        wmma::load_matrix_sync(a, p + k * 16, FLASH_LDH);
        for (int n = 0; n < 4; n++) {
            FragBRow b;
            wmma::load_matrix_sync(b, x + k * 16 * FLASH_LDH + n * 16, FLASH_LDH);
            wmma::mma_sync(acc[n], a, b, acc[n]);
        }
    }
}

__device__ inline void load_row_fragments(FragA (&a)[4], const bf16* rows) {
    for (int k = 0; k < 4; k++) wmma::load_matrix_sync(a[k], rows + k * 16, FLASH_LDH);
}

// Writes a warp's 16 x 64 accumulator rows (row0.., skipping rows >= T) to dst (bf16, rows
// `stride` apart) through the warp's fp32 scratch.
__device__ inline void store_rows(bf16* dst, float* scratch, FragAcc (&acc)[4], int row0, int T, size_t stride) {
    const int lane = threadIdx.x % 32;
    for (int n = 0; n < 4; n++) wmma::store_matrix_sync(scratch + n * 16, acc[n], FLASH_LDF, wmma::mem_row_major);
    __syncwarp();
    for (int r = 0; r < 16; r++) {
        if (row0 + r >= T) break;
        bf16* d = dst + (size_t)(row0 + r) * stride;
        d[lane] = __float2bfloat16(scratch[r * FLASH_LDF + lane]);
        d[lane + 32] = __float2bfloat16(scratch[r * FLASH_LDF + lane + 32]);
    }
}

#endif // FLASH_DEVICE_CODE

// Shared memory of the forward kernel: Q, K, V tiles; per warp an fp32 score tile and a bf16 P tile.
constexpr size_t FORWARD_SMEM = (3 * FLASH_TILE * FLASH_LDH + FLASH_WARPS * 16 * FLASH_LDH) * sizeof(bf16) +
                                FLASH_WARPS * 16 * FLASH_LDF * sizeof(float);
// Backward kernels: four bf16 tiles, per warp one fp32 and one bf16 tile, and two rows of floats.
constexpr size_t BACKWARD_SMEM = (4 * FLASH_TILE * FLASH_LDH + FLASH_WARPS * 16 * FLASH_LDH) * sizeof(bf16) +
                                 (FLASH_WARPS * 16 * FLASH_LDF + 2 * FLASH_TILE) * sizeof(float);

// grid (query tiles, NH, B). qkv (B,T,3C), out (B,T,C), lse (B,NH,T).
__global__ void __launch_bounds__(FLASH_THREADS)
flash_attention_forward_kernel(bf16* out, float* lse, const bf16* qkv, int T, int NH, float scale) {
#if FLASH_DEVICE_CODE
    extern __shared__ __align__(128) unsigned char smem[];
    bf16* q_s = reinterpret_cast<bf16*>(smem);
    bf16* k_s = q_s + FLASH_TILE * FLASH_LDH;
    bf16* v_s = k_s + FLASH_TILE * FLASH_LDH;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    bf16* p_w = v_s + FLASH_TILE * FLASH_LDH + warp * 16 * FLASH_LDH;
    float* s_w = reinterpret_cast<float*>(v_s + FLASH_TILE * FLASH_LDH + FLASH_WARPS * 16 * FLASH_LDH) + warp * 16 * FLASH_LDF;

    const int qt = gridDim.x - 1 - blockIdx.x; // the longest rows (most key tiles) start first
    const int h = blockIdx.y, b = blockIdx.z, C = NH * FLASH_HEAD_SIZE;
    const size_t stride = 3 * (size_t)C;
    const bf16* head = qkv + (size_t)b * T * stride + h * FLASH_HEAD_SIZE;
    const int q0 = qt * FLASH_TILE, row0 = q0 + warp * 16;

    load_tile(q_s, head, q0, T, stride);
    __syncthreads();
    FragA q_frag[4];
    load_row_fragments(q_frag, q_s + warp * 16 * FLASH_LDH);

    float o[32]; // o[2r], o[2r+1]: row r, columns lane and lane+32 (unnormalized)
    float m[16], l[16];
    for (int i = 0; i < 32; i++) o[i] = 0.0f;
    for (int r = 0; r < 16; r++) m[r] = -INFINITY, l[r] = 0.0f;

    for (int kt = 0; kt <= qt; kt++) {
        const int k0 = kt * FLASH_TILE;
        __syncthreads(); // every warp is done with the previous K, V
        load_tile(k_s, head + C, k0, T, stride);
        load_tile(v_s, head + 2 * C, k0, T, stride);
        __syncthreads();
        rows_times_tile_transposed(s_w, q_frag, k_s);
        __syncwarp();
        // Online softmax. Tile 0 holds key 0 <= every row, so m is finite from the first tile on.
        for (int r = 0; r < 16; r++) {
            const int row = row0 + r;
            float s0 = s_w[r * FLASH_LDF + lane] * scale, s1 = s_w[r * FLASH_LDF + lane + 32] * scale;
            if (k0 + lane > row) s0 = -INFINITY;
            if (k0 + lane + 32 > row) s1 = -INFINITY;
            const float m_new = fmaxf(m[r], warp_max(fmaxf(s0, s1)));
            const float rescale = expf(m[r] - m_new);
            const bf16 p0 = __float2bfloat16(expf(s0 - m_new)), p1 = __float2bfloat16(expf(s1 - m_new));
            // l sums the rounded weights that multiply V, so the normalized weights sum to 1
            l[r] = l[r] * rescale + warp_sum(__bfloat162float(p0) + __bfloat162float(p1));
            m[r] = m_new;
            o[2 * r] *= rescale;
            o[2 * r + 1] *= rescale;
            p_w[r * FLASH_LDH + lane] = p0;
            p_w[r * FLASH_LDH + lane + 32] = p1;
        }
        __syncwarp();
        FragAcc pv[4];
        for (int n = 0; n < 4; n++) wmma::fill_fragment(pv[n], 0.0f);
        accumulate_rows_times_tile(pv, p_w, v_s);
        for (int n = 0; n < 4; n++) wmma::store_matrix_sync(s_w + n * 16, pv[n], FLASH_LDF, wmma::mem_row_major);
        __syncwarp();
        for (int r = 0; r < 16; r++) {
            o[2 * r] += s_w[r * FLASH_LDF + lane];
            o[2 * r + 1] += s_w[r * FLASH_LDF + lane + 32];
        }
        __syncwarp();
    }
    for (int r = 0; r < 16; r++) {
        const int row = row0 + r;
        if (row >= T) break;
        bf16* dst = out + ((size_t)b * T + row) * C + h * FLASH_HEAD_SIZE;
        const float inv = 1.0f / l[r];
        dst[lane] = __float2bfloat16(o[2 * r] * inv);
        dst[lane + 32] = __float2bfloat16(o[2 * r + 1] * inv);
        if (lane == 0) lse[((size_t)b * NH + h) * T + row] = m[r] + logf(l[r]);
    }
#endif
}

// D[b,h,t] = sum over the head's channels of dout * out; one warp per (b, t, h).
__global__ void flash_attention_row_dot_kernel(float* D, const bf16* dout, const bf16* out, int B, int T, int NH) {
    const long long row = (long long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (row >= (long long)B * T * NH) return;
    const int lane = threadIdx.x % 32, h = row % NH, t = (row / NH) % T, b = row / ((long long)NH * T);
    const size_t at = ((size_t)b * T + t) * NH * FLASH_HEAD_SIZE + h * FLASH_HEAD_SIZE;
    float sum = __bfloat162float(dout[at + lane]) * __bfloat162float(out[at + lane]) +
                __bfloat162float(dout[at + lane + 32]) * __bfloat162float(out[at + lane + 32]);
    sum = warp_sum(sum);
    if (lane == 0) D[((size_t)b * NH + h) * T + t] = sum;
}

// grid (key tiles, NH, B): dK and dV of one key tile, into dqkv's k and v parts.
__global__ void __launch_bounds__(FLASH_THREADS)
flash_attention_backward_kv_kernel(bf16* dqkv, const bf16* dout, const bf16* qkv, const float* lse, const float* D,
                                   int T, int NH, float scale) {
#if FLASH_DEVICE_CODE
    extern __shared__ __align__(128) unsigned char smem[];
    bf16* k_s = reinterpret_cast<bf16*>(smem);
    bf16* v_s = k_s + FLASH_TILE * FLASH_LDH;
    bf16* q_s = v_s + FLASH_TILE * FLASH_LDH;
    bf16* do_s = q_s + FLASH_TILE * FLASH_LDH;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    bf16* p_w = do_s + FLASH_TILE * FLASH_LDH + warp * 16 * FLASH_LDH;
    float* f_s = reinterpret_cast<float*>(do_s + FLASH_TILE * FLASH_LDH + FLASH_WARPS * 16 * FLASH_LDH);
    float* f_w = f_s + warp * 16 * FLASH_LDF;
    float* lse_s = f_s + FLASH_WARPS * 16 * FLASH_LDF;
    float* d_s = lse_s + FLASH_TILE;

    const int kt = blockIdx.x; // key tile 0 sees every query tile: the longest blocks start first
    const int h = blockIdx.y, b = blockIdx.z, C = NH * FLASH_HEAD_SIZE, num_tiles = gridDim.x;
    const size_t stride = 3 * (size_t)C;
    const bf16* head = qkv + (size_t)b * T * stride + h * FLASH_HEAD_SIZE;
    const bf16* dout_head = dout + (size_t)b * T * C + h * FLASH_HEAD_SIZE;
    const float* lse_head = lse + ((size_t)b * NH + h) * T;
    const float* d_head = D + ((size_t)b * NH + h) * T;
    const int k0 = kt * FLASH_TILE, key0 = k0 + warp * 16;

    load_tile(k_s, head + C, k0, T, stride);
    load_tile(v_s, head + 2 * C, k0, T, stride);
    __syncthreads();
    FragA k_frag[4], v_frag[4];
    load_row_fragments(k_frag, k_s + warp * 16 * FLASH_LDH);
    load_row_fragments(v_frag, v_s + warp * 16 * FLASH_LDH);
    FragAcc dk[4], dv[4];
    for (int n = 0; n < 4; n++) wmma::fill_fragment(dk[n], 0.0f), wmma::fill_fragment(dv[n], 0.0f);

    for (int qt = kt; qt < num_tiles; qt++) {
        const int q0 = qt * FLASH_TILE;
        __syncthreads();
        load_tile(q_s, head, q0, T, stride);
        load_tile(do_s, dout_head, q0, T, C);
        for (int i = threadIdx.x; i < FLASH_TILE; i += FLASH_THREADS) {
            lse_s[i] = q0 + i < T ? lse_head[q0 + i] : 0.0f;
            d_s[i] = q0 + i < T ? d_head[q0 + i] : 0.0f;
        }
        __syncthreads();
        // P^T (16 keys x 64 queries), zero where the query is before the key or past T
        rows_times_tile_transposed(f_w, k_frag, q_s);
        __syncwarp();
        for (int r = 0; r < 16; r++) {
            for (int half = 0; half < 2; half++) {
                const int c = lane + 32 * half, query = q0 + c;
                const bool keep = query < T && key0 + r <= query;
                p_w[r * FLASH_LDH + c] = __float2bfloat16(keep ? expf(f_w[r * FLASH_LDF + c] * scale - lse_s[c]) : 0.0f);
            }
        }
        __syncwarp();
        accumulate_rows_times_tile(dv, p_w, do_s);
        // dP^T = V dO^T, then dS^T = scale * P^T * (dP^T - D), in place of P^T
        rows_times_tile_transposed(f_w, v_frag, do_s);
        __syncwarp();
        for (int r = 0; r < 16; r++) {
            for (int half = 0; half < 2; half++) {
                const int c = lane + 32 * half;
                const float p = __bfloat162float(p_w[r * FLASH_LDH + c]);
                p_w[r * FLASH_LDH + c] = __float2bfloat16(scale * p * (f_w[r * FLASH_LDF + c] - d_s[c]));
            }
        }
        __syncwarp();
        accumulate_rows_times_tile(dk, p_w, q_s);
    }
    bf16* dhead = dqkv + (size_t)b * T * stride + h * FLASH_HEAD_SIZE;
    store_rows(dhead + C, f_w, dk, key0, T, stride);
    __syncwarp();
    store_rows(dhead + 2 * C, f_w, dv, key0, T, stride);
#endif
}

// grid (query tiles, NH, B): dQ of one query tile, into dqkv's q part.
__global__ void __launch_bounds__(FLASH_THREADS)
flash_attention_backward_q_kernel(bf16* dqkv, const bf16* dout, const bf16* qkv, const float* lse, const float* D,
                                  int T, int NH, float scale) {
#if FLASH_DEVICE_CODE
    extern __shared__ __align__(128) unsigned char smem[];
    bf16* q_s = reinterpret_cast<bf16*>(smem);
    bf16* do_s = q_s + FLASH_TILE * FLASH_LDH;
    bf16* k_s = do_s + FLASH_TILE * FLASH_LDH;
    bf16* v_s = k_s + FLASH_TILE * FLASH_LDH;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    bf16* p_w = v_s + FLASH_TILE * FLASH_LDH + warp * 16 * FLASH_LDH;
    float* f_s = reinterpret_cast<float*>(v_s + FLASH_TILE * FLASH_LDH + FLASH_WARPS * 16 * FLASH_LDH);
    float* f_w = f_s + warp * 16 * FLASH_LDF;
    float* lse_s = f_s + FLASH_WARPS * 16 * FLASH_LDF;
    float* d_s = lse_s + FLASH_TILE;

    const int qt = gridDim.x - 1 - blockIdx.x;
    const int h = blockIdx.y, b = blockIdx.z, C = NH * FLASH_HEAD_SIZE;
    const size_t stride = 3 * (size_t)C;
    const bf16* head = qkv + (size_t)b * T * stride + h * FLASH_HEAD_SIZE;
    const int q0 = qt * FLASH_TILE, row0 = q0 + warp * 16;

    load_tile(q_s, head, q0, T, stride);
    load_tile(do_s, dout + (size_t)b * T * C + h * FLASH_HEAD_SIZE, q0, T, C);
    for (int i = threadIdx.x; i < FLASH_TILE; i += FLASH_THREADS) {
        lse_s[i] = q0 + i < T ? lse[((size_t)b * NH + h) * T + q0 + i] : 0.0f;
        d_s[i] = q0 + i < T ? D[((size_t)b * NH + h) * T + q0 + i] : 0.0f;
    }
    __syncthreads();
    FragA q_frag[4], do_frag[4];
    load_row_fragments(q_frag, q_s + warp * 16 * FLASH_LDH);
    load_row_fragments(do_frag, do_s + warp * 16 * FLASH_LDH);
    FragAcc dq[4];
    for (int n = 0; n < 4; n++) wmma::fill_fragment(dq[n], 0.0f);

    for (int kt = 0; kt <= qt; kt++) {
        const int k0 = kt * FLASH_TILE;
        __syncthreads();
        load_tile(k_s, head + C, k0, T, stride);
        load_tile(v_s, head + 2 * C, k0, T, stride);
        __syncthreads();
        rows_times_tile_transposed(f_w, q_frag, k_s);
        __syncwarp();
        for (int r = 0; r < 16; r++) {
            const int row = row0 + r, lr = warp * 16 + r;
            for (int half = 0; half < 2; half++) {
                const int c = lane + 32 * half;
                const bool keep = row < T && k0 + c <= row;
                p_w[r * FLASH_LDH + c] = __float2bfloat16(keep ? expf(f_w[r * FLASH_LDF + c] * scale - lse_s[lr]) : 0.0f);
            }
        }
        __syncwarp();
        rows_times_tile_transposed(f_w, do_frag, v_s); // dP = dO V^T
        __syncwarp();
        for (int r = 0; r < 16; r++) {
            const int lr = warp * 16 + r;
            for (int half = 0; half < 2; half++) {
                const int c = lane + 32 * half;
                const float p = __bfloat162float(p_w[r * FLASH_LDH + c]);
                p_w[r * FLASH_LDH + c] = __float2bfloat16(scale * p * (f_w[r * FLASH_LDF + c] - d_s[lr]));
            }
        }
        __syncwarp();
        accumulate_rows_times_tile(dq, p_w, k_s);
    }
    __syncwarp();
    store_rows(dqkv + (size_t)b * T * stride + h * FLASH_HEAD_SIZE, f_w, dq, row0, T, stride);
#endif
}

// More than the default 48 KiB of dynamic shared memory; set on every launch (a host-side call
// of about a microsecond), so a device reset cannot leave a kernel without it.
template <typename Kernel> void allow_dynamic_smem(Kernel kernel, size_t bytes) {
    cudaCheck(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
}
} // namespace flash_detail

// out (B,T,C) and lse (B,NH,T, fp32, kept for backward) from qkv (B,T,3C). Head size 64, bf16 build.
inline void flash_attention_forward(floatX* out, float* lse, const floatX* qkv, int B, int T, int C, int NH) {
#if defined(ENABLE_FP32)
    (void)out, (void)lse, (void)qkv, (void)B, (void)T, (void)C, (void)NH;
    fail_runtime("flash attention needs the bf16 build");
#else
    using namespace flash_detail;
    if (C / NH != FLASH_HEAD_SIZE) fail_runtime("flash attention needs head size %d, got %d", FLASH_HEAD_SIZE, C / NH);
    allow_dynamic_smem(flash_attention_forward_kernel, FORWARD_SMEM);
    const dim3 grid(ceil_div(T, FLASH_TILE), NH, B);
    flash_attention_forward_kernel<<<grid, FLASH_THREADS, FORWARD_SMEM>>>(out, lse, qkv, T, NH, 1.0f / sqrtf((float)FLASH_HEAD_SIZE));
    cudaCheckLaunch();
#endif
}

// dqkv (B,T,3C, overwritten) from dout (B,T,C), the forward's qkv, out and lse.
// D: scratch of B*NH*T floats.
inline void flash_attention_backward(floatX* dqkv, float* D, const floatX* dout, const floatX* qkv, const floatX* out,
                                     const float* lse, int B, int T, int C, int NH) {
#if defined(ENABLE_FP32)
    (void)dqkv, (void)D, (void)dout, (void)qkv, (void)out, (void)lse, (void)B, (void)T, (void)C, (void)NH;
    fail_runtime("flash attention needs the bf16 build");
#else
    using namespace flash_detail;
    if (C / NH != FLASH_HEAD_SIZE) fail_runtime("flash attention needs head size %d, got %d", FLASH_HEAD_SIZE, C / NH);
    allow_dynamic_smem(flash_attention_backward_kv_kernel, BACKWARD_SMEM);
    allow_dynamic_smem(flash_attention_backward_q_kernel, BACKWARD_SMEM);
    const float scale = 1.0f / sqrtf((float)FLASH_HEAD_SIZE);
    flash_attention_row_dot_kernel<<<ceil_div((long long)B * T * NH, 8), 256>>>(D, dout, out, B, T, NH);
    cudaCheckLaunch();
    const dim3 grid(ceil_div(T, FLASH_TILE), NH, B);
    flash_attention_backward_kv_kernel<<<grid, FLASH_THREADS, BACKWARD_SMEM>>>(dqkv, dout, qkv, lse, D, T, NH, scale);
    cudaCheckLaunch();
    flash_attention_backward_q_kernel<<<grid, FLASH_THREADS, BACKWARD_SMEM>>>(dqkv, dout, qkv, lse, D, T, NH, scale);
    cudaCheckLaunch();
#endif
}
