// Unit tests of the CPU reference optimizers (optim/): each update rule against numbers
// worked out by hand (in double), sign(0) = 0, AdamW's bias correction, Newton-Schulz,
// gradient clipping, every schedule, the param groups and CpuOptimizer's routing; the
// majority vote's packing and tally (optim/sign_vote.h) and the pieces ZeRO-1 splits a step
// into (Zero1Plan, CpuOptimizer::keep_only, step_ranges, step_muon_matrix, apply_sign_vote).
//   g++ -std=c++17 -O2 -fopenmp test/test_optim.cpp -o /tmp/test_optim && /tmp/test_optim
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "../common/gpt2_layout.h"
#include "../common/rng.h"
#include "../optim/cpu_optimizer.h"
#include "../optim/grad_clip.h"
#include "../optim/schedule.h"
#include "../optim/data_parallel.h"
#include "../optim/sign_vote.h"
#include "check.h"
#include "singular_values.h"

using Vec = std::vector<float>;

static uint64_t g_seed; // fresh per run, printed so a failure can be replayed

static Vec random_vec(size_t n, uint64_t stream, float scale = 1.0f) {
    Vec v(n);
    for (size_t i = 0; i < n; i++) v[i] = scale * (float)random_normal(g_seed * 1000 + stream, i);
    return v;
}

static bool check_value(const std::string& name, double got, double want, double tol) {
    char buf[160];
    snprintf(buf, sizeof buf, "got %.9g want %.9g", got, want);
    return std::fabs(got - want) <= tol ? test_pass(name, buf) : test_fail(name, buf);
}

// ---------------------------------------------------------------------------------------
// Each rule on 4 coordinates for 3 steps. Coordinate 2 always has a zero gradient, so under
// the sign rules it only decays. Expected values are the rules evaluated by hand in double
// (lr 0.1, wd 0.1); sgd and adamw ones also agree with torch.optim.SGD / AdamW.

static const float P0[4] = {0.5f, -1.0f, 0.25f, 2.0f};
static const float GRADS[3][4] = {{0.1f, -0.2f, 0.0f, 0.3f}, {-0.3f, 0.1f, 0.0f, 0.2f}, {0.2f, 0.0f, 0.0f, -0.1f}};
static const float LR = 0.1f, WD = 0.1f;

// Runs `update(p, g, t)` three times and compares the parameters after every step.
template <typename Update>
static void check_three_steps(const std::string& name, const double expected[3][4], Update update) {
    Vec p(P0, P0 + 4);
    for (int t = 1; t <= 3; t++) {
        update(p.data(), GRADS[t - 1], t);
        check_close(name + "_step" + std::to_string(t), p.data(), expected[t - 1], 4, 1e-6);
    }
}

static void test_hand_examples() {
    {
        const double want[3][4] = {{0.485, -0.97, 0.2475, 1.95}, {0.51015, -0.9703, 0.245025, 1.9105}, {0.4850485, -0.960597, 0.24257475, 1.901395}};
        check_three_steps("sgd_plain", want, [](float* p, const float* g, int) { sgd_update(p, g, nullptr, 4, {LR, WD, 0.0f, false}); });
    }
    {
        const double want[3][4] = {{0.485, -0.97, 0.2475, 1.95}, {0.49665, -0.9433, 0.242775, 1.8655}, {0.4821685, -0.909837, 0.23609475, 1.780795}};
        Vec buf(4, 0.0f);
        check_three_steps("sgd_momentum", want, [&](float* p, const float* g, int) { sgd_update(p, g, buf.data(), 4, {LR, WD, 0.9f, false}); });
    }
    {
        const double want[3][4] = {{0.4715, -0.943, 0.24525, 1.905}, {0.5073915, -0.919783, 0.23856525, 1.790305}, {0.469296911, -0.880898823, 0.230223485, 1.7072087}};
        Vec buf(4, 0.0f);
        check_three_steps("sgd_nesterov", want, [&](float* p, const float* g, int) { sgd_update(p, g, buf.data(), 4, {LR, WD, 0.9f, true}); });
    }
    {
        const double want[3][4] = {{0.395, -0.89, 0.2475, 1.88}, {0.49105, -0.9811, 0.245025, 1.7612}, {0.3861395, -0.971289, 0.24257475, 1.843588}};
        check_three_steps("signsgd", want, [](float* p, const float* g, int) { signsgd_update(p, g, 4, {LR, WD}); });
    }
    {
        // Step 2, coordinate 1: the gradient is +0.1 but the momentum is still negative.
        const double want[3][4] = {{0.395, -0.89, 0.2475, 1.88}, {0.49105, -0.7811, 0.245025, 1.7612}, {0.3861395, -0.673289, 0.24257475, 1.643588}};
        Vec m(4, 0.0f);
        check_three_steps("signum", want, [&](float* p, const float* g, int) { signum_update(p, g, m.data(), 4, {LR, WD, 0.9f}); });
    }
    {
        const double want[3][4] = {{0.39500001, -0.890000005, 0.2475, 1.88}, {0.439979584, -0.854263062, 0.245025, 1.76369213}, {0.433710679, -0.824707164, 0.24257475, 1.69005718}};
        Vec m(4, 0.0f), v(4, 0.0f);
        check_three_steps("adamw", want, [&](float* p, const float* g, int t) { adamw_update(p, g, m.data(), v.data(), 4, {LR, WD, 0.9f, 0.95f, 1e-8f}, t); });
    }
    {
        // Step 3, coordinate 1: zero gradient, but the interpolated momentum is positive.
        const double want[3][4] = {{0.395, -0.89, 0.2475, 1.88}, {0.49105, -0.9811, 0.245025, 1.7612}, {0.3861395, -0.871289, 0.24257475, 1.843588}};
        Vec m(4, 0.0f);
        check_three_steps("lion", want, [&](float* p, const float* g, int) { lion_update(p, g, m.data(), 4, {LR, WD, 0.9f, 0.99f}); });
    }
}

// Lion's order and betas, by hand (lr 0.1, no decay, b1 0.9, b2 0.99), two coordinates,
// gradients (1, 1) then (-0.085, -0.2). After step 1 m = (0.01, 0.01). Step 2:
//   A: c = 0.009 - 0.0085 > 0, so p moves down again (updating m before c would flip it);
//   B: c = 0.009 - 0.02 < 0, so p moves back up (b1 and b2 swapped would not).
static void test_lion_order() {
    const LionHyper h = {0.1f, 0.0f, 0.9f, 0.99f};
    Vec p = {0.0f, 0.0f}, m = {0.0f, 0.0f};
    const float g1[2] = {1.0f, 1.0f}, g2[2] = {-0.085f, -0.2f};
    lion_update(p.data(), g1, m.data(), 2, h);
    lion_update(p.data(), g2, m.data(), 2, h);
    const double want[2] = {-0.2, 0.0};
    check_close("lion_momentum_order_and_betas", p.data(), want, 2, 1e-6);
}

// Without weight decay a coordinate whose gradient is exactly zero must not move at all.
static void test_sign_of_zero() {
    test_expect(sign_or_zero(0.0f) == 0.0f && sign_or_zero(-0.0f) == 0.0f && sign_or_zero(1e-30f) == 1.0f && sign_or_zero(-2.0f) == -1.0f,
                "sign_or_zero_values", "sign_or_zero(0) must be 0 and keep the sign otherwise");
    const size_t n = 64;
    Vec g = random_vec(n, 1);
    for (size_t i = 0; i < n; i += 4) g[i] = 0.0f;
    const Vec p0 = random_vec(n, 2);
    auto zero_coords_unchanged = [&](const std::string& name, const Vec& p) {
        int moved = 0, others_fixed = 0;
        for (size_t i = 0; i < n; i++) {
            if (i % 4 == 0) moved += p[i] != p0[i];
            else others_fixed += p[i] == p0[i];
        }
        test_expect(moved == 0 && others_fixed == 0, name,
                    std::to_string(moved) + " zero-gradient coordinates moved, " + std::to_string(others_fixed) + " others did not");
    };
    Vec p = p0;
    signsgd_update(p.data(), g.data(), n, {LR, 0.0f});
    zero_coords_unchanged("signsgd_zero_grad_stays", p);
    p = p0;
    Vec m(n, 0.0f);
    signum_update(p.data(), g.data(), m.data(), n, {LR, 0.0f, 0.9f});
    zero_coords_unchanged("signum_zero_grad_stays", p);
    p = p0;
    m.assign(n, 0.0f);
    lion_update(p.data(), g.data(), m.data(), n, {LR, 0.0f, 0.9f, 0.99f});
    zero_coords_unchanged("lion_zero_grad_stays", p);
}

