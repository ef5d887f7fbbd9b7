// The CPU reference (cpu/ model, optim/ optimizers, the trainer's step order) against the
// PyTorch oracle's debug state (test/gpt2_oracle.py): initial weights, logits, loss, every
// gradient by name, and for each optimizer the losses and parameters after 3 steps.
// Usage: test_cpu_vs_oracle DEBUG_STATE_FILE
#include <string>
#include <vector>

#include "../common/named_tensors.h"
#include "../common/train_config.h"
#include "../cpu/gpt2.h"
#include "../optim/cpu_optimizer.h"
#include "../optim/grad_clip.h"
#include "../optim/schedule.h"
#include "check.h"

// fp32 against fp32 with different summation orders: errors are ~1e-7; 1e-5 leaves room
// for reordering, not for a wrong formula (each was shown to fail when perturbed).
static const double TOL_FP32 = 1e-5;
// The update p_after - p_before alone, a much smaller vector than p, so a stricter test of
// the optimizer: its error is relative to what the optimizer changed. Measured: 1e-7..1e-4
// (AdamW's first steps are nearly sign(g), so near-zero gradient coordinates weigh in).
static const double TOL_UPDATE = 1e-3;
// Sign-based rules (signsgd, signum, lion) move every coordinate by +-lr. A gradient
// coordinate that is a near-cancelling sum (wte rows of tokens absent from the batch) can
// come out with opposite signs from two correct fp32 implementations, and that coordinate
// then differs by 2*lr. Such sign flips are counted and bounded; every other coordinate
// must match at the fp32 tolerance. A wrong rule (sign(0) != 0, a wrong momentum) moves
// far more coordinates, or by amounts that are not flips, and fails.
// Measured: 175..290 flips of 3.4M coordinates (0.03% of wte's gradients are below 1e-9,
// against a typical 2e-5); sign(0) = 1 alone would move the >64k padding and unused wpe
// coordinates.
static const double MAX_FLIP_FRACTION = 1e-3;

// Coordinates where ours and the oracle's parameters differ by at least a quarter of the
// learning rate: only a sign flip of a +-lr step can do that in a correct implementation.
// Over [begin, end) (a tensor) only.
static std::vector<bool> sign_flipped(const std::vector<float>& ours, const std::vector<float>& want, float lr, size_t* count,
                                      size_t begin, size_t end) {
    std::vector<bool> flipped(want.size(), false);
    *count = 0;
    for (size_t i = begin; i < end; i++)
        if (std::fabs((double)ours[i] - want[i]) >= 0.25 * lr) { flipped[i] = true; (*count)++; }
    return flipped;
}

// Bit-exact comparison (the init uses the same RNG on both sides; biases are all zero,
// which a relative error cannot judge).
static void check_identical(const std::string& name, const float* out, const float* ref, size_t n) {
    size_t mismatches = 0;
    for (size_t i = 0; i < n; i++) mismatches += out[i] != ref[i];
    test_expect(mismatches == 0, name, std::to_string(mismatches) + " of " + std::to_string(n) + " values differ");
}

