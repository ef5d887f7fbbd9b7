// The heavy-tail index as the heavy-tail paper measures it (arXiv 2602.07425; flags
// --tail-index-every/-samples/-tensor, docs/tail_index.md), for both trainers:
//   - K gradients of single sequences (B = 1, the run's -t tokens) at fixed weights, of one
//     tensor only: layer LAYER's qkvw (default the middle layer L/2), or 2,048 fixed random
//     rows of wte (seed 42);
//   - centred on their mean: X_k = g_k - (1/K) sum_k g_k;
//   - Mohammadi et al. (2014)'s block estimator on the flattened tensor, tail_index() of
//     common/noise_density.h: alpha = log m / (mean_i log||Y_i|| - mean_k log||X_k||), Y_i
//     the sums of m consecutive X_k, m the largest divisor of K not above sqrt(K);
//   - the same estimator on each of 25 fixed random single coordinates of the slice (seed 42);
//   - each rank estimates from its own K samples; the logged values are the means over ranks.
// Memory: the K x n samples, fp32 here (K = 1,250 of d12's qkvw: 1.77M x 1,250 x 4 B = 8.8 GB).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gpt2_layout.h"
#include "noise_density.h"
#include "rng.h"

// The tail index's own data loader (B = 1): its own shuffled order, so measuring never moves
// the training loader (the trajectory is the same with or without --tail-index-every).
inline uint64_t tail_loader_seed(uint64_t seed) { return splitmix64(seed ^ 0x7461696cull); }

enum { TAIL_INDEX_WTE_ROWS = 2048, TAIL_INDEX_COORDS = 25 };
static const uint64_t TAIL_INDEX_SEED = 42; // the paper's code seeds its row and coordinate draws with 42

// The measured coordinates: rows of row_len consecutive elements of the flat parameter
// buffer, concatenated in this order (slice element j is row j / row_len, column j % row_len).
struct TailSlice {
    std::string name; // "qkvw:LAYER" or "wte"
    std::vector<size_t> row_offsets;
    size_t row_len = 0;
    size_t size() const { return row_offsets.size() * row_len; }
    size_t flat_index(size_t j) const { return row_offsets[j / row_len] + j % row_len; }
};

// `count` distinct values of [0, n) in a fixed random order: the first `count` steps of a
// Fisher-Yates shuffle drawn from random_bits(key, i).
inline std::vector<size_t> tail_index_draw(size_t n, size_t count, uint64_t key) {
    std::vector<size_t> all(n);
    for (size_t i = 0; i < n; i++) all[i] = i;
    count = std::min(count, n);
    for (size_t i = 0; i < count; i++) std::swap(all[i], all[i + random_bits(key, i) % (n - i)]);
    all.resize(count);
    return all;
}

// The slice of --tail-index-tensor: layer `layer`'s qkvw, or (wte) 2,048 random real rows
// of wte (never the padding rows, which have no gradient).
inline TailSlice tail_index_slice(const GPT2Config& c, bool wte, int layer) {
    TailSlice s;
    for (const ParamTensor& t : gpt2_param_tensors(c)) {
        const std::string name = t.name;
        if (wte && name == "wte") {
            s.name = "wte";
            s.row_len = t.cols;
            for (size_t r : tail_index_draw(c.vocab_size, TAIL_INDEX_WTE_ROWS, TAIL_INDEX_SEED))
                s.row_offsets.push_back(t.offset + r * t.cols);
        } else if (!wte && name == "qkvw") {
            s.name = "qkvw:" + std::to_string(layer);
            s.row_len = t.layer_numel();
            s.row_offsets.push_back(t.offset + (size_t)layer * t.layer_numel());
        }
    }
    return s;
}

// The 25 single coordinates (indices into the slice) whose indices are logged beside the
// whole slice's.
inline std::vector<size_t> tail_index_coords(size_t n) {
    return tail_index_draw(n, TAIL_INDEX_COORDS, splitmix64(TAIL_INDEX_SEED));
}

struct TailIndexStats {
    double alpha = NAN;              // the whole slice's index
    std::vector<double> coord_alpha; // each of the 25 coordinates' index
    // The mean of the coordinates' indices that are defined (a coordinate whose K values are
    // all equal, e.g. a wte row no sequence touched, has none); NaN when none is.
    double coord_mean() const {
        double sum = 0;
        int n = 0;
        for (double a : coord_alpha)
            if (std::isfinite(a)) sum += a, n++;
        return n ? sum / n : NAN;
    }
};