// With bias correction, AdamW's first step is lr * m_hat/(sqrt(v_hat) + eps) = lr * g/(|g| + eps),
// i.e. lr * sign(g) except where |g| is within a few orders of eps (a random draw of |g| ~ 6e-9
// moves that coordinate by 1.7e-4 relative, so eps stays in the expected value).
static void test_adamw_first_step() {
    const size_t n = 256;
    const float eps = 1e-12f;
    const Vec g = random_vec(n, 3, 0.01f), p0 = random_vec(n, 4);
    Vec p = p0, m(n, 0.0f), v(n, 0.0f), step(n), want(n);
    adamw_update(p.data(), g.data(), m.data(), v.data(), n, {LR, 0.0f, 0.9f, 0.95f, eps}, 1);
    for (size_t i = 0; i < n; i++) {
        step[i] = p0[i] - p[i];
        want[i] = (float)(LR * (double)g[i] / (std::fabs((double)g[i]) + eps));
    }
    check_close("adamw_first_step_is_lr_sign_g", step.data(), want.data(), n, 1e-5);
}

// ---------------------------------------------------------------------------------------
// Newton-Schulz and Muon.

static double ns_poly(double s) { return 3.4445 * s + -4.7750 * s * s * s + 2.0315 * s * s * s * s * s; }

// Newton-Schulz in double in the matrix's own orientation: for a tall X the Gram matrix
// is X^T X and multiplies from the right, X = a X + X (b A + c A A).
static std::vector<double> newton_schulz_double(const float* in, int rows, int cols, int steps) {
    const bool tall = rows > cols;
    const int g = tall ? cols : rows;
    const size_t n = (size_t)rows * cols;
    std::vector<double> X(in, in + n), A((size_t)g * g), B((size_t)g * g), Y(n);
    double norm = 0.0;
    for (double x : X) norm += x * x;
    norm = std::sqrt(norm) + 1e-7;
    for (double& x : X) x /= norm;
    auto x = [&](int i, int j) { return X[(size_t)i * cols + j]; };
    for (int s = 0; s < steps; s++) {
        for (int i = 0; i < g; i++)
            for (int j = 0; j < g; j++) {
                double sum = 0.0;
                if (tall) for (int l = 0; l < rows; l++) sum += x(l, i) * x(l, j);
                else for (int l = 0; l < cols; l++) sum += x(i, l) * x(j, l);
                A[(size_t)i * g + j] = sum;
            }
        for (int i = 0; i < g; i++)
            for (int j = 0; j < g; j++) {
                double aa = 0.0;
                for (int l = 0; l < g; l++) aa += A[(size_t)i * g + l] * A[(size_t)l * g + j];
                B[(size_t)i * g + j] = -4.7750 * A[(size_t)i * g + j] + 2.0315 * aa;
            }
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) {
                double sum = 0.0;
                if (tall) for (int l = 0; l < g; l++) sum += x(i, l) * B[(size_t)l * g + j];
                else for (int l = 0; l < g; l++) sum += B[(size_t)i * g + l] * x(l, j);
                Y[(size_t)i * cols + j] = 3.4445 * x(i, j) + sum;
            }
        X = Y;
    }
    return X;
}

static void test_newton_schulz_random() {
    const int shapes[2][2] = {{64, 256}, {256, 64}};
    for (const auto& shape : shapes) {
        const int rows = shape[0], cols = shape[1];
        const std::string tag = std::to_string(rows) + "x" + std::to_string(cols);
        const Vec in = random_vec((size_t)rows * cols, 10 + rows);
        Vec out(in.size());
        newton_schulz_cpu(out.data(), in.data(), rows, cols, 5);
        const std::vector<double> sv = singular_values(out.data(), rows, cols);
        double lo = 1e9, hi = 0.0;
        for (double s : sv) { lo = std::min(lo, s); hi = std::max(hi, s); }
        char buf[96];
        snprintf(buf, sizeof buf, "singular values in [%.3f, %.3f]", lo, hi);
        if (lo >= 0.6 && hi <= 1.3) test_pass("newton_schulz_sv_" + tag, buf);
        else test_fail("newton_schulz_sv_" + tag, std::string(buf) + ", want within [0.6, 1.3]");
        const std::vector<double> ref = newton_schulz_double(in.data(), rows, cols, 5);
        check_close("newton_schulz_vs_double_" + tag, out.data(), ref.data(), out.size(), 2e-5);
    }
    // Orientation: orthogonalizing the transpose gives the transpose.
    const int rows = 48, cols = 80;
    const Vec in = random_vec((size_t)rows * cols, 20);
    Vec in_t(in.size()), out(in.size()), out_t(in.size()), out_t_back(in.size());
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) in_t[(size_t)j * rows + i] = in[(size_t)i * cols + j];
    newton_schulz_cpu(out.data(), in.data(), rows, cols, 5);
    newton_schulz_cpu(out_t.data(), in_t.data(), cols, rows, 5);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) out_t_back[(size_t)i * cols + j] = out_t[(size_t)j * rows + i];
    check_close("newton_schulz_transpose_commutes", out_t_back.data(), out.data(), out.size(), 1e-6);
}

// A matrix whose only nonzeros are g00 = x, g11 = y has singular values |x|, |y| at those
// positions, so Newton-Schulz acts on each through the scalar polynomial: hand-checkable.
static void test_muon_diagonal() {
    for (int tall = 0; tall <= 1; tall++)
        for (int nesterov = 0; nesterov <= 1; nesterov++) {
            const int rows = tall ? 3 : 2, cols = tall ? 2 : 3;
            const float beta = 0.95f, lr = 0.02f, wd = 0.1f;
            const MuonHyper h = {lr, wd, beta, nesterov == 1, 5};
            const double grads[2][2] = {{3.0, 4.0}, {0.0, 1.0}}; // (g00, g11) per step
            Vec p = {0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f}, m(6, 0.0f), g(6), scratch;
            std::vector<double> pd(p.begin(), p.end());
            double md[2] = {0.0, 0.0};
            const int i00 = 0, i11 = cols + 1; // flat indices of (0,0) and (1,1)
            const double scale = std::sqrt(std::max(1.0, (double)rows / cols));
            for (int t = 0; t < 2; t++) {
                g.assign(6, 0.0f);
                g[i00] = (float)grads[t][0];
                g[i11] = (float)grads[t][1];
                muon_update_matrix(p.data(), g.data(), m.data(), rows, cols, h, &scratch);
                // the same in double, on the two singular values
                double u[2];
                for (int k = 0; k < 2; k++) {
                    md[k] = beta * md[k] + (1 - beta) * grads[t][k];
                    u[k] = nesterov ? (1 - beta) * grads[t][k] + beta * md[k] : md[k];
                }
                const double norm = std::sqrt(u[0] * u[0] + u[1] * u[1]) + 1e-7;
                double o[2] = {u[0] / norm, u[1] / norm};
                for (int s = 0; s < 5; s++) for (double& x : o) x = ns_poly(x);
                for (int i = 0; i < 6; i++) {
                    const double oi = i == i00 ? o[0] : i == i11 ? o[1] : 0.0;
                    pd[i] = pd[i] - lr * wd * pd[i] - lr * scale * oi;
                }
                check_close(std::string("muon_diag_") + (tall ? "tall" : "wide") + (nesterov ? "_nesterov" : "") + "_step" + std::to_string(t + 1),
                            p.data(), pd.data(), 6, 1e-6);
            }
        }
}

