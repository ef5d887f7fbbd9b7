// Gradient-noise statistics phi, mean_density and tail_index (common/noise_density.h):
//  1. the formula on known sigma vectors: constant -> 1, |Gaussian| -> 2/pi, 1% sparse -> 0.01;
//     the tail-index block size m and the estimator on hand-made norms;
//  2. the streaming (Welford) estimate from samples g = mu + sigma * z against a direct
//     two-pass computation, and its phi for dense Gaussian-like and sparse noise;
//  3. with arguments, the trainer's logged statistics against a direct computation: this
//     program rebuilds the step-0 model from the seed, reads the same K noise batches, keeps
//     all K gradients and computes sigma, the mean, the noise vectors and their block sums in
//     double by the textbook two-pass formulas. Relative tolerance 1e-6 (the fp32 CPU
//     trainer); with TOLERANCE given, only this check runs, at that tolerance (train_gpt2cu:
//     bf16 gradients).
//     Also: d per tensor and overall (wpe: T rows), the groups' phi (the concatenated sigma),
//     and the record's d, phi_per_group, K and tokens_per_gradient.
//  4. --samples IN: the accumulator on synthetic samples (records "samples/<case>", K x d
//     float32, written by test/test_noise_stats.py, which computes the same statistics in
//     numpy and checks the known answers): one JSON line per case with the statistics of the
//     whole vector and of its two halves.
//   build/test_noise_density [METRICS_JSONL TRAIN_SHARD K B T SEED [TOLERANCE]]
//   build/test_noise_density --samples IN
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "../common/dataloader.h"
#include "../common/named_tensors.h"
#include "../common/noise_density.h"
#include "../common/rng.h"
#include "../cpu/gpt2.h"
#include "check.h"

static const double kTwoOverPi = 0.63661977236758134;

static std::string sci(double x) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.2e", x);
    return buf;
}

// One verdict whose detail shows on PASS as well as on FAIL.
static void verdict(bool ok, const std::string& name, const std::string& detail) {
    if (ok) test_pass(name, "(" + detail + ")");
    else test_fail(name, detail);
}

static void formula_checks() {
    const size_t d = 1000000;
    std::vector<double> s(d, 3.5);
    verdict(std::fabs(noise_density(s.data(), d) - 1.0) < 1e-12, "phi/constant_sigma_is_1", "phi " + std::to_string(noise_density(s.data(), d)));
    for (size_t i = 0; i < d; i++) s[i] = std::fabs(random_normal(11, i));
    const double dense = noise_density(s.data(), d);
    verdict(std::fabs(dense - kTwoOverPi) < 0.005, "phi/gaussian_sigma_is_2_over_pi", "phi " + std::to_string(dense));
    for (size_t i = 0; i < d; i++) s[i] = (i % 100 == 0) ? 2.0 : 0.0;
    const double sparse = noise_density(s.data(), d);
    verdict(std::fabs(sparse - 0.01) < 1e-12, "phi/one_percent_sparse_is_0.01", "phi " + std::to_string(sparse));
    std::fill(s.begin(), s.end(), 0.0);
    verdict(noise_density(s.data(), d) == 0.0, "phi/all_zero_is_0", "phi of an all-zero sigma");

    // m: the largest divisor of K not above sqrt(K).
    const int Ks[] = {2, 3, 4, 7, 8, 12, 16, 128, 288}, want_m[] = {1, 1, 2, 1, 2, 3, 4, 8, 16};
    int wrong = 0;
    for (int i = 0; i < 9; i++) wrong += tail_block_size(Ks[i]) != want_m[i];
    verdict(wrong == 0, "tail/block_size", std::to_string(wrong) + " of 9 K with a wrong m");
    // ||Y|| = m^(1/a) ||X|| exactly gives a: K = 8, m = 2, blocks of 2.
    std::vector<double> x_sq = {1, 4, 9, 16, 1, 4, 9, 16}, y_sq;
    const double a = 1.5;
    for (int i = 0; i < 4; i++) {
        const double lx = 0.25 * (std::log(x_sq[2 * i]) + std::log(x_sq[2 * i + 1])); // the block's mean log||X||
        y_sq.push_back(std::exp(2.0 * (lx + std::log(2.0) / a)));
    }
    verdict(std::fabs(tail_index(x_sq, y_sq) - a) < 1e-12, "tail/known_norms", "alpha " + std::to_string(tail_index(x_sq, y_sq)));
    verdict(std::isnan(tail_index({1, 2, 3}, {6})), "tail/undefined_for_m_1", "K = 3 has m = 1");
    verdict(std::isnan(tail_index({1, 0, 3, 4}, {1, 2})), "tail/undefined_for_zero_norm", "a zero noise vector");
    verdict(std::fabs(tail_index_gaussian(8) - 2.5720) < 1e-4 && std::fabs(tail_index_gaussian(128) - 2.0561) < 1e-4,
            "tail/finite_k_gaussian_value", "K=8: " + std::to_string(tail_index_gaussian(8)) + ", K=128: " + std::to_string(tail_index_gaussian(128)));
}

