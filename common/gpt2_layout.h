// GPT-2 model shapes and the parameter layout, shared by every implementation.
//
// All parameters live in one contiguous buffer, as 16 tensors in llm.c's order
// (the order of its model files):
//   wte (Vp,C)  wpe (maxT,C)  ln1w (L,C)  ln1b (L,C)  qkvw (L,3C,C)  qkvb (L,3C)
//   attprojw (L,C,C)  attprojb (L,C)  ln2w (L,C)  ln2b (L,C)  fcw (L,4C,C)  fcb (L,4C)
//   fcprojw (L,C,4C)  fcprojb (L,C)  lnfw (C)  lnfb (C)
// Matrices are stored as nn.Linear stores them: (out_features, in_features), row-major.
// The lm head is tied to wte. Rows V..Vp-1 of wte are padding: they never produce
// loss, receive zero gradient and stay zero.
#pragma once
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "utils.h"

struct GPT2Config {
    int max_seq_len = 1024;        // maxT
    int vocab_size = 50257;        // V
    int padded_vocab_size = 50304; // Vp: V rounded up to a multiple of 128 for the matrices
    int num_layers = 12;           // L
    int num_heads = 12;            // NH
    int channels = 768;            // C
};

// Named configs as llm.c names them (dN = N layers), plus tiny ones for tests.
inline bool gpt2_config_from_name(const std::string& name, GPT2Config* cfg) {
    struct Named { const char* name; int L, C, NH; };
    static const Named table[] = {
        {"d2", 2, 64, 4},      // tiny: tests and CPU demos
        {"d4", 4, 128, 4},     // tiny
        {"d6", 6, 384, 6},     // small
        {"d12", 12, 768, 12},  // GPT-2 124M
        {"d24", 24, 1024, 16}, // GPT-2 350M
        {"d36", 36, 1280, 20}, // GPT-2 774M
        {"d48", 48, 1600, 25}, // GPT-2 1558M
    };
    for (const Named& n : table) {
        if (name == n.name) {
            *cfg = GPT2Config();
            cfg->num_layers = n.L;
            cfg->channels = n.C;
            cfg->num_heads = n.NH;
            return true;
        }
    }
    return false;
}

// Which optimizer group a tensor belongs to.
enum class ParamKind {
    HiddenMatrix, // qkvw, attprojw, fcw, fcprojw: Muon's matrices, the paper's weight-decay set
    Embedding,    // wte (also the lm head), wpe
    Vector,       // LayerNorm gains/biases and every linear bias
};

struct ParamTensor {
    const char* name;
    ParamKind kind;
    int layers;         // L for per-layer tensors (stacked along dim 0), 1 otherwise
    int rows, cols;     // per-layer shape; cols == 1 for vectors
    size_t offset;      // in elements, into the flat parameter buffer
    size_t numel() const { return (size_t)layers * rows * cols; }
    size_t layer_numel() const { return (size_t)rows * cols; }
    bool is_matrix() const { return kind != ParamKind::Vector; }
};

enum { NUM_PARAM_TENSORS = 16 };

inline const char* const* param_tensor_names() {
    static const char* names[NUM_PARAM_TENSORS] = {
        "wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb",
        "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb"};
    return names;
}

// The 16 tensors in llm.c order with their offsets into the flat buffer.
inline std::vector<ParamTensor> gpt2_param_tensors(const GPT2Config& c) {
    const int L = c.num_layers, C = c.channels, Vp = c.padded_vocab_size, maxT = c.max_seq_len;
    const ParamKind H = ParamKind::HiddenMatrix, E = ParamKind::Embedding, Vc = ParamKind::Vector;
    std::vector<ParamTensor> t = {
        {"wte", E, 1, Vp, C, 0},           {"wpe", E, 1, maxT, C, 0},
        {"ln1w", Vc, L, C, 1, 0},          {"ln1b", Vc, L, C, 1, 0},
        {"qkvw", H, L, 3 * C, C, 0},       {"qkvb", Vc, L, 3 * C, 1, 0},
        {"attprojw", H, L, C, C, 0},       {"attprojb", Vc, L, C, 1, 0},
        {"ln2w", Vc, L, C, 1, 0},          {"ln2b", Vc, L, C, 1, 0},
        {"fcw", H, L, 4 * C, C, 0},        {"fcb", Vc, L, 4 * C, 1, 0},
        {"fcprojw", H, L, C, 4 * C, 0},    {"fcprojb", Vc, L, C, 1, 0},
        {"lnfw", Vc, 1, C, 1, 0},          {"lnfb", Vc, 1, C, 1, 0},
    };
    size_t offset = 0;
    for (ParamTensor& p : t) {
        p.offset = offset;
        offset += p.numel();
    }
    return t;
}

// The leading entries of tensor t that hold model values: wte's vocab_size real rows (its padding
// rows stay zero: never initialized, perturbed or trained), every other tensor whole.
inline size_t gpt2_real_numel(const ParamTensor& t, const GPT2Config& c) {
    return std::strcmp(t.name, "wte") == 0 ? (size_t)c.vocab_size * t.cols : t.numel();
}

inline size_t gpt2_num_params(const GPT2Config& c) {
    std::vector<ParamTensor> t = gpt2_param_tensors(c);
    return t.back().offset + t.back().numel();
}

// Checks a config for shapes the model cannot have; returns an empty string when fine.
inline std::string gpt2_config_problem(const GPT2Config& c) {
    char buf[160];
    if (c.num_layers < 1) return "number of layers must be at least 1";
    if (c.channels < 1) return "width (channels) must be at least 1";
    if (c.num_heads < 1 || c.channels % c.num_heads != 0) {
        snprintf(buf, sizeof buf, "heads (%d) must divide the width (%d)", c.num_heads, c.channels);
        return buf;
    }
    if (c.vocab_size < 1 || c.padded_vocab_size < c.vocab_size) return "padded vocab must be >= vocab";
    if (c.max_seq_len < 1) return "max sequence length must be at least 1";
    return "";
}

// FLOPs of one training step per token, as llm.c counts them: 6 per parameter
// (forward 2, backward 4) plus attention's 6*L*C*T (QK^T and AV, forward and backward).
inline double gpt2_flops_per_token(const GPT2Config& c, int T) {
    return 6.0 * (double)gpt2_num_params(c) + 6.0 * c.num_layers * c.channels * (double)T;
}
