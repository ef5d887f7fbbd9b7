// Zero-order training (common/zero_order.h) on a tiny GPT-2 in fp32, against the backward
// pass and against the update formulas recomputed here in double:
//   - MeZO's (L+ - L-) / (2 eps) against the directional derivative g . z from backward;
//   - JAGUAR's rho against sum_{i in S} s_i g_i, the derivative along the signed set;
//   - JAGUAR's sets (sizes, distinct, wte's real rows), the exact restore of W, the first
//     step's m and W; jaguar-muon's hidden matrices against NS(m);
//   - MeZO's step against W - lr g z, and its restore drift (lr 0) within a few ulp.
// Build/run: make build/test_zero_order && build/test_zero_order
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "../common/train_config.h"
#include "../common/zero_order.h"
#include "../cpu/gpt2.h"
#include "check.h"

// A verdict that prints its values either way.
static bool expect_values(bool ok, const std::string& name, const char* values) { return ok ? test_pass(name, values) : test_fail(name, values); }

static GPT2Config tiny_config() {
    GPT2Config c;
    c.num_layers = 2, c.channels = 16, c.num_heads = 2, c.vocab_size = 37, c.padded_vocab_size = 64, c.max_seq_len = 8;
    return c;
}

// GPT-2 init with the matrices scaled up, so the loss has sizeable gradients everywhere.
struct TinyRun {
    GPT2Cpu model{tiny_config()};
    int B = 2, T = 6;
    std::vector<int> inputs, targets;
    TinyRun() {
        model.init(11);
        for (float& p : model.params) p *= 5.0f;
        for (int i = 0; i < B * T; i++) {
            inputs.push_back((int)(random_bits(91, i) % 37));
            targets.push_back((int)(random_bits(92, i) % 37));
        }
    }
    double loss() { return model.forward(inputs.data(), targets.data(), B, T); }
    std::vector<float> gradient() {
        model.zero_grad();
        loss();
        model.backward(1.0f / (B * T));
        return model.grads;
    }
};

static TrainConfig zo_config(const std::string& flags) {
    TrainConfig cfg = cpu_trainer_defaults();
    parse_train_args_string(flags, &cfg);
    return cfg;
}

static void test_mezo_estimate() {
    TinyRun run;
    const std::vector<float> g = run.gradient(), w0 = run.model.params;
    const TrainConfig cfg = zo_config("--zo mezo --zo-eps 1e-4");
    CpuZeroOrder zo(cfg.zo, run.model.config, cfg.seed);
    const int t = 3;
    const uint64_t key = zo_step_key(cfg.seed, t, ZoStream::MezoDirection);
    double gz = 0;
    for (const auto& r : mezo_ranges(run.model.config))
        for (size_t i = r.first; i < r.second; i++) gz += (double)g[i] * mezo_direction(key, i);
    const ZoStepResult r = zo.mezo_estimate(run.model.params.data(), [&] { return run.loss(); }, t);
    const double err = std::fabs(r.estimate - gz) / std::fabs(gz);
    char buf[200];
    snprintf(buf, sizeof buf, "(L+ - L-)/(2 eps) %.6f, g.z %.6f, rel err %.2e (tol 5e-3; the O(eps^2) term dominates)", r.estimate, gz, err);
    expect_values(err < 5e-3, "zo/mezo_estimate_vs_directional_derivative", buf);
}