// Samples g_k = mu + sigma * z_k; returns the estimated phi and checks Welford against two-pass.
static double estimated_phi(const std::vector<double>& sigma, int K, const std::string& name) {
    const size_t d = sigma.size();
    std::vector<std::vector<float>> g(K, std::vector<float>(d));
    for (int k = 0; k < K; k++)
        for (size_t i = 0; i < d; i++)
            g[k][i] = (float)(0.3 * random_normal(5, i) + sigma[i] * random_normal(100 + k, i));
    GradientNoiseAccumulator acc(d);
    for (int k = 0; k < K; k++) acc.add(g[k].data());
    std::vector<double> direct(d);
    for (size_t i = 0; i < d; i++) {
        double mean = 0, ss = 0;
        for (int k = 0; k < K; k++) mean += g[k][i];
        mean /= K;
        for (int k = 0; k < K; k++) ss += (g[k][i] - mean) * (g[k][i] - mean);
        direct[i] = std::sqrt(ss / (K - 1));
    }
    const std::vector<double> welford = acc.sigma(0, d);
    check_close("noise/" + name + "_welford_vs_two_pass_sigma", welford.data(), direct.data(), d, 1e-9);
    return noise_density(welford.data(), d);
}

static void estimator_checks() {
    const size_t d = 200000;
    const int K = 32;
    std::vector<double> sigma(d);
    for (size_t i = 0; i < d; i++) sigma[i] = std::fabs(random_normal(21, i));
    const double dense = estimated_phi(sigma, K, "dense");
    verdict(std::fabs(dense - kTwoOverPi) < 0.03, "noise/dense_gaussian_about_0.64",
                "estimated phi " + std::to_string(dense) + ", want 2/pi within 0.03");
    for (size_t i = 0; i < d; i++) sigma[i] = (i % 100 == 7) ? std::fabs(random_normal(22, i)) : 0.0;
    const double sparse = estimated_phi(sigma, K, "sparse");
    verdict(sparse < 0.02 && sparse > 0.002, "noise/sparse_1_percent_small",
                "estimated phi " + std::to_string(sparse) + ", want about 0.0064");
}

// The groups of docs/phi.md, written out independently of noise_groups().
static const std::vector<std::pair<std::string, std::vector<std::string>>>& expected_groups() {
    static const std::vector<std::pair<std::string, std::vector<std::string>>> groups = {
        {"attention", {"qkvw", "attprojw"}},
        {"mlp", {"fcw", "fcprojw"}},
        {"norms_biases", {"ln1w", "ln1b", "ln2w", "ln2b", "lnfw", "lnfb", "qkvb", "attprojb", "fcb", "fcprojb"}},
        {"all_but_wte", {"wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb", "ln2w", "ln2b", "fcw", "fcb", "fcprojw",
                         "fcprojb", "lnfw", "lnfb"}},
    };
    return groups;
}

