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

// The noise loader's seed: its own shuffled data order, so measuring never moves the
// training loader (the training trajectory is the same with or without --noise-every).
inline uint64_t noise_loader_seed(uint64_t seed) { return splitmix64(seed ^ 0x6e6f697365ull); }

// phi of a vector of standard deviations; 0 when all of them are 0.
inline double noise_density(const double* sigma, size_t d) {
    double l1 = 0, l2 = 0;
    for (size_t i = 0; i < d; i++) { l1 += std::fabs(sigma[i]); l2 += sigma[i] * sigma[i]; }
    return l2 > 0 ? l1 * l1 / ((double)d * l2) : 0.0;
}

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
        for (long long i = 0; i < d; i++) {
            const double delta = (double)g[i] - mean_[i];
            mean_[i] += delta * inv;
            m2_[i] += delta * ((double)g[i] - mean_[i]);
        }
    }
    int count() const { return count_; }
    // Sample standard deviation of coordinates [begin, end).
    std::vector<double> sigma(size_t begin, size_t end) const {
        std::vector<double> s(end - begin);
        const double denom = count_ > 1 ? (double)(count_ - 1) : 1.0;
        for (size_t i = begin; i < end; i++) s[i - begin] = std::sqrt(m2_[i] / denom);
        return s;
    }

private:
    int count_ = 0;
    std::vector<double> mean_, m2_;
};

struct NoiseDensityResult {
    double phi = 0;                                          // over every real parameter
    std::vector<std::pair<std::string, double>> per_tensor;  // the 16 tensors, llm.c order
};

// phi overall and per parameter tensor from the accumulated gradients of a GPT-2.
inline NoiseDensityResult gpt2_noise_density(const GradientNoiseAccumulator& acc, const GPT2Config& cfg) {
    NoiseDensityResult r;
    std::vector<double> all;
    for (const ParamTensor& t : gpt2_param_tensors(cfg)) {
        const bool is_wte = std::string(t.name) == "wte";
        const size_t n = is_wte ? (size_t)cfg.vocab_size * t.cols : t.numel();  // real rows only
        const std::vector<double> s = acc.sigma(t.offset, t.offset + n);
        r.per_tensor.push_back({t.name, noise_density(s.data(), s.size())});
        all.insert(all.end(), s.begin(), s.end());
    }
    r.phi = noise_density(all.data(), all.size());
    return r;
}