// F-Muon and S-Muon (optim/muon.h) on one matrix over 3 steps from a random momentum, against
// a double reference built on newton_schulz_cpu's output (Newton-Schulz is checked above):
// alpha 0 is Muon bit for bit; alpha 1 of F-Muon is normalized momentum, of S-Muon s sign(u);
// alpha 0.3 mixes them with --muon-scale on the NS part only; the momentum buffer follows
// m = beta m + (1 - beta) g with or without Nesterov (never divided in place).
static void test_fanions() {
    const float lr = 0.02f, wd = 0.1f, beta = 0.9f, s = 0.003f;
    for (int tall = 0; tall <= 1; tall++)
        for (int nesterov = 0; nesterov <= 1; nesterov++)
            for (MuonScale scale : {MuonScale::Shape, MuonScale::RMS}) {
                const int rows = tall ? 24 : 16, cols = tall ? 16 : 24;
                const size_t n = (size_t)rows * cols;
                const std::string tag = std::string(tall ? "tall" : "wide") + (nesterov ? "_nesterov" : "") + "_" + muon_scale_name(scale);
                // small weights: the update, not the rounding of p, sets the error of p_after - p_before
                const Vec p0 = random_vec(n, 60, 1e-3f), m0 = random_vec(n, 61, 0.1f);
                const MuonHyper muon = {lr, wd, beta, nesterov == 1, 5, scale};
                auto run = [&](MuonVariant v, float alpha, Vec* p, Vec* m) {
                    MuonHyper h = muon;
                    h.variant = v; h.alpha = alpha; h.sign_scale = v == MuonVariant::SMuon ? s : 0.0f;
                    *p = p0; *m = m0;
                    Vec scratch;
                    for (int t = 0; t < 3; t++) {
                        const Vec g = random_vec(n, 62 + t);
                        muon_update_matrix(p->data(), g.data(), m->data(), rows, cols, h, &scratch);
                    }
                };
                Vec pm, mm;
                run(MuonVariant::Muon, 0.0f, &pm, &mm);
                for (MuonVariant v : {MuonVariant::FMuon, MuonVariant::SMuon}) {
                    Vec pv, mv;
                    run(v, 0.0f, &pv, &mv);
                    size_t differ = 0;
                    for (size_t i = 0; i < n; i++) differ += pv[i] != pm[i] || mv[i] != mm[i];
                    test_expect(differ == 0, std::string(muon_variant_name(v)) + "_alpha0_is_muon_" + tag,
                                std::to_string(differ) + " of " + std::to_string(n) + " parameters or momenta differ");
                    for (float alpha : {1.0f, 0.3f}) {
                        run(v, alpha, &pv, &mv);
                        // the reference: double momentum and mix, NS from newton_schulz_cpu on the float u
                        std::vector<double> pd(p0.begin(), p0.end()), md(m0.begin(), m0.end());
                        Vec uf(n), o(n);
                        const double ns_lr = muon_scaled_lr(1.0f, rows, cols, scale) * lr * (1.0 - alpha);
                        for (int t = 0; t < 3; t++) {
                            const Vec g = random_vec(n, 62 + t);
                            std::vector<double> u(n);
                            double sum_sq = 0.0;
                            for (size_t i = 0; i < n; i++) {
                                md[i] = beta * md[i] + (1.0 - beta) * g[i];
                                u[i] = nesterov ? (1.0 - beta) * g[i] + beta * md[i] : md[i];
                                uf[i] = (float)u[i];
                                sum_sq += u[i] * u[i];
                            }
                            newton_schulz_cpu(o.data(), uf.data(), rows, cols, 5);
                            for (size_t i = 0; i < n; i++) {
                                const double second = v == MuonVariant::FMuon ? u[i] / std::sqrt(sum_sq) : s * ((u[i] > 0) - (u[i] < 0));
                                pd[i] = pd[i] - lr * wd * pd[i] - ns_lr * o[i] - lr * alpha * second;
                            }
                        }
                        Vec up(n);
                        std::vector<double> ud(n);
                        for (size_t i = 0; i < n; i++) { up[i] = pv[i] - p0[i]; ud[i] = pd[i] - p0[i]; }
                        char name[64];
                        snprintf(name, sizeof name, "%s_alpha%g_update_", muon_variant_name(v), alpha);
                        check_close(name + tag, up.data(), ud.data(), n, 1e-5);
                        check_close(std::string(muon_variant_name(v)) + "_momentum_" + tag, mv.data(), md.data(), n, 1e-6);
                    }
                }
            }
    // u = 0 (zero gradient and momentum): F-Muon's u / ||u|| is 0, not NaN; only weight decay moves p.
    const MuonHyper h = {0.02f, 0.1f, 0.9f, true, 5, MuonScale::Shape, MuonNs::Quintic, MuonVariant::FMuon, 1.0f, 0.0f};
    Vec p = {1.0f, -2.0f, 3.0f, 4.0f}, g(4, 0.0f), m(4, 0.0f), scratch;
    muon_update_matrix(p.data(), g.data(), m.data(), 2, 2, h, &scratch);
    const double want[4] = {1.0 * 0.998, -2.0 * 0.998, 3.0 * 0.998, 4.0 * 0.998};
    check_close("fmuon_zero_momentum_no_step", p.data(), want, 4, 1e-6);
}

// ---------------------------------------------------------------------------------------

static void test_grad_clip() {
    Vec g = {3.0f, 4.0f, 0.0f, -12.0f};
    const double norm = global_grad_norm(g.data(), g.size());
    check_value("grad_norm_3_4_12", norm, 13.0, 1e-12);
    const GradNorms norms = grad_norms(g.data(), g.size());
    check_value("grad_l1_3_4_12", norms.l1, 19.0, 1e-12);
    check_value("grad_linf_3_4_12", norms.linf, 12.0, 0.0);
    const Vec big = random_vec(100000, 30, 0.01f);
    double sum = 0.0;
    for (float x : big) sum += (double)x * x;
    check_value("grad_norm_random", global_grad_norm(big.data(), big.size()), std::sqrt(sum), 1e-9 * std::sqrt(sum));
    check_value("clip_above_threshold", clip_scale(13.0, 1.0f), 1.0 / (13.0 + 1e-6), 1e-8);
    // a small norm makes torch's + 1e-6 visible: 1e-4 / (1e-3 + 1e-6) = 0.0999001, not 0.1
    check_value("clip_epsilon", clip_scale(1e-3, 1e-4f), 1e-4 / (1e-3 + 1e-6), 1e-8);
    check_value("clip_below_threshold", clip_scale(0.5, 1.0f), 1.0, 0.0);
    check_value("clip_off", clip_scale(1e6, 0.0f), 1.0, 0.0);
    scale_grads(g.data(), g.size(), clip_scale(norm, 1.0f));
    const double want[4] = {3.0 / 13, 4.0 / 13, 0.0, -12.0 / 13};
    check_close("clipped_grads", g.data(), want, 4, 1e-6);
    check_value("clipped_norm_is_clip", global_grad_norm(g.data(), g.size()), 1.0, 1e-6);
}

