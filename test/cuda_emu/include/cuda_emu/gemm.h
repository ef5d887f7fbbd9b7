// The one GEMM behind the emulated cuBLAS and cuBLASLt calls: column-major
//   D = epilogue(alpha op(A) op(B) + beta C), batched with strides,
// fp32 or bf16 operands, bf16 outputs rounded once. C is not read when beta == 0 (as cuBLAS).
// fp32 accumulation in a fixed order: sequential within chunks of GEMM_KC products, then the
// chunk sums in order (a long k, e.g. the 50304 of the classifier's backward, would otherwise
// lose accuracy a GPU's split accumulation does not). The order never depends on the thread
// count or the host's vector width. OpenMP over output tiles.
#pragma once
#include <cmath>
#include <algorithm>
#include <cstring>
#include <vector>

#include "../cuda_bf16.h"
#include "../library_types.h"
#include "state.h"

namespace cuda_emu {

enum class Elem { F32, BF16 };
inline bool elem_of(cudaDataType_t t, Elem* e) {
    if (t == CUDA_R_32F) { *e = Elem::F32; return true; }
    if (t == CUDA_R_16BF) { *e = Elem::BF16; return true; }
    return false;
}
inline size_t elem_bytes(Elem e) { return e == Elem::F32 ? 4 : 2; }
inline float load_elem(const void* p, Elem e, size_t i) {
    return e == Elem::F32 ? ((const float*)p)[i] : bf16_bits_to_float(((const unsigned short*)p)[i]);
}
inline void store_elem(void* p, Elem e, size_t i, float v) {
    if (e == Elem::F32) ((float*)p)[i] = v;
    else ((unsigned short*)p)[i] = float_to_bf16_bits(v);
}

// How the inputs are rounded before the products (cuBLAS's reduced-precision modes).
enum class InputRounding { None, TF32, BF16 };
inline float round_input(float x, InputRounding r) {
    if (r == InputRounding::BF16) return bf16_bits_to_float(float_to_bf16_bits(x));
    if (r == InputRounding::TF32) { // 10 explicit mantissa bits, nearest even
        uint32_t u;
        memcpy(&u, &x, 4);
        if ((u & 0x7fffffffu) >= 0x7f800000u) return x;
        u = (u + 0xfffu + ((u >> 13) & 1u)) & ~0x1fffu;
        memcpy(&x, &u, 4);
    }
    return x;
}

inline float gelu_tanh_value(float x) {
    return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}
inline float gelu_tanh_derivative(float x) {
    const float th = tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x));
    return 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * 0.7978845608028654f * (1.0f + 3.0f * 0.044715f * x * x);
}

struct Operand {
    const void* ptr = nullptr;
    Elem type = Elem::F32;
    long long ld = 0, stride = 0;
};
struct GemmCall {
    int m = 0, n = 0, k = 0, batch = 1;
    bool trans_a = false, trans_b = false;
    Operand a, b, c, d; // c may equal d
    float alpha = 1.0f, beta = 0.0f;
    InputRounding rounding = InputRounding::None;
    // epilogue, in this order: + bias[i]; aux = pre-activation; gelu; * gelu'(aux)
    const void* bias = nullptr;
    Elem bias_type = Elem::F32;
    void* aux = nullptr; // GELU_AUX: written; DGELU: read
    Elem aux_type = Elem::F32;
    long long aux_ld = 0, aux_stride = 0;
    bool gelu = false, dgelu = false;
    // bias gradient epilogues: sums of op(A) over k per row (BGRADA) or of op(B) per column (BGRADB)
    void* bgrad = nullptr;
    Elem bgrad_type = Elem::F32;
    bool bgrad_of_a = false;
};

// Bytes from ptr to one past the last element a (rows x cols, ld) operand of `batch`
// strided matrices touches.
inline size_t operand_extent(const Operand& o, long long rows, long long cols, int batch) {
    if (rows == 0 || cols == 0 || batch == 0) return 0;
    return (size_t)(((long long)(batch - 1) * o.stride + (cols - 1) * o.ld + rows) * (long long)elem_bytes(o.type));
}

// Output tile of the inner kernel: MB rows (two 8-float vectors) x NB columns, 12 vector
// accumulators. Built for AVX2 where the host has it, else plain SSE; both add in the same
// order (no FMA contraction: neither target has FMA), so results are identical.
constexpr int GEMM_MB = 16, GEMM_NB = 6, GEMM_KC = 256;
typedef float gemm_v8 __attribute__((vector_size(32)));
__attribute__((target_clones("avx2", "default"))) inline void gemm_tile(const float* pa, const float* pb, int k,
                                                                          float* out) {
    gemm_v8 acc[GEMM_NB][2] = {};
    for (int p = 0; p < k; p++, pa += GEMM_MB, pb += GEMM_NB) {
        gemm_v8 a0, a1;
        memcpy(&a0, pa, sizeof a0);
        memcpy(&a1, pa + 8, sizeof a1);
        for (int jj = 0; jj < GEMM_NB; jj++) {
            const float b = pb[jj];
            acc[jj][0] += a0 * b;
            acc[jj][1] += a1 * b;
        }
    }
    memcpy(out, acc, sizeof acc);
}

