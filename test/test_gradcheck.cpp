// Finite-difference checks of the fp32 CPU reference (cpu/*.h): every layer family's
// backward against central differences of its forward, a few forwards against naive
// double-precision formulas, and the full GPT-2 backward on a tiny config. Built with
// -DUSE_BLAS (make's default) it also compares the cblas_sgemm matmul and attention
// (matmul_blas.h, attention_blas.h) with the reference loops, and the fused classifier with
// the unfused one; test/run_tests.sh runs a BLAS=0 build too (the model on the loops).
//
// Build/run: g++ -std=c++17 -O2 -fopenmp test/test_gradcheck.cpp -o /tmp/test_gradcheck && /tmp/test_gradcheck
#include <omp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "../cpu/gpt2.h"
#include "check.h"

// ---------------------------------------------------------------------------------
// helpers

// Deterministic test data from the counter-based RNG (stream `key`).
static std::vector<float> random_vector(size_t n, uint64_t key, float std_dev, float mean = 0.0f) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; i++) v[i] = mean + std_dev * (float)random_normal(key, i);
    return v;
}

static double dot(const std::vector<float>& a, const std::vector<float>& b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); i++) s += (double)a[i] * b[i];
    return s;
}

// Central difference of objective() in x[i] for each i in idx, compared with analytic[i]
// by relative error over the sampled vector. The step actually taken, (x+h) - (x-h) in
// float, is the denominator, so rounding of x +- h costs nothing.
static bool gradcheck(const std::string& name, float* x, const float* analytic, const std::vector<size_t>& idx,
                      const std::function<double()>& objective, float h, double tol) {
    std::vector<double> numeric, expect;
    for (size_t i : idx) {
        const float saved = x[i];
        const float up = saved + h, down = saved - h;
        x[i] = up;
        const double f_up = objective();
        x[i] = down;
        const double f_down = objective();
        x[i] = saved;
        numeric.push_back((f_up - f_down) / ((double)up - (double)down));
        expect.push_back(analytic[i]);
    }
    return check_close(name, expect.data(), numeric.data(), idx.size(), tol);
}

static std::vector<size_t> all_indices(size_t n) {
    std::vector<size_t> idx(n);
    for (size_t i = 0; i < n; i++) idx[i] = i;
    return idx;
}

// Backward functions accumulate: gradient buffers start from random values g0 and the
// analytic gradient is (after - g0), which also tests the += contract.
struct AccumulatedGrad {
    std::vector<float> buf, start;
    AccumulatedGrad(size_t n, uint64_t key) : buf(random_vector(n, key, 0.1f)), start(buf) {}
    float* data() { return buf.data(); }
    std::vector<float> delta() const {
        std::vector<float> d(buf.size());
        for (size_t i = 0; i < d.size(); i++) d[i] = buf[i] - start[i];
        return d;
    }
};

// Layer objective: sum(out * R) in double, so dout = R.
// Steps and tolerances for the layer checks: inputs are O(1), objectives are double sums
// of fp32 outputs. With h = 1e-2 the truncation error (h^2 f'''/6) is ~1e-5 relative and
// the fp32 rounding noise of the outputs (~1e-7 relative per element, divided by 2h) is
// ~1e-5 too, so a correct backward lands near 1e-5..1e-4; tol 2e-3 leaves a margin while
// any real bug (a missing term, a wrong index) gives errors of 1e-1 or more.
static const float LAYER_H = 1e-2f;
static const double LAYER_TOL = 2e-3;

// ---------------------------------------------------------------------------------
// layer families

static void test_encoder() {
    const int B = 2, T = 5, C = 8, V = 11;
    std::vector<int> inp = {3, 7, 3, 0, 10, 7, 7, 1, 3, 2}; // repeated tokens accumulate
    std::vector<float> wte = random_vector((size_t)V * C, 101, 1.0f), wpe = random_vector((size_t)T * C, 102, 1.0f);
    std::vector<float> R = random_vector((size_t)B * T * C, 103, 1.0f), out(R.size());
    auto objective = [&] {
        encoder_forward_cpu(out.data(), inp.data(), wte.data(), wpe.data(), B, T, C);
        return dot(out, R);
    };
    AccumulatedGrad dwte(wte.size(), 104), dwpe(wpe.size(), 105);
    encoder_backward_cpu(dwte.data(), dwpe.data(), R.data(), inp.data(), B, T, C);
    gradcheck("encoder dwte", wte.data(), dwte.delta().data(), all_indices(wte.size()), objective, LAYER_H, LAYER_TOL);
    gradcheck("encoder dwpe", wpe.data(), dwpe.delta().data(), all_indices(wpe.size()), objective, LAYER_H, LAYER_TOL);
}