static void test_schedules() {
    auto sched = [](Schedule kind, int warmup, float init, float final_frac, float wsd_frac = 0.2f,
                    WsdShape shape = WsdShape::Linear) {
        ScheduleConfig s;
        s.kind = kind; s.warmup_steps = warmup; s.warmup_init = init; s.final_lr_frac = final_frac; s.wsd_decay_frac = wsd_frac;
        s.wsd_shape = shape;
        return s;
    };
    auto cos_warmup = [](ScheduleConfig s) { s.warmup_shape = WarmupShape::Cos; return s; };
    struct Case { const char* name; ScheduleConfig s; int step, max_steps; double want; };
    const Case cases[] = {
        // llm.c warmup (step+1)/warmup, then cosine from 1
        {"warmup_step0", sched(Schedule::Cosine, 4, 0.0f, 0.0f), 0, 104, 0.25},
        {"warmup_step1", sched(Schedule::Cosine, 4, 0.0f, 0.0f), 1, 104, 0.5},
        {"warmup_step3", sched(Schedule::Cosine, 4, 0.0f, 0.0f), 3, 104, 1.0},
        {"warmup_init_step0", sched(Schedule::Cosine, 4, 0.2f, 0.0f), 0, 104, 0.4},
        {"warmup_init_step2", sched(Schedule::Cosine, 4, 0.2f, 0.0f), 2, 104, 0.8},
        {"cosine_after_warmup", sched(Schedule::Cosine, 4, 0.0f, 0.0f), 4, 104, 1.0},
        {"cosine_midpoint", sched(Schedule::Cosine, 4, 0.0f, 0.0f), 54, 104, 0.5},
        {"cosine_quarter", sched(Schedule::Cosine, 0, 0.0f, 0.0f), 25, 100, 0.5 + 0.5 * std::cos(M_PI / 4)},
        {"cosine_end", sched(Schedule::Cosine, 0, 0.0f, 0.0f), 100, 100, 0.0},
        {"cosine_last_step", sched(Schedule::Cosine, 0, 0.0f, 0.0f), 9, 10, 0.5 * (1 + std::cos(0.9 * M_PI))},
        {"cosine_final_frac_mid", sched(Schedule::Cosine, 0, 0.0f, 0.1f), 50, 100, 0.55},
        {"cosine_final_frac_end", sched(Schedule::Cosine, 0, 0.0f, 0.1f), 100, 100, 0.1},
        {"linear_start", sched(Schedule::Linear, 0, 0.0f, 0.1f), 0, 10, 1.0},
        {"linear_mid", sched(Schedule::Linear, 0, 0.0f, 0.1f), 5, 10, 0.55},
        {"linear_end", sched(Schedule::Linear, 0, 0.0f, 0.1f), 10, 10, 0.1},
        {"linear_after_warmup", sched(Schedule::Linear, 2, 0.0f, 0.0f), 7, 12, 0.5},
        {"constant", sched(Schedule::Constant, 0, 0.0f, 0.1f), 7, 10, 1.0},
        {"constant_warmup", sched(Schedule::Constant, 4, 0.0f, 0.1f), 1, 10, 0.5},
        {"wsd_stable", sched(Schedule::WSD, 0, 0.0f, 0.0f), 7, 10, 1.0},
        {"wsd_decay_start", sched(Schedule::WSD, 0, 0.0f, 0.0f), 8, 10, 1.0},
        {"wsd_decay_last", sched(Schedule::WSD, 0, 0.0f, 0.0f), 9, 10, 0.5},
        {"wsd_final_frac", sched(Schedule::WSD, 0, 0.0f, 0.1f), 9, 10, 0.55},
        {"wsd_end", sched(Schedule::WSD, 0, 0.0f, 0.1f), 10, 10, 0.1},
        // 0.7f is 0.69999998: decay_steps must still be 7 of 10, as in double
        {"wsd_frac_0.7_stable", sched(Schedule::WSD, 0, 0.0f, 0.0f, 0.7f), 2, 10, 1.0},
        {"wsd_frac_0.7_decay", sched(Schedule::WSD, 0, 0.0f, 0.0f, 0.7f), 4, 10, 1.0 - 1.0 / 7},
        {"wsd_warmup", sched(Schedule::WSD, 4, 0.0f, 0.0f), 1, 100, 0.5},
        // --wsd-shape sqrt (the default, llm.c's): min + (1 - min) * (1 - sqrt(d)), here of 10 steps
        // decaying from step 80 of 100: d = (step - 80) / 20
        {"wsd_sqrt_stable", sched(Schedule::WSD, 0, 0.0f, 0.0f, 0.2f, WsdShape::Sqrt), 79, 100, 1.0},
        {"wsd_sqrt_decay_start", sched(Schedule::WSD, 0, 0.0f, 0.0f, 0.2f, WsdShape::Sqrt), 80, 100, 1.0},
        {"wsd_sqrt_quarter", sched(Schedule::WSD, 0, 0.0f, 0.0f, 0.2f, WsdShape::Sqrt), 85, 100, 0.5},
        {"wsd_sqrt_final_frac", sched(Schedule::WSD, 0, 0.0f, 0.1f, 0.2f, WsdShape::Sqrt), 96, 100, 0.1 + 0.9 * (1 - std::sqrt(0.8))},
        {"wsd_sqrt_end", sched(Schedule::WSD, 0, 0.0f, 0.1f, 0.2f, WsdShape::Sqrt), 100, 100, 0.1},
        // --warmup-shape cos (OneCycleLR): 1 - (1 - init) (1 + cos(pi step / (W - 1))) / 2, the
        // peak at step W - 1 and the decay from there over max_steps - W steps (W = 5, 9 steps)
        {"cos_warmup_step0", cos_warmup(sched(Schedule::Cosine, 5, 0.0f, 0.0f)), 0, 9, 0.0},
        {"cos_warmup_step1", cos_warmup(sched(Schedule::Cosine, 5, 0.1f, 0.0f)), 1, 9, 1.0 - 0.9 * 0.5 * (1 + std::cos(M_PI / 4))},
        {"cos_warmup_step2", cos_warmup(sched(Schedule::Cosine, 5, 0.0f, 0.0f)), 2, 9, 0.5},
        {"cos_warmup_peak", cos_warmup(sched(Schedule::Cosine, 5, 0.0f, 0.0f)), 4, 9, 1.0},
        {"cos_warmup_decay1", cos_warmup(sched(Schedule::Cosine, 5, 0.0f, 0.0f)), 5, 9, 0.5 * (1 + std::cos(M_PI / 4))},
        {"cos_warmup_end", cos_warmup(sched(Schedule::Cosine, 5, 0.0f, 0.1f)), 8, 9, 0.1},
        {"cos_warmup_linear_decay", cos_warmup(sched(Schedule::Linear, 5, 0.0f, 0.0f)), 6, 9, 0.5},
        {"cos_warmup_one_step", cos_warmup(sched(Schedule::Constant, 1, 0.0f, 0.0f)), 0, 9, 1.0},
    };
    check_value("schedule_wsd_default_shape_is_sqrt", ScheduleConfig().wsd_shape == WsdShape::Sqrt ? 1.0 : 0.0, 1.0, 0);
    check_value("schedule_warmup_default_shape_is_linear", ScheduleConfig().warmup_shape == WarmupShape::Linear ? 1.0 : 0.0, 1.0, 0);
    for (const Case& c : cases) check_value(std::string("schedule_") + c.name, lr_factor_at(c.s, c.step, c.max_steps), c.want, 1e-6);
}

// ---------------------------------------------------------------------------------------
// Param groups and CpuOptimizer, on a tiny model.

static GPT2Config tiny_model() {
    GPT2Config m;
    m.num_layers = 2; m.channels = 8; m.num_heads = 2; m.vocab_size = 10; m.padded_vocab_size = 16; m.max_seq_len = 4;
    return m;
}

static OptimConfig optim_config(Algorithm a, WeightDecayOn wd_on, float wd, Algorithm fallback = Algorithm::AdamW,
                                NsgdNorm nsgd_norm = NsgdNorm::Tensor) {
    OptimConfig o;
    o.algorithm = a; o.wd_on = wd_on; o.weight_decay = wd; o.muon_fallback = fallback; o.nsgd_norm = nsgd_norm;
    resolve_optim_defaults(&o);
    return o;
}

static const Algorithm ALL_ALGORITHMS[] = {Algorithm::SGD, Algorithm::SignSGD, Algorithm::Signum, Algorithm::AdamW, Algorithm::Lion, Algorithm::Muon};
static const WeightDecayOn ALL_WD_ON[] = {WeightDecayOn::Matrices, WeightDecayOn::Hidden, WeightDecayOn::All};

static void test_param_groups() {
    const GPT2Config model = tiny_model();
    // name -> decayed under matrices / hidden / all
    for (WeightDecayOn on : ALL_WD_ON)
        for (Algorithm a : ALL_ALGORITHMS) {
            const OptimConfig cfg = optim_config(a, on, 0.1f, Algorithm::Lion);
            std::string problems;
            for (const ParamGroup& g : optim_param_groups(cfg, model)) {
                const std::string name = g.tensor.name;
                const bool hidden = name == "qkvw" || name == "attprojw" || name == "fcw" || name == "fcprojw";
                const bool embedding = name == "wte" || name == "wpe";
                const bool want_wd = on == WeightDecayOn::All || hidden || (on == WeightDecayOn::Matrices && embedding);
                const Algorithm want_rule = a == Algorithm::Muon && !hidden ? Algorithm::Lion : a;
                const float want_lr = a == Algorithm::Muon && !hidden ? default_lr(Algorithm::Lion) : default_lr(a);
                if (g.weight_decay != want_wd) problems += " " + name + ":wd";
                if (g.rule != want_rule) problems += " " + name + ":rule";
                if (g.peak_lr != want_lr) problems += " " + name + ":lr";
            }
            test_expect(problems.empty(), std::string("param_groups_") + algorithm_name(a) + "_wd_" + wd_on_name(on), "wrong:" + problems);
        }
}

