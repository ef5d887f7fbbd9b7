// The CUDA model and GPU optimizers against the PyTorch oracle's debug state
// (test/gpt2_oracle.py): logits, loss and every gradient by name after one forward/backward,
// then for each optimizer run 3 steps in the trainer's order (forward, backward, global
// norm, clip, schedule, update) checking the losses and the final fp32 master weights.
// Usage: test_gpt2_cuda DEBUG_STATE_FILE. Without a CUDA device: one SKIP line, exit 0.
#define TESTING
#include "../train_gpt2.cu"

#include <cstring>

#include "../common/named_tensors.h"
#include "check.h"

#if defined(ENABLE_FP32)
// fp32 on both sides, different summation orders (cuBLAS vs the oracle's torch CPU). The
// update bound is test_cpu_vs_oracle's: 1e-2 would let e.g. AdamW without weight decay
// (~2e-3 on the update) pass. A host emulation of this file measured <= 2e-6 on updates.
static const double TOL = 1e-4, TOL_LOSS = 1e-4, TOL_PARAMS = 1e-4, TOL_UPDATE = 1e-3, MAX_FLIP_FRACTION = 1e-3;
#else
// bf16 parameters and activations: ~3 significant digits per value. A host emulation of this
// file (exact-rounding bf16, fp32-accumulating GEMMs) measured gradients 3e-3..9e-3 and updates
// 1e-3 (sgd), 1.4e-2 (adamw), 1e-2 (muon); the update bound keeps ~7x over that. Still to be
// calibrated on a GPU, as is the flip bound of the sign-based rules.
static const double TOL = 2e-2, TOL_LOSS = 2e-2, TOL_PARAMS = 2e-2, TOL_UPDATE = 0.1, MAX_FLIP_FRACTION = 5e-2;
#endif

static std::vector<float> to_host(const floatX* d, size_t n) {
    std::vector<floatX> tmp(n);
    cudaCheck(cudaMemcpy(tmp.data(), d, n * sizeof(floatX), cudaMemcpyDeviceToHost));
    std::vector<float> out(n);
    for (size_t i = 0; i < n; i++) out[i] = to_float(tmp[i]);
    return out;
}