static void test_layernorm() {
    const int N = 6, C = 16;
    std::vector<float> inp = random_vector((size_t)N * C, 201, 1.5f, 0.7f); // non-zero mean
    std::vector<float> w = random_vector(C, 202, 0.3f, 1.0f), b = random_vector(C, 203, 0.3f);
    std::vector<float> R = random_vector((size_t)N * C, 204, 1.0f), out(R.size()), mean(N), rstd(N);
    auto objective = [&] {
        layernorm_forward_cpu(out.data(), mean.data(), rstd.data(), inp.data(), w.data(), b.data(), N, C);
        return dot(out, R);
    };
    objective();
    // forward against the formula in double
    std::vector<double> ref(out.size());
    for (int n = 0; n < N; n++) {
        double m = 0, v = 0;
        for (int c = 0; c < C; c++) m += inp[n * C + c] / (double)C;
        for (int c = 0; c < C; c++) v += (inp[n * C + c] - m) * (inp[n * C + c] - m) / C;
        for (int c = 0; c < C; c++) ref[n * C + c] = (inp[n * C + c] - m) / std::sqrt(v + 1e-5) * w[c] + b[c];
    }
    check_close("layernorm forward", out.data(), ref.data(), out.size(), 1e-6);

    AccumulatedGrad dinp(inp.size(), 205), dw(C, 206), db(C, 207);
    layernorm_backward_cpu(dinp.data(), dw.data(), db.data(), R.data(), inp.data(), w.data(), mean.data(), rstd.data(), N, C);
    gradcheck("layernorm dinp", inp.data(), dinp.delta().data(), all_indices(inp.size()), objective, LAYER_H, LAYER_TOL);
    gradcheck("layernorm dweight", w.data(), dw.delta().data(), all_indices(C), objective, LAYER_H, LAYER_TOL);
    gradcheck("layernorm dbias", b.data(), db.delta().data(), all_indices(C), objective, LAYER_H, LAYER_TOL);
}

// Sizes that are not multiples of the tiles (16 rows, 64 / 16 output columns).
static void test_matmul() {
    const int N = 21, C = 13, OC = 70;
    std::vector<float> inp = random_vector((size_t)N * C, 301, 1.0f), w = random_vector((size_t)OC * C, 302, 0.5f);
    std::vector<float> bias = random_vector(OC, 303, 0.5f);
    std::vector<float> R = random_vector((size_t)N * OC, 304, 1.0f), out(R.size());
    for (int with_bias = 1; with_bias >= 0; with_bias--) {
        const std::string tag = with_bias ? "matmul" : "matmul (no bias)";
        const float* b = with_bias ? bias.data() : nullptr;
        matmul_forward_cpu(out.data(), inp.data(), w.data(), b, N, C, OC);
        std::vector<double> ref((size_t)N * OC);
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++) {
                double s = b ? b[o] : 0.0;
                for (int c = 0; c < C; c++) s += (double)inp[n * C + c] * w[o * C + c];
                ref[(size_t)n * OC + o] = s;
            }
        check_close(tag + " forward", out.data(), ref.data(), out.size(), 1e-6);
    }
    auto objective = [&] {
        matmul_forward_cpu(out.data(), inp.data(), w.data(), bias.data(), N, C, OC);
        return dot(out, R);
    };
    AccumulatedGrad dinp(inp.size(), 305), dw(w.size(), 306), db(OC, 307);
    matmul_backward_cpu(dinp.data(), dw.data(), db.data(), R.data(), inp.data(), w.data(), N, C, OC);
    gradcheck("matmul dinp", inp.data(), dinp.delta().data(), all_indices(inp.size()), objective, LAYER_H, LAYER_TOL);
    gradcheck("matmul dweight", w.data(), dw.delta().data(), all_indices(w.size()), objective, LAYER_H, LAYER_TOL);
    gradcheck("matmul dbias", bias.data(), db.delta().data(), all_indices(OC), objective, LAYER_H, LAYER_TOL);
    AccumulatedGrad dinp2(inp.size(), 305), dw2(w.size(), 306);
    matmul_backward_cpu(dinp2.data(), dw2.data(), nullptr, R.data(), inp.data(), w.data(), N, C, OC);
    test_expect(dinp2.buf == dinp.buf && dw2.buf == dw.buf, "matmul backward without dbias",
                "dinp/dweight differ from the run with dbias");
}