// What d counts and the groups (gpt2_noise_density at sequence length T, d2's layout): per-tensor
// d is wte's vocab_size rows, wpe's T rows, every other tensor whole, and the overall d their
// sum; each group's phi and d equal those of its tensors' sigmas concatenated, computed here
// from the accumulator's sigma vectors (the group lists are written out again here).
static void layout_checks() {
    GPT2Config cfg;
    gpt2_config_from_name("d2", &cfg);
    const int T = 64, C = cfg.channels, K = 3;
    const std::vector<ParamTensor> tensors = gpt2_param_tensors(cfg);
    const size_t n = gpt2_num_params(cfg);
    GradientNoiseAccumulator acc(n, false);
    std::vector<float> g(n);
    for (int k = 0; k < K; k++) {
        for (size_t i = 0; i < n; i++) g[i] = (float)((0.1 + (i % 7)) * random_normal(300 + k, i));
        acc.add(g.data());
    }
    const NoiseDensityResult r = gpt2_noise_density(acc, cfg, T);
    size_t wrong = 0, sum = 0;
    std::string detail;
    for (size_t j = 0; j < tensors.size(); j++) {
        const std::string name = tensors[j].name;
        const size_t want = name == "wte" ? (size_t)cfg.vocab_size * C : name == "wpe" ? (size_t)T * C : tensors[j].numel();
        if (r.per_tensor[j].first != name || r.per_tensor[j].second.d != want) {
            wrong++;
            detail += " " + name + " d " + std::to_string(r.per_tensor[j].second.d) + " want " + std::to_string(want);
        }
        sum += r.per_tensor[j].second.d;
    }
    const size_t want_all = n - (size_t)(cfg.padded_vocab_size - cfg.vocab_size) * C - (size_t)(cfg.max_seq_len - T) * C;
    verdict(wrong == 0, "noise/d_per_tensor_wte_vocab_wpe_T_rows", wrong ? detail : "wpe d " + std::to_string(r.per_tensor[1].second.d) + " = T x C");
    verdict(r.all.d == sum && sum == want_all, "noise/d_overall_is_sum",
            "d " + std::to_string(r.all.d) + ", sum " + std::to_string(sum) + ", want " + std::to_string(want_all));

    int matched = 0;
    detail.clear();
    for (const auto& grp : expected_groups()) {
        std::vector<double> concat;
        for (const ParamTensor& t : tensors) {
            if (std::find(grp.second.begin(), grp.second.end(), t.name) == grp.second.end()) continue;
            const size_t count = std::string(t.name) == "wpe" ? (size_t)T * C : t.numel();
            const std::vector<double> s = acc.sigma(t.offset, t.offset + count);
            concat.insert(concat.end(), s.begin(), s.end());
        }
        const double want = noise_density(concat.data(), concat.size());
        for (const auto& got : r.per_group)
            if (got.first == grp.first) {
                const double rel = std::fabs(got.second.phi - want) / want;
                matched += rel < 1e-12 && got.second.d == concat.size();
                detail += std::string(" ") + grp.first + " " + std::to_string(got.second.phi) + " vs " + std::to_string(want) + " d " +
                          std::to_string(got.second.d) + " vs " + std::to_string(concat.size()) + ";";
            }
    }
    verdict(matched == 4 && r.per_group.size() == 4, "noise/group_phi_is_concatenated_phi", std::to_string(matched) + " of 4 groups:" + detail);
}

// The number after "key": in line (searching from pos); NAN when missing.
static double json_value(const std::string& line, const std::string& key, size_t pos = 0) {
    const size_t at = line.find("\"" + key + "\":", pos);
    return at == std::string::npos ? NAN : strtod(line.c_str() + at + key.size() + 3, nullptr);
}

