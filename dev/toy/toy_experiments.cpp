// The synthetic experiments of arXiv 2605.06615 (when SignSGD beats SGD) and arXiv 2602.07425
// (sign methods under heavy-tailed noise), run through the trainers' own per-element update
// rules (dev/toy/toy_optimizers.h). `make toy` builds and runs it, then draws the figure.
//
//   deter    f = 1/2 sum L_i x_i^2, d = 5000, L_0 = 1000, L_i = 1; x0 ~ N(0, I), x0[0] /= 1000;
//            exact gradients; lr grid 1e-2..1e-8; per rule the lowest final loss not above
//            the initial loss (the paper's rule).
//   sto      f = 1/2 ||x||^2, d = 100, gradient noise N(0, 100^2) on coordinate 0 only, 42 seeds;
//            SGD at lr 1e-3 against SignSGD at 1e-2 (the paper's rates): mean and 10-90% band.
//   scaling  the theorem in numbers: d = 10..10^4, noise on k = 1, ~sqrt(d) or d coordinates
//            (density s = k/d) with ||sigma||_2^2 = d fixed at each d; iterations until the
//            mean over seeds of ||grad f||_1 <= eps (l1 stationarity), at each rule's best lr.
//   heavy    f = 1/2 ||x||^2, d = 100, i.i.d. symmetric alpha-stable noise (alpha 2, 1.5, 1.2)
//            on every coordinate: SGD, clipped SGD, NSGD, SignSGD, Signum at their best lr.
// Writes DIR/{deter_grid,deter_curves,sto_curves,scaling,heavy_grid,heavy_curves}.csv and
// prints the tables. `--scale quick` shrinks every size for the test (test/test_toy.sh).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../../common/noise_density.h"
#include "../../common/rng.h"
#include "../../common/utils.h"
#include "toy_optimizers.h"
#include "toy_stable.h"

struct ToyScale {
    int deter_d, deter_steps;
    int sto_seeds, sto_steps;
    std::vector<int> scaling_dims;
    int scaling_steps, scaling_max_lanes;
    int heavy_seeds, heavy_steps, tail_samples;
};

static ToyScale full_scale() { return {5000, 3000, 42, 3000, {10, 100, 1000, 10000}, 3000, 4096, 16, 3000, 4096}; }
static ToyScale quick_scale() { return {1000, 1000, 16, 1000, {10, 100, 1000}, 1000, 512, 4, 1000, 4096}; }

// Stream keys of the counter-based RNG (common/rng.h): one per experiment, seed and use.
static uint64_t stream_key(const char* experiment, uint64_t a, uint64_t b = 0) {
    uint64_t h = 0x746f79ull;  // "toy"
    for (const char* c = experiment; *c; c++) h = splitmix64(h ^ (uint64_t)(unsigned char)*c);
    return splitmix64(splitmix64(h ^ a) ^ b);
}

// numpy.percentile's default (linear interpolation between order statistics).
static double percentile(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    const double pos = q / 100.0 * (double)(v.size() - 1);
    const size_t lo = (size_t)std::floor(pos), hi = std::min(lo + 1, v.size() - 1);
    // equal neighbours (both +inf for diverged runs, say) need no interpolation: inf - inf is NaN
    return v[hi] == v[lo] ? v[lo] : v[lo] + (pos - (double)lo) * (v[hi] - v[lo]);
}

static FILE* open_csv(const std::string& dir, const char* name) { return open_or_fail((dir + "/" + name).c_str(), "w"); }

// lr = 10^0, 10^-0.5, ..., 10^-5 (the grid of scaling and heavy).
static std::vector<float> half_decade_grid() {
    std::vector<float> g;
    for (int e = 0; e <= 10; e++) g.push_back((float)std::pow(10.0, -0.5 * e));
    return g;
}

static ToyOptimizer make_optimizer(ToyRule rule, float lr, float clip = 0.0f) {
    ToyOptimizer o{rule, lr};
    o.clip = clip;
    return o;
}