static void test_attention() {
    const int B = 2, T = 5, C = 8, NH = 2, hs = C / NH;
    const size_t natt = (size_t)B * NH * T * T;
    std::vector<float> qkv = random_vector((size_t)B * T * 3 * C, 401, 1.0f);
    std::vector<float> R = random_vector((size_t)B * T * C, 402, 1.0f), out(R.size()), preatt(natt), att(natt);
    auto objective = [&] {
        attention_forward_cpu(out.data(), preatt.data(), att.data(), qkv.data(), B, T, C, NH);
        return dot(out, R);
    };
    objective();
    // forward against the formula in double; masked entries must be exactly 0
    std::vector<double> ref(out.size(), 0.0);
    bool masked_zero = true;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                std::vector<double> s(t + 1);
                double mx = -1e300, sum = 0;
                for (int t2 = 0; t2 <= t; t2++) {
                    double d = 0;
                    for (int i = 0; i < hs; i++)
                        d += (double)qkv[(b * T + t) * 3 * C + h * hs + i] * qkv[(b * T + t2) * 3 * C + C + h * hs + i];
                    s[t2] = d / std::sqrt((double)hs);
                    mx = std::max(mx, s[t2]);
                }
                for (int t2 = 0; t2 <= t; t2++) sum += std::exp(s[t2] - mx);
                for (int t2 = 0; t2 <= t; t2++)
                    for (int i = 0; i < hs; i++)
                        ref[(b * T + t) * C + h * hs + i] +=
                            std::exp(s[t2] - mx) / sum * qkv[(b * T + t2) * 3 * C + 2 * C + h * hs + i];
                for (int t2 = t + 1; t2 < T; t2++) {
                    const size_t k = (((size_t)b * NH + h) * T + t) * T + t2;
                    masked_zero = masked_zero && preatt[k] == 0.0f && att[k] == 0.0f;
                }
            }
    check_close("attention forward", out.data(), ref.data(), out.size(), 1e-6);
    test_expect(masked_zero, "attention masked entries zero", "preatt/att not 0 above the diagonal");

    AccumulatedGrad dqkv(qkv.size(), 403);
    std::vector<float> dpreatt(natt, 1e3f), datt(natt, -1e3f); // scratch: must be overwritten
    attention_backward_cpu(dqkv.data(), dpreatt.data(), datt.data(), R.data(), qkv.data(), att.data(), B, T, C, NH);
    gradcheck("attention dqkv", qkv.data(), dqkv.delta().data(), all_indices(qkv.size()), objective, LAYER_H, LAYER_TOL);
    // dpreatt is the gradient wrt the scores: perturb a score through a softmax of its own row
    bool scratch_ok = true;
    for (size_t k = 0; k < natt; k++) scratch_ok = scratch_ok && std::fabs(dpreatt[k]) < 1e2f && std::fabs(datt[k]) < 1e2f;
    test_expect(scratch_ok, "attention scratch overwritten", "dpreatt/datt still hold their previous contents");
}

static void test_gelu() {
    const size_t n = 64;
    std::vector<float> x(n);
    for (size_t i = 0; i < n; i++) x[i] = -4.0f + 8.0f * (float)random_uniform(501, i);
    std::vector<float> R = random_vector(n, 502, 1.0f), out(n);
    auto objective = [&] {
        gelu_forward_cpu(out.data(), x.data(), n);
        return dot(out, R);
    };
    objective();
    std::vector<double> ref(n);
    for (size_t i = 0; i < n; i++) {
        const double v = x[i];
        ref[i] = 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
    }
    check_close("gelu forward", out.data(), ref.data(), n, 1e-6);
    AccumulatedGrad dx(n, 503);
    gelu_backward_cpu(dx.data(), x.data(), R.data(), n);
    // GELU's curvature is O(1) near 0, so a smaller step keeps the truncation error small
    gradcheck("gelu dinp", x.data(), dx.delta().data(), all_indices(n), objective, 1e-3f, LAYER_TOL);
}

