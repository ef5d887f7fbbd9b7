// The synthetic experiments' pieces (dev/toy/): the toy's update rules against hand-written
// formulas (double, no optim/*.h), so a broken per-element function fails here, and the
// alpha-stable sampler against the characteristic function of a symmetric stable law.
//   1. one literal step of each rule (numbers worked by hand);
//   2. two steps of each rule on fresh random x, g (the momentum rules need the second step)
//      against the formulas of dev/toy/toy_optimizers.h in double, relative error 1e-6, and
//      the momentum of signum and nsgd (their steps do not see a momentum scaled by a constant);
//   3. E cos(t X) = exp(-|t|^alpha) for alpha = 2, 1.5, 1.2, 1 (200k draws: standard error
//      below 0.0016); alpha = 2 has variance 2; the project's tail-index estimator recovers
//      alpha = 1.5 and 1.2 from the draws (within 0.1).
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "../common/rng.h"
#include "../dev/toy/toy_optimizers.h"
#include "../dev/toy/toy_stable.h"
#include "check.h"

static std::string num(double x) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.6g", x);
    return buf;
}

// 1. x = (0.5, -1), g = (0.3, -4), lr = 0.1, beta = 0.9, clip = 1, one step from m = 0.
static void literal_steps() {
    struct Case { ToyRule rule; double want0, want1; const char* how; };
    // ||g|| = 4.01123; clip: g * 1 / (4.01123 + 1e-6) = (0.0747900, -0.997202); m = 0.1 g = (0.03, -0.4)
    const Case cases[] = {
        {ToyRule::Sgd, 0.47, -0.6, "x - 0.1 g"},
        {ToyRule::ClippedSgd, 0.5 - 0.1 * 0.3 / (std::sqrt(16.09) + 1e-6), -1.0 + 0.1 * 4.0 / (std::sqrt(16.09) + 1e-6), "x - 0.1 g / ||g||"},
        {ToyRule::SignSgd, 0.4, -0.9, "x - 0.1 sign(g)"},
        {ToyRule::Signum, 0.4, -0.9, "x - 0.1 sign(0.1 g)"},
        {ToyRule::Nsgd, 0.5 - 0.01 * 0.3 / (std::sqrt(16.09) + 1e-8), -1.0 + 0.01 * 4.0 / (std::sqrt(16.09) + 1e-8), "x - 0.1 * 0.1 g / ||g||"},
    };
    for (const Case& c : cases) {
        ToyOptimizer opt{c.rule, 0.1f};
        opt.clip = 1.0f;
        float x[2] = {0.5f, -1.0f}, g[2] = {0.3f, -4.0f};
        opt.step(x, g, 2);
        const double want[2] = {c.want0, c.want1};
        check_close(std::string("toy/literal_step/") + toy_rule_name(c.rule), x, want, 2, 1e-6);
        if (relative_error(x, want, 2) >= 1e-6)
            printf("    %s: got (%.7f, %.7f), want %s = (%.7f, %.7f)\n", toy_rule_name(c.rule), x[0], x[1], c.how, want[0], want[1]);
    }
}