// ---------------------------------------------------------------- deter
static void run_deter(const ToyScale& sc, const std::string& dir) {
    const int d = sc.deter_d, steps = sc.deter_steps;
    const float stiff = 1000.0f;
    std::vector<float> L(d, 1.0f), x0(d);
    L[0] = stiff;
    for (int i = 0; i < d; i++) x0[i] = (float)random_normal(stream_key("deter", 0), (uint64_t)i);
    x0[0] /= stiff;
    const std::vector<ToyRule> rules = {ToyRule::Sgd, ToyRule::SignSgd, ToyRule::Signum, ToyRule::Nsgd};
    const std::vector<float> lrs = {1e-2f, 1e-3f, 1e-4f, 1e-5f, 1e-6f, 1e-7f, 1e-8f};
    const int runs = (int)(rules.size() * lrs.size());
    std::vector<std::vector<double>> loss(runs, std::vector<double>(steps + 1, NAN));
#pragma omp parallel for schedule(dynamic)
    for (int r = 0; r < runs; r++) {
        ToyOptimizer opt = make_optimizer(rules[r / lrs.size()], lrs[r % lrs.size()]);
        std::vector<float> x = x0, g(d);
        for (int t = 0; t <= steps; t++) {
            double f = 0;
            for (int i = 0; i < d; i++) {
                g[i] = L[i] * x[i];
                f += 0.5 * (double)L[i] * (double)x[i] * (double)x[i];
            }
            loss[r][t] = f;
            if (!std::isfinite(f) || t == steps) break;
            opt.step(x.data(), g.data(), d);
        }
    }
    FILE* grid = open_csv(dir, "deter_grid.csv");
    fprintf(grid, "rule,lr,initial_loss,final_loss,selected\n");
    std::vector<int> best(rules.size(), -1);
    for (size_t k = 0; k < rules.size(); k++)
        for (size_t j = 0; j < lrs.size(); j++) {
            const std::vector<double>& c = loss[k * lrs.size() + j];
            const double fin = c[steps];
            if (std::isfinite(fin) && fin <= c[0] && (best[k] < 0 || fin < loss[best[k]][steps])) best[k] = (int)(k * lrs.size() + j);
        }
    printf("\n== deter: d = %d, L_0 = %.0f, %d steps, exact gradients; best final loss not above the initial\n", d, stiff, steps);
    printf("| rule | best lr | initial loss | final loss |\n|---|---|---|---|\n");
    for (size_t k = 0; k < rules.size(); k++) {
        for (size_t j = 0; j < lrs.size(); j++) {
            const int r = (int)(k * lrs.size() + j);
            fprintf(grid, "%s,%g,%.9g,%.9g,%d\n", toy_rule_name(rules[k]), lrs[j], loss[r][0], loss[r][steps], r == best[k]);
        }
        if (best[k] < 0) printf("| %s | none | %.4g | none at or below the initial |\n", toy_rule_name(rules[k]), loss[0][0]);
        else printf("| %s | %g | %.4g | %.4g |\n", toy_rule_name(rules[k]), lrs[best[k] % lrs.size()], loss[best[k]][0], loss[best[k]][steps]);
    }
    fclose(grid);
    FILE* curves = open_csv(dir, "deter_curves.csv");
    fprintf(curves, "step");
    for (size_t k = 0; k < rules.size(); k++) fprintf(curves, ",%s", toy_rule_name(rules[k]));
    fprintf(curves, "\n");
    for (int t = 0; t <= steps; t++) {
        fprintf(curves, "%d", t);
        for (size_t k = 0; k < rules.size(); k++) fprintf(curves, ",%.9g", best[k] < 0 ? NAN : loss[best[k]][t]);
        fprintf(curves, "\n");
    }
    fclose(curves);
}

