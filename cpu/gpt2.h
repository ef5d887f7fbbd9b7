// fp32 CPU reference GPT-2, assembled from the layer functions in cpu/*.h.
//   x = wte[tok] + wpe[pos]
//   per layer: x += attproj(attention(qkv(ln1(x))));  x += fcproj(gelu(fc(ln2(x))))
//   logits = lnf(x) @ wte^T  (tied lm head over all Vp rows; padded rows of wte are zero)
// Parameters and their gradients are flat buffers in the layout of gpt2_param_tensors().
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../common/gpt2_layout.h"
#include "../common/rng.h"
#include "../common/utils.h"
#include "attention.h"
#include "classifier.h"
#include "encoder.h"
#include "gelu.h"
#include "layernorm.h"
#include "matmul.h"
#include "residual.h"

struct GPT2Cpu {
    GPT2Config config;
    std::vector<float> params, grads;

    explicit GPT2Cpu(const GPT2Config& c) : config(c) {
        const std::string problem = gpt2_config_problem(c);
        if (!problem.empty()) fail_runtime("bad model config: %s", problem.c_str());
        tensors_ = gpt2_param_tensors(c);
        params.assign(gpt2_num_params(c), 0.0f);
        grads.assign(params.size(), 0.0f);
    }

    void init(uint64_t seed) { gpt2_init_params(config, seed, params.data()); }
    float* param(const char* name) { return params.data() + find_tensor(name).offset; }
    float* grad(const char* name) { return grads.data() + find_tensor(name).offset; }
    void zero_grad() { std::fill(grads.begin(), grads.end(), 0.0f); }

    const float* logits() const { return acts_.logits.data(); }
    const float* probs() const { return acts_.probs.data(); }
    const float* losses() const { return acts_.losses.data(); } // (B,T) of the last forward with targets

    // Returns the mean loss, or -1 when targets is nullptr (then only logits are computed).
    float forward(const int* inputs, const int* targets, int B, int T) {
        const int V = config.vocab_size, Vp = config.padded_vocab_size, C = config.channels;
        const int L = config.num_layers, NH = config.num_heads;
        if (B < 1 || T < 1) fail_runtime("batch size (%d) and sequence length (%d) must be at least 1", B, T);
        if (T > config.max_seq_len) fail_runtime("sequence length %d exceeds the model's maximum %d", T, config.max_seq_len);
        const int N = B * T;
        for (int n = 0; n < N; n++)
            if (inputs[n] < 0 || inputs[n] >= V) fail_runtime("input token %d at position %d is outside the vocabulary [0, %d)", inputs[n], n, V);
        for (int n = 0; targets && n < N; n++) // checked here too, before any work is done
            if (targets[n] < 0 || targets[n] >= V) fail_runtime("target %d at position %d is outside the vocabulary [0, %d)", targets[n], n, V);
        if (B != B_ || T != T_) allocate_activations(B, T);
        inputs_.assign(inputs, inputs + N);
        has_targets_ = false;

        Activations& a = acts_;
        const size_t NC = (size_t)N * C;
        encoder_forward_cpu(a.encoded.data(), inputs, p(WTE), p(WPE), B, T, C);
        for (int l = 0; l < L; l++) {
            const float* x = l == 0 ? a.encoded.data() : a.residual3.data() + (l - 1) * NC;
            float* ln1 = a.ln1.data() + l * NC;
            float* qkv = a.qkv.data() + l * 3 * NC;
            float* atty = a.atty.data() + l * NC;
            float* att = a.att.data() + l * att_size();
            float* residual2 = a.residual2.data() + l * NC;
            float* ln2 = a.ln2.data() + l * NC;
            float* fch = a.fch.data() + l * 4 * NC;
            float* fch_gelu = a.fch_gelu.data() + l * 4 * NC;
            float* residual3 = a.residual3.data() + l * NC;
            float *ln1_mean = a.ln1_mean.data() + l * N, *ln1_rstd = a.ln1_rstd.data() + l * N;
            float *ln2_mean = a.ln2_mean.data() + l * N, *ln2_rstd = a.ln2_rstd.data() + l * N;

            layernorm_forward_cpu(ln1, ln1_mean, ln1_rstd, x, p(LN1W, l), p(LN1B, l), N, C);
            matmul_forward_cpu(qkv, ln1, p(QKVW, l), p(QKVB, l), N, C, 3 * C);
            attention_forward_cpu(atty, a.preatt.data(), att, qkv, B, T, C, NH);
            matmul_forward_cpu(a.proj.data(), atty, p(ATTPROJW, l), p(ATTPROJB, l), N, C, C);
            residual_forward_cpu(residual2, x, a.proj.data(), NC);
            layernorm_forward_cpu(ln2, ln2_mean, ln2_rstd, residual2, p(LN2W, l), p(LN2B, l), N, C);
            matmul_forward_cpu(fch, ln2, p(FCW, l), p(FCB, l), N, C, 4 * C);
            gelu_forward_cpu(fch_gelu, fch, 4 * NC);
            matmul_forward_cpu(a.proj.data(), fch_gelu, p(FCPROJW, l), p(FCPROJB, l), N, 4 * C, C);
            residual_forward_cpu(residual3, residual2, a.proj.data(), NC);
        }
        const float* x_final = a.residual3.data() + (L - 1) * NC;
        layernorm_forward_cpu(a.lnf.data(), a.lnf_mean.data(), a.lnf_rstd.data(), x_final, p(LNFW), p(LNFB), N, C);
        matmul_forward_cpu(a.logits.data(), a.lnf.data(), p(WTE), nullptr, N, C, Vp);
        if (!targets) return -1.0f;

        const float loss = crossentropy_forward_cpu(a.losses.data(), a.probs.data(), a.logits.data(), targets, N, V, Vp);
        targets_.assign(targets, targets + N);
        has_targets_ = true;
        return loss;
    }

