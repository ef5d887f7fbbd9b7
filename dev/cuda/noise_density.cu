// The gradient-noise sums on the GPU (kernels/noise_density.cuh: GpuNoiseAccumulator) against
// the CPU reference (common/noise_density.h: GradientNoiseAccumulator, in double) on fresh
// gradients: K samples of d coordinates, each coordinate with its own mean and noise scale
// (some coordinates noiseless, so sigma is sparse). Per case, each group within NOISE_TOL of
// the reference: the sums of sigma, sigma^2, |mean| and mean^2; every ||X_k||^2; every
// ||Y_i||^2; and two calls bit-identical (the partials are added in a fixed order). Cases: block sizes m = 2, 3 and 16
// (NOISE_MAX_BLOCK: K = 256), a range that starts and ends off any alignment, and one longer
// than the grid's threads (each thread strides more than once).
// Both sides see the same floatX values and the same Welford steps in double; only the order
// of the additions differs: NOISE_TOL is 1e-10 in both builds.
#include <cstring>
#include <vector>

#include "../../kernels/noise_density.cuh"
#include "dev_common.cuh"

static const double NOISE_TOL = 1e-10;

// Sample k of d coordinates: coordinate i has mean sin(i) * 1e-2 and noise scale 0 (i % 5 == 0)
// or (1 + i % 3) * 1e-3, rounded to floatX.
static std::vector<float> noisy_gradient(size_t d, int k) {
    std::vector<float> g = random_vector(d, 1000 + k);
    for (size_t i = 0; i < d; i++) {
        const float scale = i % 5 == 0 ? 0.0f : (float)(1 + i % 3) * 1e-3f;
        g[i] = to_float(from_float<floatX>(1e-2f * std::sin((float)i) + scale * g[i]));
    }
    return g;
}

static std::vector<double> flat(const NoiseSums& s) {
    std::vector<double> v = {s.sigma.l1, s.sigma.l2, s.mean_l1, s.mean_l2};
    v.insert(v.end(), s.x_sq.begin(), s.x_sq.end());
    v.insert(v.end(), s.y_sq.begin(), s.y_sq.end());
    return v;
}

struct NoiseCase {
    const char* name;
    size_t d;
    int K;
    size_t begin, end;
};

// Fills both accumulators with the case's K samples and compares their sums over [begin, end).
static void check_case(const NoiseCase& c) {
    const std::string tag = std::string("noise_density/") + c.name;
    GpuNoiseAccumulator gpu(c.d, c.K);
    GradientNoiseAccumulator cpu(c.d);
    gpu.reset();
    cpu.reset();
    floatX* d_grad = device_alloc<floatX>(c.d);
    for (int k = 0; k < c.K; k++) {
        const std::vector<float> g = noisy_gradient(c.d, k);
        upload_into(d_grad, g);
        gpu.add(d_grad);
        cpu.add(g.data());
    }
    cudaCheck(cudaFree(d_grad));
    const NoiseSums ref = cpu.noise_sums(c.begin, c.end), a = gpu.noise_sums(c.begin, c.end), b = gpu.noise_sums(c.begin, c.end);
    const std::vector<double> want = flat(ref), got = flat(a), again = flat(b);
    const bool shape = got.size() == want.size() && a.sigma.d == ref.sigma.d && a.x_sq.size() == (size_t)c.K;
    test_expect(shape, tag + "/shape",
                std::to_string(got.size()) + " sums vs " + std::to_string(want.size()) + ", d " + std::to_string(a.sigma.d));
    if (!shape) return;
    // each group on its own: the sigma sums (about d 1e-3) would hide an error in ||X||^2 (d 1e-6)
    check_close(tag + "/moment_sums", got.data(), want.data(), 4, NOISE_TOL);
    check_close(tag + "/x_sq", a.x_sq.data(), ref.x_sq.data(), ref.x_sq.size(), NOISE_TOL);
    check_close(tag + "/y_sq", a.y_sq.data(), ref.y_sq.data(), ref.y_sq.size(), NOISE_TOL);
    test_expect(std::memcmp(got.data(), again.data(), got.size() * sizeof(double)) == 0, tag + "/deterministic",
                "two calls' sums differ");
}

int main(int argc, char** argv) {
    DEV_SKIP_WITHOUT_DEVICE("noise_density.cu");
    // more coordinates than the grid's threads (4 blocks per SM x 256: 135168 on 132 SMs)
    const size_t big = DEV_SIZE(124475904, 300007);
    const std::vector<NoiseCase> cases = {
        {"K4_m2_strided", big, 4, 0, big},
        {"K12_m3_unaligned_range", 3001, 12, 37, 2990},
        {"K256_m16", 701, 256, 1, 701},
    };
    // the timed call: every sum over the big case (K = 8 on a GPU: m = 2, four block launches)
    const int K_timed = DEV_SIZE(8, 4);
    GpuNoiseAccumulator* timed = nullptr;
    auto timed_run = [&] {
        if (!timed) {
            timed = new GpuNoiseAccumulator(big, K_timed);
            timed->reset();
            floatX* d_grad = upload(noisy_gradient(big, 0));
            for (int k = 0; k < K_timed; k++) timed->add(d_grad);
            cudaCheck(cudaFree(d_grad));
        }
        timed->noise_sums(0, big);
    };
    // bytes: mean and m2 once, then each block launch reads the mean and its m samples
    const int m_timed = tail_block_size(K_timed);
    const double bytes = (double)big * (16.0 + (K_timed / m_timed) * 8.0 + K_timed * sizeof(floatX));
    std::vector<DevVersion> versions = {
        {1, "noise_sums", [&] { for (const NoiseCase& c : cases) check_case(c); }, timed_run, bytes},
    };
    const int rc = dev_main("noise_density.cu", argc, argv, versions);
    delete timed;
    return rc;
}
