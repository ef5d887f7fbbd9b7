// Gradient-noise density, the diagnostic of arXiv 2605.06615 (when SignSGD beats SGD):
// with sigma_i the standard deviation of coordinate i of a micro-batch gradient at fixed
// weights,
//     phi = ||sigma||_1^2 / (d * ||sigma||_2^2)       in (0, 1]
// 1 when every coordinate is equally noisy, about 2/pi = 0.64 when sigma looks like the
// magnitudes of a Gaussian vector, and small (about the fraction of noisy coordinates)
// when the noise is sparse. phi does not depend on the scale of sigma, so the sample
// standard deviation's 1/(K-1) and the gradient's 1/(B*T) do not matter.
//
// Beside phi, from the same K gradients g_1..g_K (per tensor and over the whole model):
//   mean_density = ||E g||_1^2 / (d ||E g||_2^2)   the same density of the mean gradient
//                  (E g the sample mean), as the paper's code logs for its ResNet runs;
//   tail_index   = log m / (mean_i log||Y_i||_2 - mean_k log||X_k||_2)
//                  the block-sum estimator of the heavy-tail index (Mohammadi et al. 2014, as
//                  umutsimsekli/sgd_tail_index uses it): X_k = g_k - E g the noise vectors, m
//                  the largest divisor of K not above sqrt(K), Y_i the sums of m consecutive
//                  X_k (K/m blocks). 2 for finite-variance noise, below 2 heavy-tailed.
//                  Undefined (NaN, null in JSON) when m = 1 (K prime or below 4) or a norm is 0.
//                  Finite-K bias: centering at the sample mean makes X_k and Y_i correlated;
//                  for finite-variance noise E||Y||^2 / E||X||^2 = m (K - m) / (K - 1), so it
//                  reads 2 log m / log(m (K-m)/(K-1)) instead of 2: 2.57 at K = 8 (m = 2),
//                  2.38 at K = 16 (m = 4), 2.06 at K = 128 (m = 8). The paper's formula is
//                  kept as is so the numbers compare; tail_index_gaussian(K) gives the
//                  finite-variance reference value for K.
// These need every noise vector's norm, which Welford's moments do not keep: the
// accumulator also keeps the K gradients themselves (K floats per coordinate on the CPU,
// K floatX on the GPU) and computes the norms once all K are in.
//
// The trainers draw K micro-batches from a loader of their own (noise_loader_seed), take
// each one's gradient at the current weights without updating, and feed them here. d counts
// the coordinates that can have a gradient in the run: the padding rows of wte
// (vocab_size..padded_vocab_size) and the rows of wpe at positions >= T (the run's sequence
// length) always have zero gradient, so they are left out of d (noise_counted_numel).
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

// The block size m of the tail-index estimator: the largest divisor of K not above sqrt(K).
inline int tail_block_size(int K) {
    int m = 1;
    for (int b = 1; (long long)b * b <= K; b++)
        if (K % b == 0) m = b;
    return m;
}

// The estimator's value for finite-variance noise at K samples (see the top): what a
// Gaussian-like measurement reads, 2 only as K grows.
inline double tail_index_gaussian(int K) {
    const int m = tail_block_size(K);
    return m < 2 ? NAN : 2.0 * std::log((double)m) / std::log((double)m * (K - m) / (K - 1));
}

// Everything the three statistics need from (part of) the coordinates: squared norms add
// over a concatenation, so per-tensor sums give the overall values too.
struct NoiseSums {
    SigmaSums sigma;                 // phi
    double mean_l1 = 0, mean_l2 = 0; // ||E g||_1 and ||E g||_2^2
    std::vector<double> x_sq;        // ||X_k||_2^2, k < K
    std::vector<double> y_sq;        // ||Y_i||_2^2, i < K/m
    void add(const NoiseSums& o) {
        sigma.add(o.sigma);
        mean_l1 += o.mean_l1;
        mean_l2 += o.mean_l2;
        if (x_sq.empty()) x_sq.assign(o.x_sq.size(), 0.0), y_sq.assign(o.y_sq.size(), 0.0);
        for (size_t k = 0; k < o.x_sq.size(); k++) x_sq[k] += o.x_sq[k];
        for (size_t i = 0; i < o.y_sq.size(); i++) y_sq[i] += o.y_sq[i];
    }
};

inline double mean_density(const NoiseSums& s) {
    return s.mean_l2 > 0 ? s.mean_l1 * s.mean_l1 / ((double)s.sigma.d * s.mean_l2) : 0.0;
}

// alpha from the squared norms of the K noise vectors and of the K/m block sums.
inline double tail_index(const std::vector<double>& x_sq, const std::vector<double>& y_sq) {
    const int K = (int)x_sq.size(), m = tail_block_size(K);
    if (m < 2 || y_sq.size() != (size_t)(K / m)) return NAN;
    double log_x = 0, log_y = 0;
    for (double v : x_sq) {
        if (!(v > 0)) return NAN;
        log_x += 0.5 * std::log(v);
    }
    for (double v : y_sq) {
        if (!(v > 0)) return NAN;
        log_y += 0.5 * std::log(v);
    }
    const double diff = log_y / (double)y_sq.size() - log_x / K;
    return diff > 0 ? std::log((double)m) / diff : NAN;
}
inline double tail_index(const NoiseSums& s) { return tail_index(s.x_sq, s.y_sq); }