// ---------------------------------------------------------------- sto
static void run_sto(const ToyScale& sc, const std::string& dir) {
    const int d = 100, seeds = sc.sto_seeds, steps = sc.sto_steps;
    const float noise_std = 100.0f;
    struct Arm { ToyRule rule; float lr; };
    const std::vector<Arm> arms = {{ToyRule::Sgd, 1e-3f}, {ToyRule::SignSgd, 1e-2f}};
    // loss[arm][seed][t]
    std::vector<std::vector<std::vector<double>>> loss(arms.size(), std::vector<std::vector<double>>(seeds, std::vector<double>(steps + 1)));
#pragma omp parallel for schedule(dynamic)
    for (int r = 0; r < (int)arms.size() * seeds; r++) {
        const int a = r / seeds, s = r % seeds;
        ToyOptimizer opt = make_optimizer(arms[a].rule, arms[a].lr);
        std::vector<float> x(d), g(d);
        for (int i = 0; i < d; i++) x[i] = (float)random_normal(stream_key("sto/x0", s), (uint64_t)i);
        for (int t = 0; t <= steps; t++) {
            double f = 0;
            for (int i = 0; i < d; i++) { g[i] = x[i]; f += 0.5 * (double)x[i] * x[i]; }
            loss[a][s][t] = f;
            if (t == steps) break;
            // the same noise for both rules: seed s's draw at step t
            g[0] += noise_std * (float)random_normal(stream_key("sto/noise", s), (uint64_t)t);
            opt.step(x.data(), g.data(), d);
        }
    }
    FILE* curves = open_csv(dir, "sto_curves.csv");
    fprintf(curves, "step");
    for (const Arm& a : arms) fprintf(curves, ",%s_mean,%s_p10,%s_p90", toy_rule_name(a.rule), toy_rule_name(a.rule), toy_rule_name(a.rule));
    fprintf(curves, "\n");
    std::vector<double> final_mean(arms.size()), final_p10(arms.size()), final_p90(arms.size());
    for (int t = 0; t <= steps; t++) {
        fprintf(curves, "%d", t);
        for (size_t a = 0; a < arms.size(); a++) {
            std::vector<double> v(seeds);
            double mean = 0;
            for (int s = 0; s < seeds; s++) { v[s] = loss[a][s][t]; mean += v[s] / seeds; }
            const double p10 = percentile(v, 10), p90 = percentile(v, 90);
            fprintf(curves, ",%.9g,%.9g,%.9g", mean, p10, p90);
            if (t == steps) final_mean[a] = mean, final_p10[a] = p10, final_p90[a] = p90;
        }
        fprintf(curves, "\n");
    }
    fclose(curves);
    printf("\n== sto: d = %d, noise N(0, %.0f^2) on coordinate 0 only, %d seeds, %d steps\n", d, noise_std, seeds, steps);
    printf("| rule | lr | final loss: mean | 10%% | 90%% |\n|---|---|---|---|---|\n");
    for (size_t a = 0; a < arms.size(); a++)
        printf("| %s | %g | %.4g | %.4g | %.4g |\n", toy_rule_name(arms[a].rule), arms[a].lr, final_mean[a], final_p10[a], final_p90[a]);
}

// ---------------------------------------------------------------- scaling
// f = 1/2 sum L_i x_i^2 with x0 ~ N(0, I) (x0[0] /= L_0), noise sigma_i = sqrt(d / k) on the
// last k coordinates (||sigma||_2^2 = d whatever k). The coordinates are independent and the
// rules per-element, so the noise-free ones run once and the k noisy ones once per seed: the
// flat vector is [noise-free | seed 0's noisy | seed 1's noisy | ...], and the means over seeds
// weight each seed's copy by 1/seeds.
struct ScalingResult {
    float lr = NAN;
    int hit = -1;            // first step with mean ||grad f||_1 <= eps; -1: not within the steps
    double initial_loss = NAN, final_loss = NAN, final_l1 = NAN;
};

static ScalingResult scaling_run(ToyRule rule, float lr, const std::vector<float>& L, const std::vector<float>& x0,
                                 const std::vector<float>& sigma, const std::vector<float>& weight,
                                 const std::vector<float>& noise, size_t first_noisy, double eps, int steps) {
    const size_t n = x0.size(), noisy = n - first_noisy;
    ToyOptimizer opt = make_optimizer(rule, lr);
    std::vector<float> x = x0, g(n);
    ScalingResult res;
    res.lr = lr;
    for (int t = 0; t <= steps; t++) {
        const float* z = noise.data() + (size_t)t * noisy;  // z[j - first_noisy] for the noisy lanes j
        double l1 = 0, f = 0;
        for (size_t i = 0; i < n; i++) {
            const float gi = L[i] * x[i];
            l1 += (double)weight[i] * std::fabs(gi);
            f += 0.5 * (double)weight[i] * gi * x[i];
            if (t < steps) g[i] = i < first_noisy ? gi : gi + sigma[i] * z[i - first_noisy];
        }
        if (!std::isfinite(f)) {  // diverged: no final loss, so best_of never picks it
            res.final_loss = res.final_l1 = NAN;
            return res;
        }
        if (t == 0) res.initial_loss = f;
        if (res.hit < 0 && l1 <= eps) res.hit = t;
        res.final_loss = f, res.final_l1 = l1;
        if (t < steps) opt.step(x.data(), g.data(), n);
    }
    return res;
}