int main(int argc, char** argv) {
    if (argc != 2) fail_usage("usage: %s DEBUG_STATE_FILE", argv[0]);
    NamedTensorFile state;
    state.load(argv[1]);

    const std::vector<int32_t>& c = state.i32("config"); // [maxT, V, Vp, L, NH, C, B, T, seed]
    GPT2Config cfg;
    cfg.max_seq_len = c[0]; cfg.vocab_size = c[1]; cfg.padded_vocab_size = c[2];
    cfg.num_layers = c[3]; cfg.num_heads = c[4]; cfg.channels = c[5];
    const int B = c[6], T = c[7], V = cfg.vocab_size, Vp = cfg.padded_vocab_size;
    const uint64_t seed = (uint64_t)c[8];
    const int* inputs = state.i32("batch/inputs").data();
    const int* targets = state.i32("batch/targets").data();
    const std::vector<ParamTensor> tensors = gpt2_param_tensors(cfg);

    // ---- our seeded init against the oracle's (the same counter-based RNG in numpy)
    GPT2Cpu model(cfg);
    model.init(seed);
    for (const ParamTensor& t : tensors)
        check_identical(std::string("init/") + t.name, model.params.data() + t.offset, state.f32(std::string("init/") + t.name).data(), t.numel());
    // From here on use the oracle's exact weights, so the checks below test only the maths.
    for (const ParamTensor& t : tensors) {
        const std::vector<float>& w = state.f32(std::string("init/") + t.name);
        std::copy(w.begin(), w.end(), model.params.begin() + t.offset);
    }
    const std::vector<float> init_params = model.params;

    // ---- forward and backward of the mean loss
    const float loss = model.forward(inputs, targets, B, T);
    std::vector<float> logits((size_t)B * T * V); // the oracle keeps the first V of Vp columns
    for (size_t row = 0; row < (size_t)B * T; row++)
        std::copy(model.logits() + row * Vp, model.logits() + row * Vp + V, logits.begin() + row * V);
    check_close("forward/logits", logits.data(), state.f32("forward/logits").data(), logits.size(), TOL_FP32);
    check_close("forward/loss", &loss, state.f32("forward/loss").data(), 1, TOL_FP32);
    model.zero_grad();
    model.backward(1.0f / (B * T));
    for (const ParamTensor& t : tensors)
        check_close(std::string("grad/") + t.name, model.grads.data() + t.offset, state.f32(std::string("grad/") + t.name).data(), t.numel(), TOL_FP32);

    // ---- 3 training steps of each optimizer, in the trainer's order:
    //      forward, backward, global norm, clip, schedule, update
    //      (ssvr: then the gradient at the previous parameters on the same batch, train_gpt2cpu's
    //      ssvr_gradients; its run takes a new batch every step, optim/ssvr/inputs)
    for (const char* run : {"sgd", "sgd_momentum", "sgd_nesterov", "signsgd", "signum", "adamw", "lion", "muon", "nsgd", "nsgd_global", "ssvr",
                            "muon_rms", "muon_polar", "group_sgd_signsgd", "group_signum_adamw", "fmuon", "smuon"}) {
        const std::string prefix = std::string("optim/") + run + "/";
        if (!state.has(prefix + "flags")) { test_fail(prefix + "flags", "missing from the debug state"); continue; }
        TrainConfig tc;
        parse_train_args_string(state.str(prefix + "flags"), &tc);
        model.params = init_params;
        CpuOptimizer optimizer(tc.optim, cfg);
        const bool step_batches = state.has(prefix + "inputs");
        auto clipped_grads = [&](const int* in, const int* tg) {
            model.zero_grad();
            const float l = model.forward(in, tg, B, T);
            model.backward(1.0f / (B * T));
            const double norm = global_grad_norm(model.grads.data(), model.grads.size());
            scale_grads(model.grads.data(), model.grads.size(), clip_scale(norm, tc.optim.grad_clip));
            return l;
        };
        std::vector<float> losses;
        for (int step = 0; step < 3; step++) {
            const int* in = step_batches ? state.i32(prefix + "inputs").data() + (size_t)step * B * T : inputs;
            const int* tg = step_batches ? state.i32(prefix + "targets").data() + (size_t)step * B * T : targets;
            losses.push_back(clipped_grads(in, tg));
            if (tc.optim.algorithm == Algorithm::SSVR)
                optimizer.ssvr_gradients(model.params, model.grads.data(), step + 1, [&] { clipped_grads(in, tg); });
            optimizer.step(model.params.data(), model.grads.data(), lr_factor_at(tc.schedule, step, tc.max_steps), step + 1);
        }
        check_close(prefix + "losses", losses.data(), state.f32(prefix + "losses").data(), 3, TOL_FP32);
        const std::vector<float>& want = state.f32(prefix + "params");
        // the tensors a sign-based rule updates (per group: --optim-group mixes rules), at their lr
        bool sign_based = false;
        size_t flips = 0;
        std::vector<bool> flipped(want.size(), false);
        size_t group_flips[NUM_OPTIM_GROUPS] = {}, group_numel[NUM_OPTIM_GROUPS] = {};
        for (const ParamGroup& g : optimizer.groups()) {
            const Algorithm a = g.rule;
            if (a != Algorithm::SignSGD && a != Algorithm::Signum && a != Algorithm::Lion && a != Algorithm::SSVR) continue;
            sign_based = true;
            size_t n = 0;
            const std::vector<bool> f = sign_flipped(model.params, want, g.peak_lr, &n, g.tensor.offset, g.tensor.offset + g.tensor.numel());
            for (size_t i = g.tensor.offset; i < g.tensor.offset + g.tensor.numel(); i++) flipped[i] = f[i];
            flips += n;
            group_flips[(int)g.group] += n;
            group_numel[(int)g.group] += g.tensor.numel();
        }
        // --optim-group: the flip bound per sign-rule group too (a small group's wrong momentum or
        // beta shows as flips that the whole model's bound would absorb)
        for (int k = 0; k < NUM_OPTIM_GROUPS && !tc.optim.group_rules.empty(); k++) {
            if (group_numel[k] == 0) continue;
            char buf[128];
            snprintf(buf, sizeof buf, "%zu of %zu coordinates differ by a sign flip (bound %.0e of them)", group_flips[k], group_numel[k],
                     MAX_FLIP_FRACTION);
            test_expect(group_flips[k] <= MAX_FLIP_FRACTION * group_numel[k], prefix + "sign_flips/" + optim_group_name((OptimGroup)k), buf);
        }
        if (sign_based) {
            char buf[128];
            snprintf(buf, sizeof buf, "%zu of %zu coordinates differ by a sign flip (bound %.0e of them)", flips, want.size(), MAX_FLIP_FRACTION);
            if (flips <= MAX_FLIP_FRACTION * want.size()) test_pass(prefix + "sign_flips", buf);
            else test_fail(prefix + "sign_flips", buf);
        }
        // Parameters and the update, over the coordinates that did not flip.
        std::vector<float> ours_p, want_p, ours_u, want_u;
        for (size_t i = 0; i < want.size(); i++) {
            if (flipped[i]) continue;
            ours_p.push_back(model.params[i]);
            want_p.push_back(want[i]);
            ours_u.push_back(model.params[i] - init_params[i]);
            want_u.push_back(want[i] - init_params[i]);
        }
        check_close(prefix + "params", ours_p.data(), want_p.data(), want_p.size(), TOL_FP32);
        check_close(prefix + "update", ours_u.data(), want_u.data(), want_u.size(), TOL_UPDATE);
    }
    return test_exit_code();
}
