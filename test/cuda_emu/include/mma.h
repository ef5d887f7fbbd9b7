// Stand-in for CUDA's mma.h (CUDA emulator): nvcuda::wmma fragments. Every lane holds the
// whole tile (num_elements is the tile size, unlike a GPU's per-lane share), so kernels may
// only apply uniform elementwise operations to x[]. Each operation is a warp collective:
// every lane of the warp must reach it (as on a GPU). mma_sync multiplies in fp32.
#pragma once
#include "cuda_bf16.h"
#include "cuda_emu/device.h"

namespace nvcuda {
namespace wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

namespace detail {
template <typename Use, int M, int N, int K> struct shape;
template <int M, int N, int K> struct shape<matrix_a, M, N, K> { static constexpr int rows = M, cols = K; };
template <int M, int N, int K> struct shape<matrix_b, M, N, K> { static constexpr int rows = K, cols = N; };
template <int M, int N, int K> struct shape<accumulator, M, N, K> { static constexpr int rows = M, cols = N; };
inline void warp_op() { cuda_emu::warp_collective(cuda_emu::Collective::Wmma, 0xffffffffu, 0); }
} // namespace detail

// x[r * cols + c] holds element (r, c) of the tile, row-major whatever the memory layout.
template <typename Use, int M, int N, int K, typename T, typename Layout = void> class fragment {
public:
    static constexpr int rows = detail::shape<Use, M, N, K>::rows, cols = detail::shape<Use, M, N, K>::cols;
    static constexpr int num_elements = rows * cols;
    typedef T element_type;
    T x[num_elements];
};

template <typename Use, int M, int N, int K, typename T, typename Layout, typename V>
inline void fill_fragment(fragment<Use, M, N, K, T, Layout>& f, const V& v) {
    detail::warp_op();
    for (int i = 0; i < f.num_elements; i++) f.x[i] = T(v);
}

template <typename Use, int M, int N, int K, typename T, typename Layout>
inline void load_matrix_sync(fragment<Use, M, N, K, T, Layout>& f, const T* p, unsigned ldm) {
    static_assert(!std::is_same_v<Use, accumulator>, "accumulator loads need a layout_t argument");
    detail::warp_op();
    constexpr bool row = std::is_same_v<Layout, row_major>;
    for (int r = 0; r < f.rows; r++)
        for (int c = 0; c < f.cols; c++) f.x[r * f.cols + c] = row ? p[(size_t)r * ldm + c] : p[(size_t)c * ldm + r];
}
template <int M, int N, int K, typename T>
inline void load_matrix_sync(fragment<accumulator, M, N, K, T>& f, const T* p, unsigned ldm, layout_t layout) {
    detail::warp_op();
    for (int r = 0; r < f.rows; r++)
        for (int c = 0; c < f.cols; c++)
            f.x[r * f.cols + c] = layout == mem_row_major ? p[(size_t)r * ldm + c] : p[(size_t)c * ldm + r];
}
template <int M, int N, int K, typename T>
inline void store_matrix_sync(T* p, const fragment<accumulator, M, N, K, T>& f, unsigned ldm, layout_t layout) {
    detail::warp_op();
    for (int r = 0; r < f.rows; r++)
        for (int c = 0; c < f.cols; c++)
            (layout == mem_row_major ? p[(size_t)r * ldm + c] : p[(size_t)c * ldm + r]) = f.x[r * f.cols + c];
}

// d = a b + c, products summed in fp32 in k order, then added to c.
template <int M, int N, int K, typename TA, typename LA, typename TB, typename LB, typename TC>
inline void mma_sync(fragment<accumulator, M, N, K, TC>& d, const fragment<matrix_a, M, N, K, TA, LA>& a,
                     const fragment<matrix_b, M, N, K, TB, LB>& b, const fragment<accumulator, M, N, K, TC>& c) {
    detail::warp_op();
    float out[M * N];
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++) s += (float)a.x[i * K + k] * (float)b.x[k * N + j];
            out[i * N + j] = (float)c.x[i * N + j] + s;
        }
    for (int i = 0; i < M * N; i++) d.x[i] = TC(out[i]);
}

} // namespace wmma
} // namespace nvcuda