    // Accumulates d(objective)/d(params) into grads; dloss = d(objective)/d(loss at each position).
    void backward(float dloss) {
        if (!has_targets_) fail_runtime("backward needs a preceding forward with targets");
        const int B = B_, T = T_, N = B * T, C = config.channels, L = config.num_layers, NH = config.num_heads;
        const int V = config.vocab_size, Vp = config.padded_vocab_size;
        const size_t NC = (size_t)N * C;
        Activations& a = acts_;
        Gradients& d = dacts_;
        if (d.stream.size() != NC) allocate_activation_grads(B, T);
        auto zero = [](std::vector<float>& v) { std::fill(v.begin(), v.end(), 0.0f); };

        zero(d.logits);
        crossentropy_backward_cpu(d.logits.data(), a.probs.data(), targets_.data(), dloss, N, V, Vp);
        zero(d.ln);
        matmul_backward_cpu(d.ln.data(), g(WTE), nullptr, d.logits.data(), a.lnf.data(), p(WTE), N, C, Vp);
        // d.stream is the gradient of the residual stream. A residual add passes it on
        // unchanged, so each block's branch reads it as its output gradient and the
        // branch's layernorm backward adds the branch input's gradient into it.
        zero(d.stream);
        const float* x_final = a.residual3.data() + (L - 1) * NC;
        layernorm_backward_cpu(d.stream.data(), g(LNFW), g(LNFB), d.ln.data(), x_final, p(LNFW), a.lnf_mean.data(),
                               a.lnf_rstd.data(), N, C);
        for (int l = L - 1; l >= 0; l--) {
            const float* x = l == 0 ? a.encoded.data() : a.residual3.data() + (l - 1) * NC;
            const float* ln1 = a.ln1.data() + l * NC;
            const float* qkv = a.qkv.data() + l * 3 * NC;
            const float* atty = a.atty.data() + l * NC;
            const float* att = a.att.data() + l * att_size();
            const float* residual2 = a.residual2.data() + l * NC;
            const float* ln2 = a.ln2.data() + l * NC;
            const float* fch = a.fch.data() + l * 4 * NC;
            const float* fch_gelu = a.fch_gelu.data() + l * 4 * NC;
            const float *ln1_mean = a.ln1_mean.data() + l * N, *ln1_rstd = a.ln1_rstd.data() + l * N;
            const float *ln2_mean = a.ln2_mean.data() + l * N, *ln2_rstd = a.ln2_rstd.data() + l * N;

            // MLP branch: residual3 = residual2 + fcproj(gelu(fc(ln2(residual2))))
            zero(d.fch_gelu);
            matmul_backward_cpu(d.fch_gelu.data(), g(FCPROJW, l), g(FCPROJB, l), d.stream.data(), fch_gelu,
                                p(FCPROJW, l), N, 4 * C, C);
            zero(d.fch);
            gelu_backward_cpu(d.fch.data(), fch, d.fch_gelu.data(), 4 * NC);
            zero(d.ln);
            matmul_backward_cpu(d.ln.data(), g(FCW, l), g(FCB, l), d.fch.data(), ln2, p(FCW, l), N, C, 4 * C);
            layernorm_backward_cpu(d.stream.data(), g(LN2W, l), g(LN2B, l), d.ln.data(), residual2, p(LN2W, l),
                                   ln2_mean, ln2_rstd, N, C);
            // attention branch: residual2 = x + attproj(attention(qkv(ln1(x))))
            zero(d.atty);
            matmul_backward_cpu(d.atty.data(), g(ATTPROJW, l), g(ATTPROJB, l), d.stream.data(), atty,
                                p(ATTPROJW, l), N, C, C);
            zero(d.qkv);
            attention_backward_cpu(d.qkv.data(), d.preatt.data(), d.att.data(), d.atty.data(), qkv, att, B, T, C, NH);
            zero(d.ln);
            matmul_backward_cpu(d.ln.data(), g(QKVW, l), g(QKVB, l), d.qkv.data(), ln1, p(QKVW, l), N, C, 3 * C);
            layernorm_backward_cpu(d.stream.data(), g(LN1W, l), g(LN1B, l), d.ln.data(), x, p(LN1W, l), ln1_mean,
                                   ln1_rstd, N, C);
        }
        encoder_backward_cpu(g(WTE), g(WPE), d.stream.data(), inputs_.data(), B, T, C);
    }

private:
    // Tensor numbers in llm.c order (the order of gpt2_param_tensors).
    enum { WTE, WPE, LN1W, LN1B, QKVW, QKVB, ATTPROJW, ATTPROJB, LN2W, LN2B, FCW, FCB, FCPROJW, FCPROJB, LNFW, LNFB };

