// Which rule updates each of the 16 parameter tensors, whether it gets weight decay, and
// its peak learning rate.
//   rule: the chosen algorithm; under muon only the hidden matrices (qkvw, attprojw, fcw,
//         fcprojw) use Muon, one layer slice at a time, and everything else (embeddings,
//         LayerNorm and biases) uses --muon-fallback at --fallback-lr.
//   --optim-group GROUP=RULE[:LR] (optim_config.h GroupRule) gives every tensor of GROUP
//         (optim_group_of) that rule, lr and the rule's own hyperparameters instead; Muon's
//         fallback is the same table with the fallback's rule and lr on the non-matrix
//         tensors and the global hyperparameters (as before --optim-group existed).
//   weight decay (--wd-on): matrices = every 2-D tensor (hidden matrices and embeddings),
//         hidden = hidden matrices only, all = every tensor. The same sets under muon.
#pragma once
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "../common/gpt2_layout.h"
#include "optim_config.h"

struct ParamGroup {
    ParamTensor tensor;
    Algorithm rule;     // never Muon for a tensor that is not a hidden matrix
    bool weight_decay;  // false: the rule runs with weight decay 0
    float peak_lr;      // multiplied by the schedule's factor each step
    RuleHyper hyper;    // momentum, nesterov, betas of this tensor's rule
    OptimGroup group;   // the --optim-group group holding the tensor
};

// wte, wpe; attn: qkvw, attprojw; mlp: fcw, fcprojw; norms: LayerNorm weights and every bias.
inline OptimGroup optim_group_of(const ParamTensor& t) {
    const std::string name = t.name;
    if (name == "wte") return OptimGroup::Wte;
    if (name == "wpe") return OptimGroup::Wpe;
    if (name == "qkvw" || name == "attprojw") return OptimGroup::Attn;
    if (name == "fcw" || name == "fcprojw") return OptimGroup::Mlp;
    return OptimGroup::Norms;
}

// cfg with the per-rule hyperparameters of tensor group g: what the rule of g's tensor reads.
inline OptimConfig with_group_hyper(const OptimConfig& cfg, const ParamGroup& g) {
    OptimConfig c = cfg;
    c.momentum = g.hyper.momentum;
    c.nesterov = g.hyper.nesterov;
    c.beta1 = g.hyper.beta1;
    c.beta2 = g.hyper.beta2;
    c.group_rules.clear(); // a copy per tensor and step: no heap use for what the rule never reads
    return c;
}

inline bool weight_decay_applies(WeightDecayOn on, ParamKind kind) {
    switch (on) {
        case WeightDecayOn::Matrices: return kind != ParamKind::Vector;
        case WeightDecayOn::Hidden: return kind == ParamKind::HiddenMatrix;
        case WeightDecayOn::All: return true;
    }
    return false;
}

// The rule, lr and hyperparameters every tensor of group `group` gets: its --optim-group rule;
// else under muon, for wte, wpe and norms (the non-matrix tensors), the fallback at
// --fallback-lr; else --optim at -l. cfg must have its defaults resolved (resolve_optim_defaults).
inline GroupRule optim_group_rule(const OptimConfig& cfg, OptimGroup group) {
    for (const GroupRule& r : cfg.group_rules)
        if (r.group == group) return r;
    const bool muon_fallback = cfg.algorithm == Algorithm::Muon && group != OptimGroup::Attn && group != OptimGroup::Mlp;
    GroupRule r;
    r.group = group;
    r.rule = muon_fallback ? cfg.muon_fallback : cfg.algorithm;
    r.lr = muon_fallback ? cfg.fallback_lr : cfg.lr;
    r.hyper = {cfg.momentum, cfg.nesterov, cfg.beta1, cfg.beta2};
    return r;
}

// cfg must have its defaults resolved (resolve_optim_defaults).
inline std::vector<ParamGroup> optim_param_groups(const OptimConfig& cfg, const GPT2Config& model) {
    std::vector<ParamGroup> groups;
    for (const ParamTensor& t : gpt2_param_tensors(model)) {
        ParamGroup g;
        g.tensor = t;
        g.weight_decay = weight_decay_applies(cfg.wd_on, t.kind);
        g.group = optim_group_of(t);
        const GroupRule r = optim_group_rule(cfg, g.group);
        g.rule = r.rule;
        g.peak_lr = r.lr;
        g.hyper = r.hyper;
        groups.push_back(g);
    }
    return groups;
}

// Per-step update norms (the train records' "update_norm"): the sum of squares of the
// parameter change after - before of each --optim-group group, over the flat elements
// [begin, end) (before and after point at flat element 0), added into sq (indexed by OptimGroup).
inline void add_update_sq_per_group(const std::vector<ParamGroup>& groups, const float* before, const float* after, size_t begin,
                                    size_t end, double (&sq)[NUM_OPTIM_GROUPS]) {
    for (const ParamGroup& g : groups) {
        const size_t lo = std::max(begin, g.tensor.offset), hi = std::min(end, g.tensor.offset + g.tensor.numel());
        double s = 0.0;
#pragma omp parallel for reduction(+ : s)
        for (long long i = (long long)lo; i < (long long)hi; i++) {
            const double d = (double)after[i] - (double)before[i];
            s += d * d;
        }
        sq[(int)g.group] += s;
    }
}
// {"wte": ||delta||_2, ...}: the groups' update norms from their sums of squares, in group order.
inline std::vector<std::pair<std::string, double>> update_norms_of(const double (&sq)[NUM_OPTIM_GROUPS]) {
    std::vector<std::pair<std::string, double>> out;
    for (int k = 0; k < NUM_OPTIM_GROUPS; k++) out.push_back({optim_group_name((OptimGroup)k), std::sqrt(sq[k])});
    return out;
}