// Best of a grid: fewest iterations to eps; ties and runs that never reach it by final loss.
// As in deter, a run whose final loss is above its initial loss does not count (a large lr can
// pass below eps once on its way to divergence).
static ScalingResult best_of(const std::vector<ScalingResult>& rs) {
    ScalingResult best;
    auto counts = [](const ScalingResult& r) { return std::isfinite(r.final_loss) && r.final_loss <= r.initial_loss; };
    auto better = [&](const ScalingResult& a, const ScalingResult& b) {
        if (!counts(a)) return false;
        if (!counts(b)) return true;
        if ((a.hit >= 0) != (b.hit >= 0)) return a.hit >= 0;
        if (a.hit != b.hit) return a.hit < b.hit;
        return a.final_loss < b.final_loss;
    };
    for (const ScalingResult& r : rs)
        if (better(r, best)) best = r;
    return best;
}

static void run_scaling(const ToyScale& sc, const std::string& dir) {
    const int steps = sc.scaling_steps;
    const std::vector<float> lrs = half_decade_grid();
    const std::vector<ToyRule> rules = {ToyRule::Sgd, ToyRule::SignSgd};
    FILE* csv = open_csv(dir, "scaling.csv");
    fprintf(csv, "problem,d,k,density,seeds,steps,eps,rule,lr,iters_to_eps,initial_loss,final_loss,final_l1,selected\n");
    printf("\n== scaling: ||sigma||_2^2 = d on k coordinates (density s = k/d), eps = 0.1 ||grad f(x0)||_1, %d steps,"
           " lr grid 1..1e-5 (half decades)\n", steps);
    printf("| problem | d | k | SGD iters (lr) | SignSGD iters (lr) | SGD/SignSGD | SGD final loss | SignSGD final loss |\n"
           "|---|---|---|---|---|---|---|---|\n");
    for (const char* problem : {"flat", "stiff"}) {
        const bool stiff = std::strcmp(problem, "stiff") == 0;
        for (int d : sc.scaling_dims) {
            std::vector<int> ks = {1, (int)std::lround(std::sqrt((double)d)), d};
            for (int k : ks) {
                const int seeds = std::max(1, std::min(32, sc.scaling_max_lanes / k));
                const size_t n = (size_t)(d - k) + (size_t)seeds * k;
                std::vector<float> L(n), x0(n), sigma(n), weight(n);
                const uint64_t x_key = stream_key("scaling/x0", (uint64_t)d);
                double l1_0 = 0;
                for (size_t j = 0; j < n; j++) {
                    // coordinate i of the problem that lane j holds
                    const int i = j < (size_t)(d - k) ? (int)j : d - k + (int)((j - (d - k)) % k);
                    L[j] = (stiff && i == 0) ? (float)d : 1.0f;
                    x0[j] = (float)random_normal(x_key, (uint64_t)i) / L[j];
                    sigma[j] = j < (size_t)(d - k) ? 0.0f : (float)std::sqrt((double)d / k);
                    weight[j] = j < (size_t)(d - k) ? 1.0f : 1.0f / (float)seeds;
                    l1_0 += (double)weight[j] * std::fabs(L[j] * x0[j]);
                }
                const double eps = 0.1 * l1_0;
                // standard normal draws for the noisy lanes, shared by every rule and lr
                const size_t free = (size_t)(d - k), noisy = n - free;
                std::vector<float> noise((size_t)steps * noisy);
                const uint64_t z_key = stream_key(stiff ? "scaling/stiff/noise" : "scaling/flat/noise", (uint64_t)d, (uint64_t)k);
#pragma omp parallel for
                for (long long t = 0; t < steps; t++)
                    for (size_t j = 0; j < noisy; j++) noise[(size_t)t * noisy + j] = (float)random_normal(z_key, (uint64_t)t * noisy + j);
                std::vector<ScalingResult> res(rules.size() * lrs.size());
#pragma omp parallel for schedule(dynamic)
                for (int r = 0; r < (int)res.size(); r++)
                    res[r] = scaling_run(rules[r / lrs.size()], lrs[r % lrs.size()], L, x0, sigma, weight, noise, free, eps, steps);
                ScalingResult best[2];
                for (size_t q = 0; q < rules.size(); q++) {
                    best[q] = best_of(std::vector<ScalingResult>(res.begin() + q * lrs.size(), res.begin() + (q + 1) * lrs.size()));
                    for (size_t j = 0; j < lrs.size(); j++) {
                        const ScalingResult& r = res[q * lrs.size() + j];
                        fprintf(csv, "%s,%d,%d,%.6g,%d,%d,%.6g,%s,%g,%d,%.6g,%.6g,%.6g,%d\n", problem, d, k, (double)k / d, seeds, steps, eps,
                                toy_rule_name(rules[q]), r.lr, r.hit, r.initial_loss, r.final_loss, r.final_l1, r.lr == best[q].lr);
                    }
                }
                auto iters = [&](const ScalingResult& r) {
                    char buf[64];
                    if (r.hit >= 0) snprintf(buf, sizeof buf, "%d (%.3g)", r.hit, r.lr);
                    else snprintf(buf, sizeof buf, ">%d (%.3g)", steps, r.lr);
                    return std::string(buf);
                };
                char ratio[32];
                if (best[0].hit >= 0 && best[1].hit >= 0) snprintf(ratio, sizeof ratio, "%.3g", (double)best[0].hit / std::max(1, best[1].hit));
                else if (best[1].hit >= 0) snprintf(ratio, sizeof ratio, ">%.3g", (double)steps / std::max(1, best[1].hit));
                else if (best[0].hit >= 0) snprintf(ratio, sizeof ratio, "<%.3g", (double)best[0].hit / steps);
                else snprintf(ratio, sizeof ratio, "neither");
                printf("| %s | %d | %d | %s | %s | %s | %.4g | %.4g |\n", problem, d, k, iters(best[0]).c_str(), iters(best[1]).c_str(),
                       ratio, best[0].final_loss, best[1].final_loss);
            }
        }
    }
    fclose(csv);
}