static void test_residual() {
    const size_t n = 40;
    std::vector<float> a = random_vector(n, 601, 1.0f), b = random_vector(n, 602, 1.0f);
    std::vector<float> R = random_vector(n, 603, 1.0f), out(n);
    auto objective = [&] {
        residual_forward_cpu(out.data(), a.data(), b.data(), n);
        return dot(out, R);
    };
    AccumulatedGrad da(n, 604), db(n, 605);
    residual_backward_cpu(da.data(), db.data(), R.data(), n);
    gradcheck("residual da", a.data(), da.delta().data(), all_indices(n), objective, LAYER_H, LAYER_TOL);
    gradcheck("residual db", b.data(), db.delta().data(), all_indices(n), objective, LAYER_H, LAYER_TOL);
}

static void test_crossentropy() {
    const int N = 4, V = 10, Vp = 16;
    std::vector<float> logits = random_vector((size_t)N * Vp, 701, 2.0f);
    std::vector<int> targets = {3, 0, 9, 3};
    std::vector<float> losses(N), probs((size_t)N * Vp);
    const float dloss = 0.7f; // objective = dloss * sum of the per-row losses
    auto objective = [&] {
        crossentropy_forward_cpu(losses.data(), probs.data(), logits.data(), targets.data(), N, V, Vp);
        double s = 0;
        for (float l : losses) s += l;
        return dloss * s;
    };
    const float mean = crossentropy_forward_cpu(losses.data(), probs.data(), logits.data(), targets.data(), N, V, Vp);
    double ref_mean = 0;
    std::vector<double> ref_losses(N);
    bool padded_prob_zero = true;
    for (int n = 0; n < N; n++) {
        double sum = 0;
        for (int v = 0; v < V; v++) sum += std::exp((double)logits[n * Vp + v]);
        ref_losses[n] = std::log(sum) - logits[n * Vp + targets[n]];
        ref_mean += ref_losses[n] / N;
        for (int v = V; v < Vp; v++) padded_prob_zero = padded_prob_zero && probs[n * Vp + v] == 0.0f;
    }
    check_close("crossentropy losses", losses.data(), ref_losses.data(), N, 1e-6);
    check_close("crossentropy mean loss", &mean, &ref_mean, 1, 1e-6);
    test_expect(padded_prob_zero, "crossentropy padded probs zero", "a padded column has a non-zero probability");

    AccumulatedGrad dlogits(logits.size(), 702);
    crossentropy_backward_cpu(dlogits.data(), probs.data(), targets.data(), dloss, N, V, Vp);
    const std::vector<float> delta = dlogits.delta();
    std::vector<size_t> real;
    bool padded_zero = true;
    for (int n = 0; n < N; n++)
        for (int v = 0; v < Vp; v++) {
            if (v < V) real.push_back((size_t)n * Vp + v);
            else padded_zero = padded_zero && delta[(size_t)n * Vp + v] == 0.0f;
        }
    gradcheck("crossentropy dlogits", logits.data(), delta.data(), real, objective, LAYER_H, LAYER_TOL);
    test_expect(padded_zero, "crossentropy padded dlogits zero", "a padded column received a gradient");
}

// ---------------------------------------------------------------------------------
// full model

// Tiny config: 2 layers, 2 heads, padded vocab (37 -> 64), T < maxT so wpe has unused rows.
static GPT2Config tiny_config() {
    GPT2Config c;
    c.num_layers = 2, c.channels = 16, c.num_heads = 2, c.vocab_size = 37, c.padded_vocab_size = 64, c.max_seq_len = 8;
    return c;
}

// GPT-2 init, then made non-trivial: the matrices are scaled up from std 0.02 so that
// attention is far from uniform and GELU is non-linear, and LayerNorm gains / all biases
// move away from 1 / 0 so that their gradients are tested in general position.
static void init_nontrivial(GPT2Cpu& model) {
    model.init(7);
    for (const ParamTensor& t : gpt2_param_tensors(model.config)) {
        float* p = model.param(t.name);
        const std::string name = t.name;
        const bool is_gain = name == "ln1w" || name == "ln2w" || name == "lnfw";
        for (size_t i = 0; i < t.numel(); i++) {
            if (t.kind != ParamKind::Vector) p[i] *= 10.0f; // padded rows of wte stay 0
            else p[i] += (float)((is_gain ? 0.3 : 0.2) * random_normal(900 + t.offset, i));
        }
    }
}

