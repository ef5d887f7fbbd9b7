// The tail index's GPU sampler (kernels/tail_index.cuh) against the CPU reference
// (common/tail_index.h: tail_index_of_samples in double) on fresh heavy-tailed gradients:
// a qkvw-like slice (one contiguous row) and a wte-like one (rows scattered over the buffer).
// Checks per slice: the gathered samples equal the slice's floatX values bit for bit; the
// whole-slice index and the 25 coordinates' indices within TAIL_TOL of the reference; two
// estimates bit-identical (the partials are added in a fixed order).
// Both sides see the same floatX values, so only summation order and the fp32 centring
// differ: TAIL_TOL is 1e-4 in both builds.
#include <cmath>
#include <cstring>
#include <vector>

#include "../../kernels/tail_index.cuh"
#include "dev_common.cuh"

static const double TAIL_TOL = 1e-4;

// A floatX-rounded gradient buffer: heavy-tailed values (|u|^(-1/1.5), a Pareto tail of index
// 1.5, with a random sign, times 1e-3) plus a per-coordinate offset (the mean to centre out).
static std::vector<float> heavy_tailed_gradient(size_t P, uint64_t key) {
    std::vector<float> g(P);
    for (size_t i = 0; i < P; i++) {
        const double u = random_uniform(key, 2 * i), s = random_uniform(key, 2 * i + 1) < 0.5 ? -1.0 : 1.0;
        g[i] = to_float(from_float<floatX>((float)(1e-3 * s * std::pow(u, -1.0 / 1.5) + 2e-3 * std::sin((double)(i % 977)))));
    }
    return g;
}

static void check_slice(const char* name, const TailSlice& slice, size_t P, int K) {
    const size_t n = slice.size();
    GpuTailIndexSampler sampler(slice, K);
    floatX* d_grad = device_alloc<floatX>(P);
    std::vector<float> want((size_t)K * n);
    for (int k = 0; k < K; k++) {
        const std::vector<float> g = heavy_tailed_gradient(P, 100 + k);
        upload_into(d_grad, g);
        sampler.add(d_grad);
        for (size_t j = 0; j < n; j++) want[(size_t)k * n + j] = g[slice.flat_index(j)];
    }
    cudaCheck(cudaFree(d_grad));
    std::vector<floatX> got((size_t)K * n);
    cudaCheck(cudaMemcpy(got.data(), sampler.samples(), got.size() * sizeof(floatX), cudaMemcpyDeviceToHost));
    size_t differ = 0;
    for (size_t i = 0; i < got.size(); i++) differ += to_float(got[i]) != want[i];
    test_expect(differ == 0, std::string("tail_index/") + name + "/gather", std::to_string(differ) + " gathered values differ");

    const TailIndexStats ref = tail_index_of_samples(want.data(), K, n, sampler.coords());
    const TailIndexStats a = sampler.estimate(), b = sampler.estimate();
    check_close(std::string("tail_index/") + name + "/alpha", &a.alpha, &ref.alpha, 1, TAIL_TOL);
    // a coordinate's index is NaN where the estimator is undefined (block sums no larger
    // than the samples): those must agree, the rest be close
    std::vector<double> got_c, ref_c;
    size_t nan_mismatch = 0;
    for (size_t c = 0; c < ref.coord_alpha.size(); c++) {
        if (std::isnan(ref.coord_alpha[c]) != std::isnan(a.coord_alpha[c])) nan_mismatch++;
        else if (!std::isnan(ref.coord_alpha[c])) got_c.push_back(a.coord_alpha[c]), ref_c.push_back(ref.coord_alpha[c]);
    }
    test_expect(a.coord_alpha.size() == TAIL_INDEX_COORDS && nan_mismatch == 0, std::string("tail_index/") + name + "/coords_defined",
                std::to_string(a.coord_alpha.size()) + " coordinates, " + std::to_string(nan_mismatch) + " NaN in one only");
    check_close(std::string("tail_index/") + name + "/coords", got_c.data(), ref_c.data(), ref_c.size(), TAIL_TOL);
    const bool same = memcmp(&a.alpha, &b.alpha, sizeof(double)) == 0 && a.coord_alpha.size() == b.coord_alpha.size() &&
                      memcmp(a.coord_alpha.data(), b.coord_alpha.data(), a.coord_alpha.size() * sizeof(double)) == 0; // bits: NaN too
    test_expect(same, std::string("tail_index/") + name + "/deterministic", "two estimates differ");
    printf("  %s: n %zu, K %d, alpha %.6f (reference %.6f)\n", name, n, K, a.alpha, ref.alpha);
}

int main(int argc, char** argv) {
    DEV_SKIP_WITHOUT_DEVICE("tail_index.cu");
    const size_t row_len = DEV_SIZE(768, 64), rows_total = DEV_SIZE(8192, 600);
    const size_t P = rows_total * row_len;
    const int K = DEV_SIZE(100, 36);
    TailSlice qkvw_like;
    qkvw_like.name = "qkvw-like";
    qkvw_like.row_len = DEV_SIZE(3 * 768 * 768, 3 * 64 * 64);
    qkvw_like.row_offsets = {P / 7};
    TailSlice wte_like;
    wte_like.name = "wte-like";
    wte_like.row_len = row_len;
    for (size_t r : tail_index_draw(rows_total, DEV_SIZE(2048, 200), TAIL_INDEX_SEED)) wte_like.row_offsets.push_back(r * row_len);
    std::vector<DevVersion> versions = {
        {1, "tail_index",
         [&] {
             check_slice("qkvw_like", qkvw_like, P, K);
             check_slice("wte_like", wte_like, P, K);
         },
         [&] {}, 0},
    };
    return dev_main("tail_index.cu", argc, argv, versions);
}