// Zero gradients: every rule then moves a tensor only by its weight decay (sign(0) = 0,
// AdamW's 0/(0+eps) = 0, Newton-Schulz of 0 is 0), so each tensor must end as
// p * (1 - lr * wd) when its group decays and stay exactly put otherwise. This checks the
// wd sets, the lr routing (fallback lr under muon) and the lr factor.
static void test_weight_decay_groups() {
    const GPT2Config model = tiny_model();
    const size_t n = gpt2_num_params(model);
    const float wd = 0.5f, lr_factor = 0.5f;
    const Vec zero_grads(n, 0.0f);
    for (WeightDecayOn on : ALL_WD_ON)
        for (Algorithm a : ALL_ALGORITHMS) {
            const OptimConfig cfg = optim_config(a, on, wd);
            CpuOptimizer opt(cfg, model);
            const Vec p0 = random_vec(n, 40);
            Vec p = p0;
            opt.step(p.data(), zero_grads.data(), lr_factor, 1);
            std::string problems;
            for (const ParamGroup& g : opt.groups()) {
                const ParamTensor& t = g.tensor;
                const bool hidden = t.kind == ParamKind::HiddenMatrix;
                const bool want_wd = on == WeightDecayOn::All || hidden || (on == WeightDecayOn::Matrices && t.kind == ParamKind::Embedding);
                const float peak = a == Algorithm::Muon && !hidden ? cfg.fallback_lr : cfg.lr;
                const float keep = want_wd ? 1.0f - peak * lr_factor * wd : 1.0f;
                double err = 0.0;
                for (size_t i = t.offset; i < t.offset + t.numel(); i++) {
                    const double want = (double)p0[i] * keep;
                    err = std::max(err, std::fabs(p[i] - want) / std::max(1e-30, std::fabs(want)));
                    if (!want_wd && p[i] != p0[i]) err = 1.0;
                }
                if (err > 1e-6) problems += " " + std::string(t.name);
            }
            test_expect(problems.empty(), std::string("weight_decay_only_on_group_") + algorithm_name(a) + "_" + wd_on_name(on),
                        "wrong change in:" + problems);
        }
}

// CpuOptimizer against direct calls of the per-span rules, tensor by tensor, for two steps
// of random gradients: checks the dispatch, the state it keeps, and Muon's layer slicing.
static void test_cpu_optimizer_routing() {
    const GPT2Config model = tiny_model();
    const size_t n = gpt2_num_params(model);
    const float lr_factor = 0.7f;
    for (Algorithm a : ALL_ALGORITHMS) {
        OptimConfig cfg = optim_config(a, WeightDecayOn::Matrices, 0.1f);
        CpuOptimizer opt(cfg, model);
        Vec p = random_vec(n, 50), ref = p;
        std::vector<Vec> m(NUM_PARAM_TENSORS), v(NUM_PARAM_TENSORS);
        Vec scratch;
        const std::vector<ParamTensor> tensors = gpt2_param_tensors(model);
        for (int t = 1; t <= 2; t++) {
            const Vec g = random_vec(n, 60 + t);
            opt.step(p.data(), g.data(), lr_factor, t);
            for (size_t k = 0; k < tensors.size(); k++) {
                const ParamTensor& tt = tensors[k];
                const bool hidden = tt.kind == ParamKind::HiddenMatrix;
                const bool decay = tt.kind != ParamKind::Vector;
                const float wd = decay ? cfg.weight_decay : 0.0f;
                float* pk = ref.data() + tt.offset;
                const float* gk = g.data() + tt.offset;
                const size_t nk = tt.numel();
                m[k].resize(nk, 0.0f);
                v[k].resize(nk, 0.0f);
                const Algorithm rule = a == Algorithm::Muon && !hidden ? cfg.muon_fallback : a;
                const float lr = (a == Algorithm::Muon && !hidden ? cfg.fallback_lr : cfg.lr) * lr_factor;
                switch (rule) {
                    case Algorithm::SGD: sgd_update(pk, gk, m[k].data(), nk, {lr, wd, cfg.momentum, cfg.nesterov == 1}); break;
                    case Algorithm::SignSGD: signsgd_update(pk, gk, nk, {lr, wd}); break;
                    case Algorithm::Signum: signum_update(pk, gk, m[k].data(), nk, {lr, wd, cfg.momentum}); break;
                    case Algorithm::AdamW: adamw_update(pk, gk, m[k].data(), v[k].data(), nk, {lr, wd, cfg.beta1, cfg.beta2, cfg.eps}, t); break;
                    case Algorithm::Lion: lion_update(pk, gk, m[k].data(), nk, {lr, wd, cfg.beta1, cfg.beta2}); break;
                    case Algorithm::NSGD: case Algorithm::SSVR: break; // whole-model rules: test_nsgd, test_ssvr
                    case Algorithm::Muon:
                        for (int l = 0; l < tt.layers; l++) {
                            const size_t off = (size_t)l * tt.layer_numel();
                            muon_update_matrix(pk + off, gk + off, m[k].data() + off, tt.rows, tt.cols,
                                               {lr, wd, cfg.momentum, cfg.nesterov == 1, cfg.muon_ns_steps}, &scratch);
                        }
                        break;
                }
            }
        }
        check_close(std::string("cpu_optimizer_matches_rules_") + algorithm_name(a), p.data(), ref.data(), n, 1e-6);
    }
}

static void test_state_buffers() {
    const GPT2Config model = tiny_model();
    struct Case { const char* name; OptimConfig cfg; size_t want; };
    OptimConfig sgd_plain = optim_config(Algorithm::SGD, WeightDecayOn::Matrices, 0.0f);
    sgd_plain.momentum = 0.0f;
    const Case cases[] = {
        {"sgd_no_momentum", sgd_plain, 0},
        {"sgd_momentum", optim_config(Algorithm::SGD, WeightDecayOn::Matrices, 0.0f), 16},
        {"signsgd", optim_config(Algorithm::SignSGD, WeightDecayOn::Matrices, 0.0f), 0},
        {"signum", optim_config(Algorithm::Signum, WeightDecayOn::Matrices, 0.0f), 16},
        {"adamw", optim_config(Algorithm::AdamW, WeightDecayOn::Matrices, 0.0f), 32},
        {"lion", optim_config(Algorithm::Lion, WeightDecayOn::Matrices, 0.0f), 16},
        {"muon_adamw", optim_config(Algorithm::Muon, WeightDecayOn::Matrices, 0.0f, Algorithm::AdamW), 4 + 2 * 12},
        {"muon_signsgd", optim_config(Algorithm::Muon, WeightDecayOn::Matrices, 0.0f, Algorithm::SignSGD), 4},
        {"nsgd", optim_config(Algorithm::NSGD, WeightDecayOn::Matrices, 0.0f), 16},
        {"ssvr", optim_config(Algorithm::SSVR, WeightDecayOn::Matrices, 0.0f), 32},
    };
    for (const Case& c : cases) {
        CpuOptimizer opt(c.cfg, model);
        size_t floats = 0;
        bool sizes_ok = true;
        for (const OptimStateBuffer& b : opt.state()) {
            floats += b.data.size();
            const std::string tensor = b.name.substr(0, b.name.find('.'));
            for (const ParamGroup& g : opt.groups())
                if (tensor == g.tensor.name && b.data.size() != g.tensor.numel()) sizes_ok = false;
        }
        test_expect(opt.state().size() == c.want && sizes_ok, std::string("state_buffers_") + c.name,
                    std::to_string(opt.state().size()) + " buffers (" + std::to_string(floats) + " floats), want " + std::to_string(c.want));
    }
    // Names: "<tensor>.<slot>" in tensor order.
    CpuOptimizer opt(optim_config(Algorithm::AdamW, WeightDecayOn::Matrices, 0.0f), model);
    test_expect(opt.state()[0].name == "wte.exp_avg" && opt.state()[1].name == "wte.exp_avg_sq" && opt.state()[31].name == "lnfb.exp_avg_sq",
                "state_buffer_names", "unexpected names, first is " + opt.state()[0].name);
}