static void test_mezo_step() {
    TinyRun run;
    const TrainConfig cfg = zo_config("--zo mezo -l 1e-3");
    CpuOptimizer opt(cfg.optim, run.model.config);
    const std::vector<float> w0 = run.model.params;
    CpuZeroOrder zo(cfg.zo, run.model.config, cfg.seed);
    const int t = 5;
    const ZoStepResult r = zo.step(run.model.params.data(), opt, [&] { return run.loss(); }, 1.0f, t);
    const uint64_t key = zo_step_key(cfg.seed, t, ZoStream::MezoDirection);
    std::vector<double> want(w0.begin(), w0.end());
    for (const auto& range : mezo_ranges(run.model.config))
        for (size_t i = range.first; i < range.second; i++) want[i] -= 1e-3 * r.estimate * mezo_direction(key, i);
    check_close("zo/mezo_step_vs_w_minus_lr_g_z", run.model.params.data(), want.data(), w0.size(), 1e-6);
    bool padding_zero = true;
    const GPT2Config& c = run.model.config;
    for (size_t i = (size_t)c.vocab_size * c.channels; i < (size_t)c.padded_vocab_size * c.channels; i++) padding_zero &= run.model.params[i] == 0.0f;
    test_expect(padding_zero, "zo/mezo_padding_rows_stay_zero", "a padding row of wte moved");

    // lr 0: MeZO's restore W + eps z - 2 eps z + eps z, within a few ulp of W
    TinyRun again;
    const TrainConfig cfg0 = zo_config("--zo mezo -l 0");
    CpuOptimizer opt0(cfg0.optim, again.model.config);
    const std::vector<float> v0 = again.model.params;
    CpuZeroOrder zo0(cfg0.zo, again.model.config, cfg0.seed);
    zo0.step(again.model.params.data(), opt0, [&] { return again.loss(); }, 1.0f, t);
    double worst_ulps = 0;
    const uint64_t key0 = zo_step_key(cfg0.seed, t, ZoStream::MezoDirection);
    for (size_t i = 0; i < v0.size(); i++) {
        // in ulps of the largest value the three sums pass through, max(|W|, |W| + 2 eps |z|)
        const float big = std::fabs(v0[i]) + 2 * cfg0.zo.eps * std::fabs(mezo_direction(key0, i));
        const double ulp = (double)std::nextafter(big, INFINITY) - big;
        worst_ulps = std::max(worst_ulps, std::fabs((double)again.model.params[i] - v0[i]) / ulp);
    }
    char buf[160];
    snprintf(buf, sizeof buf, "worst drift %.2f ulp of |W| + 2 eps |z| (tol 2: three roundings of half an ulp)", worst_ulps);
    expect_values(worst_ulps <= 2.0 && worst_ulps > 0, "zo/mezo_restore_drift_within_ulps", buf);
}

static void test_jaguar_sets() {
    const GPT2Config c = tiny_config();
    const std::vector<JaguarSet> sets = jaguar_sets(c, 0.25f, 42, 7);
    const std::vector<ParamTensor> tensors = gpt2_param_tensors(c);
    size_t k = 0;
    bool ok = true;
    std::string why;
    for (const ParamTensor& p : tensors)
        for (int l = 0; l < p.layers; l++, k++) {
            const JaguarSet& s = sets.at(k);
            const int rows = std::string(p.name) == "wte" ? c.vocab_size : p.rows;
            const size_t want_rows = std::max(1, (int)(rows * 0.25)), want_cols = p.cols == 1 ? 1 : std::max(1, (int)(p.cols * 0.25));
            if (s.rows.size() != want_rows || s.cols.size() != want_cols) ok = false, why = std::string(p.name) + " set size";
            for (size_t i = 1; i < s.rows.size(); i++) if (s.rows[i] <= s.rows[i - 1]) ok = false, why = std::string(p.name) + " rows not distinct";
            for (size_t i = 1; i < s.cols.size(); i++) if (s.cols[i] <= s.cols[i - 1]) ok = false, why = std::string(p.name) + " cols not distinct";
            if (!s.rows.empty() && s.rows.back() >= rows) ok = false, why = std::string(p.name) + " row out of range";
        }
    test_expect(ok && k == sets.size(), "zo/jaguar_sets_sizes_distinct_in_range", why);
    const std::vector<JaguarSet> other = jaguar_sets(c, 0.25f, 42, 8);
    test_expect(other[4].rows != sets[4].rows || other[4].cols != sets[4].cols, "zo/jaguar_sets_change_per_step", "step 7 and 8 drew the same qkvw set");
}