// 2. Two steps on random data against the formulas in double.
static void random_steps() {
    const int n = 37;
    const double lr = 0.03, beta = 0.9, clip = 2.0;
    std::vector<double> x0(n), g1(n), g2(n);
    for (int i = 0; i < n; i++) {
        x0[i] = random_normal(11, i);
        g1[i] = random_normal(12, i);
        g2[i] = random_normal(13, i);
    }
    g1[5] = 0.0;  // sign(0) = 0: the coordinate does not move under signsgd
    auto norm = [](const std::vector<double>& v) { double s = 0; for (double a : v) s += a * a; return std::sqrt(s); };
    for (ToyRule rule : {ToyRule::Sgd, ToyRule::ClippedSgd, ToyRule::SignSgd, ToyRule::Signum, ToyRule::Nsgd}) {
        std::vector<double> want = x0, m(n, 0.0);
        for (const std::vector<double>* gp : {&g1, &g2}) {
            std::vector<double> g = *gp;
            if (rule == ToyRule::ClippedSgd) {
                const double s = std::min(1.0, clip / (norm(g) + 1e-6));
                for (double& a : g) a *= s;
            }
            // nsgd (the paper's): the momentum of g / (||g|| + 1e-8), applied as it is
            const double g_scale = rule == ToyRule::Nsgd ? 1.0 / (norm(g) + 1e-8) : 1.0;
            for (int i = 0; i < n; i++) m[i] = beta * m[i] + (1 - beta) * g[i] * g_scale;
            for (int i = 0; i < n; i++) {
                auto sign = [](double a) { return (double)((a > 0) - (a < 0)); };
                switch (rule) {
                case ToyRule::Sgd:
                case ToyRule::ClippedSgd: want[i] -= lr * g[i]; break;
                case ToyRule::SignSgd: want[i] -= lr * sign(g[i]); break;
                case ToyRule::Signum: want[i] -= lr * sign(m[i]); break;
                case ToyRule::Nsgd: want[i] -= lr * m[i]; break;
                }
            }
        }
        ToyOptimizer opt{rule, (float)lr, (float)beta, (float)clip};
        std::vector<float> x(x0.begin(), x0.end());
        for (const std::vector<double>* gp : {&g1, &g2}) {
            std::vector<float> g(gp->begin(), gp->end());
            opt.step(x.data(), g.data(), n);
        }
        check_close(std::string("toy/two_steps/") + toy_rule_name(rule), x.data(), want.data(), n, 1e-6);
        // the sign and the normalization hide a momentum scaled by a constant: check the state too
        if (rule == ToyRule::Signum || rule == ToyRule::Nsgd)
            check_close(std::string("toy/two_steps_momentum/") + toy_rule_name(rule), opt.m.data(), m.data(), n, 1e-6);
    }
}

// 3. The alpha-stable sampler.
static void stable_draws() {
    const int count = 200000;
    for (double alpha : {2.0, 1.5, 1.2, 1.0}) {
        const uint64_t key = 1000 + (uint64_t)std::lround(alpha * 10);
        double c_half = 0, c_one = 0, sq = 0;
        for (int i = 0; i < count; i++) {
            const double x = stable_symmetric(alpha, key, i);
            c_half += std::cos(0.5 * x) / count;
            c_one += std::cos(x) / count;
            sq += x * x / count;
        }
        const double want_half = std::exp(-std::pow(0.5, alpha)), want_one = std::exp(-1.0);
        const bool ok = std::fabs(c_half - want_half) < 0.01 && std::fabs(c_one - want_one) < 0.01;
        const std::string detail = "E cos(X/2) " + num(c_half) + " (want " + num(want_half) + "), E cos(X) " + num(c_one) + " (want " + num(want_one) + ")";
        if (ok) test_pass("toy/stable_characteristic(alpha=" + num(alpha) + ")", detail);
        else test_fail("toy/stable_characteristic(alpha=" + num(alpha) + ")", detail);
        if (alpha == 2.0) {
            const bool var_ok = std::fabs(sq - 2.0) < 0.05;
            (var_ok ? test_pass : test_fail)("toy/stable_gaussian_variance", "E X^2 " + num(sq) + " (want 2 at alpha = 2)");
        }
    }
    for (double alpha : {1.5, 1.2}) {
        const double est = tail_index_of_draws(alpha, 77, 4096, 100);
        const bool ok = std::fabs(est - alpha) < 0.1;
        (ok ? test_pass : test_fail)("toy/stable_tail_index(alpha=" + num(alpha) + ")", "estimated " + num(est) + " (4096 vectors of 100)");
    }
}

int main() {
    literal_steps();
    random_steps();
    stable_draws();
    return test_exit_code();
}