// ---------------------------------------------------------------------------------------
// The rules of issue 13: nsgd, ssvr, Muon's rms scale and Polar Express.

// nsgd --nsgd-norm tensor (the default) over the tiny model, two steps, computed here in
// double: each layer slice's gradient divided by its own norm + 1e-8, then the momentum, the
// decoupled weight decay and p -= lr m. A slice whose gradient is zero gets no step (but wd).
static void test_nsgd_tensor() {
    const GPT2Config model = tiny_model();
    const size_t n = gpt2_num_params(model);
    const OptimConfig cfg = optim_config(Algorithm::NSGD, WeightDecayOn::Matrices, 0.1f);
    test_expect(OptimConfig().nsgd_norm == NsgdNorm::Tensor && cfg.lr == 1e-3f, "nsgd_tensor_is_default",
                "default norm " + std::string(nsgd_norm_name(OptimConfig().nsgd_norm)) + ", lr " + std::to_string(cfg.lr));
    CpuOptimizer opt(cfg, model);
    Vec p = random_vec(n, 170);
    for (float& x : p) x *= 0.01f; // parameters near the step's size, so fp32 rounding of p + step stays small
    std::vector<double> pd(p.begin(), p.end()), md(n, 0.0);
    const float lr_factor = 0.5f;
    const ParamTensor& ln1w = opt.groups()[2].tensor; // its layer 1 gets a zero gradient at step 2
    for (int t = 1; t <= 2; t++) {
        Vec g = random_vec(n, 180 + t);
        if (t == 2) std::fill(g.begin() + ln1w.offset + ln1w.layer_numel(), g.begin() + ln1w.offset + 2 * ln1w.layer_numel(), 0.0f);
        const Vec p_before = p;
        opt.step(p.data(), g.data(), lr_factor, t);
        const double lr = (double)cfg.lr * lr_factor;
        for (const ParamGroup& gr : opt.groups())
            for (int l = 0; l < gr.tensor.layers; l++) {
                const size_t a = gr.tensor.offset + (size_t)l * gr.tensor.layer_numel(), b = a + gr.tensor.layer_numel();
                double norm = 0.0;
                for (size_t i = a; i < b; i++) norm += (double)g[i] * g[i];
                norm = std::sqrt(norm) + 1e-8;
                const double wd = gr.weight_decay ? cfg.weight_decay : 0.0;
                for (size_t i = a; i < b; i++) {
                    md[i] = cfg.momentum * md[i] + (1.0 - cfg.momentum) * (g[i] / norm);
                    pd[i] = pd[i] * (1.0 - lr * wd) - lr * md[i];
                }
            }
        // the updates, not the parameters (an update is ~1e-4 of them): p - p_before against pd - p_before
        std::vector<double> got(n), want(n);
        for (size_t i = 0; i < n; i++) got[i] = (double)p[i] - p_before[i], want[i] = pd[i] - p_before[i];
        check_close("nsgd_tensor_per_slice_norm_update" + std::to_string(t), got.data(), want.data(), n, 1e-4);
        for (size_t i = 0; i < n; i++) pd[i] = p[i]; // the next step from the same fp32 point
        if (t == 2) { // ln1w layer 1, zero gradient (its norm 0 + 1e-8): the momentum only decays, m = beta m
            const std::vector<float>& m = opt.state()[2].data; // "ln1w.momentum"
            test_expect(opt.state()[2].name == "ln1w.momentum", "nsgd_tensor_state_name", opt.state()[2].name);
            check_close("nsgd_tensor_zero_slice_momentum_decays", m.data() + ln1w.layer_numel(), md.data() + ln1w.offset + ln1w.layer_numel(),
                        ln1w.layer_numel(), 1e-6);
        }
    }
    // momentum 0, no weight decay: every layer slice moves by lr exactly (||g/||g|||| = 1)
    OptimConfig plain = optim_config(Algorithm::NSGD, WeightDecayOn::Matrices, 0.0f);
    plain.momentum = 0.0f;
    CpuOptimizer opt2(plain, model);
    Vec q = random_vec(n, 171), q0 = q;
    const Vec g = random_vec(n, 172);
    opt2.step(q.data(), g.data(), 1.0f, 1);
    double worst = 0.0;
    for (const ParamGroup& gr : opt2.groups())
        for (int l = 0; l < gr.tensor.layers; l++) {
            double len = 0.0;
            const size_t a = gr.tensor.offset + (size_t)l * gr.tensor.layer_numel();
            for (size_t i = a; i < a + gr.tensor.layer_numel(); i++) len += ((double)q[i] - q0[i]) * ((double)q[i] - q0[i]);
            worst = std::max(worst, std::fabs(std::sqrt(len) - plain.lr) / plain.lr);
        }
    check_value("nsgd_tensor_each_slice_moves_lr", worst, 0.0, 1e-3); // fp32 rounding of p + step at |p| ~ 1
}

// nsgd --nsgd-norm global over the tiny model, two steps, computed here in double over the
// flat vector: the norm is the whole model's (a per-tensor norm would move every tensor by lr).
static void test_nsgd() {
    const GPT2Config model = tiny_model();
    const size_t n = gpt2_num_params(model);
    OptimConfig cfg = optim_config(Algorithm::NSGD, WeightDecayOn::Matrices, 0.1f, Algorithm::AdamW, NsgdNorm::Global);
    test_expect(cfg.lr == 0.1f, "nsgd_global_default_lr", "lr " + std::to_string(cfg.lr));
    CpuOptimizer opt(cfg, model);
    Vec p = random_vec(n, 70);
    std::vector<double> pd(p.begin(), p.end()), md(n, 0.0);
    const float lr_factor = 0.5f;
    for (int t = 1; t <= 2; t++) {
        const Vec g = random_vec(n, 80 + t);
        opt.step(p.data(), g.data(), lr_factor, t);
        double norm = 0.0;
        for (size_t i = 0; i < n; i++) {
            md[i] = cfg.momentum * md[i] + (1.0 - cfg.momentum) * g[i];
            norm += md[i] * md[i];
        }
        norm = std::sqrt(norm);
        const double lr = (double)cfg.lr * lr_factor;
        for (const ParamGroup& gr : opt.groups())
            for (size_t i = gr.tensor.offset; i < gr.tensor.offset + gr.tensor.numel(); i++)
                pd[i] = pd[i] - lr * (gr.weight_decay ? cfg.weight_decay : 0.0) * pd[i] - lr * md[i] / norm;
        check_close("nsgd_whole_model_norm_step" + std::to_string(t), p.data(), pd.data(), n, 1e-6);
    }
    // Without weight decay the step has length lr exactly.
    OptimConfig plain = optim_config(Algorithm::NSGD, WeightDecayOn::Matrices, 0.0f, Algorithm::AdamW, NsgdNorm::Global);
    CpuOptimizer opt2(plain, model);
    Vec q = random_vec(n, 71), q0 = q;
    const Vec g = random_vec(n, 72);
    opt2.step(q.data(), g.data(), 1.0f, 1);
    double len = 0.0;
    for (size_t i = 0; i < n; i++) len += ((double)q[i] - q0[i]) * ((double)q[i] - q0[i]);
    check_value("nsgd_step_length_is_lr", std::sqrt(len), plain.lr, 1e-5 * plain.lr);
}