    // What backward needs, per layer where marked (L,...), as llm.c keeps it. The
    // projection outputs and the attention scores are not needed after the residual
    // add / softmax, so they share one scratch buffer each across layers.
    struct Activations {
        std::vector<float> encoded;                      // (B,T,C)
        std::vector<float> ln1, ln1_mean, ln1_rstd;      // (L,B,T,C), (L,B,T) x2
        std::vector<float> qkv;                          // (L,B,T,3C)
        std::vector<float> atty;                         // (L,B,T,C)
        std::vector<float> att;                          // (L,B,NH,T,T)
        std::vector<float> residual2;                    // (L,B,T,C)
        std::vector<float> ln2, ln2_mean, ln2_rstd;      // (L,B,T,C), (L,B,T) x2
        std::vector<float> fch, fch_gelu;                // (L,B,T,4C) x2
        std::vector<float> residual3;                    // (L,B,T,C)
        std::vector<float> lnf, lnf_mean, lnf_rstd;      // (B,T,C), (B,T) x2
        std::vector<float> logits, probs;                // (B,T,Vp) x2
        std::vector<float> losses;                       // (B,T)
        std::vector<float> preatt;                       // scratch (B,NH,T,T)
        std::vector<float> proj;                         // scratch (B,T,C): attproj / fcproj output
    };
    // Activation gradients for one layer at a time, reused from the top layer down.
    struct Gradients {
        std::vector<float> logits;                       // (B,T,Vp)
        std::vector<float> stream;                       // (B,T,C) residual stream
        std::vector<float> ln, atty;                     // (B,T,C)
        std::vector<float> qkv;                          // (B,T,3C)
        std::vector<float> preatt, att;                  // (B,NH,T,T)
        std::vector<float> fch, fch_gelu;                // (B,T,4C)
    };

    std::vector<ParamTensor> tensors_;
    int B_ = 0, T_ = 0;
    bool has_targets_ = false;
    std::vector<int> inputs_, targets_;
    Activations acts_;
    Gradients dacts_;

    const ParamTensor& find_tensor(const char* name) const {
        for (const ParamTensor& t : tensors_)
            if (strcmp(t.name, name) == 0) return t;
        fail_runtime("unknown parameter tensor '%s'", name);
    }
    // Tensor k (of layer l for per-layer tensors) in params / grads.
    float* p(int k, int l = 0) { return params.data() + tensors_[k].offset + (size_t)l * tensors_[k].layer_numel(); }
    float* g(int k, int l = 0) { return grads.data() + tensors_[k].offset + (size_t)l * tensors_[k].layer_numel(); }
    size_t att_size() const { return (size_t)B_ * config.num_heads * T_ * T_; }

    void allocate_activations(int B, int T) {
        B_ = B;
        T_ = T;
        const size_t L = config.num_layers, C = config.channels, Vp = config.padded_vocab_size;
        const size_t N = (size_t)B * T, NC = N * C, att = att_size();
        Activations& a = acts_;
        a = Activations(); // free the old sizes first
        a.encoded.resize(NC);
        a.ln1.resize(L * NC), a.ln1_mean.resize(L * N), a.ln1_rstd.resize(L * N);
        a.qkv.resize(L * 3 * NC);
        a.atty.resize(L * NC);
        a.att.resize(L * att);
        a.residual2.resize(L * NC);
        a.ln2.resize(L * NC), a.ln2_mean.resize(L * N), a.ln2_rstd.resize(L * N);
        a.fch.resize(L * 4 * NC), a.fch_gelu.resize(L * 4 * NC);
        a.residual3.resize(L * NC);
        a.lnf.resize(NC), a.lnf_mean.resize(N), a.lnf_rstd.resize(N);
        a.logits.resize(N * Vp), a.probs.resize(N * Vp);
        a.losses.resize(N);
        a.preatt.resize(att);
        a.proj.resize(NC);
        dacts_ = Gradients(); // reallocated by the next backward
    }

    void allocate_activation_grads(int B, int T) {
        const size_t C = config.channels, Vp = config.padded_vocab_size;
        const size_t N = (size_t)B * T, NC = N * C, att = att_size();
        Gradients& d = dacts_;
        d.logits.resize(N * Vp);
        d.stream.resize(NC);
        d.ln.resize(NC), d.atty.resize(NC);
        d.qkv.resize(3 * NC);
        d.preatt.resize(att), d.att.resize(att);
        d.fch.resize(4 * NC), d.fch_gelu.resize(4 * NC);
    }
};