static void test_model() {
    const GPT2Config cfg = tiny_config();
    const int B = 2, T = 5, N = B * T, V = cfg.vocab_size, C = cfg.channels;
    GPT2Cpu model(cfg);
    init_nontrivial(model);
    std::vector<int> inputs(N), targets(N);
    for (int i = 0; i < N; i++) {
        inputs[i] = (int)(random_bits(11, i) % V);
        targets[i] = (int)(random_bits(12, i) % V);
    }
    const float loss = model.forward(inputs.data(), targets.data(), B, T);
    model.zero_grad();
    model.backward(1.0f / N);
    const std::vector<float> grads = model.grads;
    test_expect(std::isfinite(loss) && loss > 0, "model loss finite", "loss is " + std::to_string(loss));

    // The objective is the fp32 mean loss (~3.6), whose rounding noise is ~1e-6 after the
    // whole network; parameters are O(0.1..1). Central differences trade that noise
    // (~1e-6 / h in the numeric gradient, against sampled gradient vectors of norm
    // ~1e-2..1e-1) for truncation error (h^2 f'''/6). Measured worst relative error over
    // the 16 tensors: h = 3e-3: 2.2e-3 (noise), h = 1e-2: 6.5e-4, h = 3e-2: 2.0e-3
    // (truncation). So h = 1e-2 and tol 5e-3, ~8x above a correct backward; a broken
    // backward gives errors of 1e-1 and more.
    const float h = 1e-2f;
    const double tol = 5e-3;
    auto objective = [&] { return (double)model.forward(inputs.data(), targets.data(), B, T); };
    for (const ParamTensor& t : gpt2_param_tensors(cfg)) {
        const std::string name = t.name;
        // live coordinates: wte rows < V (the lm head reaches all of them), wpe rows < T
        size_t live = t.numel();
        if (name == "wte") live = (size_t)V * C;
        if (name == "wpe") live = (size_t)T * C;
        std::vector<size_t> idx;
        const int samples = 12;
        for (int s = 0; s < samples; s++) idx.push_back(t.offset + random_bits(1000 + t.offset, s) % live);
        if (name == "wte") // also the rows of tokens that appear in the inputs (embedding path)
            for (int s = 0; s < 4; s++) idx.push_back(t.offset + (size_t)inputs[s] * C + s % C);
        gradcheck("model d" + name, model.params.data(), grads.data(), idx, objective, h, tol);
    }

    // exact zeros: padded rows of dwte, rows of dwpe past T
    const float* dwte = grads.data() + gpt2_param_tensors(cfg)[0].offset;
    const float* dwpe = grads.data() + gpt2_param_tensors(cfg)[1].offset;
    bool pad_zero = true, wpe_zero = true;
    for (size_t i = (size_t)V * C; i < (size_t)cfg.padded_vocab_size * C; i++) pad_zero = pad_zero && dwte[i] == 0.0f;
    for (size_t i = (size_t)T * C; i < (size_t)cfg.max_seq_len * C; i++) wpe_zero = wpe_zero && dwpe[i] == 0.0f;
    test_expect(pad_zero, "model padded dwte rows zero", "a padded row of wte received a gradient");
    test_expect(wpe_zero, "model dwpe rows past T zero", "a row of wpe past T received a gradient");

    // backward accumulates: a second forward + backward without zero_grad doubles the gradients
    model.zero_grad();
    model.forward(inputs.data(), targets.data(), B, T);
    model.backward(1.0f / N);
    model.forward(inputs.data(), targets.data(), B, T);
    model.backward(1.0f / N);
    std::vector<float> twice(grads.size());
    for (size_t i = 0; i < grads.size(); i++) twice[i] = 2.0f * grads[i];
    check_close("model backward accumulates", model.grads.data(), twice.data(), twice.size(), 1e-6);

    // results do not depend on the thread count (no atomics, fixed summation order)
    const int threads = omp_get_max_threads();
    omp_set_num_threads(threads == 3 ? 2 : 3);
    const float loss3 = model.forward(inputs.data(), targets.data(), B, T);
    model.zero_grad();
    model.backward(1.0f / N);
    omp_set_num_threads(threads);
    test_expect(loss3 == loss && model.grads == grads, "model deterministic across thread counts",
                "loss or gradients changed with the number of threads");

    // logits-only forward returns -1 and matches the logits of the forward with targets
    model.forward(inputs.data(), targets.data(), B, T);
    std::vector<float> logits(model.logits(), model.logits() + (size_t)N * cfg.padded_vocab_size);
    const float no_loss = model.forward(inputs.data(), nullptr, B, T);
    test_expect(no_loss == -1.0f && std::equal(logits.begin(), logits.end(), model.logits()),
                "model forward without targets", "did not return -1 or logits changed");
}