static void trainer_check(const char* metrics, const char* shard, int K, int B, int T, uint64_t seed, double tol) {
    std::ifstream in(metrics);
    std::string line, record;
    while (std::getline(in, line))
        if (line.find("\"type\":\"noise\",\"step\":0,") != std::string::npos) { record = line; break; }
    if (record.empty()) { test_fail("noise/trainer_vs_direct", std::string("no step-0 noise record in ") + metrics); return; }
    if (json_value(record, "batches") != K) { test_fail("noise/trainer_vs_direct", "record has another batch count"); return; }
    verdict(json_value(record, "K") == K && json_value(record, "tokens_per_gradient") == (double)B * T, "noise/record_has_K_and_tokens_per_gradient",
            "K " + std::to_string(json_value(record, "K")) + " (want " + std::to_string(K) + "), tokens_per_gradient " +
                std::to_string(json_value(record, "tokens_per_gradient")) + " (want " + std::to_string(B * T) + ")");

    GPT2Config cfg;
    gpt2_config_from_name("d2", &cfg);
    GPT2Cpu model(cfg);
    model.init(seed);
    DataLoader loader(shard, B, T, 0, 1, true, noise_loader_seed(seed));
    std::vector<std::vector<float>> grads;
    for (int k = 0; k < K; k++) {
        loader.next_batch();
        model.zero_grad();
        model.forward(loader.inputs(), loader.targets(), B, T);
        model.backward(1.0f / (float)(B * T));
        grads.push_back(model.grads);
    }
    // Direct two-pass sums per tensor: sigma and mean norms, the noise vectors' squared norms
    // and those of their block sums (blocks of m consecutive samples).
    const int m = tail_block_size(K);
    struct Direct { double s1 = 0, s2 = 0, m1 = 0, m2 = 0; size_t d = 0; std::vector<double> x_sq, y_sq; };
    auto stats_of = [&](const Direct& r, double* phi, double* md, double* alpha) {
        *phi = r.s1 * r.s1 / ((double)r.d * r.s2);
        *md = r.m1 * r.m1 / ((double)r.d * r.m2);
        double lx = 0, ly = 0;
        for (double v : r.x_sq) lx += 0.5 * std::log(v) / K;
        for (double v : r.y_sq) ly += 0.5 * std::log(v) / (K / m);
        *alpha = m > 1 ? std::log((double)m) / (ly - lx) : NAN;
    };
    Direct all;
    std::vector<Direct> group_sums(expected_groups().size());
    all.x_sq.assign(K, 0.0);
    all.y_sq.assign(K / m, 0.0);
    const char* stat_names[3] = {"phi", "mean_density", "tail_index"};
    int matched[3] = {0, 0, 0};
    double worst[3] = {0, 0, 0};
    // The tail index is a ratio of small log-norm differences and amplifies bf16 rounding: 3x the
    // tolerance for it (train_gpt2cu under emulation, K = 4: 8.4e-3 on the worst tensor).
    const double tols[3] = {tol, tol, 3 * tol};
    auto compare = [&](int j, double logged, double direct) {
        const double rel = std::fabs(logged - direct) / std::fabs(direct);
        worst[j] = std::max(worst[j], std::isfinite(rel) ? rel : 1e30);
        return rel < tols[j];
    };
    for (const ParamTensor& t : gpt2_param_tensors(cfg)) {
        const std::string name = t.name;  // d: wte's real rows, wpe's first T rows (positions the run uses)
        const size_t count = name == "wte" ? (size_t)cfg.vocab_size * cfg.channels : name == "wpe" ? (size_t)T * cfg.channels : t.numel();
        Direct r;
        r.d = count;
        r.x_sq.assign(K, 0.0);
        r.y_sq.assign(K / m, 0.0);
        for (size_t i = 0; i < count; i++) {
            double mean = 0, ss = 0;
            for (int k = 0; k < K; k++) mean += grads[k][t.offset + i];
            mean /= K;
            for (int k = 0; k < K; k++) ss += (grads[k][t.offset + i] - mean) * (grads[k][t.offset + i] - mean);
            const double sigma = std::sqrt(ss / (K - 1));
            r.s1 += sigma, r.s2 += sigma * sigma, r.m1 += std::fabs(mean), r.m2 += mean * mean;
            for (int b = 0; b < K / m; b++) {
                double y = 0;
                for (int k = b * m; k < (b + 1) * m; k++) {
                    const double x = grads[k][t.offset + i] - mean;
                    r.x_sq[k] += x * x;
                    y += x;
                }
                r.y_sq[b] += y * y;
            }
        }
        all.s1 += r.s1, all.s2 += r.s2, all.m1 += r.m1, all.m2 += r.m2, all.d += r.d;
        for (size_t gi = 0; gi < expected_groups().size(); gi++) {
            const auto& members = expected_groups()[gi].second;
            if (std::find(members.begin(), members.end(), name) == members.end()) continue;
            group_sums[gi].s1 += r.s1, group_sums[gi].s2 += r.s2, group_sums[gi].d += r.d;
        }
        for (int k = 0; k < K; k++) all.x_sq[k] += r.x_sq[k];
        for (int b = 0; b < K / m; b++) all.y_sq[b] += r.y_sq[b];
        double direct[3];
        stats_of(r, &direct[0], &direct[1], &direct[2]);
        for (int j = 0; j < 3; j++) {
            const size_t at = record.find(std::string("\"") + stat_names[j] + "_per_tensor\"");
            matched[j] += at != std::string::npos && compare(j, json_value(record, t.name, at), direct[j]);
        }
    }
    for (int j = 0; j < 3; j++)
        verdict(matched[j] == NUM_PARAM_TENSORS, std::string("noise/trainer_per_tensor_") + stat_names[j] + "_vs_direct",
                std::to_string(matched[j]) + " of 16 tensors within " + sci(tols[j]) + ", worst relative error " + sci(worst[j]));
    double direct[3];
    stats_of(all, &direct[0], &direct[1], &direct[2]);
    verdict(json_value(record, "d") == (double)all.d, "noise/trainer_d_vs_direct",
            "logged d " + std::to_string(json_value(record, "d")) + ", direct " + std::to_string(all.d));
    const size_t groups_at = record.find("\"phi_per_group\"");
    int groups_matched = 0;
    double groups_worst = 0;
    for (size_t gi = 0; gi < group_sums.size(); gi++) {
        const Direct& g = group_sums[gi];
        const double want = g.s1 * g.s1 / ((double)g.d * g.s2);
        const double got = groups_at == std::string::npos ? NAN : json_value(record, expected_groups()[gi].first, groups_at);
        const double rel = std::fabs(got - want) / want;
        groups_worst = std::max(groups_worst, std::isfinite(rel) ? rel : 1e30);
        groups_matched += rel < tol;
    }
    verdict(groups_matched == (int)group_sums.size(), "noise/trainer_phi_per_group_vs_direct",
            std::to_string(groups_matched) + " of " + std::to_string(group_sums.size()) + " groups within " + sci(tol) +
                ", worst relative error " + sci(groups_worst));
    for (int j = 0; j < 3; j++) {
        const double logged = json_value(record, stat_names[j]);
        const double rel = std::fabs(logged - direct[j]) / std::fabs(direct[j]);
        verdict(rel < tols[j], std::string("noise/trainer_") + stat_names[j] + "_vs_direct",
                "logged " + std::to_string(logged) + ", direct " + std::to_string(direct[j]) + ", relative error " + sci(rel));
    }
}