inline void gemm(const GemmCall& g) {
    ProfileScope scope(g.trans_a ? (g.trans_b ? "gemm TT" : "gemm TN") : (g.trans_b ? "gemm NT" : "gemm NN"));
    constexpr int MB = GEMM_MB, NB = GEMM_NB;
    const int m = g.m, n = g.n, k = g.k;
    const int mblocks = (m + MB - 1) / MB, nblocks = (n + NB - 1) / NB;
    static std::vector<float> ap, bp; // packed op(A) [mblock][p][MB], op(B) [nblock][p][NB], zero-padded
    ap.assign((size_t)mblocks * k * MB, 0.0f);
    bp.assign((size_t)nblocks * k * NB, 0.0f);
    float* A = ap.data();
    float* B = bp.data();
    for (int bt = 0; bt < g.batch; bt++) {
        const char* a = (const char*)g.a.ptr + (size_t)bt * g.a.stride * elem_bytes(g.a.type);
        const char* b = (const char*)g.b.ptr + (size_t)bt * g.b.stride * elem_bytes(g.b.type);
        const char* c = g.c.ptr ? (const char*)g.c.ptr + (size_t)bt * g.c.stride * elem_bytes(g.c.type) : nullptr;
        char* d = (char*)g.d.ptr + (size_t)bt * g.d.stride * elem_bytes(g.d.type);
        char* aux = g.aux ? (char*)g.aux + (size_t)bt * g.aux_stride * elem_bytes(g.aux_type) : nullptr;
        // packing reads each operand in its memory order
#pragma omp parallel for schedule(static)
        for (int ib = 0; ib < mblocks; ib++)
            for (int ii = 0; ii < MB && ib * MB + ii < m; ii++) {
                const size_t i = (size_t)ib * MB + ii;
                float* dst = A + (size_t)ib * k * MB + ii;
                for (int p = 0; p < k; p++)
                    dst[(size_t)p * MB] = round_input(
                        load_elem(a, g.a.type, g.trans_a ? (size_t)p + i * g.a.ld : i + (size_t)p * g.a.ld), g.rounding);
            }
#pragma omp parallel for schedule(static)
        for (int jb = 0; jb < nblocks; jb++)
            for (int jj = 0; jj < NB && jb * NB + jj < n; jj++) {
                const size_t j = (size_t)jb * NB + jj;
                float* dst = B + (size_t)jb * k * NB + jj;
                for (int p = 0; p < k; p++)
                    dst[(size_t)p * NB] = round_input(
                        load_elem(b, g.b.type, g.trans_b ? j + (size_t)p * g.b.ld : (size_t)p + j * g.b.ld), g.rounding);
            }
#pragma omp parallel for collapse(2) schedule(static)
        for (int jb = 0; jb < nblocks; jb++)
            for (int ib = 0; ib < mblocks; ib++) {
                float acc[NB][MB] = {}, chunk[NB][MB];
                for (int p0 = 0; p0 < k; p0 += GEMM_KC) {
                    gemm_tile(A + ((size_t)ib * k + p0) * MB, B + ((size_t)jb * k + p0) * NB, std::min(GEMM_KC, k - p0),
                              &chunk[0][0]);
                    for (int jj = 0; jj < NB; jj++)
                        for (int ii = 0; ii < MB; ii++) acc[jj][ii] += chunk[jj][ii];
                }
                for (int jj = 0; jj < NB && jb * NB + jj < n; jj++) {
                    const int j = jb * NB + jj;
                    for (int ii = 0; ii < MB && ib * MB + ii < m; ii++) {
                        const int i = ib * MB + ii;
                        float v = g.alpha * acc[jj][ii];
                        if (g.beta != 0.0f) v += g.beta * load_elem(c, g.c.type, (size_t)i + (size_t)j * g.c.ld);
                        if (g.bias) v += load_elem(g.bias, g.bias_type, i);
                        const size_t ai = (size_t)i + (size_t)j * g.aux_ld;
                        if (g.gelu && aux) store_elem(aux, g.aux_type, ai, v);
                        if (g.gelu) v = gelu_tanh_value(v);
                        if (g.dgelu) v *= gelu_tanh_derivative(load_elem(aux, g.aux_type, ai));
                        store_elem(d, g.d.type, (size_t)i + (size_t)j * g.d.ld, v);
                    }
                }
            }
        if (g.bgrad) { // fixed order: p ascending
            const int len = g.bgrad_of_a ? m : n;
            char* out = (char*)g.bgrad + (size_t)bt * len * elem_bytes(g.bgrad_type);
            for (int x = 0; x < len; x++) {
                float s = 0.0f;
                for (int p = 0; p < k; p++)
                    s += g.bgrad_of_a ? A[((size_t)(x / MB) * k + p) * MB + x % MB] : B[((size_t)(x / NB) * k + p) * NB + x % NB];
                store_elem(out, g.bgrad_type, x, s);
            }
        }
    }
}

// ---- cuBLAS status with a detailed message for emulator-detected problems
inline std::string& blas_detail() {
    static std::string s;
    return s;
}
inline int& blas_detail_status() {
    static int s = 0;
    return s;
}

} // namespace cuda_emu
