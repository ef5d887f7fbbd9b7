// fp32 CPU reference GPT-2, assembled from the layer functions in cpu/*.h.
//   x = wte[tok] + wpe[pos]
//   per layer: x += attproj(attention(qkv(ln1(x))));  x += fcproj(gelu(fc(ln2(x))))
//   logits = lnf(x) @ wte^T  (tied lm head over all Vp rows; padded rows of wte are zero)
// Parameters and their gradients are flat buffers in the layout of gpt2_param_tensors().
// Matrix products: cblas_sgemm (matmul_blas.h, attention_blas.h) when built with -DUSE_BLAS
// (`make`, unless BLAS=0), else the reference loops (matmul.h, attention.h), which the CUDA
// checks keep comparing against. The classifier is fused (classifier.h): no probabilities
// are stored and the backward turns the logits into their gradient in place.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../common/gpt2_layout.h"
#include "../common/rng.h"
#include "../common/utils.h"
#include "attention.h"
#include "attention_blas.h"
#include "classifier.h"
#include "encoder.h"
#include "gelu.h"
#include "layernorm.h"
#include "matmul.h"
#include "matmul_blas.h"
#include "residual.h"

// The model's products: BLAS or the reference loops, same arguments.
inline void gpt2_matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int C, int OC) {
#ifdef USE_BLAS
    matmul_forward_blas(out, inp, weight, bias, N, C, OC);
#else
    matmul_forward_cpu(out, inp, weight, bias, N, C, OC);
#endif
}
inline void gpt2_matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                 const float* weight, int N, int C, int OC) {
#ifdef USE_BLAS
    matmul_backward_blas(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
#else
    matmul_backward_cpu(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
#endif
}
inline void gpt2_attention_forward(float* out, float* preatt, float* att, const float* qkv, int B, int T, int C, int NH) {
#ifdef USE_BLAS
    attention_forward_blas(out, preatt, att, qkv, B, T, C, NH);
#else
    attention_forward_cpu(out, preatt, att, qkv, B, T, C, NH);
#endif
}
inline void gpt2_attention_backward(float* dqkv, float* dpreatt, float* datt, const float* dout, const float* qkv,
                                    const float* att, int B, int T, int C, int NH) {
#ifdef USE_BLAS
    attention_backward_blas(dqkv, dpreatt, datt, dout, qkv, att, B, T, C, NH);
#else
    attention_backward_cpu(dqkv, dpreatt, datt, dout, qkv, att, B, T, C, NH);
#endif
}

struct GPT2Cpu {
    GPT2Config config;
    std::vector<float> params, grads;

    // with_grads false: no gradient buffer (forward passes only: --zo); backward must not run.
    explicit GPT2Cpu(const GPT2Config& c, bool with_grads = true) : config(c) {
        const std::string problem = gpt2_config_problem(c);
        if (!problem.empty()) fail_runtime("bad model config: %s", problem.c_str());
        tensors_ = gpt2_param_tensors(c);
        params.assign(gpt2_num_params(c), 0.0f);
        if (with_grads) grads.assign(params.size(), 0.0f);
    }

    void init(uint64_t seed) { gpt2_init_params(config, seed, params.data()); }
    float* param(const char* name) { return params.data() + find_tensor(name).offset; }
    float* grad(const char* name) { return grads.data() + find_tensor(name).offset; }
    void zero_grad() { std::fill(grads.begin(), grads.end(), 0.0f); }

    // Valid after forward until backward (which overwrites them with their gradient).
    const float* logits() const { return acts_.logits.data(); }
    const float* losses() const { return acts_.losses.data(); } // (B,T) of the last forward with targets

    // Floats of activations and activation gradients that a forward + backward at (B, T)
    // allocates: the same lists allocate_activations / allocate_activation_grads resize.
    // forward_only: the activations alone (no backward ever runs: --zo).
    static size_t activation_floats(const GPT2Config& c, int B, int T, bool forward_only = false) {
        size_t n = 0;
        Activations a;
        for_each_activation(c, a, B, T, [&](std::vector<float>&, size_t size) { n += size; });
        if (forward_only) return n;
        Gradients d;
        for_each_activation_grad(c, d, B, T, [&](std::vector<float>&, size_t size) { n += size; });
        return n;
    }

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
            gpt2_matmul_forward(qkv, ln1, p(QKVW, l), p(QKVB, l), N, C, 3 * C);
            gpt2_attention_forward(atty, a.preatt.data(), att, qkv, B, T, C, NH);
            gpt2_matmul_forward(a.proj.data(), atty, p(ATTPROJW, l), p(ATTPROJB, l), N, C, C);
            residual_forward_cpu(residual2, x, a.proj.data(), NC);
            layernorm_forward_cpu(ln2, ln2_mean, ln2_rstd, residual2, p(LN2W, l), p(LN2B, l), N, C);
            gpt2_matmul_forward(fch, ln2, p(FCW, l), p(FCB, l), N, C, 4 * C);
            gelu_forward_cpu(fch_gelu, fch, 4 * NC);
            gpt2_matmul_forward(a.proj.data(), fch_gelu, p(FCPROJW, l), p(FCPROJB, l), N, 4 * C, C);
            residual_forward_cpu(residual3, residual2, a.proj.data(), NC);
        }
        const float* x_final = a.residual3.data() + (L - 1) * NC;
        layernorm_forward_cpu(a.lnf.data(), a.lnf_mean.data(), a.lnf_rstd.data(), x_final, p(LNFW), p(LNFB), N, C);
        gpt2_matmul_forward(a.logits.data(), a.lnf.data(), p(WTE), nullptr, N, C, Vp);
        if (!targets) return -1.0f;

        const float loss = crossentropy_forward_fused_cpu(a.losses.data(), a.row_max.data(), a.row_inv_sum.data(),
                                                          a.logits.data(), targets, N, V, Vp);
        targets_.assign(targets, targets + N);
        has_targets_ = true;
        return loss;
    }

    // Accumulates d(objective)/d(params) into grads; dloss = d(objective)/d(loss at each position).
    // Consumes the forward (the logits become their gradient): one backward per forward.
    void backward(float dloss) {
        if (!has_targets_) fail_runtime("backward needs a preceding forward with targets");
        if (grads.size() != params.size()) fail_runtime("backward on a model built without gradients (forward passes only)");
        const int B = B_, T = T_, N = B * T, C = config.channels, L = config.num_layers, NH = config.num_heads;
        const int V = config.vocab_size, Vp = config.padded_vocab_size;
        const size_t NC = (size_t)N * C;
        Activations& a = acts_;
        Gradients& d = dacts_;
        if (d.stream.size() != NC) allocate_activation_grads(B, T);
        auto zero = [](std::vector<float>& v) { std::fill(v.begin(), v.end(), 0.0f); };
        has_targets_ = false;

        float* dlogits = a.logits.data(); // in place
        crossentropy_backward_fused_cpu(dlogits, a.row_max.data(), a.row_inv_sum.data(), targets_.data(), dloss, N, V, Vp);
        zero(d.ln);
        gpt2_matmul_backward(d.ln.data(), g(WTE), nullptr, dlogits, a.lnf.data(), p(WTE), N, C, Vp);
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
            gpt2_matmul_backward(d.fch_gelu.data(), g(FCPROJW, l), g(FCPROJB, l), d.stream.data(), fch_gelu,
                                p(FCPROJW, l), N, 4 * C, C);
            zero(d.fch);
            gelu_backward_cpu(d.fch.data(), fch, d.fch_gelu.data(), 4 * NC);
            zero(d.ln);
            gpt2_matmul_backward(d.ln.data(), g(FCW, l), g(FCB, l), d.fch.data(), ln2, p(FCW, l), N, C, 4 * C);
            layernorm_backward_cpu(d.stream.data(), g(LN2W, l), g(LN2B, l), d.ln.data(), residual2, p(LN2W, l),
                                   ln2_mean, ln2_rstd, N, C);
            // attention branch: residual2 = x + attproj(attention(qkv(ln1(x))))
            zero(d.atty);
            gpt2_matmul_backward(d.atty.data(), g(ATTPROJW, l), g(ATTPROJB, l), d.stream.data(), atty,
                                p(ATTPROJW, l), N, C, C);
            zero(d.qkv);
            gpt2_attention_backward(d.qkv.data(), d.preatt.data(), d.att.data(), d.atty.data(), qkv, att, B, T, C, NH);
            zero(d.ln);
            gpt2_matmul_backward(d.ln.data(), g(QKVW, l), g(QKVB, l), d.qkv.data(), ln1, p(QKVW, l), N, C, 3 * C);
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
        std::vector<float> logits;                       // (B,T,Vp); dlogits after backward
        std::vector<float> row_max, row_inv_sum;         // (B,T) x2: the fused softmax's row statistics
        std::vector<float> losses;                       // (B,T)
        std::vector<float> preatt;                       // scratch (B,NH,T,T)
        std::vector<float> proj;                         // scratch (B,T,C): attproj / fcproj output
    };
    // Activation gradients for one layer at a time, reused from the top layer down.
    struct Gradients {
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

    // Every activation buffer with its size in floats at (B, T): the one list that both the
    // allocation and activation_floats (the trainer's memory plan) read.
    template <class F> static void for_each_activation(const GPT2Config& c, Activations& a, size_t B, size_t T, F f) {
        const size_t L = c.num_layers, C = c.channels, Vp = c.padded_vocab_size;
        const size_t N = B * T, NC = N * C, att = B * c.num_heads * T * T;
        f(a.encoded, NC);
        f(a.ln1, L * NC), f(a.ln1_mean, L * N), f(a.ln1_rstd, L * N);
        f(a.qkv, L * 3 * NC);
        f(a.atty, L * NC);
        f(a.att, L * att);
        f(a.residual2, L * NC);
        f(a.ln2, L * NC), f(a.ln2_mean, L * N), f(a.ln2_rstd, L * N);
        f(a.fch, L * 4 * NC), f(a.fch_gelu, L * 4 * NC);
        f(a.residual3, L * NC);
        f(a.lnf, NC), f(a.lnf_mean, N), f(a.lnf_rstd, N);
        f(a.logits, N * Vp), f(a.row_max, N), f(a.row_inv_sum, N);
        f(a.losses, N);
        f(a.preatt, att);
        f(a.proj, NC);
    }
    template <class F> static void for_each_activation_grad(const GPT2Config& c, Gradients& d, size_t B, size_t T, F f) {
        const size_t C = c.channels, N = B * T, NC = N * C, att = B * c.num_heads * T * T;
        f(d.stream, NC);
        f(d.ln, NC), f(d.atty, NC);
        f(d.qkv, 3 * NC);
        f(d.preatt, att), f(d.att, att);
        f(d.fch, 4 * NC), f(d.fch_gelu, 4 * NC);
    }

    void allocate_activations(int B, int T) {
        B_ = B;
        T_ = T;
        acts_ = Activations(); // free the old sizes first
        dacts_ = Gradients();  // reallocated by the next backward
        for_each_activation(config, acts_, B, T, [](std::vector<float>& v, size_t n) { v.resize(n); });
    }

    void allocate_activation_grads(int B, int T) {
        for_each_activation_grad(config, dacts_, B, T, [](std::vector<float>& v, size_t n) { v.resize(n); });
    }
};
