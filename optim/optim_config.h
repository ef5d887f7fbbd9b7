// Optimizer and schedule settings, chosen by flags (common/train_config.h parses them).
// Defaults that depend on the algorithm (learning rate, momentum, Nesterov, betas) are
// left unset (negative) here and filled in by resolve_optim_defaults().
#pragma once
#include <cstdio>
#include <string>
#include <vector>

enum class Algorithm { SGD, SignSGD, Signum, AdamW, Lion, Muon, NSGD, SSVR };
enum class MuonScale { Shape, RMS };             // --muon-scale (optim/muon.h)
enum class MuonNs { Quintic, PolarExpress };      // --muon-ns (optim/muon.h)
// --optim muon|fmuon|smuon: all three are Algorithm::Muon (the same matrices, fallback, data
// parallel and state); F-Muon and S-Muon add alpha of a second update to NS(M) (optim/muon.h).
enum class MuonVariant { Muon, FMuon, SMuon };
enum class WeightDecayOn { Matrices, Hidden, All }; // which tensors get weight decay
enum class Schedule { Cosine, Linear, Constant, WSD };
enum class WsdShape { Sqrt, Linear }; // wsd's cool-down: 1 - sqrt(progress) (llm.c) or 1 - progress
enum class WarmupShape { Linear, Cos }; // --warmup-shape: llm.c's linear ramp or OneCycleLR's cosine ramp
enum class NsgdNorm { Tensor, Global };  // --nsgd-norm (optim/nsgd.h): per layer slice (the paper's) or whole model

// --optim-group's parameter groups (optim/param_groups.h: which tensors each holds).
enum class OptimGroup { Wte, Wpe, Attn, Mlp, Norms };
constexpr int NUM_OPTIM_GROUPS = 5;

// The rule-specific hyperparameters of one tensor's rule (resolved: none negative).
struct RuleHyper {
    float momentum;
    int nesterov;
    float beta1, beta2;
};

// --optim-group GROUP=RULE[:LR]: one group's own rule, lr and hyperparameters (after
// resolve_optim_defaults: the rule's defaults where the flag was not given).
struct GroupRule {
    OptimGroup group;
    Algorithm rule;
    float lr = -1.0f; // < 0: the rule's default lr
    RuleHyper hyper = {-1.0f, -1, -1.0f, -1.0f};
};

struct OptimConfig {
    Algorithm algorithm = Algorithm::AdamW;
    float lr = -1.0f;         // peak learning rate; < 0: the algorithm's default
    float momentum = -1.0f;   // sgd, signum, muon; < 0: the algorithm's default
    int nesterov = -1;        // sgd, muon; < 0: the algorithm's default
    float beta1 = -1.0f;      // adamw, lion (and a Muon fallback of that kind)
    float beta2 = -1.0f;
    float eps = 1e-8f;        // adamw
    float weight_decay = 0.0f;
    WeightDecayOn wd_on = WeightDecayOn::Matrices;
    int muon_ns_steps = 5;
    MuonScale muon_scale = MuonScale::Shape;
    MuonNs muon_ns = MuonNs::Quintic;
    MuonVariant muon_variant = MuonVariant::Muon; // --optim fmuon|smuon
    float fanion_alpha = 0.5f;                    // fmuon, smuon: the second update's weight
    float smuon_sign_scale = 0.003f;              // smuon: s of alpha s sign(M)
    Algorithm muon_fallback = Algorithm::AdamW; // for embeddings, norms and biases under muon
    float fallback_lr = -1.0f;                  // < 0: the fallback algorithm's default lr
    float grad_clip = 1.0f;                     // global-norm clipping; 0 turns it off
    NsgdNorm nsgd_norm = NsgdNorm::Tensor;      // nsgd: normalize each layer slice's gradient, or the whole momentum
    std::vector<GroupRule> group_rules;         // --optim-group, in the order given (each group at most once)
};

struct ScheduleConfig {
    Schedule kind = Schedule::Cosine;
    int warmup_steps = 0;
    float warmup_init = 0.0f;      // lr fraction the warmup starts from (0: llm.c's (step+1)/warmup)
    float final_lr_frac = 0.0f;    // the schedule ends at peak * final_lr_frac
    float wsd_decay_frac = 0.2f;   // wsd: the last fraction of steps decays (llm.c: 0.2)
    WsdShape wsd_shape = WsdShape::Sqrt;
    WarmupShape warmup_shape = WarmupShape::Linear;
};