// ssvr: three steps with the trainer's call order (add_current, sub_previous from step 2,
// step), against the recursion in double; prev_params must hold the parameters before each step.
static void test_ssvr() {
    const GPT2Config model = tiny_model();
    const size_t n = gpt2_num_params(model);
    OptimConfig cfg = optim_config(Algorithm::SSVR, WeightDecayOn::Matrices, 0.1f);
    CpuOptimizer opt(cfg, model);
    Vec p = random_vec(n, 90), prev(n);
    std::vector<double> pd(p.begin(), p.end()), vd(n, 0.0);
    const float past = cfg.momentum; // (1 - beta)
    size_t wrong_prev = 0;
    for (int t = 1; t <= 3; t++) {
        const Vec g = random_vec(n, 100 + t), g_prev = random_vec(n, 200 + t);
        opt.ssvr_add_current(g.data());
        if (t > 1) opt.ssvr_sub_previous(g_prev.data());
        const Vec before = p;
        opt.step(p.data(), g.data(), 1.0f, t);
        opt.ssvr_previous_params(prev.data());
        for (size_t i = 0; i < n; i++) wrong_prev += prev[i] != before[i];
        for (size_t i = 0; i < n; i++) vd[i] = t == 1 ? (double)g[i] : g[i] + (double)past * (vd[i] - g_prev[i]);
        for (const ParamGroup& gr : opt.groups())
            for (size_t i = gr.tensor.offset; i < gr.tensor.offset + gr.tensor.numel(); i++)
                pd[i] = pd[i] - cfg.lr * (gr.weight_decay ? cfg.weight_decay : 0.0) * pd[i] - cfg.lr * ((vd[i] > 0) - (vd[i] < 0));
        check_close("ssvr_recursion_step" + std::to_string(t), p.data(), pd.data(), n, 1e-6);
    }
    test_expect(wrong_prev == 0, "ssvr_prev_params_before_step", std::to_string(wrong_prev) + " previous parameters differ");
}