// Per-coordinate running mean and variance of gradient samples (Welford, in double), and
// the samples themselves for the noise vectors' norms (tail_index).
class GradientNoiseAccumulator {
public:
    // keep_samples false: phi and the mean density only (no tail index), 16 bytes per
    // coordinate whatever K is (dev/phi_scaling.cpp's large K).
    explicit GradientNoiseAccumulator(size_t d, bool keep_samples = true) : keep_samples_(keep_samples), mean_(d, 0.0), m2_(d, 0.0) {}
    // What it allocates for d coordinates and K samples (the CPU trainer's memory plan).
    static size_t bytes(size_t d, int K) { return 2 * d * sizeof(double) + (size_t)K * d * sizeof(float); }
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
        if (!keep_samples_) return;
        if (samples_.size() < (size_t)count_) samples_.emplace_back();
        samples_[count_ - 1].assign(g, g + d);
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
    // Every sum of coordinates [begin, end), after the last add.
    NoiseSums noise_sums(size_t begin, size_t end) const {
        NoiseSums r;
        r.sigma = sigma_sums(begin, end);
        for (size_t j = begin; j < end; j++) {
            r.mean_l1 += std::fabs(mean_[j]);
            r.mean_l2 += mean_[j] * mean_[j];
        }
        if (!keep_samples_) return r;
        const int K = count_, m = tail_block_size(K);
        r.x_sq.assign(K, 0.0);
        r.y_sq.assign(K / m, 0.0);
        for (int i = 0; i < K / m; i++)
            for (size_t j = begin; j < end; j++) {
                double y = 0;
                for (int k = i * m; k < (i + 1) * m; k++) {
                    const double x = (double)samples_[k][j] - mean_[j];
                    r.x_sq[k] += x * x;
                    y += x;
                }
                r.y_sq[i] += y * y;
            }
        return r;
    }

private:
    int count_ = 0;
    bool keep_samples_;
    std::vector<double> mean_, m2_;
    std::vector<std::vector<float>> samples_; // the count_ gradients (kept allocated across resets)
};

// The three statistics of one set of coordinates.
struct NoiseStats {
    double phi = 0, mean_density = 0, tail_index = NAN;
    size_t d = 0; // the coordinates counted
};
inline NoiseStats noise_stats(const NoiseSums& s) { return {noise_density(s.sigma), mean_density(s), tail_index(s), s.sigma.d}; }

struct NoiseDensityResult {
    NoiseStats all;                                            // over every counted parameter
    std::vector<std::pair<std::string, NoiseStats>> per_tensor; // the 16 tensors, llm.c order
    std::vector<std::pair<std::string, NoiseStats>> per_group;  // noise_groups(), in that order
};

// The leading coordinates of tensor t that count in d at sequence length T (see the top): wte's
// vocab_size real rows, wpe's first T rows, every other tensor whole. They are the first rows,
// so [offset, offset + count) of the flat layout.
inline size_t noise_counted_numel(const ParamTensor& t, const GPT2Config& cfg, int T) {
    if (std::string(t.name) == "wpe") return (size_t)std::min(T, t.rows) * t.cols;
    return gpt2_real_numel(t, cfg);
}

// Groups of tensors whose phi is reported beside the per-tensor values: at small scale wte is
// most of d and sets the overall phi, so the rest is shown apart. A group's phi is that of its
// tensors' sigmas concatenated (summed SigmaSums).
struct NoiseGroup {
    const char* name;
    std::vector<std::string> tensors;
};
inline const std::vector<NoiseGroup>& noise_groups() {
    static const std::vector<NoiseGroup> groups = {
        {"attention", {"qkvw", "attprojw"}},
        {"mlp", {"fcw", "fcprojw"}},
        {"norms_biases", {"ln1w", "ln1b", "ln2w", "ln2b", "lnfw", "lnfb", "qkvb", "attprojb", "fcb", "fcprojb"}},
        {"all_but_wte", {"wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb", "ln2w", "ln2b", "fcw", "fcb",
                         "fcprojw", "fcprojb", "lnfw", "lnfb"}},
    };
    return groups;
}

// The statistics overall, per parameter tensor and per group of a GPT-2 run at sequence length
// T, from sums(begin, end): the NoiseSums of coordinates [begin, end) of the flat parameter
// layout (the CPU or the GPU accumulator).
template <class Sums>
inline NoiseDensityResult gpt2_noise_density(const GPT2Config& cfg, int T, Sums sums) {
    NoiseDensityResult r;
    NoiseSums all;
    std::vector<std::pair<std::string, NoiseSums>> tensor_sums;
    for (const ParamTensor& t : gpt2_param_tensors(cfg)) {
        const NoiseSums s = sums(t.offset, t.offset + noise_counted_numel(t, cfg, T));
        r.per_tensor.push_back({t.name, noise_stats(s)});
        tensor_sums.push_back({t.name, s});
        all.add(s);
    }
    r.all = noise_stats(all);
    for (const NoiseGroup& g : noise_groups()) {
        NoiseSums group;
        for (const auto& ts : tensor_sums)
            if (std::find(g.tensors.begin(), g.tensors.end(), ts.first) != g.tensors.end()) group.add(ts.second);
        r.per_group.push_back({g.name, noise_stats(group)});
    }
    return r;
}
inline NoiseDensityResult gpt2_noise_density(const GradientNoiseAccumulator& acc, const GPT2Config& cfg, int T) {
    return gpt2_noise_density(cfg, T, [&](size_t begin, size_t end) { return acc.noise_sums(begin, end); });
}