inline const char* wsd_shape_name(WsdShape s) { return s == WsdShape::Sqrt ? "sqrt" : "linear"; }
inline const char* warmup_shape_name(WarmupShape s) { return s == WarmupShape::Cos ? "cos" : "linear"; }
inline const char* nsgd_norm_name(NsgdNorm n) { return n == NsgdNorm::Global ? "global" : "tensor"; }

inline const char* algorithm_name(Algorithm a) {
    switch (a) {
        case Algorithm::SGD: return "sgd";
        case Algorithm::SignSGD: return "signsgd";
        case Algorithm::Signum: return "signum";
        case Algorithm::AdamW: return "adamw";
        case Algorithm::Lion: return "lion";
        case Algorithm::Muon: return "muon";
        case Algorithm::NSGD: return "nsgd";
        case Algorithm::SSVR: return "ssvr";
    }
    return "?";
}

inline bool algorithm_from_name(const std::string& s, Algorithm* a) {
    for (Algorithm x : {Algorithm::SGD, Algorithm::SignSGD, Algorithm::Signum, Algorithm::AdamW, Algorithm::Lion, Algorithm::Muon,
                        Algorithm::NSGD, Algorithm::SSVR})
        if (s == algorithm_name(x)) { *a = x; return true; }
    return false;
}

inline const char* optim_group_name(OptimGroup g) {
    switch (g) {
        case OptimGroup::Wte: return "wte";
        case OptimGroup::Wpe: return "wpe";
        case OptimGroup::Attn: return "attn";
        case OptimGroup::Mlp: return "mlp";
        case OptimGroup::Norms: return "norms";
    }
    return "?";
}
inline bool optim_group_from_name(const std::string& s, OptimGroup* g) {
    for (OptimGroup x : {OptimGroup::Wte, OptimGroup::Wpe, OptimGroup::Attn, OptimGroup::Mlp, OptimGroup::Norms})
        if (s == optim_group_name(x)) { *g = x; return true; }
    return false;
}

inline const char* muon_variant_name(MuonVariant v) {
    return v == MuonVariant::FMuon ? "fmuon" : v == MuonVariant::SMuon ? "smuon" : "muon";
}

// The --optim name of a configuration: algorithm_name, or fmuon/smuon for Muon's variants.
inline const char* optim_name(const OptimConfig& o) {
    return o.algorithm == Algorithm::Muon ? muon_variant_name(o.muon_variant) : algorithm_name(o.algorithm);
}

// Parses an --optim name (algorithm_from_name's, plus fmuon and smuon) into o.
inline bool optim_from_name(const std::string& s, OptimConfig* o) {
    for (MuonVariant v : {MuonVariant::FMuon, MuonVariant::SMuon})
        if (s == muon_variant_name(v)) { o->algorithm = Algorithm::Muon; o->muon_variant = v; return true; }
    o->muon_variant = MuonVariant::Muon;
    return algorithm_from_name(s, &o->algorithm);
}

inline const char* muon_scale_name(MuonScale s) { return s == MuonScale::RMS ? "rms" : "shape"; }
inline const char* muon_ns_name(MuonNs n) { return n == MuonNs::PolarExpress ? "polar-express" : "quintic"; }

inline const char* schedule_name(Schedule s) {
    switch (s) {
        case Schedule::Cosine: return "cosine";
        case Schedule::Linear: return "linear";
        case Schedule::Constant: return "constant";
        case Schedule::WSD: return "wsd";
    }
    return "?";
}

inline const char* wd_on_name(WeightDecayOn w) {
    switch (w) {
        case WeightDecayOn::Matrices: return "matrices";
        case WeightDecayOn::Hidden: return "hidden";
        case WeightDecayOn::All: return "all";
    }
    return "?";
}