// The index of one coordinate from its K centred values.
inline double tail_index_1d(const double* x, int K) {
    const int m = tail_block_size(K);
    std::vector<double> x_sq(K), y_sq(K / m, 0.0);
    for (int k = 0; k < K; k++) x_sq[k] = x[k] * x[k];
    for (int i = 0; i < K / m; i++) {
        double y = 0;
        for (int k = i * m; k < (i + 1) * m; k++) y += x[k];
        y_sq[i] = y * y;
    }
    return tail_index(x_sq, y_sq);
}

// The statistics of K samples (row k: sample k's n slice values), centred here in double.
inline TailIndexStats tail_index_of_samples(const float* samples, int K, size_t n, const std::vector<size_t>& coords) {
    TailIndexStats r;
    if (K < 1) return r;
    const int m = tail_block_size(K);
    const long long N = (long long)n;
    std::vector<double> mean(n, 0.0), y(n);
    for (int k = 0; k < K; k++) {
        const float* g = samples + (size_t)k * n;
#pragma omp parallel for if (N > 65536)
        for (long long j = 0; j < N; j++) mean[j] += g[j];
    }
    for (double& v : mean) v /= K;
    std::vector<double> x_sq(K, 0.0), y_sq(K / m, 0.0);
    for (int i = 0; i < K / m; i++) {
        std::fill(y.begin(), y.end(), 0.0);
        for (int k = i * m; k < (i + 1) * m; k++) {
            const float* g = samples + (size_t)k * n;
            double sq = 0;
#pragma omp parallel for reduction(+ : sq) if (N > 65536)
            for (long long j = 0; j < N; j++) {
                const double x = (double)g[j] - mean[j];
                sq += x * x;
                y[j] += x;
            }
            x_sq[k] = sq;
        }
        double ysq = 0;
#pragma omp parallel for reduction(+ : ysq) if (N > 65536)
        for (long long j = 0; j < N; j++) ysq += y[j] * y[j];
        y_sq[i] = ysq;
    }
    r.alpha = tail_index(x_sq, y_sq);
    std::vector<double> x(K);
    for (size_t c : coords) {
        for (int k = 0; k < K; k++) x[k] = (double)samples[(size_t)k * n + c] - mean[c];
        r.coord_alpha.push_back(tail_index_1d(x.data(), K));
    }
    return r;
}

// The means over ranks of every index: mean(x) is the trainer's mean over ranks of a host
// value (dp.mean, one all-reduce per index); a NaN on one rank makes that mean NaN.
template <class MeanOverRanks>
inline void tail_index_rank_mean(TailIndexStats* s, MeanOverRanks mean) {
    s->alpha = mean(s->alpha);
    for (double& a : s->coord_alpha) a = mean(a);
}

// The CPU trainer's sampler: the K single-sequence gradients of the slice, fp32.
class TailIndexSampler {
public:
    TailIndexSampler(const TailSlice& slice, int K)
        : slice_(slice), K_(K), samples_((size_t)K * slice.size()), coords_(tail_index_coords(slice.size())) {}
    // What it allocates (the CPU trainer's memory plan): the samples, and the mean and one
    // block sum (double) while estimating.
    static size_t bytes(size_t n, int K) { return (size_t)K * n * sizeof(float) + 2 * n * sizeof(double); }
    const TailSlice& slice() const { return slice_; }
    const std::vector<size_t>& coords() const { return coords_; }
    int count() const { return count_; }
    void reset() { count_ = 0; }
    // Copies the slice of one sequence's gradient (the whole flat gradient buffer).
    void add(const float* grads) {
        if (count_ == K_) fail_runtime("TailIndexSampler holds %d samples", K_);
        float* dst = samples_.data() + (size_t)count_ * slice_.size();
        for (size_t r = 0; r < slice_.row_offsets.size(); r++)
            std::copy(grads + slice_.row_offsets[r], grads + slice_.row_offsets[r] + slice_.row_len, dst + r * slice_.row_len);
        count_++;
    }
    const float* samples() const { return samples_.data(); }
    TailIndexStats estimate() const { return tail_index_of_samples(samples_.data(), count_, slice_.size(), coords_); }

private:
    TailSlice slice_;
    int K_, count_ = 0;
    std::vector<float> samples_;
    std::vector<size_t> coords_;
};
