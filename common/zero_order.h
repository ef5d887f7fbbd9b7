// Zero-order training (--zo): the step's gradient estimate comes from two forward passes at
// perturbed weights on the same batch, and an existing rule (optim/) applies it. No backward
// pass, no gradient buffer. docs/zero_order.md has the derivations and the differences from
// the authors' code.
//
// Every random draw is a pure function of (--seed, step, flat index) (common/rng.h), so the
// perturbation is regenerated, never stored, every rank draws the same one, and a resumed run
// draws what the uninterrupted one drew: the checkpoint needs only the step (and JAGUAR's m).
//
// MeZO (Malladi et al. 2023, Algorithm 1): z ~ N(0, I) over every parameter (wte's padding
//   rows excluded: they never produce loss);
//     L+ = L(W + eps z),  L- = L(W - eps z),  g = (L+ - L-) / (2 eps)
//     W = (W - eps z) + eps z, then sgd's rule with the estimate g z (momentum 0)
//   The restore is MeZO's own: W + eps z - 2 eps z + eps z, which rounds in fp32, so W drifts
//   by about one ulp per element per step (deterministically: a resume is still exact).
//
// JAGUAR (Petrov et al., arXiv 2506.04430, Algorithms 1-2): each step, per layer slice of
//   every tensor, a coordinate set S: a --zo-fraction of a vector's entries, or that fraction
//   of a matrix's rows times that fraction of its columns (wte: of its V real rows); S is
//   shifted by tau s (s_i = +-1, random per coordinate and step), the old values of S are kept
//   and put back exactly after the two losses:
//     rho = (L(W + tau s_S) - L(W - tau s_S)) / (2 tau),   rho_i = s_i rho  for i in S
//     m_i = beta m_i + (1 - beta) rho_i   on S, unchanged elsewhere
//   jaguar-sign: W -= lr sign(m) (signsgd's rule on m);  jaguar-muon: the hidden matrices
//   W -= lr * scale * NS(m) (muon's Newton-Schulz, scale and decoupled decay), the rest sign.
//   The paper's estimator is per coordinate (one coordinate e_i per step: rho e_i estimates
//   d_i f). With many coordinates at once, a single shift of all of S (the authors' code)
//   measures the sum of d_i f over S and writes that one scalar into every coordinate of S;
//   the random signs make s_i rho an estimate of d_i f itself (E[s_i s_j] = 0 for i != j),
//   and with one coordinate it is the paper's estimator exactly.
//   m lives in the optimizer's "<tensor>.momentum" slot (signum / muon), so checkpoints and
//   resume carry it as they carry any momentum.
//
// Data parallel: each rank evaluates both losses on its own batch; the losses are averaged
// over ranks (two scalars per step) before the estimate, so every rank applies one update.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "../optim/cpu_optimizer.h"
#include "../optim/muon.h"
#include "../optim/sgd.h"
#include "../optim/signsgd.h"
#include "gpt2_layout.h"
#include "rng.h"
#include "utils.h"
#include "zero_order_config.h"
#include "zero_order_draws.h"

// The CPU step. loss(): the mean loss of the step's batch (all micro-batches, all ranks) at
// the current params; it is called twice per step, on the same batch.
class CpuZeroOrder {
public:
    CpuZeroOrder(const ZoConfig& zo, const GPT2Config& model, uint64_t seed) : zo_(zo), model_(model), seed_(seed) {}

    template <class LossFn>
    ZoStepResult step(float* params, CpuOptimizer& opt, LossFn loss, float lr_factor, int t) {
        return zo_.method == ZoMethod::MeZO ? mezo_step(params, opt, loss, lr_factor, t) : jaguar_step(params, opt, loss, lr_factor, t);
    }

    // MeZO's estimate alone (the weights come back as they were, up to rounding): g of the
    // step, for the test against the directional derivative g . z.
    template <class LossFn> ZoStepResult mezo_estimate(float* params, LossFn loss, int t) {
        const uint64_t key = zo_step_key(seed_, t, ZoStream::MezoDirection);
        ZoStepResult r;
        mezo_perturb(params, model_, key, zo_.eps);
        r.loss_plus = loss();
        mezo_perturb(params, model_, key, -2.0f * zo_.eps);
        r.loss_minus = loss();
        r.estimate = (r.loss_plus - r.loss_minus) / (2.0 * zo_.eps);
        return r; // params are still at W - eps z: the caller's step restores them
    }