// Default peak learning rate of each algorithm: sign methods move every coordinate by lr,
// so theirs is far smaller than SGD's (the SignSGD paper: SGD 1e-2, SignSGD 1e-4). ssvr is
// a sign method (1e-4 as SignSGD); nsgd (--nsgd-norm tensor) moves each layer slice by at
// most lr: 1e-3, the heavy-tail paper's NSGD run (scripts/train_all.sh); --nsgd-norm global's
// step has length lr over the whole model, and 0.1 is SignSGD's step length at 1e-4 on a
// 1M-parameter model (a starting point, not tuned; default_nsgd_global_lr).
// muon under --muon-scale rms: AdamW's 6e-4 (the update then has AdamW's RMS).
constexpr float default_nsgd_global_lr = 1e-1f;
inline float default_lr(Algorithm a) {
    switch (a) {
        case Algorithm::SGD: return 1e-2f;
        case Algorithm::SignSGD: return 1e-4f;
        case Algorithm::Signum: return 1e-4f;
        case Algorithm::AdamW: return 6e-4f;
        case Algorithm::Lion: return 1e-4f;
        case Algorithm::Muon: return 2e-2f;
        case Algorithm::NSGD: return 1e-3f;
        case Algorithm::SSVR: return 1e-4f;
    }
    return 1e-3f;
}

// Fills every unset (negative) field with the algorithm's default. An --optim-group rule
// takes a hyperparameter from its flag (--momentum, --nesterov, --beta1, --beta2) when the
// flag was given, else from its own rule's default (so sgd's momentum 0.9 and a lion group's
// beta2 0.99 whatever --optim is); its lr, when not given, is default_lr(rule) (muon: -l's).
inline void resolve_optim_defaults(OptimConfig* o) {
    for (GroupRule& g : o->group_rules) { // before the global fields lose their "not given" mark
        g.hyper.momentum = o->momentum >= 0 ? o->momentum : g.rule == Algorithm::Muon ? 0.95f : 0.9f;
        g.hyper.nesterov = o->nesterov >= 0 ? o->nesterov : g.rule == Algorithm::Muon ? 1 : 0;
        g.hyper.beta1 = o->beta1 >= 0 ? o->beta1 : 0.9f;
        g.hyper.beta2 = o->beta2 >= 0 ? o->beta2 : g.rule == Algorithm::Lion ? 0.99f : 0.95f;
    }
    const bool muon_rms = o->algorithm == Algorithm::Muon && o->muon_scale == MuonScale::RMS;
    const bool nsgd_global = o->algorithm == Algorithm::NSGD && o->nsgd_norm == NsgdNorm::Global;
    if (o->lr < 0) o->lr = muon_rms ? default_lr(Algorithm::AdamW) : nsgd_global ? default_nsgd_global_lr : default_lr(o->algorithm);
    // rms: Moonshot's recipe, the fallback (AdamW by default) at Muon's own lr
    if (o->fallback_lr < 0) o->fallback_lr = muon_rms ? o->lr : default_lr(o->muon_fallback);
    if (o->momentum < 0) o->momentum = o->algorithm == Algorithm::Muon ? 0.95f : 0.9f;
    if (o->nesterov < 0) o->nesterov = o->algorithm == Algorithm::Muon ? 1 : 0;
    const bool lion_betas = o->algorithm == Algorithm::Lion ||
                            (o->algorithm == Algorithm::Muon && o->muon_fallback == Algorithm::Lion);
    if (o->beta1 < 0) o->beta1 = 0.9f;
    if (o->beta2 < 0) o->beta2 = lion_betas ? 0.99f : 0.95f;
    // a muon group (attn or mlp under --optim muon) defaults to muon's own lr (--muon-scale's)
    for (GroupRule& g : o->group_rules)
        if (g.lr < 0) g.lr = g.rule == Algorithm::Muon ? o->lr : default_lr(g.rule);
}

// "wte=signsgd:0.003,norms=adamw:0.0006": the --optim-group rules with their resolved lr
// (exact: %.9g), in group order (wte, wpe, attn, mlp, norms); "" without any. What a
// checkpoint records and a resume must repeat.
inline std::string optim_group_rules_string(const OptimConfig& cfg) {
    std::string out;
    for (int k = 0; k < NUM_OPTIM_GROUPS; k++) {
        for (const GroupRule& r : cfg.group_rules) {
            if ((int)r.group != k) continue;
            char lr[32];
            snprintf(lr, sizeof lr, "%.9g", r.lr);
            out += std::string(out.empty() ? "" : ",") + optim_group_name(r.group) + "=" + algorithm_name(r.rule) + ":" + lr;
        }
    }
    return out;
}