// ---------------------------------------------------------------- heavy
static void run_heavy(const ToyScale& sc, const std::string& dir) {
    const int d = 100, seeds = sc.heavy_seeds, steps = sc.heavy_steps;
    const float clip = 10.0f;  // = sqrt(d): the norm of a unit-scale noise vector
    const std::vector<float> alphas = {2.0f, 1.5f, 1.2f};
    const std::vector<ToyRule> rules = {ToyRule::Sgd, ToyRule::ClippedSgd, ToyRule::Nsgd, ToyRule::SignSgd, ToyRule::Signum};
    const std::vector<float> lrs = half_decade_grid();
    FILE* grid = open_csv(dir, "heavy_grid.csv");
    fprintf(grid, "alpha,rule,lr,final_median,final_p90,final_mean,diverged_seeds,selected\n");
    FILE* curves = open_csv(dir, "heavy_curves.csv");
    fprintf(curves, "alpha,rule,lr,step,median_loss\n");
    printf("\n== heavy: d = %d, f = 1/2 ||x||^2, i.i.d. symmetric alpha-stable noise (scale 1) on every coordinate, %d seeds,"
           " %d steps; best lr by the median final loss over seeds\n", d, seeds, steps);
    printf("| alpha | alpha estimated | rule | best lr | final loss: median | 90%% | mean |\n|---|---|---|---|---|---|---|\n");
    for (float alpha : alphas) {
        // the noise once per alpha, shared by every rule and lr
        std::vector<float> noise((size_t)seeds * steps * d);
        const uint64_t key = stream_key("heavy/noise", (uint64_t)std::lround(alpha * 100));
#pragma omp parallel for
        for (long long j = 0; j < (long long)noise.size(); j++) noise[j] = (float)stable_symmetric(alpha, key, (uint64_t)j);
        const double alpha_hat = tail_index_of_draws(alpha, key ^ 0x7461696cull, sc.tail_samples, d);
        const int runs = (int)(rules.size() * lrs.size());
        // loss[run][seed][t]
        std::vector<std::vector<std::vector<double>>> loss(runs, std::vector<std::vector<double>>(seeds, std::vector<double>(steps + 1, INFINITY)));
#pragma omp parallel for schedule(dynamic)
        for (int r = 0; r < runs * seeds; r++) {
            const int run = r / seeds, s = r % seeds;
            ToyOptimizer opt = make_optimizer(rules[run / lrs.size()], lrs[run % lrs.size()], clip);
            std::vector<float> x(d), g(d);
            for (int i = 0; i < d; i++) x[i] = (float)random_normal(stream_key("heavy/x0", s), (uint64_t)i);
            for (int t = 0; t <= steps; t++) {
                double f = 0;
                for (int i = 0; i < d; i++) f += 0.5 * (double)x[i] * x[i];
                if (!std::isfinite(f)) break;  // diverged: the rest stays +inf
                loss[run][s][t] = f;
                if (t == steps) break;
                const float* z = noise.data() + ((size_t)s * steps + t) * d;
                for (int i = 0; i < d; i++) g[i] = x[i] + z[i];
                opt.step(x.data(), g.data(), d);
            }
        }
        for (size_t q = 0; q < rules.size(); q++) {
            int best = -1;
            double best_median = INFINITY;
            std::vector<double> med(lrs.size()), p90(lrs.size()), mean(lrs.size());
            std::vector<int> diverged(lrs.size(), 0);
            for (size_t j = 0; j < lrs.size(); j++) {
                const int run = (int)(q * lrs.size() + j);
                std::vector<double> fin(seeds);
                mean[j] = 0;
                for (int s = 0; s < seeds; s++) {
                    fin[s] = loss[run][s][steps];
                    diverged[j] += !std::isfinite(fin[s]);
                    mean[j] += fin[s] / seeds;
                }
                med[j] = percentile(fin, 50), p90[j] = percentile(fin, 90);
                if (med[j] < best_median) best_median = med[j], best = (int)j;
            }
            for (size_t j = 0; j < lrs.size(); j++)
                fprintf(grid, "%g,%s,%g,%.6g,%.6g,%.6g,%d,%d\n", alpha, toy_rule_name(rules[q]), lrs[j], med[j], p90[j], mean[j],
                        diverged[j], (int)j == best);
            if (best < 0) {
                printf("| %g | %.3f | %s | none | diverged | | |\n", alpha, alpha_hat, toy_rule_name(rules[q]));
                continue;
            }
            printf("| %g | %.3f | %s | %.3g | %.4g | %.4g | %.4g |\n", alpha, alpha_hat, toy_rule_name(rules[q]), lrs[best], med[best], p90[best], mean[best]);
            const int run = (int)(q * lrs.size() + best);
            for (int t = 0; t <= steps; t += std::max(1, steps / 300)) {
                std::vector<double> v(seeds);
                for (int s = 0; s < seeds; s++) v[s] = loss[run][s][t];
                fprintf(curves, "%g,%s,%g,%d,%.6g\n", alpha, toy_rule_name(rules[q]), lrs[best], t, percentile(v, 50));
            }
        }
    }
    fclose(grid);
    fclose(curves);
}

