// Which rule updates each of the 16 parameter tensors, whether it gets weight decay, and
// its peak learning rate.
//   rule: the chosen algorithm; under muon only the hidden matrices (qkvw, attprojw, fcw,
//         fcprojw) use Muon, one layer slice at a time, and everything else (embeddings,
//         LayerNorm and biases) uses --muon-fallback at --fallback-lr.
//   weight decay (--wd-on): matrices = every 2-D tensor (hidden matrices and embeddings),
//         hidden = hidden matrices only, all = every tensor. The same sets under muon.
#pragma once
#include <vector>

#include "../common/gpt2_layout.h"
#include "optim_config.h"

struct ParamGroup {
    ParamTensor tensor;
    Algorithm rule;     // never Muon for a tensor that is not a hidden matrix
    bool weight_decay;  // false: the rule runs with weight decay 0
    float peak_lr;      // multiplied by the schedule's factor each step
};

inline bool weight_decay_applies(WeightDecayOn on, ParamKind kind) {
    switch (on) {
        case WeightDecayOn::Matrices: return kind != ParamKind::Vector;
        case WeightDecayOn::Hidden: return kind == ParamKind::HiddenMatrix;
        case WeightDecayOn::All: return true;
    }
    return false;
}

// cfg must have its defaults resolved (resolve_optim_defaults).
inline std::vector<ParamGroup> optim_param_groups(const OptimConfig& cfg, const GPT2Config& model) {
    std::vector<ParamGroup> groups;
    for (const ParamTensor& t : gpt2_param_tensors(model)) {
        ParamGroup g;
        g.tensor = t;
        g.weight_decay = weight_decay_applies(cfg.wd_on, t.kind);
        const bool muon_fallback = cfg.algorithm == Algorithm::Muon && t.kind != ParamKind::HiddenMatrix;
        g.rule = muon_fallback ? cfg.muon_fallback : cfg.algorithm;
        g.peak_lr = muon_fallback ? cfg.fallback_lr : cfg.lr;
        groups.push_back(g);
    }
    return groups;
}