    // JAGUAR's rho of step t; params come back exactly as they were.
    template <class LossFn> ZoStepResult jaguar_estimate(float* params, const std::vector<JaguarSet>& sets, LossFn loss, int t) {
        const uint64_t sign_key = zo_step_key(seed_, t, ZoStream::JaguarSigns);
        std::vector<float> saved;
        for (const JaguarSet& s : sets)
            for (size_t k = 0; k < s.size(); k++) saved.push_back(params[s.flat(k)]);
        auto shift = [&](float by) {
            size_t n = 0;
            for (const JaguarSet& s : sets)
                for (size_t k = 0; k < s.size(); k++, n++) {
                    const size_t i = s.flat(k);
                    params[i] = saved[n] + by * jaguar_sign(sign_key, i);
                }
        };
        ZoStepResult r;
        shift(zo_.tau);
        r.loss_plus = loss();
        shift(-zo_.tau);
        r.loss_minus = loss();
        shift(0.0f); // the saved values, exactly
        r.estimate = (r.loss_plus - r.loss_minus) / (2.0 * zo_.tau);
        return r;
    }

private:
    template <class LossFn> ZoStepResult mezo_step(float* params, CpuOptimizer& opt, LossFn loss, float lr_factor, int t) {
        const ZoStepResult r = mezo_estimate(params, loss, t);
        const uint64_t key = zo_step_key(seed_, t, ZoStream::MezoDirection);
        if (!std::isfinite(r.estimate)) { // no update: back to W (the trainer stops or skips the step)
            mezo_perturb(params, model_, key, zo_.eps);
            return r;
        }
        const float g = (float)r.estimate, eps = zo_.eps;
        for (const ParamGroup& group : opt.groups()) {
            const SgdHyper h{group.peak_lr * lr_factor, group.weight_decay ? opt.config().weight_decay : 0.0f, 0.0f, false};
            const size_t lo = group.tensor.offset;
            const size_t hi = lo + gpt2_real_numel(group.tensor, model_);
#pragma omp parallel for
            for (long long i = (long long)lo; i < (long long)hi; i++) {
                const float z = mezo_direction(key, (size_t)i);
                float unused = 0.0f;
                params[i] += eps * z; // back to W (MeZO's restore)
                sgd_update_element(params[i], g * z, unused, h);
            }
        }
        return r;
    }

    template <class LossFn> ZoStepResult jaguar_step(float* params, CpuOptimizer& opt, LossFn loss, float lr_factor, int t) {
        const std::vector<JaguarSet> sets = jaguar_sets(model_, zo_.fraction, seed_, t);
        const ZoStepResult r = jaguar_estimate(params, sets, loss, t);
        if (!std::isfinite(r.estimate)) return r; // no update (the trainer stops or skips the step)
        const uint64_t sign_key = zo_step_key(seed_, t, ZoStream::JaguarSigns);
        // m on S; sets are in tensor order, one per layer slice
        size_t set = 0;
        for (size_t k = 0; k < opt.groups().size(); k++) {
            const ParamGroup& group = opt.groups()[k];
            float* m = momentum(opt, group);
            for (int l = 0; l < group.tensor.layers; l++, set++) {
                const JaguarSet& s = sets[set];
                for (size_t e = 0; e < s.size(); e++) {
                    const size_t i = s.flat(e);
                    float& mi = m[i - group.tensor.offset];
                    mi = zo_.beta * mi + (1.0f - zo_.beta) * (jaguar_sign(sign_key, i) * (float)r.estimate);
                }
            }
        }
        // the step on all coordinates: sign(m), or NS(m) for muon's matrices
        for (const ParamGroup& group : opt.groups()) {
            const float lr = group.peak_lr * lr_factor, wd = group.weight_decay ? opt.config().weight_decay : 0.0f;
            float* p = params + group.tensor.offset;
            const float* m = momentum(opt, group);
            if (group.rule == Algorithm::Muon) {
                MuonHyper h{lr, wd, 0.0f, false, opt.config().muon_ns_steps, opt.config().muon_scale, opt.config().muon_ns};
                const int rows = group.tensor.rows, cols = group.tensor.cols;
                ns_.resize(group.tensor.layer_numel());
                for (int l = 0; l < group.tensor.layers; l++) {
                    const size_t at = (size_t)l * group.tensor.layer_numel();
                    newton_schulz_cpu(ns_.data(), m + at, rows, cols, h.ns_steps, h.ns);
                    const float scaled_lr = muon_scaled_lr(lr, rows, cols, h.scale);
#pragma omp parallel for simd
                    for (long long i = 0; i < (long long)group.tensor.layer_numel(); i++) muon_apply_element(p[at + i], ns_[i], scaled_lr, h);
                }
            } else {
                signsgd_update(p, m, group.tensor.numel(), SignSgdHyper{lr, wd});
            }
        }
        return r;
    }

    // JAGUAR's m of a tensor: the "<tensor>.momentum" slot (whole: --zo refuses -z 1).
    static float* momentum(CpuOptimizer& opt, const ParamGroup& group) {
        const std::string name = std::string(group.tensor.name) + ".momentum";
        for (OptimStateBuffer& b : opt.state())
            if (b.name == name && b.whole()) return b.data.data();
        fail_usage("internal: --zo jaguar needs the whole buffer %s", name.c_str());
    }

    ZoConfig zo_;
    GPT2Config model_;
    uint64_t seed_;
    std::vector<float> ns_;
};
