// Gradient-noise density, the diagnostic of arXiv 2605.06615 (when SignSGD beats SGD):
// with sigma_i the standard deviation of coordinate i of a micro-batch gradient at fixed
// weights,
//     phi = ||sigma||_1^2 / (d * ||sigma||_2^2)       in (0, 1]
// 1 when every coordinate is equally noisy, about 2/pi = 0.64 when sigma looks like the
// magnitudes of a Gaussian vector, and small (about the fraction of noisy coordinates)
// when the noise is sparse. phi does not depend on the scale of sigma, so the sample
// standard deviation's 1/(K-1) and the gradient's 1/(B*T) do not matter.
//
// The trainers draw K micro-batches from a loader of their own (noise_loader_seed), take
// each one's gradient at the current weights without updating, and feed them here. The
// padding rows of wte (vocab_size..padded_vocab_size) always have zero gradient and are
// not parameters of the model in any real sense, so they are left out of d.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gpt2_layout.h"
#include "rng.h"

// The per-coordinate estimator below is shared with the GPU (kernels/noise_density.cuh).
#ifdef __CUDACC__
#define NOISE_HD __host__ __device__
#else
#define NOISE_HD
#endif

// The noise loader's seed: its own shuffled data order, so measuring never moves the
// training loader (the training trajectory is the same with or without --noise-every).
inline uint64_t noise_loader_seed(uint64_t seed) { return splitmix64(seed ^ 0x6e6f697365ull); }

// ||sigma||_1, ||sigma||_2^2 and the length d of (part of) a sigma vector: phi of a
// concatenation is phi of the summed sums, so per-tensor sums give the overall phi too.
struct SigmaSums {
    double l1 = 0, l2 = 0;
    size_t d = 0;
    void add(const SigmaSums& o) { l1 += o.l1; l2 += o.l2; d += o.d; }
};
// phi from the sums; 0 when every sigma is 0.
inline double noise_density(const SigmaSums& s) { return s.l2 > 0 ? s.l1 * s.l1 / ((double)s.d * s.l2) : 0.0; }

// phi of a vector of standard deviations.
inline double noise_density(const double* sigma, size_t d) {
    SigmaSums s;
    for (size_t i = 0; i < d; i++) { s.l1 += std::fabs(sigma[i]); s.l2 += sigma[i] * sigma[i]; }
    s.d = d;
    return noise_density(s);
}

// One coordinate's Welford step with its count-th sample g (inv_count = 1/count).
NOISE_HD inline void welford_add(double g, double inv_count, double& mean, double& m2) {
    const double delta = g - mean;
    mean += delta * inv_count;
    m2 += delta * (g - mean);
}
// Sample standard deviation from Welford's m2 after count samples.
NOISE_HD inline double welford_sigma(double m2, int count) { return sqrt(m2 / (count > 1 ? (double)(count - 1) : 1.0)); }

// Per-coordinate running mean and variance of gradient samples (Welford, in double, so
// K samples need 2 doubles per coordinate instead of K floats).
class GradientNoiseAccumulator {
public:
    explicit GradientNoiseAccumulator(size_t d) : mean_(d, 0.0), m2_(d, 0.0) {}
    void reset() {
        count_ = 0;
        std::fill(mean_.begin(), mean_.end(), 0.0);
        std::fill(m2_.begin(), m2_.end(), 0.0);
    }
    void add(const float* g) {
        count_++;
        const double inv = 1.0 / (double)count_;
        const long long d = (long long)mean_.size();
#pragma omp parallel for
        for (long long i = 0; i < d; i++) welford_add((double)g[i], inv, mean_[i], m2_[i]);
    }
    int count() const { return count_; }
    // Sample standard deviation of coordinates [begin, end).
    std::vector<double> sigma(size_t begin, size_t end) const {
        std::vector<double> s(end - begin);
        for (size_t i = begin; i < end; i++) s[i - begin] = welford_sigma(m2_[i], count_);
        return s;
    }
    SigmaSums sigma_sums(size_t begin, size_t end) const {
        SigmaSums r;
        for (size_t i = begin; i < end; i++) {
            const double s = welford_sigma(m2_[i], count_);
            r.l1 += s;
            r.l2 += s * s;
        }
        r.d = end - begin;
        return r;
    }

private:
    int count_ = 0;
    std::vector<double> mean_, m2_;
};

struct NoiseDensityResult {
    double phi = 0;                                          // over every real parameter
    std::vector<std::pair<std::string, double>> per_tensor;  // the 16 tensors, llm.c order
};

// phi overall and per parameter tensor of a GPT-2, from sums(begin, end): the SigmaSums of
// coordinates [begin, end) of the flat parameter layout (the CPU or the GPU accumulator).
template <class Sums>
inline NoiseDensityResult gpt2_noise_density(const GPT2Config& cfg, Sums sums) {
    NoiseDensityResult r;
    SigmaSums all;
    for (const ParamTensor& t : gpt2_param_tensors(cfg)) {
        const bool is_wte = std::string(t.name) == "wte";
        const size_t n = is_wte ? (size_t)cfg.vocab_size * t.cols : t.numel();  // real rows only
        const SigmaSums s = sums(t.offset, t.offset + n);
        r.per_tensor.push_back({t.name, noise_density(s)});
        all.add(s);
    }
    r.phi = noise_density(all);
    return r;
}
inline NoiseDensityResult gpt2_noise_density(const GradientNoiseAccumulator& acc, const GPT2Config& cfg) {
    return gpt2_noise_density(cfg, [&](size_t begin, size_t end) { return acc.sigma_sums(begin, end); });
}