static void test_jaguar_estimate_and_step(const char* method) {
    TinyRun run;
    const std::vector<float> g = run.gradient(), w0 = run.model.params;
    const TrainConfig cfg = zo_config(std::string("--zo ") + method + " --zo-tau 1e-3 --zo-fraction 0.25 --zo-beta 0.3 -l 1e-3");
    CpuOptimizer opt(cfg.optim, run.model.config);
    CpuZeroOrder zo(cfg.zo, run.model.config, cfg.seed);
    const int t = 4;
    const std::vector<JaguarSet> sets = jaguar_sets(run.model.config, cfg.zo.fraction, cfg.seed, t);
    const uint64_t sign_key = zo_step_key(cfg.seed, t, ZoStream::JaguarSigns);
    double sg = 0;
    for (const JaguarSet& s : sets)
        for (size_t k = 0; k < s.size(); k++) sg += jaguar_sign(sign_key, s.flat(k)) * (double)g[s.flat(k)];
    const ZoStepResult r = zo.jaguar_estimate(run.model.params.data(), sets, [&] { return run.loss(); }, t);
    const std::string name = std::string("zo/") + method;
    const double err = std::fabs(r.estimate - sg) / std::fabs(sg);
    char buf[200];
    snprintf(buf, sizeof buf, "rho %.6f, sum s_i g_i over S %.6f, rel err %.2e (tol 2e-2)", r.estimate, sg, err);
    expect_values(err < 2e-2, name + "_rho_vs_directional_derivative", buf);
    test_expect(run.model.params == w0, name + "_restore_exact", "W after the two losses differs from W before");

    // the first step: m = (1 - beta) s_i rho on S, 0 elsewhere; W -= lr sign(m) (NS(m) on muon's matrices)
    const ZoStepResult r2 = zo.step(run.model.params.data(), opt, [&] { return run.loss(); }, 1.0f, t);
    std::vector<float> m_want(w0.size(), 0.0f);
    for (const JaguarSet& s : sets)
        for (size_t k = 0; k < s.size(); k++) m_want[s.flat(k)] = (1.0f - 0.3f) * (jaguar_sign(sign_key, s.flat(k)) * (float)r2.estimate);
    std::vector<float> m_got(w0.size(), 0.0f);
    for (const OptimStateBuffer& b : opt.state()) std::copy(b.data.begin(), b.data.end(), m_got.begin() + b.tensor_offset);
    check_close(name + "_momentum_on_set", m_got.data(), m_want.data(), m_got.size(), 1e-6);
    bool same = true;
    size_t moved = 0, mismatch = 0;
    for (const ParamGroup& grp : opt.groups()) {
        const ParamTensor& p = grp.tensor;
        if (grp.rule == Algorithm::Muon) {
            std::vector<float> o(p.layer_numel());
            for (int l = 0; l < p.layers; l++) {
                const size_t at = p.offset + (size_t)l * p.layer_numel();
                newton_schulz_cpu(o.data(), m_want.data() + at, p.rows, p.cols, cfg.optim.muon_ns_steps, cfg.optim.muon_ns);
                const float lr = muon_scaled_lr(1e-3f, p.rows, p.cols, cfg.optim.muon_scale);
                for (size_t i = 0; i < p.layer_numel(); i++) {
                    const double want = (double)w0[at + i] - (double)lr * o[i];
                    if (std::fabs(run.model.params[at + i] - want) > 1e-6 * (1 + std::fabs(want))) mismatch++;
                    moved += run.model.params[at + i] != w0[at + i];
                }
            }
            continue;
        }
        for (size_t i = p.offset; i < p.offset + p.numel(); i++) {
            const float want = w0[i] - 1e-3f * sign_or_zero(m_want[i]);
            same &= run.model.params[i] == want;
            moved += run.model.params[i] != w0[i];
        }
    }
    snprintf(buf, sizeof buf, "%zu coordinates moved, %zu muon mismatches", moved, mismatch);
    expect_values(same && mismatch == 0 && moved > 0, name + "_first_step_w", buf);
}

int main() {
    test_mezo_estimate();
    test_mezo_step();
    test_jaguar_sets();
    test_jaguar_estimate_and_step("jaguar-sign");
    test_jaguar_estimate_and_step("jaguar-muon");
    const TestTally& t = test_tally();
    return t.failed ? 1 : 0;
}