static void test_muon_variants() {
    check_value("muon_scale_shape_tall", muon_scaled_lr(0.01f, 256, 64, MuonScale::Shape), 0.02, 1e-8);
    check_value("muon_scale_shape_wide", muon_scaled_lr(0.01f, 64, 256, MuonScale::Shape), 0.01, 1e-8);
    check_value("muon_scale_rms", muon_scaled_lr(0.01f, 64, 256, MuonScale::RMS), 0.01 * 0.2 * 16, 1e-8);
    // rms resolves the fallback lr to Muon's lr and the default lr to AdamW's
    OptimConfig o;
    o.algorithm = Algorithm::Muon;
    o.muon_scale = MuonScale::RMS;
    resolve_optim_defaults(&o);
    test_expect(o.lr == default_lr(Algorithm::AdamW) && o.fallback_lr == o.lr, "muon_rms_defaults",
                "lr " + std::to_string(o.lr) + ", fallback lr " + std::to_string(o.fallback_lr));
    // Polar Express on a diagonal matrix: each singular value through that iteration's
    // polynomial, after the 1.02 ||X||_F + 1e-6 normalization. The first coefficients are the
    // paper's (8.1566, -22.4833, 15.8788).
    const NsCoefficients k0 = ns_coefficients(MuonNs::PolarExpress, 0), k9 = ns_coefficients(MuonNs::PolarExpress, 9);
    test_expect(std::fabs(k0.a - 8.156554524902461) < 1e-5 && std::fabs(k0.c - 15.878769915207462) < 1e-5 &&
                k9.a == POLAR_EXPRESS[4][0], "polar_express_coefficients", "first or repeated last pair wrong");
    const int rows = 3, cols = 2;
    Vec u(6, 0.0f), out(6);
    u[0] = 3.0f, u[3] = 1.0f; // (0,0) and (1,1)
    newton_schulz_cpu(out.data(), u.data(), rows, cols, 5, MuonNs::PolarExpress);
    double s[2] = {3.0, 1.0};
    const double norm = 1.02 * std::sqrt(10.0) + 1e-6;
    static const double table[5][3] = {{8.156554524902461, -22.48329292557795, 15.878769915207462},
                                       {4.042929935166739, -2.808917465908714, 0.5000178451051316},
                                       {3.8916678022926607, -2.772484153217685, 0.5060648178503393},
                                       {3.285753657755655, -2.3681294933425376, 0.46449024233003106},
                                       {2.3465413258596377, -1.7097828382687081, 0.42323551169305323}};
    for (double& x : s) {
        x /= norm;
        for (const auto& c : table) x = c[0] * x + c[1] * x * x * x + c[2] * x * x * x * x * x;
    }
    const double want[6] = {s[0], 0, 0, s[1], 0, 0};
    // fp32 through polynomials with coefficients up to 22: measured 1.1e-5
    check_close("polar_express_diagonal", out.data(), want, 6, 1e-4);
    // and it orthogonalizes a random matrix
    const Vec in = random_vec(64 * 256, 11);
    Vec o2(in.size());
    newton_schulz_cpu(o2.data(), in.data(), 64, 256, 5, MuonNs::PolarExpress);
    const std::vector<double> sv = singular_values(o2.data(), 64, 256);
    double lo = 1e9, hi = 0.0;
    for (double x : sv) { lo = std::min(lo, x); hi = std::max(hi, x); }
    test_expect(lo >= 0.7 && hi <= 1.2, "polar_express_singular_values", "in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

// ---- majority vote (optim/sign_vote.h) against sign(sum of signs) computed here.
// A random ternary value per rank and coordinate, zero about a third of the time.
static int random_ternary(uint64_t stream, size_t i) { return (int)(random_bits(g_seed * 7919 + stream, i) % 3) - 1; }

// The vote of the ranks' values x[r][0..n) through wire format `bits`, as the data-parallel
// step runs it: pack, all-gather (the concatenation) and tally; or int8 signs summed.
static Vec vote_through(const std::vector<Vec>& x, size_t n, int bits, int byzantine, int* unpack_wrong, int* trailing) {
    const int ranks = (int)x.size();
    Vec vote(n);
    if (bits == 8) {
        std::vector<int8_t> sum(n, 0), mine(n);
        for (int r = 0; r < ranks; r++) {
            sign_vote_pack_int8(x[r].data(), n, r < byzantine, mine.data());
            for (size_t i = 0; i < n; i++) sum[i] = (int8_t)(sum[i] + mine[i]);
        }
        sign_vote_tally_int8(sum.data(), n, vote.data());
        return vote;
    }
    const size_t words = sign_vote_words(n, bits);
    std::vector<uint32_t> gathered(words * ranks);
    for (int r = 0; r < ranks; r++) {
        uint32_t* w = gathered.data() + words * r;
        sign_vote_pack(x[r].data(), n, bits, r < byzantine, w);
        for (size_t i = 0; i < n; i++) *unpack_wrong += sign_vote_unpack(w, i, bits) != sign_vote_sign(x[r][i], bits, r < byzantine);
        for (size_t b = n % 32; b > 0 && b < 32; b++)
            for (int j = 1; j <= bits; j++) *trailing += (w[words - j] >> b) & 1u;
    }
    sign_vote_tally(gathered.data(), ranks, n, bits, vote.data());
    return vote;
}

static void test_sign_vote() {
    // hand cases, one coordinate each: (ranks' signs) -> vote under 2 bits / int8, and 1 bit (sign(0) = +1)
    struct Hand { std::vector<int> s; int want, want_1bit; };
    const Hand hand[] = {{{1, -1}, 0, 0},   {{0, 0}, 0, 1},         {{1, 0}, 1, 1},           {{-1, 0, 0}, -1, 1},
                         {{1, -1, 0}, 0, 1}, {{1, 1, -1}, 1, 1},     {{-1, -1, 1, 1}, 0, 0},   {{-1, 0}, -1, 0}};
    for (int bits : {1, 2, 8}) {
        int wrong_hand = 0, unpack_wrong = 0, trailing = 0;
        for (const Hand& h : hand) {
            std::vector<Vec> x;
            for (int v : h.s) x.push_back(Vec{(float)v * 0.37f});
            wrong_hand += vote_through(x, 1, bits, 0, &unpack_wrong, &trailing)[0] != (float)(bits == 1 ? h.want_1bit : h.want);
        }
        test_expect(wrong_hand == 0 && unpack_wrong == 0, "sign_vote_hand_cases_" + std::to_string(bits) + "bit",
                    std::to_string(wrong_hand) + " of 8 votes wrong (ties give 0; sign(0) = " + (bits == 1 ? "+1)" : "0)"));
    }

    // random: n not a multiple of 32, 1..5 ranks, byzantine ranks 0..K-1 negated, +0 and -0 among the values
    const size_t n = 32 * 37 + 11;
    for (int bits : {1, 2, 8})
        for (int ranks = 1; ranks <= 5; ranks++)
            for (int byzantine = 0; byzantine < ranks && byzantine <= 2; byzantine++) {
                std::vector<std::vector<int>> s(ranks, std::vector<int>(n));
                std::vector<Vec> x(ranks, Vec(n));
                for (int r = 0; r < ranks; r++)
                    for (size_t i = 0; i < n; i++) {
                        s[r][i] = random_ternary(100 * ranks + r, i);
                        x[r][i] = s[r][i] == 0 ? (i % 2 ? -0.0f : 0.0f) : s[r][i] * (float)(1.0 + i % 5) * 1e-3f;
                    }
                int unpack_wrong = 0, trailing = 0;
                const Vec vote = vote_through(x, n, bits, byzantine, &unpack_wrong, &trailing);
                int wrong = 0, ties = 0;
                for (size_t i = 0; i < n; i++) {
                    int sum = 0;
                    for (int r = 0; r < ranks; r++) {
                        const int sent = bits == 1 && s[r][i] == 0 ? 1 : s[r][i]; // 1 bit: sign(+-0) = +1
                        sum += r < byzantine ? -sent : sent;
                    }
                    wrong += vote[i] != (float)((sum > 0) - (sum < 0));
                    ties += sum == 0;
                }
                const std::string name = "sign_vote_" + std::to_string(bits) + "bit_" + std::to_string(ranks) + "_ranks_" +
                                         std::to_string(byzantine) + "_byzantine";
                // a tie needs an even count of non-zero signs: none with one rank under 1 bit
                const bool ties_expected = !(bits == 1 && ranks % 2 == 1);
                test_expect(wrong == 0 && unpack_wrong == 0 && trailing == 0 && (ties > 0 || !ties_expected), name,
                            std::to_string(wrong) + " votes, " + std::to_string(unpack_wrong) + " unpacked signs wrong, " +
                                std::to_string(trailing) + " trailing bits set, " + std::to_string(ties) + " ties");
            }
    // d12's 124,475,904 parameters: 1 bit = 15,559,488 bytes (the 15.6 MB), 2 bits twice that, int8 one byte each
    const size_t d12 = 124475904;
    test_expect(sign_vote_bytes(d12, 1) == 15559488 && sign_vote_bytes(d12, 2) == 31118976 && sign_vote_bytes(d12, 8) == d12,
                "sign_vote_bytes_d12", std::to_string(sign_vote_bytes(d12, 1)) + " / " + std::to_string(sign_vote_bytes(d12, 2)) + " / " +
                                           std::to_string(sign_vote_bytes(d12, 8)) + " bytes for 1 / 2 / 8 bits");
}

// One rank's vote is its own sign: signum_momentum + pack + tally + apply_sign_vote must be
// signsgd's / signum's step() exactly.
static void test_sign_vote_one_rank_is_the_optimizer() {
    const GPT2Config model = tiny_model();
    const size_t n = gpt2_num_params(model);
    for (Algorithm a : {Algorithm::SignSGD, Algorithm::Signum}) {
        const OptimConfig cfg = optim_config(a, WeightDecayOn::Matrices, 0.1f);
        CpuOptimizer direct(cfg, model), voted(cfg, model);
        Vec p = random_vec(n, 70), q = p, flat(n), vote(n);
        std::vector<uint32_t> words(sign_vote_words(n, 2));
        for (int t = 1; t <= 3; t++) {
            Vec g = random_vec(n, 80 + t);
            for (size_t i = 0; i < n; i += 7) g[i] = 0.0f;
            direct.step(p.data(), g.data(), 0.9f, t);
            const float* source = g.data();
            if (a == Algorithm::Signum) { voted.signum_momentum(g.data()); voted.copy_momentum(flat.data()); source = flat.data(); }
            sign_vote_pack(source, n, 2, false, words.data()); // 2 bits: sign(0) = 0, as signsgd
            sign_vote_tally(words.data(), 1, n, 2, vote.data());
            voted.apply_sign_vote(q.data(), vote.data(), 0.9f);
        }
        size_t differ = 0;
        for (size_t i = 0; i < n; i++) differ += p[i] != q[i];
        test_expect(differ == 0, std::string("sign_vote_one_rank_equals_") + algorithm_name(a), std::to_string(differ) + " parameters differ");
    }
}

// ZeRO-1's pieces (optim/data_parallel.h's Zero1Plan): 3 "ranks", each a CpuOptimizer that
// keeps only its part of the state (keep_only) and steps its elementwise ranges (step_ranges;
// nsgd's norm summed over the ranks, as the ranks do) and its Muon matrices, on one shared
// parameter vector (the all-gather), equal step() on the whole model; the parts cover every
// parameter once and the ranks' state adds up to the whole optimizer's.
static void test_zero1_shards() {
    const GPT2Config model = tiny_model();
    const size_t n = gpt2_num_params(model);
    const int R = 3;
    std::vector<Algorithm> algorithms(std::begin(ALL_ALGORITHMS), std::end(ALL_ALGORITHMS));
    algorithms.push_back(Algorithm::NSGD); // ssvr: -z 0 only
    for (Algorithm a : algorithms) {
        const OptimConfig cfg = optim_config(a, WeightDecayOn::Matrices, 0.1f, Algorithm::AdamW, NsgdNorm::Global); // tensor: -z 0 only
        CpuOptimizer whole(cfg, model);
        const Zero1Plan plan(whole.groups(), n, R, a == Algorithm::Muon);
        std::vector<CpuOptimizer> ranks(R, whole);
        std::vector<int> covered(n, 0);
        size_t state = 0;
        for (int r = 0; r < R; r++) {
            ranks[r].keep_only(plan.owned_ranges(r));
            state += ranks[r].state_floats();
            for (const auto& range : plan.owned_ranges(r))
                for (size_t i = range.first; i < range.second; i++) covered[i]++;
        }
        size_t wrong_cover = 0;
        for (int c : covered) wrong_cover += c != 1;
        test_expect(wrong_cover == 0 && state == whole.state_floats() && ranks[1].state_floats() < whole.state_floats() / 2 + 1,
                    std::string("zero1_plan_") + algorithm_name(a),
                    std::to_string(wrong_cover) + " parameters not owned exactly once; state " + std::to_string(state) + " of " +
                        std::to_string(whole.state_floats()) + " floats over the ranks, rank 1 " + std::to_string(ranks[1].state_floats()));
        Vec p = random_vec(n, 90), q = p;
        for (int t = 1; t <= 2; t++) {
            const Vec g = random_vec(n, 95 + t);
            whole.step(p.data(), g.data(), 0.8f, t);
            // nsgd: each rank's sum of m^2 first (on copies), then every rank with the total
            double total = 0.0;
            for (int r = 0; r < R; r++) {
                CpuOptimizer probe = ranks[r];
                Vec scratch = q;
                probe.step_ranges(scratch.data(), g.data(), 0.8f, t, plan.elementwise_ranges(r), [&](double x) { total += x; return x; });
            }
            for (int r = 0; r < R; r++) {
                ranks[r].step_ranges(q.data(), g.data(), 0.8f, t, plan.elementwise_ranges(r), [&](double) { return total; });
                for (const Zero1Plan::Matrix& m : plan.matrices)
                    if (m.owner == r) ranks[r].step_muon_matrix(q.data(), g.data(), 0.8f, m.group, m.layer);
            }
        }
        check_close(std::string("zero1_shards_equal_step_") + algorithm_name(a), q.data(), p.data(), n, 1e-6);
    }
}

int main() {
    g_seed = (uint64_t)std::chrono::steady_clock::now().time_since_epoch().count() % 1000003;
    printf("test_optim: random seed %llu\n", (unsigned long long)g_seed);
    test_hand_examples();
    test_lion_order();
    test_sign_of_zero();
    test_adamw_first_step();
    test_newton_schulz_random();
    test_muon_diagonal();
    test_fanions();
    test_grad_clip();
    test_schedules();
    test_param_groups();
    test_weight_decay_groups();
    test_cpu_optimizer_routing();
    test_state_buffers();
    test_nsgd_tensor();
    test_nsgd();
    test_ssvr();
    test_muon_variants();
    test_sign_vote();
    test_sign_vote_one_rank_is_the_optimizer();
    test_zero1_shards();
    return test_exit_code();
}