int main(int argc, char** argv) {
    if (argc != 2) fail_usage("usage: %s DEBUG_STATE_FILE", argv[0]);
    if (!cuda_device_available()) {
        test_skip("cuda_tests", "no CUDA device");
        return 0;
    }
    NamedTensorFile state;
    state.load(argv[1]);
    cuda_context_init();

    const std::vector<int32_t>& c = state.i32("config"); // [maxT, V, Vp, L, NH, C, B, T, seed]
    GPT2Config cfg;
    cfg.max_seq_len = c[0]; cfg.vocab_size = c[1]; cfg.padded_vocab_size = c[2];
    cfg.num_layers = c[3]; cfg.num_heads = c[4]; cfg.channels = c[5];
    const int B = c[6], T = c[7], V = cfg.vocab_size, Vp = cfg.padded_vocab_size, N = B * T;
    const int* inputs = state.i32("batch/inputs").data();
    const int* targets = state.i32("batch/targets").data();
    const std::vector<ParamTensor> tensors = gpt2_param_tensors(cfg);

    std::vector<float> init_params(gpt2_num_params(cfg));
    for (const ParamTensor& t : tensors) {
        const std::vector<float>& w = state.f32(std::string("init/") + t.name);
        std::copy(w.begin(), w.end(), init_params.begin() + t.offset);
    }
    GPT2Cuda model(cfg, B, T, false);
    model.set_params(init_params.data());

    // ---- forward (logits kept), then forward again writing dlogits, and backward
    const float loss = model.forward(inputs, targets, 0.0f);
    const std::vector<float> logits_p = to_host(model.acts.logits, (size_t)N * Vp);
    std::vector<float> logits((size_t)N * V);
    for (size_t row = 0; row < (size_t)N; row++)
        std::copy(logits_p.begin() + row * Vp, logits_p.begin() + row * Vp + V, logits.begin() + row * V);
    check_close("cuda/forward/logits", logits.data(), state.f32("forward/logits").data(), logits.size(), TOL);
    check_close("cuda/forward/loss", &loss, state.f32("forward/loss").data(), 1, TOL_LOSS);
    model.zero_grad();
    model.forward(inputs, targets, 1.0f / N);
    model.backward();
    const std::vector<float> grads = to_host(model.grads, model.num_params);
    for (const ParamTensor& t : tensors) {
        const std::vector<float>& want = state.f32(std::string("grad/") + t.name);
        check_close(std::string("cuda/grad/") + t.name, grads.data() + t.offset, want.data(), std::min(want.size(), t.numel()), TOL);
    }
    // wte's padding rows (V..Vp-1) get exactly zero gradient
    size_t nonzero_padding = 0;
    for (size_t i = (size_t)V * cfg.channels; i < (size_t)Vp * cfg.channels; i++) nonzero_padding += grads[tensors[0].offset + i] != 0.0f;
    test_expect(nonzero_padding == 0, "cuda/grad/wte_padding_zero", std::to_string(nonzero_padding) + " padding gradients are not zero");
    // the backward pass is deterministic: a second run gives bit-identical gradients
    model.zero_grad();
    model.forward(inputs, targets, 1.0f / N);
    model.backward();
    const std::vector<float> grads_again = to_host(model.grads, model.num_params);
    size_t differ = 0;
    for (size_t i = 0; i < grads.size(); i++) differ += memcmp(&grads[i], &grads_again[i], sizeof(float)) != 0;
    test_expect(differ == 0, "cuda/grad/deterministic", std::to_string(differ) + " gradients differ between two identical runs");

    // ---- 3 steps of each optimizer
    for (const char* run : {"sgd", "sgd_momentum", "sgd_nesterov", "signsgd", "signum", "adamw", "lion", "muon"}) {
        const std::string prefix = std::string("optim/") + run + "/";
        if (!state.has(prefix + "flags")) { test_fail("cuda/" + prefix + "flags", "missing from the debug state"); continue; }
        TrainConfig tc;
        parse_train_args_string(state.str(prefix + "flags"), &tc);
        model.set_params(init_params.data());
        GpuOptimizer optimizer(tc.optim, cfg);
        std::vector<float> losses;
        for (int step = 0; step < 3; step++) {
            model.zero_grad();
            losses.push_back(model.forward(inputs, targets, 1.0f / N));
            model.backward();
            model.grad_norm_and_clip(tc.optim.grad_clip);
            optimizer.step(model.master, model.params, model.grads, model.acts.grad_scale,
                           lr_factor_at(tc.schedule, step, tc.max_steps), step + 1);
        }
        cudaCheck(cudaDeviceSynchronize());
        check_close("cuda/" + prefix + "losses", losses.data(), state.f32(prefix + "losses").data(), 3, TOL_LOSS);
        const std::vector<float> ours = model.get_master();
        const std::vector<float>& want = state.f32(prefix + "params");
        const Algorithm a = tc.optim.algorithm;
        const bool sign_based = a == Algorithm::SignSGD || a == Algorithm::Signum || a == Algorithm::Lion;
        // Sign-based rules move every coordinate by +-lr; a near-zero gradient coordinate can
        // flip sign between two correct implementations. Count those, bound them, and compare
        // the rest (as test/test_cpu_vs_oracle.cpp does).
        std::vector<bool> flipped(want.size(), false);
        if (sign_based) {
            size_t flips = 0;
            for (size_t i = 0; i < want.size(); i++)
                if (std::fabs((double)ours[i] - want[i]) >= 0.25 * tc.optim.lr) { flipped[i] = true; flips++; }
            char buf[128];
            snprintf(buf, sizeof buf, "%zu of %zu coordinates differ by a sign flip (bound %.0e of them)", flips, want.size(), MAX_FLIP_FRACTION);
            if (flips <= MAX_FLIP_FRACTION * want.size()) test_pass("cuda/" + prefix + "sign_flips", buf);
            else test_fail("cuda/" + prefix + "sign_flips", buf);
        }
        std::vector<float> ours_p, want_p, ours_u, want_u;
        for (size_t i = 0; i < want.size(); i++) {
            if (flipped[i]) continue;
            ours_p.push_back(ours[i]);
            want_p.push_back(want[i]);
            ours_u.push_back(ours[i] - init_params[i]);
            want_u.push_back(want[i] - init_params[i]);
        }
        check_close("cuda/" + prefix + "params", ours_p.data(), want_p.data(), want_p.size(), TOL_PARAMS);
        check_close("cuda/" + prefix + "update", ours_u.data(), want_u.data(), want_u.size(), TOL_UPDATE);
    }
    return test_exit_code();
}
