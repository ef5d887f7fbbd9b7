// Symmetric alpha-stable draws for the heavy-tail toy (dev/toy/toy_experiments.cpp), by the
// Chambers-Mallows-Stuck method (1976) with skewness 0 and scale 1: for V uniform on
// (-pi/2, pi/2) and W exponential with mean 1,
//   X = sin(alpha V) / cos(V)^(1/alpha) * (cos((1 - alpha) V) / W)^((1 - alpha) / alpha)
// alpha = 2 gives N(0, 2), alpha = 1 the standard Cauchy (tan V); below 2 the variance is
// infinite and P(|X| > x) ~ x^-alpha. Uniforms from the counter-based RNG (common/rng.h):
// draw i of stream key uses uniform(key, 2i) and uniform(key, 2i + 1).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "../../common/noise_density.h"
#include "../../common/rng.h"

inline double stable_symmetric(double alpha, uint64_t key, uint64_t i) {
    const double pi = 3.14159265358979323846;
    const double v = pi * (random_uniform(key, 2 * i) - 0.5);
    const double w = -std::log(random_uniform(key, 2 * i + 1));
    if (alpha == 1.0) return std::tan(v);
    return std::sin(alpha * v) / std::pow(std::cos(v), 1.0 / alpha) * std::pow(std::cos((1.0 - alpha) * v) / w, (1.0 - alpha) / alpha);
}

// The project's tail-index estimator (common/noise_density.h, tail_index) on `count` vectors of
// d alpha-stable draws: alpha back, up to sampling noise. The vectors are not centered (their
// location is known to be 0), so the sample-mean bias described there does not arise: a sum of
// m i.i.d. stable vectors is m^(1/alpha) times one in distribution.
inline double tail_index_of_draws(double alpha, uint64_t key, int count, int d) {
    const int m = tail_block_size(count);
    std::vector<double> x_sq(count, 0.0), y_sq(count / m, 0.0);
    std::vector<double> block(d, 0.0);
    for (int k = 0; k < count; k++) {
        if (k % m == 0) block.assign(d, 0.0);
        for (int i = 0; i < d; i++) {
            const double x = stable_symmetric(alpha, key, (uint64_t)k * d + i);
            x_sq[k] += x * x;
            block[i] += x;
        }
        if (k % m == m - 1)
            for (int i = 0; i < d; i++) y_sq[k / m] += block[i] * block[i];
    }
    return tail_index(x_sq, y_sq);
}
