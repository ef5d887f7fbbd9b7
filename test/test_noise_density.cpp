// Gradient-noise density phi (common/noise_density.h):
//  1. the formula on known sigma vectors: constant -> 1, |Gaussian| -> 2/pi, 1% sparse -> 0.01;
//  2. the streaming (Welford) estimate from samples g = mu + sigma * z against a direct
//     two-pass computation, and its phi for dense Gaussian-like and sparse noise;
//  3. with arguments, the trainer's logged phi against a direct computation: this program
//     rebuilds the step-0 model from the seed, reads the same K noise batches, keeps all K
//     gradients and computes sigma and phi in double by the textbook two-pass formula.
//     Relative tolerance 1e-6 (the fp32 CPU trainer); with TOLERANCE given, only this check
//     runs, at that tolerance (train_gpt2cu: bf16 gradients).
//   build/test_noise_density [METRICS_JSONL TRAIN_SHARD K B T SEED [TOLERANCE]]
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "../common/dataloader.h"
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
    std::vector<double> sigma_all;
    const size_t per_tensor_at = record.find("\"phi_per_tensor\"");
    int matched = 0;
    double worst = 0;
    for (const ParamTensor& t : gpt2_param_tensors(cfg)) {
        const size_t count = std::string(t.name) == "wte" ? (size_t)cfg.vocab_size * cfg.channels : t.numel();
        std::vector<double> sigma(count);
        for (size_t i = 0; i < count; i++) {
            double mean = 0, ss = 0;
            for (int k = 0; k < K; k++) mean += grads[k][t.offset + i];
            mean /= K;
            for (int k = 0; k < K; k++) ss += (grads[k][t.offset + i] - mean) * (grads[k][t.offset + i] - mean);
            sigma[i] = std::sqrt(ss / (K - 1));
        }
        sigma_all.insert(sigma_all.end(), sigma.begin(), sigma.end());
        double l1 = 0, l2 = 0;
        for (double s : sigma) { l1 += s; l2 += s * s; }
        const double direct = l1 * l1 / ((double)count * l2);
        const double logged = json_value(record, t.name, per_tensor_at);
        const double rel = std::fabs(logged - direct) / direct;
        worst = std::max(worst, std::isfinite(rel) ? rel : 1e30);
        matched += rel < tol;
    }
    verdict(matched == NUM_PARAM_TENSORS, "noise/trainer_per_tensor_vs_direct",
                std::to_string(matched) + " of 16 tensors within " + sci(tol) + ", worst relative error " + sci(worst));
    double l1 = 0, l2 = 0;
    for (double s : sigma_all) { l1 += s; l2 += s * s; }
    const double direct = l1 * l1 / ((double)sigma_all.size() * l2), logged = json_value(record, "phi");
    const double rel = std::fabs(logged - direct) / direct;
    verdict(rel < tol, "noise/trainer_phi_vs_direct",
            "logged " + std::to_string(logged) + ", direct " + std::to_string(direct) + ", relative error " + sci(rel));
}

int main(int argc, char** argv) {
    if (argc != 1 && argc != 7 && argc != 8) {
        fprintf(stderr, "usage: %s [METRICS_JSONL TRAIN_SHARD K B T SEED [TOLERANCE]]\n", argv[0]);
        return 2;
    }
    if (argc < 8) {
        formula_checks();
        estimator_checks();
    }
    if (argc >= 7)
        trainer_check(argv[1], argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), strtoull(argv[6], nullptr, 10),
                      argc == 8 ? atof(argv[7]) : 1e-6);
    return test_exit_code();
}