static void usage(FILE* out) {
    fprintf(out,
            "usage: toy_experiments [--out DIR] [--scale full|quick] [--only deter|sto|scaling|heavy]\n"
            "  the synthetic experiments of arXiv 2605.06615 and 2602.07425 through optim/*.h's rules\n"
            "  --out DIR      CSV files go here (default build/toy)\n"
            "  --scale S      full (default: the paper's sizes) or quick (reduced sizes, for the test)\n"
            "  --only E       run one experiment (default: all four)\n");
}

int main(int argc, char** argv) {
    line_buffer_stdout();
    std::string dir = "build/toy", only;
    ToyScale sc = full_scale();
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        if (a == "-h" || a == "--help") { usage(stdout); return 0; }
        if (a != "--out" && a != "--scale" && a != "--only") fail_usage("unknown option '%s' (see --help)", a.c_str());
        if (i + 1 >= argc) fail_usage("%s needs a value", a.c_str());
        const std::string v = argv[++i];
        if (a == "--out") {
            if (v.empty()) fail_usage("--out needs a directory");
            dir = v;
        } else if (a == "--scale") {
            if (v == "full") sc = full_scale();
            else if (v == "quick") sc = quick_scale();
            else fail_usage("--scale must be full or quick, got '%s'", v.c_str());
        } else {
            if (v != "deter" && v != "sto" && v != "scaling" && v != "heavy")
                fail_usage("--only must be deter, sto, scaling or heavy, got '%s'", v.c_str());
            only = v;
        }
    }
    make_directories_or_fail(dir);
    struct Experiment { const char* name; void (*run)(const ToyScale&, const std::string&); };
    const Experiment experiments[] = {{"deter", run_deter}, {"sto", run_sto}, {"scaling", run_scaling}, {"heavy", run_heavy}};
    const auto start = std::chrono::steady_clock::now();
    for (const Experiment& e : experiments) {
        if (!only.empty() && only != e.name) continue;
        const auto t0 = std::chrono::steady_clock::now();
        e.run(sc, dir);
        printf("(%s: %.1f s)\n", e.name, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    printf("\ntoy_experiments: %.1f s, CSV files in %s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), dir.c_str());
    return 0;
}