// Mode --samples: the accumulator's statistics on every "samples/<case>" record (K x d).
static int samples_mode(const char* path) {
    NamedTensorFile f;
    f.load(path);
    for (const auto& rec : f.records) {
        if (rec.first.rfind("samples/", 0) != 0) continue;
        const NamedTensor& t = rec.second;
        if (t.dims.size() != 2) fail_usage("%s: record %s is not K x d", path, rec.first.c_str());
        const int K = t.dims[0];
        const size_t d = (size_t)t.dims[1];
        GradientNoiseAccumulator acc(d);
        acc.reset();
        for (int k = 0; k < K; k++) acc.add(t.f32.data() + (size_t)k * d);
        const NoiseSums halves[2] = {acc.noise_sums(0, d / 2), acc.noise_sums(d / 2, d)};
        NoiseSums whole;
        whole.add(halves[0]);
        whole.add(halves[1]);
        auto num = [](double x) {
            char buf[32];
            snprintf(buf, sizeof buf, "%.17g", x);
            return std::isfinite(x) ? std::string(buf) : std::string("null");
        };
        auto json = [&](const NoiseStats& s) {
            return "{\"phi\":" + num(s.phi) + ",\"mean_density\":" + num(s.mean_density) + ",\"tail_index\":" + num(s.tail_index) + "}";
        };
        printf("{\"case\":\"%s\",\"whole\":%s,\"halves\":[%s,%s]}\n", rec.first.substr(8).c_str(), json(noise_stats(whole)).c_str(),
               json(noise_stats(halves[0])).c_str(), json(noise_stats(halves[1])).c_str());
    }
    return 0;
}

int main(int argc, char** argv) {
    if (argc == 3 && std::string(argv[1]) == "--samples") return samples_mode(argv[2]);
    if (argc != 1 && argc != 7 && argc != 8) {
        fprintf(stderr, "usage: %s [METRICS_JSONL TRAIN_SHARD K B T SEED [TOLERANCE]]\n", argv[0]);
        return 2;
    }
    if (argc < 8) {
        formula_checks();
        estimator_checks();
        layout_checks();
    }
    if (argc >= 7)
        trainer_check(argv[1], argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), strtoull(argv[6], nullptr, 10),
                      argc == 8 ? atof(argv[7]) : 1e-6);
    return test_exit_code();
}