// Bad input ends the process with one error line and exit code 1: run it in a child.
// The child must fail before any OpenMP region (libgomp cannot run in a forked child).
static void expect_runtime_failure(const std::string& name, const std::function<void()>& body) {
    fflush(stdout);
    const pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stderr)) _exit(99);
        body();
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == EXIT_RUNTIME;
    test_expect(ok, name, "child did not exit with the runtime error code");
}

static void test_model_bad_input() {
    const GPT2Config cfg = tiny_config();
    expect_runtime_failure("model rejects T > max_seq_len", [&] {
        GPT2Cpu model(cfg);
        std::vector<int> tok(9, 1);
        model.forward(tok.data(), tok.data(), 1, 9);
    });
    expect_runtime_failure("model rejects out-of-vocab token", [&] {
        GPT2Cpu model(cfg);
        std::vector<int> tok(4, 1);
        tok[2] = cfg.vocab_size;
        model.forward(tok.data(), nullptr, 1, 4);
    });
    expect_runtime_failure("model rejects out-of-vocab target", [&] {
        GPT2Cpu model(cfg);
        std::vector<int> tok(4, 1), tgt(4, 0);
        tgt[3] = -1;
        model.forward(tok.data(), tgt.data(), 1, 4);
    });
    expect_runtime_failure("model backward needs targets", [&] {
        GPT2Cpu model(cfg);
        model.backward(0.25f);
    });
    // runs OpenMP regions first, so in a fresh process: this program with --backward-twice
    expect_runtime_failure("model backward consumes its forward", [&] {
        execl("/proc/self/exe", "test_gradcheck", "--backward-twice", (char*)nullptr);
        _exit(98);
    });
    expect_runtime_failure("model rejects unknown tensor name", [&] {
        GPT2Cpu model(cfg);
        model.param("wtf");
    });
}

// ---------------------------------------------------------------------------------
// fused classifier and BLAS against the reference loops

static void test_fused_classifier() {
    const int N = 5, V = 10, Vp = 16;
    const std::vector<float> logits = random_vector((size_t)N * Vp, 801, 3.0f);
    const std::vector<int> targets = {3, 0, 9, 3, 7};
    const float dloss = 0.3f;
    std::vector<float> losses(N), probs((size_t)N * Vp), want((size_t)N * Vp, 0.0f);
    const float mean = crossentropy_forward_cpu(losses.data(), probs.data(), logits.data(), targets.data(), N, V, Vp);
    crossentropy_backward_cpu(want.data(), probs.data(), targets.data(), dloss, N, V, Vp);
    std::vector<float> fused_losses(N), row_max(N), row_inv_sum(N), dlogits = logits;
    const float fused_mean = crossentropy_forward_fused_cpu(fused_losses.data(), row_max.data(), row_inv_sum.data(),
                                                            logits.data(), targets.data(), N, V, Vp);
    crossentropy_backward_fused_cpu(dlogits.data(), row_max.data(), row_inv_sum.data(), targets.data(), dloss, N, V, Vp);
    check_close("fused classifier losses", fused_losses.data(), losses.data(), N, 1e-6);
    check_close("fused classifier dlogits", dlogits.data(), want.data(), want.size(), 1e-6);
    test_expect(std::fabs(fused_mean - mean) <= 1e-6f * std::fabs(mean), "fused classifier mean loss",
                "fused " + std::to_string(fused_mean) + " vs " + std::to_string(mean));
    bool padded_zero = true;
    for (int n = 0; n < N; n++)
        for (int v = V; v < Vp; v++) padded_zero = padded_zero && dlogits[(size_t)n * Vp + v] == 0.0f;
    test_expect(padded_zero, "fused classifier padded columns", "a padded column's gradient is not 0");
}

// vector_exp against exp in double on a dense grid over the range softmax uses, and its
// ends: at most 2 ulp (2.4e-7 relative); exp(-87.3) below -87.3.
static void test_vector_exp() {
    double worst = 0, worst_x = 0;
    for (int i = 0; i <= 2000000; i++) {
        const float x = -87.0f + 175.0f * (float)i / 2000000.0f;
        const double want = std::exp((double)x), got = vector_exp(x);
        const double rel = std::fabs(got - want) / want;
        if (!(rel <= worst)) worst = rel, worst_x = x;
    }
    test_expect(worst <= 2.4e-7, "vector_exp within 2 ulp of exp on [-87, 88]",
                "relative error " + std::to_string(worst) + " at x = " + std::to_string(worst_x));
    double worst_tanh = 0;
    for (int i = 0; i <= 200000; i++) {
        const float x = -20.0f + 40.0f * (float)i / 200000.0f;
        worst_tanh = std::max(worst_tanh, std::fabs((double)vector_tanh(x) - std::tanh((double)x)));
    }
    test_expect(worst_tanh <= 2e-7, "vector_tanh within 2e-7 of tanh on [-20, 20]", "absolute error " + std::to_string(worst_tanh));
    test_expect(vector_tanh(1e4f) == 1.0f && vector_tanh(-1e4f) == -1.0f, "vector_tanh ends", "tanh(+-1e4) should be +-1");
    test_expect(vector_exp(-100.0f) < 1.3e-38f && vector_exp(-1e30f) < 1.3e-38f && vector_exp(0.0f) == 1.0f, "vector_exp ends",
                "exp(-100) and exp(-1e30) should be at most exp(-87.3), exp(0) 1");
}

#ifdef USE_BLAS
// BLAS tolerance: both are fp32 sums of the same products in different orders.
static const double BLAS_TOL = 1e-6;

// Shapes that are not multiples of the BLAS tiles (128 x 256) nor of the loops' tiles.
static void test_matmul_blas() {
    struct Shape { int N, C, OC; };
    for (const Shape s : {Shape{21, 13, 70}, Shape{300, 70, 530}, Shape{130, 257, 129}}) {
        const std::string tag = "blas matmul " + std::to_string(s.N) + "x" + std::to_string(s.C) + "x" + std::to_string(s.OC);
        const size_t key = 3000 + s.N;
        const std::vector<float> inp = random_vector((size_t)s.N * s.C, key, 1.0f), w = random_vector((size_t)s.OC * s.C, key + 1, 0.5f);
        const std::vector<float> bias = random_vector(s.OC, key + 2, 0.5f), dout = random_vector((size_t)s.N * s.OC, key + 3, 1.0f);
        std::vector<float> out_ref((size_t)s.N * s.OC), out((size_t)s.N * s.OC, 7.0f);
        matmul_forward_cpu(out_ref.data(), inp.data(), w.data(), bias.data(), s.N, s.C, s.OC);
        matmul_forward_blas(out.data(), inp.data(), w.data(), bias.data(), s.N, s.C, s.OC);
        check_close(tag + " forward", out.data(), out_ref.data(), out.size(), BLAS_TOL);
        matmul_forward_cpu(out_ref.data(), inp.data(), w.data(), nullptr, s.N, s.C, s.OC);
        matmul_forward_blas(out.data(), inp.data(), w.data(), nullptr, s.N, s.C, s.OC);
        check_close(tag + " forward (no bias)", out.data(), out_ref.data(), out.size(), BLAS_TOL);
        // backward accumulates into random starting values
        AccumulatedGrad dinp_ref(inp.size(), key + 4), dw_ref(w.size(), key + 5), db_ref(s.OC, key + 6);
        AccumulatedGrad dinp(inp.size(), key + 4), dw(w.size(), key + 5), db(s.OC, key + 6);
        matmul_backward_cpu(dinp_ref.data(), dw_ref.data(), db_ref.data(), dout.data(), inp.data(), w.data(), s.N, s.C, s.OC);
        matmul_backward_blas(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), s.N, s.C, s.OC);
        check_close(tag + " dinp", dinp.buf.data(), dinp_ref.buf.data(), dinp.buf.size(), BLAS_TOL);
        check_close(tag + " dweight", dw.buf.data(), dw_ref.buf.data(), dw.buf.size(), BLAS_TOL);
        check_close(tag + " dbias", db.buf.data(), db_ref.buf.data(), db.buf.size(), BLAS_TOL);
    }
}

static void test_attention_blas() {
    struct Shape { int B, T, C, NH; };
    for (const Shape s : {Shape{2, 5, 8, 2}, Shape{3, 37, 48, 4}}) {
        const std::string tag = "blas attention T=" + std::to_string(s.T);
        const size_t natt = (size_t)s.B * s.NH * s.T * s.T, key = 4000 + s.T;
        const std::vector<float> qkv = random_vector((size_t)s.B * s.T * 3 * s.C, key, 1.0f);
        const std::vector<float> dout = random_vector((size_t)s.B * s.T * s.C, key + 1, 1.0f);
        std::vector<float> out_ref(dout.size()), pre_ref(natt), att_ref(natt);
        std::vector<float> out(dout.size()), pre(natt, 5.0f), att(natt, 5.0f);
        attention_forward_cpu(out_ref.data(), pre_ref.data(), att_ref.data(), qkv.data(), s.B, s.T, s.C, s.NH);
        attention_forward_blas(out.data(), pre.data(), att.data(), qkv.data(), s.B, s.T, s.C, s.NH);
        check_close(tag + " out", out.data(), out_ref.data(), out.size(), BLAS_TOL);
        check_close(tag + " preatt", pre.data(), pre_ref.data(), natt, BLAS_TOL);
        check_close(tag + " att", att.data(), att_ref.data(), natt, BLAS_TOL);
        AccumulatedGrad dqkv_ref(qkv.size(), key + 2), dqkv(qkv.size(), key + 2);
        std::vector<float> dpre_ref(natt), datt_ref(natt), dpre(natt, 1e3f), datt(natt, -1e3f);
        attention_backward_cpu(dqkv_ref.data(), dpre_ref.data(), datt_ref.data(), dout.data(), qkv.data(), att_ref.data(),
                               s.B, s.T, s.C, s.NH);
        attention_backward_blas(dqkv.data(), dpre.data(), datt.data(), dout.data(), qkv.data(), att_ref.data(), s.B, s.T,
                                s.C, s.NH);
        check_close(tag + " dqkv", dqkv.buf.data(), dqkv_ref.buf.data(), qkv.size(), BLAS_TOL);
        check_close(tag + " dpreatt", dpre.data(), dpre_ref.data(), natt, BLAS_TOL);
        check_close(tag + " datt", datt.data(), datt_ref.data(), natt, BLAS_TOL);
    }
}

// The tiled products give the same bits at any thread count (a shape of several tiles).
static void test_blas_thread_count() {
    const int N = 300, C = 200, OC = 600;
    const std::vector<float> inp = random_vector((size_t)N * C, 5001, 1.0f), w = random_vector((size_t)OC * C, 5002, 0.5f);
    const std::vector<float> dout = random_vector((size_t)N * OC, 5003, 1.0f);
    auto run = [&](int threads) {
        omp_set_num_threads(threads);
        std::vector<float> out((size_t)N * OC), dinp(inp.size(), 0.0f), dw(w.size(), 0.0f);
        matmul_forward_blas(out.data(), inp.data(), w.data(), nullptr, N, C, OC);
        matmul_backward_blas(dinp.data(), dw.data(), nullptr, dout.data(), inp.data(), w.data(), N, C, OC);
        out.insert(out.end(), dinp.begin(), dinp.end());
        out.insert(out.end(), dw.begin(), dw.end());
        return out;
    };
    const int threads = omp_get_max_threads();
    const std::vector<float> one = run(1), two = run(2), three = run(3);
    omp_set_num_threads(threads);
    test_expect(one == two && one == three, "blas matmul deterministic across thread counts",
                "results with 1, 2 and 3 threads differ");
}
#endif

// A second backward after one forward would read the logits' gradient as logits.
static void backward_twice() {
    GPT2Cpu model(tiny_config());
    std::vector<int> tok(4, 1);
    model.forward(tok.data(), tok.data(), 1, 4);
    model.backward(0.25f);
    model.backward(0.25f);
}

int main(int argc, char** argv) {
    if (argc > 1 && std::string(argv[1]) == "--backward-twice") {
        backward_twice();
        return 0;
    }
    test_encoder();
    test_layernorm();
    test_matmul();
    test_attention();
    test_gelu();
    test_residual();
    test_crossentropy();
    test_fused_classifier();
    test_vector_exp();
#ifdef USE_BLAS
    test_matmul_blas();
    test_attention_blas();
    test_blas_thread_count();
#else
    test_skip("blas vs reference loops", "built with BLAS=0");
#endif
    test_model();
    test_model_bad_input();
    return test_exit_code();
}
