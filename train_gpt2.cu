// train_gpt2cu: the CUDA trainer. Same flags as train_gpt2cpu (--help lists them) with llm.c's
// GPT-2 (124M) defaults: micro-batch 64 x 1024 tokens, 524288 tokens per optimizer step.
// Parameters, gradients and activations are floatX (bf16, or fp32 with -DENABLE_FP32); the
// optimizer keeps fp32 master weights and state (optim/gpu_optimizer.cuh).
//
// Reads top to bottom: model buffers, forward, backward, the trainer's helpers (validation,
// sampling, noise density, checkpoint state), then main (flags, device and memory check,
// model, data, optimizer, output and resume, and the loop: validate, noise density, sample,
// forward/backward with gradient accumulation, global norm and clip, step, log, checkpoint).
// Run outputs, checkpoints, non-finite steps and the noise density behave exactly as in
// train_gpt2cpu, through the same common/ code. test/test_gpt2_cuda.cu includes this file
// with TESTING defined to reuse GPT2Cuda without main.
// Data parallel (mpirun -np N, or -pn/-pr with -pi fs|tcp; common/comm_nccl.cuh): every rank
// trains on its own B x T micro-batches, the gradients (or, with --sign-vote, their signs) are
// communicated as optim/data_parallel.cuh says (under --zo only the two losses, zero_order_step);
// rank 0 prints, logs and writes checkpoints.
// One process without -pi fs|tcp never calls a collective: it runs exactly as a build without NCCL.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "common/checkpoint.h"
#include "common/dataloader.h"
#include "common/hellaswag.h"
#include "common/llmc_init.h"
#include "common/gpt2_layout.h"
#include "common/model_file.h"
#include "common/noise_density.h"
#include "common/output_dir.h"
#include "common/rank_agreement.h"
#include "common/nonfinite_step.h"
#include "common/rng.h"
#include "common/run_log.h"
#include "common/tail_index.h"
#include "common/sampling.h"
#include "common/stop_request.h"
#include "common/tokenizer.h"
#include "common/train_config.h"
#include "common/utils.h"
#include "kernels/attention.cuh"
#include "kernels/classifier.cuh"
#include "kernels/common.cuh"
#include "kernels/encoder.cuh"
#include "kernels/flash_attention.cuh"
#include "kernels/gelu.cuh"
#include "kernels/global_norm.cuh"
#include "kernels/layernorm.cuh"
#include "kernels/matmul.cuh"
#include "kernels/noise_density.cuh"
#include "kernels/tail_index.cuh"
#include "kernels/phase_timer.cuh"
#include "optim/data_parallel.cuh"
#include "optim/gpu_optimizer.cuh"
#include "optim/update_norm.cuh"
#include "optim/grad_clip.h"
#include "optim/schedule.h"
#include "optim/zero_order.cuh"

// ---------------------------------------------------------------------------------------
// Activation buffers. One plan lists every buffer with its size; walking it without a base
// pointer only counts bytes (for the memory check), with one it hands out the pointers, so
// the count and the allocation can never disagree.
struct ActivationBuffers {
    floatX *encoded, *ln1, *qkv, *atty, *att, *residual2, *ln2, *fch, *fch_gelu, *residual3, *lnf, *logits;
    float *ln1_mean, *ln1_rstd, *ln2_mean, *ln2_rstd, *lnf_mean, *lnf_rstd;
    float* losses; // per position, summed over the forwards since GPT2Cuda::clear_losses()
    float* att_lse; // flash attention: per-row logsumexp (L,B,NH,T) instead of att (L,B,NH,T,T)
    int *inputs, *targets;
    // scratch shared by all layers
    floatX *proj, *qkvr, *preatt, *attn_y;
    // backward scratch
    floatX *d_stream, *d_ln, *d_atty, *d_qkv, *d_qkvr, *d_y, *d_att, *d_fch, *d_fch_gelu;
    float* d_att_rowdot; // flash attention: rowsum(dout * out), (B,NH,T)
    float *norm, *norm_scratch, *grad_scale;
};

class BufferPlanner {
public:
    explicit BufferPlanner(char* base) : base_(base) {}
    template <typename T> void take(T** ptr, size_t count) {
        bytes_ = (bytes_ + 255) & ~(size_t)255; // 256-byte alignment for every buffer
        if (base_) *ptr = (T*)(base_ + bytes_);
        bytes_ += count * sizeof(T);
    }
    size_t bytes() const { return bytes_; }
private:
    char* base_;
    size_t bytes_ = 0;
};

// Flash attention (flash = true) keeps a logsumexp per row instead of the T x T matrices and
// their scratch; those buffers stay null.
inline size_t plan_activations(ActivationBuffers* a, char* base, const GPT2Config& c, int B, int T, bool recompute,
                               bool flash) {
    BufferPlanner p(base);
    const size_t L = c.num_layers, C = c.channels, NH = c.num_heads, Vp = c.padded_vocab_size;
    const size_t N = (size_t)B * T, NC = N * C, att = (size_t)B * NH * T * T, rows = (size_t)B * NH * T;
    p.take(&a->encoded, NC);
    p.take(&a->ln1, L * NC), p.take(&a->ln1_mean, L * N), p.take(&a->ln1_rstd, L * N);
    p.take(&a->qkv, L * 3 * NC);
    p.take(&a->atty, L * NC);
    if (flash) p.take(&a->att_lse, L * rows);
    else p.take(&a->att, L * att);
    p.take(&a->residual2, L * NC);
    p.take(&a->ln2, L * NC), p.take(&a->ln2_mean, L * N), p.take(&a->ln2_rstd, L * N);
    p.take(&a->fch, L * 4 * NC);
    p.take(&a->fch_gelu, (recompute ? 1 : L) * 4 * NC); // -r 1: recomputed per layer in backward
    p.take(&a->residual3, L * NC);
    p.take(&a->lnf, NC), p.take(&a->lnf_mean, N), p.take(&a->lnf_rstd, N);
    p.take(&a->logits, N * Vp);
    p.take(&a->losses, N);
    p.take(&a->inputs, N), p.take(&a->targets, N);
    p.take(&a->proj, NC);
    if (!flash) p.take(&a->qkvr, 3 * NC), p.take(&a->preatt, att), p.take(&a->attn_y, NC);
    p.take(&a->d_stream, NC), p.take(&a->d_ln, NC), p.take(&a->d_atty, NC), p.take(&a->d_qkv, 3 * NC);
    if (flash) p.take(&a->d_att_rowdot, rows);
    else p.take(&a->d_qkvr, 3 * NC), p.take(&a->d_y, NC), p.take(&a->d_att, att);
    p.take(&a->d_fch, 4 * NC), p.take(&a->d_fch_gelu, 4 * NC);
    p.take(&a->norm, GLOBAL_NORM_OUTPUTS), p.take(&a->norm_scratch, GLOBAL_NORM_SCRATCH), p.take(&a->grad_scale, 1);
    return p.bytes();
}

// Device bytes the model needs besides the optimizer: parameters and gradients (floatX; --zo:
// no gradients), fp32 master weights, activations, the encoder's bucket lists and the reduction scratch.
inline size_t model_device_bytes(const GPT2Config& c, int B, int T, bool recompute, bool flash, bool with_grads = true) {
    ActivationBuffers unused;
    const size_t P = gpt2_num_params(c);
    const size_t reduce = 2 * (size_t)COLSUM_CHUNKS * 4 * c.channels * sizeof(float);
    return (with_grads ? 2 : 1) * P * sizeof(floatX) + P * sizeof(float) + plan_activations(&unused, nullptr, c, B, T, recompute, flash) +
           EncoderBuckets::device_bytes(B * T, c.channels) + reduce;
}

// --attention: "auto" uses flash attention where it applies (bf16 build, head size 64, compute
// capability 8.0+) and the cuBLAS + softmax path elsewhere; "flash" insists on it; "cublas"
// keeps the unfused path.
inline bool use_flash_attention(const std::string& choice, const GPT2Config& c) {
    const int head_size = c.channels / c.num_heads;
    const bool supported = flash_attention_supported(head_size);
    if (choice == "flash" && !supported)
        fail_usage("--attention flash needs the bf16 build, head size %d and compute capability 8.0+; this model has "
                   "head size %d in the %s build", FLASH_HEAD_SIZE, head_size, PRECISION_NAME);
    return choice != "cublas" && supported;
}

// ---------------------------------------------------------------------------------------
struct GPT2Cuda {
    GPT2Config config;
    std::vector<ParamTensor> tensors;
    size_t num_params = 0;
    floatX* params = nullptr; // flat, the layout of gpt2_param_tensors()
    floatX* grads = nullptr;
    float* master = nullptr;  // fp32 copy the optimizer updates: elements [master_begin, master_begin + master_count)
    size_t master_begin = 0, master_count = 0; // the whole model, or -z 1's shard (keep_master_part)
    int B = 0, T = 0;
    bool recompute = false;
    bool flash = false; // flash attention (kernels/flash_attention.cuh) instead of kernels/attention.cuh
    ActivationBuffers acts{};
    char* acts_base = nullptr;
    EncoderBuckets buckets;  // of the last forward with dlogits, for the encoder backward
    int loss_forwards = 0;   // forwards summed in acts.losses
    std::vector<float> host_losses; // per-position losses read by the last mean_loss() (HellaSwag: one forward)
    bool has_dlogits = false;

    enum { WTE, WPE, LN1W, LN1B, QKVW, QKVB, ATTPROJW, ATTPROJB, LN2W, LN2B, FCW, FCB, FCPROJW, FCPROJB, LNFW, LNFB };

    size_t alloc_params = 0; // >= num_params: -z 1 pads params and grads to ranks x shard

    // with_grads false (--zo): no gradient buffer; backward and zero_grad must not be called
    GPT2Cuda(const GPT2Config& c, int B_, int T_, bool recompute_, const std::string& attention = "auto", size_t padded_params = 0,
             bool with_grads = true)
        : config(c), B(B_), T(T_), recompute(recompute_) {
        const std::string problem = gpt2_config_problem(c);
        if (!problem.empty()) fail_runtime("bad model config: %s", problem.c_str());
        flash = use_flash_attention(attention, c);
        if (T > c.max_seq_len) fail_usage("sequence length -t %d exceeds the model's maximum %d", T, c.max_seq_len);
        tensors = gpt2_param_tensors(c);
        num_params = gpt2_num_params(c);
        alloc_params = std::max(num_params, padded_params);
        cudaCheck(cudaMalloc(&params, alloc_params * sizeof(floatX)));
        if (with_grads) cudaCheck(cudaMalloc(&grads, alloc_params * sizeof(floatX)));
        cudaCheck(cudaMalloc(&master, num_params * sizeof(float)));
        master_count = num_params;
        if (with_grads) cudaCheck(cudaMemset(grads, 0, alloc_params * sizeof(floatX)));
        const size_t bytes = plan_activations(&acts, nullptr, c, B, T, recompute, flash);
        cudaCheck(cudaMalloc(&acts_base, bytes));
        plan_activations(&acts, acts_base, c, B, T, recompute, flash);
        buckets.allocate(B * T, c.channels);
    }
    ~GPT2Cuda() {
        buckets.release();
        cudaFree(acts_base);
        cudaFree(master);
        cudaFree(grads);
        cudaFree(params);
    }
    GPT2Cuda(const GPT2Cuda&) = delete;
    GPT2Cuda& operator=(const GPT2Cuda&) = delete;

    // host fp32 parameters (flat layout) -> master and params (before keep_master_part).
    void set_params(const float* host) {
        if (master_count != num_params) fail_runtime("internal: set_params after the master weights were sharded");
        cudaCheck(cudaMemcpy(master, host, num_params * sizeof(float), cudaMemcpyHostToDevice));
        copy_to_floatx(params, master, num_params);
    }
    // ZeRO-1 (GpuOptimizer::master_part): from now on only elements [h.begin, h.begin + h.count)
    // of the fp32 master weights live here; the rest is freed.
    void keep_master_part(const HeldRange& h) {
        float* part = nullptr;
        cudaCheck(cudaMalloc(&part, std::max<size_t>(h.count, 1) * sizeof(float)));
        cudaCheck(cudaMemcpy(part, master + h.begin, h.count * sizeof(float), cudaMemcpyDeviceToDevice));
        cudaCheck(cudaFree(master));
        master = part, master_begin = h.begin, master_count = h.count;
    }
    std::vector<float> get_master() const {
        if (master_count != num_params) fail_runtime("internal: get_master of sharded master weights");
        std::vector<float> out(num_params);
        cudaCheck(cudaMemcpy(out.data(), master, num_params * sizeof(float), cudaMemcpyDeviceToHost));
        return out;
    }
    void zero_grad() { cudaCheck(cudaMemset(grads, 0, alloc_params * sizeof(floatX))); }

    floatX* p(int k, int l = 0) const { return params + tensors[k].offset + (size_t)l * tensors[k].layer_numel(); }
    floatX* g(int k, int l = 0) const { return grads + tensors[k].offset + (size_t)l * tensors[k].layer_numel(); }

    // Forward on B*T host tokens: the host work (checks, copies of the tokens, the encoder's
    // buckets when a backward follows) then the kernels, without waiting for them. With
    // targets the per-position losses are added to acts.losses (mean_loss() reads them once
    // per step), and when dloss != 0 the logits buffer is overwritten with
    // d(loss*dloss per position)/d(logits) for backward. Without targets: only logits.
    void forward_async(const int* inputs, const int* targets, float dloss) {
        const int N = B * T, C = config.channels, L = config.num_layers, NH = config.num_heads;
        const int V = config.vocab_size, Vp = config.padded_vocab_size;
        const size_t NC = (size_t)N * C, att_size = (size_t)B * NH * T * T, att_rows = (size_t)B * NH * T;
        for (int n = 0; n < N; n++)
            if (inputs[n] < 0 || inputs[n] >= V) fail_runtime("input token %d at position %d is outside the vocabulary [0, %d)", inputs[n], n, V);
        for (int n = 0; targets && n < N; n++)
            if (targets[n] < 0 || targets[n] >= V) fail_runtime("target %d at position %d is outside the vocabulary [0, %d)", targets[n], n, V);
        ActivationBuffers& a = acts;
        cudaCheck(cudaMemcpy(a.inputs, inputs, N * sizeof(int), cudaMemcpyHostToDevice));
        if (targets) cudaCheck(cudaMemcpy(a.targets, targets, N * sizeof(int), cudaMemcpyHostToDevice));
        // here, not in backward: its copies would wait for the whole backward pass
        if (targets && dloss != 0.0f) buckets.build(inputs, N, V);

        {
            PhaseScope r("forward/encoder");
            encoder_forward(a.encoded, a.inputs, p(WTE), p(WPE), B, T, C);
            layernorm_forward(a.ln1, a.ln1_mean, a.ln1_rstd, a.encoded, p(LN1W), p(LN1B), N, C);
        }
        for (int l = 0; l < L; l++) {
            const floatX* x = l == 0 ? a.encoded : a.residual3 + (l - 1) * NC;
            floatX* ln1 = a.ln1 + l * NC;
            floatX* qkv = a.qkv + l * 3 * NC;
            floatX* atty = a.atty + l * NC;
            floatX* residual2 = a.residual2 + l * NC;
            floatX* ln2 = a.ln2 + l * NC;
            floatX* fch = a.fch + l * 4 * NC;
            floatX* fch_gelu = a.fch_gelu + (recompute ? 0 : l * 4 * NC);
            floatX* residual3 = a.residual3 + l * NC;
            {
                PhaseScope r("forward/block %d/attention", l);
                matmul_forward(qkv, ln1, p(QKVW, l), p(QKVB, l), N, C, 3 * C);
                if (flash) flash_attention_forward(atty, a.att_lse + l * att_rows, qkv, B, T, C, NH);
                else attention_forward(atty, a.att + l * att_size, a.qkvr, a.preatt, a.attn_y, qkv, B, T, C, NH);
                matmul_forward(a.proj, atty, p(ATTPROJW, l), p(ATTPROJB, l), N, C, C);
                fused_residual_layernorm_forward(residual2, ln2, a.ln2_mean + l * N, a.ln2_rstd + l * N, x, a.proj,
                                                 p(LN2W, l), p(LN2B, l), N, C);
            }
            {
                PhaseScope r("forward/block %d/mlp", l);
                // -r 1 recomputes the GELU in backward with gelu_forward: the forward uses the
                // same kernel (not the epilogue's GELU), so both passes see the same values
                matmul_forward_gelu(fch_gelu, fch, ln2, p(FCW, l), p(FCB, l), N, C, 4 * C, !recompute);
                matmul_forward(a.proj, fch_gelu, p(FCPROJW, l), p(FCPROJB, l), N, 4 * C, C);
                // the next layer's ln1 (or the final layernorm) rides along with the residual add
                if (l + 1 < L)
                    fused_residual_layernorm_forward(residual3, a.ln1 + (l + 1) * NC, a.ln1_mean + (l + 1) * N,
                                                     a.ln1_rstd + (l + 1) * N, residual2, a.proj, p(LN1W, l + 1),
                                                     p(LN1B, l + 1), N, C);
                else
                    fused_residual_layernorm_forward(residual3, a.lnf, a.lnf_mean, a.lnf_rstd, residual2, a.proj,
                                                     p(LNFW), p(LNFB), N, C);
            }
        }
        {
            PhaseScope r("forward/classifier");
            matmul_forward(a.logits, a.lnf, p(WTE), nullptr, N, C, Vp);
            has_dlogits = false;
            if (!targets) return;
            fused_classifier(a.logits, a.losses, a.targets, dloss, N, V, Vp, dloss != 0.0f, loss_forwards > 0);
            loss_forwards++;
            has_dlogits = dloss != 0.0f;
        }
    }
    // Starts a new loss sum (the next forward with targets overwrites acts.losses).
    void clear_losses() { loss_forwards = 0; }
    // Mean loss over the positions of every forward with targets since clear_losses(): one
    // device-to-host copy (it waits for those forwards) into host_losses; -1 when there was none.
    double mean_loss() {
        if (loss_forwards == 0) return -1.0;
        const int N = B * T;
        host_losses.resize(N);
        cudaCheck(cudaMemcpy(host_losses.data(), acts.losses, N * sizeof(float), cudaMemcpyDeviceToHost));
        double sum = 0;
        for (float x : host_losses) sum += x;
        return sum / ((double)N * loss_forwards);
    }
    // forward_async on its own loss sum, then its mean loss (-1 without targets): waits.
    float forward(const int* inputs, const int* targets, float dloss) {
        clear_losses();
        forward_async(inputs, targets, dloss);
        return targets ? (float)mean_loss() : -1.0f;
    }

    // Accumulates parameter gradients into grads; needs a forward with targets and dloss != 0.
    void backward() {
        if (!has_dlogits) fail_runtime("backward needs a preceding forward with targets and a non-zero dloss");
        const int N = B * T, C = config.channels, L = config.num_layers, NH = config.num_heads;
        const int Vp = config.padded_vocab_size;
        const size_t NC = (size_t)N * C, att_size = (size_t)B * NH * T * T, att_rows = (size_t)B * NH * T;
        ActivationBuffers& a = acts;
        {
            PhaseScope r("backward/classifier");
            matmul_backward(a.d_ln, g(WTE), nullptr, a.logits, a.lnf, p(WTE), N, C, Vp);
            cudaCheck(cudaMemsetAsync(a.d_stream, 0, NC * sizeof(floatX)));
            layernorm_backward(a.d_stream, g(LNFW), g(LNFB), a.d_ln, a.residual3 + (L - 1) * NC, p(LNFW), a.lnf_mean,
                               a.lnf_rstd, N, C);
        }
        for (int l = L - 1; l >= 0; l--) {
            const floatX* x = l == 0 ? a.encoded : a.residual3 + (l - 1) * NC;
            const floatX* ln1 = a.ln1 + l * NC;
            const floatX* qkv = a.qkv + l * 3 * NC;
            const floatX* atty = a.atty + l * NC;
            const floatX* residual2 = a.residual2 + l * NC;
            const floatX* ln2 = a.ln2 + l * NC;
            const floatX* fch = a.fch + l * 4 * NC;
            floatX* fch_gelu = a.fch_gelu + (recompute ? 0 : l * 4 * NC);
            {
                PhaseScope r("backward/block %d/mlp", l);
                if (recompute) gelu_forward(fch_gelu, fch, 4 * NC);
                matmul_backward(a.d_fch_gelu, g(FCPROJW, l), g(FCPROJB, l), a.d_stream, fch_gelu, p(FCPROJW, l), N,
                                4 * C, C);
                gelu_backward(a.d_fch, fch, a.d_fch_gelu, 4 * NC);
                matmul_backward(a.d_ln, g(FCW, l), g(FCB, l), a.d_fch, ln2, p(FCW, l), N, C, 4 * C);
                layernorm_backward(a.d_stream, g(LN2W, l), g(LN2B, l), a.d_ln, residual2, p(LN2W, l),
                                   a.ln2_mean + l * N, a.ln2_rstd + l * N, N, C);
            }
            {
                PhaseScope r("backward/block %d/attention", l);
                matmul_backward(a.d_atty, g(ATTPROJW, l), g(ATTPROJB, l), a.d_stream, atty, p(ATTPROJW, l), N, C, C);
                if (flash)
                    flash_attention_backward(a.d_qkv, a.d_att_rowdot, a.d_atty, qkv, atty, a.att_lse + l * att_rows, B, T, C, NH);
                else
                    attention_backward(a.d_qkv, a.qkvr, a.d_qkvr, a.d_y, a.d_att, a.d_atty, qkv, a.att + l * att_size, B, T,
                                       C, NH);
                matmul_backward(a.d_ln, g(QKVW, l), g(QKVB, l), a.d_qkv, ln1, p(QKVW, l), N, C, 3 * C);
                layernorm_backward(a.d_stream, g(LN1W, l), g(LN1B, l), a.d_ln, x, p(LN1W, l), a.ln1_mean + l * N,
                                   a.ln1_rstd + l * N, N, C);
            }
        }
        {
            PhaseScope r("backward/encoder");
            encoder_backward(g(WTE), g(WPE), a.d_stream, buckets, B, T, C);
        }
        has_dlogits = false;
    }

    // Global gradient norms (one pass; device values copied to the host) and the clip scale
    // from ||g||_2, left on the device in acts.grad_scale for the optimizer.
    GradNorms grad_norm_and_clip(float clip) {
        PhaseScope r("optimizer/grad_norm");
        global_norm(acts.norm, acts.norm_scratch, grads, num_params);
        float norm[GLOBAL_NORM_OUTPUTS] = {};
        cudaCheck(cudaMemcpy(norm, acts.norm, sizeof norm, cudaMemcpyDeviceToHost));
        const float scale = clip_scale(norm[0], clip);
        cudaCheck(cudaMemcpy(acts.grad_scale, &scale, sizeof(float), cudaMemcpyHostToDevice));
        GradNorms n;
        n.l2 = norm[0];
        n.l1 = norm[1];
        n.linf = norm[2];
        return n;
    }
};

// ---------------------------------------------------------------------------------------
// Peak dense bf16 tensor FLOP/s by device name (no sparsity); 0 for unknown devices.
inline double peak_bf16_flops(const char* device_name) {
    const std::string name = device_name;
    auto has = [&](const char* s) { return name.find(s) != std::string::npos; };
    if (has("H200")) return 989e12;
    if (has("H100") && has("PCIe")) return 756e12;
    if (has("H100")) return 989e12; // SXM
    if (has("A100")) return 312e12;
    return 0.0;
}

// The data loader does not check its allocator's result: fail here, with one line.
inline void* pinned_alloc(size_t bytes) {
    void* p = nullptr;
    if (cudaMallocHost(&p, bytes) != cudaSuccess) fail_runtime("cannot allocate %zu bytes of pinned host memory", bytes);
    return p;
}
inline void pinned_free(void* p) { cudaFreeHost(p); }

#ifndef TESTING
// -e: a model name (d12, ...): only the shape, params stay empty (initialized from --seed
// by the caller); or an llm.c model file: shape and params.
static void load_model_params(const TrainConfig& cfg, GPT2Config* shape, std::vector<float>* params) {
    if (gpt2_config_from_name(cfg.model, shape)) return; // initialized later, once the GPU is known to fit it
    struct stat st;
    if (stat(cfg.model.c_str(), &st) != 0)
        fail_usage("-e '%s' is neither a model name (d2, d4, d6, d12, d24, d36, d48) nor a model file", cfg.model.c_str());
    load_model_file(cfg.model, shape, params);
}

// Each rank's mean over its own val batches, then the mean over ranks (dp: nullptr with one process).
static float validation_loss(GPT2Cuda& model, DataLoader& val, int batches, GpuDataParallel* dp) {
    NvtxRange r("validation");
    val.reset();
    double sum = 0;
    for (int i = 0; i < batches; i++) {
        val.next_batch();
        sum += model.forward(val.inputs(), val.targets(), 0.0f);
    }
    return (float)(dp ? dp->mean(sum / batches) : sum / batches);
}

// HellaSwag (common/hellaswag.h), as train_gpt2cpu: the number of examples answered right;
// each rank evaluates the batches dealt to it, and the ranks' counts are summed.
static int hellaswag_correct(GPT2Cuda& model, const HellaSwagEval& eval, int rank, int world, GpuDataParallel* dp) {
    NvtxRange r("hellaswag");
    std::vector<int> inputs((size_t)model.B * model.T), targets((size_t)model.B * model.T);
    int correct = 0;
    for (int b = 0; b < eval.num_batches(); b++) {
        if (!HellaSwagEval::dealt_to(b, rank, world)) continue;
        eval.fill_batch(b, inputs.data(), targets.data());
        model.forward(inputs.data(), targets.data(), 0.0f);
        correct += eval.count_correct(b, model.host_losses.data());
    }
    return dp ? (int)dp->sum_over_ranks(correct) : correct;
}

// Generates `n` tokens after an end-of-text token, as train_gpt2cpu does (same sampling
// RNG), and prints them decoded. The model runs at its fixed B x T: row 0 holds the sequence,
// the rest is end-of-text padding; causality makes the positions after t irrelevant.
static void print_sample(GPT2Cuda& model, Tokenizer& tokenizer, int n, uint64_t seed, int step) {
    NvtxRange r("sample");
    const int V = model.config.vocab_size, Vp = model.config.padded_vocab_size;
    const int max_len = std::min(n + 1, model.T);
    std::vector<int> tokens((size_t)model.B * model.T, tokenizer.eot_token());
    std::vector<floatX> row(Vp);
    std::vector<float> logits(Vp);
    printf("sample at step %d: ", step);
    for (int t = 1; t < max_len; t++) {
        model.forward(tokens.data(), nullptr, 0.0f);
        cudaCheck(cudaMemcpy(row.data(), model.acts.logits + (size_t)(t - 1) * Vp, Vp * sizeof(floatX), cudaMemcpyDeviceToHost));
        for (int v = 0; v < Vp; v++) logits[v] = to_float(row[v]);
        const int next = sample_token(logits.data(), V, seed, step, t);
        tokens[t] = next;
        printf("%s", tokenizer.decode(next).c_str());
        fflush(stdout);
    }
    printf("\n");
}

// Mean micro-batch gradient statistics of K noise batches at the current weights, on the
// device (kernels/noise_density.cuh); no update. Leaves model.grads dirty (the next
// training step zeroes them).
// With several ranks each sample is the sum over ranks of their micro-batch gradients (dloss
// 1 / (B T ranks)): the gradient of one micro-batch of ranks x B sequences, as one process at that B.
static NoiseDensityResult measure_noise_density(GPT2Cuda& model, DataLoader& noise_loader, GpuNoiseAccumulator& acc,
                                                int batches, GpuDataParallel* dp) {
    NvtxRange r("noise_density");
    acc.reset();
    const int ranks = dp ? dp->ranks() : 1;
    for (int k = 0; k < batches; k++) {
        noise_loader.next_batch();
        model.zero_grad();
        model.forward_async(noise_loader.inputs(), noise_loader.targets(), 1.0f / ((float)model.B * model.T * ranks));
        model.backward();
        if (dp) dp->all_reduce_gradients(model.grads);
        acc.add(model.grads);
    }
    return gpt2_noise_density(model.config, model.T, [&](size_t begin, size_t end) { return acc.noise_sums(begin, end); });
}

// The heavy-tail paper's tail index (common/tail_index.h, kernels/tail_index.cuh): K
// single-sequence gradients of the slice at the current weights, as train_gpt2cpu takes them
// (its own loader, rewound first; no all-reduce of the gradients; the indices averaged over
// ranks). The model's B is fixed, so the one sequence fills all B rows: the mean over B equal
// rows is that sequence's gradient (B x the compute of one sequence; -b 1 runs pay nothing).
// Leaves model.grads dirty (the next training step zeroes them).
static TailIndexStats measure_tail_index(GPT2Cuda& model, DataLoader& tail_loader, GpuTailIndexSampler& sampler, int K, GpuDataParallel* dp) {
    NvtxRange r("tail_index");
    const int B = model.B, T = model.T;
    std::vector<int> inputs((size_t)B * T), targets((size_t)B * T);
    tail_loader.reset();
    sampler.reset();
    for (int k = 0; k < K; k++) {
        tail_loader.next_batch();
        for (int b = 0; b < B; b++) {
            std::copy(tail_loader.inputs(), tail_loader.inputs() + T, inputs.begin() + (size_t)b * T);
            std::copy(tail_loader.targets(), tail_loader.targets() + T, targets.begin() + (size_t)b * T);
        }
        model.zero_grad();
        model.forward_async(inputs.data(), targets.data(), 1.0f / ((float)B * T));
        model.backward();
        sampler.add(model.grads);
    }
    TailIndexStats s = sampler.estimate();
    if (dp) tail_index_rank_mean(&s, [&](double x) { return dp->mean(x); });
    return s;
}

// Host copies of the device state a checkpoint holds (common/checkpoint.h): the fp32 master
// weights, the floatX parameters as fp32 ("params_floatx", exact: with stochastic rounding
// they are not the rounded master weights) and every optimizer state buffer by name.
struct HostTrainingState {
    std::vector<float> master, params;
    std::vector<std::vector<float>> optim;
    std::vector<StateTensorRef> optim_refs, extra_refs;

    HostTrainingState(const GPT2Cuda& model, const GpuOptimizer& optimizer)
        : master(model.num_params), params(model.num_params), optim(optimizer.state().size()) {
        for (size_t k = 0; k < optim.size(); k++) {
            optim[k].resize(optimizer.state_numel()[k]);
            optim_refs.push_back({optimizer.state_names()[k], optim[k].data(), optim[k].size()});
        }
        extra_refs.push_back({"params_floatx", params.data(), params.size()});
    }
    // Under -z 1 this rank's part of the master weights and state only (GpuDataParallel::gather_state
    // brings the rest to rank 0).
    void from_device(const GPT2Cuda& model, const GpuOptimizer& optimizer) {
        cudaCheck(cudaMemcpy(master.data() + model.master_begin, model.master, model.master_count * sizeof(float), cudaMemcpyDeviceToHost));
        const std::vector<float> px = download(model.params, params.size());
        std::copy(px.begin(), px.end(), params.begin()); // in place: extra_refs points at params
        for (size_t k = 0; k < optim.size(); k++)
            optimizer.download_state(k, optim[k].data());
    }
    void to_device(GPT2Cuda& model, GpuOptimizer& optimizer) const {
        cudaCheck(cudaMemcpy(model.master, master.data() + model.master_begin, model.master_count * sizeof(float), cudaMemcpyHostToDevice));
        std::vector<floatX> px(params.size());
        for (size_t i = 0; i < px.size(); i++) px[i] = from_float<floatX>(params[i]);
        cudaCheck(cudaMemcpy(model.params, px.data(), px.size() * sizeof(floatX), cudaMemcpyHostToDevice));
        for (size_t k = 0; k < optim.size(); k++)
            optimizer.upload_state(k, optim[k].data());
    }
};

// ---- ssvr's second gradient (optim/ssvr.h), a separate block of the step: v = g_t +
// (1 - beta) v with the step's (already computed) gradient, then for t > 1 the gradient at
// the previous step's floatX parameters on the same micro-batches (the loader replays them
// from batch_start), clipped by its own norm, and v -= (1 - beta) g_prev. A second forward
// and backward per step: about twice SignSGD's compute. Leaves the loader where it was.
static void ssvr_gradients(GPT2Cuda& model, GpuOptimizer& optimizer, DataLoader& loader, const DataLoaderPosition& batch_start,
                           int grad_accum, float dloss, float clip, int t) {
    PhaseScope r("optimizer/ssvr_previous_gradient");
    optimizer.ssvr_add_current(model.grads, model.acts.grad_scale);
    if (t == 1) return;
    const DataLoaderPosition after = loader.position();
    std::swap(model.params, optimizer.ssvr_previous_params_ref());
    loader.restore(batch_start);
    model.zero_grad();
    for (int micro = 0; micro < grad_accum; micro++) {
        loader.next_batch();
        model.forward(loader.inputs(), loader.targets(), dloss);
        model.backward();
    }
    std::swap(model.params, optimizer.ssvr_previous_params_ref());
    loader.restore(after);
    const GradNorms norms = model.grad_norm_and_clip(clip);
    if (!std::isfinite(norms.l2)) fail_runtime("step %d: ssvr's gradient at the previous parameters is not finite", t);
    optimizer.ssvr_sub_previous(model.grads, model.acts.grad_scale);
}

// --zo (optim/zero_order.cuh): one zero-order step, as train_gpt2cpu's zero_order_step: the
// losses of the step's batch (every micro-batch, replayed from the same position; each rank its
// own batch, the two losses averaged over the ranks) at the two perturbed weights, then the
// update. The "norm" column is |estimate| (MeZO's projected gradient, JAGUAR's rho).
static void zero_order_step(GPT2Cuda& model, GpuZeroOrder& zo, GpuOptimizer& optimizer, const OptimConfig& oc, DataLoader& loader,
                            const TrainConfig& cfg, int step, int max_steps, int grad_accum, GpuDataParallel* dp, Comm& comm, int* skips,
                            RunLog& log, std::chrono::steady_clock::time_point t0, long total_batch, long comm_bytes) {
    const DataLoaderPosition batch_start = loader.position();
    auto batch_loss = [&]() {
        PhaseScope r("zero-order/forward");
        loader.restore(batch_start);
        model.clear_losses();
        for (int micro = 0; micro < grad_accum; micro++) {
            loader.next_batch();
            model.forward_async(loader.inputs(), loader.targets(), 0.0f);
        }
        return model.mean_loss();
    };
    const float lr_factor = lr_factor_at(cfg.schedule, step, max_steps);
    auto mean_over_ranks = [&](double* x, int n) {
        if (!dp) return;
        dp->sum_over_ranks(x, n);
        for (int i = 0; i < n; i++) x[i] /= dp->ranks();
    };
    const ZoStepResult r = zo.step(model.master, model.params, optimizer, oc, batch_loss, mean_over_ranks, lr_factor, step + 1);
    const double loss = r.loss(), norm = std::fabs(r.estimate);
    // every rank holds the same estimate: rank 0 reports a non-finite one, the others wait for it to end the job
    if (comm.size() > 1 && !cfg.skip_nonfinite && !std::isfinite(r.estimate)) leave_nonfinite_step_to(comm, 0, step + 1);
    if (skip_nonfinite_step(step + 1, max_steps, loss, norm, cfg, skips, log)) return; // the step left the weights as they were
    cudaCheck(cudaDeviceSynchronize());
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const double tokens_per_s = total_batch / (ms / 1000.0);
    printf("step %4d/%d | loss %.6f | lr %.3e | norm %.4f | %.1f ms | %.0f tok/s\n", step + 1, max_steps, loss, oc.lr * lr_factor,
           norm, ms, tokens_per_s);
    log.train(step, loss, oc.lr * lr_factor, norm, ms, tokens_per_s, (long)(step + 1) * total_batch, norm, norm, comm_bytes);
}

int main(int argc, char** argv) {
    line_buffer_stdout();
    install_stop_handlers(); // SIGTERM, SIGUSR1, SIGINT: checkpoint after the step in flight, exit 75
    // ---- flags: llm.c's GPT-2 (124M) run by default
    TrainConfig cfg = gpu_trainer_defaults();
    {
        // Every rank parses the same command line: a bad flag is one error line, rank 0's.
        const QuietStderrUnlessRank0 quiet;
        parse_train_args(argc, argv, &cfg);
        check_train_val_overlap(cfg.train_glob, cfg.val_glob, cfg.val_every > 0 && cfg.val_batches > 0, cfg.allow_train_val_overlap != 0,
                                cfg.overfit_single_batch != 0, &cfg.notes);
    }
    const int B = cfg.batch_size, T = cfg.seq_len;

    // ---- model shape and batch
    GPT2Config mc;
    std::vector<float> host_params;
    load_model_params(cfg, &mc, &host_params);
    if (cfg.init == "llmc" && !host_params.empty())
        fail_usage("--init llmc initializes a model named by -e (d12, ...); -e '%s' is a file", cfg.model.c_str());
    if (T > mc.max_seq_len) fail_usage("sequence length -t %d exceeds the model's maximum %d", T, mc.max_seq_len);
    if (cfg.dist.vote_agreement) // not written yet here: the diagnostic's mean and tally are CPU code (optim/data_parallel.h)
        fail_usage("--vote-agreement 1 is measured by train_gpt2cpu only (under mpirun)");
    // ---- the ranks (common/comm_nccl.cuh): sets the device to the local rank
    std::unique_ptr<Comm> comm = make_gpu_comm(cfg.dist);
    const int world = comm->size(), rank = comm->rank();
    cfg.dist.num_processes = world, cfg.dist.process_rank = rank; // resolved (mpirun sets them), for the run log
    if (rank > 0 && !freopen("/dev/null", "w", stdout)) fail_runtime("cannot silence stdout"); // rank 0 prints
    if (world > 1) { // every rank's settings agree (common/rank_agreement.h), before any collective that mixed ones could hang
        const std::string line = first_disagreement(settings_that_must_agree(cfg), world, [&](const void* s, void* r, size_t bytes) {
#ifdef USE_MPI
            if (launcher_world_size() > 0) return bootstrap_mpi().all_gather(s, r, bytes, CommDtype::I8); // host memory
#endif
            char *ds = nullptr, *dr = nullptr; // NCCL (-pi fs|tcp): through device memory
            cudaCheck(cudaMalloc(&ds, bytes));
            cudaCheck(cudaMalloc(&dr, bytes * world));
            cudaCheck(cudaMemcpy(ds, s, bytes, cudaMemcpyHostToDevice));
            comm->all_gather(ds, dr, bytes, CommDtype::I8);
            cudaCheck(cudaMemcpy(r, dr, bytes * world, cudaMemcpyDeviceToHost));
            cudaCheck(cudaFree(ds));
            cudaCheck(cudaFree(dr));
        });
        if (!line.empty()) end_rank_after_rank0(rank, EXIT_USAGE, line);
    }
    print_config_notes(cfg);
    // under mpirun, until the memory check, an error every rank hits alike (batch plan, memory) is
    // one line, rank 0's (common/comm_mpi.h)
    std::unique_ptr<SameOnEveryRank> same_on_every_rank(launcher_world_size() > 0 && world > 1 ? new SameOnEveryRank(*comm) : nullptr);
    const bool data_parallel = world > 1 || cfg.dist.sign_vote || cfg.dist.byzantine || GpuDataParallel::uses_collectives(*comm);
    // -d is the batch of all ranks together (-1: B x T on every rank)
    const BatchPlan batch = plan_batch(cfg, world);
    const long tokens_per_micro = batch.tokens_per_micro, total_batch = batch.total_batch;
    const int grad_accum = batch.grad_accum;
    const bool measuring_noise = cfg.noise_every > 0;
    const size_t padded_params = GpuDataParallel::uses_collectives(*comm) ? GpuDataParallel::padded_params(gpt2_num_params(mc), world) : 0;

    // ---- device and memory, checked before anything is allocated
    int device = 0;
    cudaCheck(cudaGetDevice(&device));
    cudaDeviceProp prop;
    cudaCheck(cudaGetDeviceProperties(&prop, device));
    size_t free_bytes = 0, total_bytes = 0;
    cudaCheck(cudaMemGetInfo(&free_bytes, &total_bytes));
    const size_t workspace_bytes = cuda_ctx().lt_workspace_size + (256ull << 20); // cuBLAS(Lt) and slack
    const size_t noise_bytes = measuring_noise ? GpuNoiseAccumulator::device_bytes(gpt2_num_params(mc), cfg.noise_batches) : 0;
    const TailSlice tail_slice = tail_index_slice(mc, cfg.tail_index_wte, tail_index_layer(cfg, mc.num_layers)); // exit 2: bad LAYER
    const size_t tail_bytes = cfg.tail_index_every > 0 ? GpuTailIndexSampler::device_bytes(tail_slice, cfg.tail_index_samples) : 0;
    const size_t dp_bytes = (padded_params > 0 ? 2 * (padded_params - gpt2_num_params(mc)) * sizeof(floatX) : 0) +
                            (data_parallel ? GpuDataParallel::device_bytes(cfg.dist, gpt2_num_params(mc), world) : 0);
    // -z 1: this rank's share of the optimizer state
    // -z 1 without Muon shards the master weights too (GpuOptimizer::master_sharded): the update norms' snapshot is the shard
    const bool master_shardable = cfg.optim.algorithm != Algorithm::Muon; // (Muon keeps them whole)
    // --zo: every rank applies the same update to the whole model, so each holds all of the state (JAGUAR's m)
    const OptimShard planned_shard = cfg.zo.on() ? OptimShard{}
                                                 : GpuDataParallel::plan_shard(cfg.dist, gpt2_num_params(mc), rank, world, GpuDataParallel::uses_collectives(*comm));
    const size_t need = model_device_bytes(mc, B, T, cfg.recompute != 0, use_flash_attention(cfg.attention, mc), !cfg.zo.on()) + GpuOptimizer::device_bytes(cfg.optim, mc, planned_shard, !cfg.zo.on()) +
                        GpuZeroOrder::device_bytes(cfg.zo, cfg.optim, mc) +
                        noise_bytes + tail_bytes + workspace_bytes + dp_bytes +
                        (cfg.output_dir.empty() || cfg.zo.on() ? 0 : GpuUpdateNorms::device_bytes(planned_shard.shard > 0 && master_shardable ? planned_shard.shard : gpt2_num_params(mc)));
    if (need > free_bytes)
        fail_runtime("not enough GPU memory: this run needs %.2f GiB, %s has %.2f GiB free (try a smaller -b or -r 1)",
                     need / 1073741824.0, prop.name, free_bytes / 1073741824.0);
    // every rank evaluates its share of HellaSwag; a bad file is the same error on every rank
    HellaSwagEval* hellaswag = cfg.hellaswag ? new HellaSwagEval(cfg.hellaswag_path, B, T, mc.vocab_size) : nullptr;
    if (same_on_every_rank) same_on_every_rank->end(); // each rank's own allocations and shards from here: its errors name it
    cuda_context_init();
    printf("device %s, %.1f GiB; precision %s; this run needs %.2f GiB\n", prop.name, total_bytes / 1073741824.0,
           PRECISION_NAME, need / 1073741824.0);

    GPT2Cuda model(mc, B, T, cfg.recompute != 0, cfg.attention, padded_params, !cfg.zo.on());
    if (host_params.empty()) {
        host_params.assign(gpt2_num_params(mc), 0.0f);
        if (cfg.init == "llmc") {
            // llm.c rounds its fp32 draws to floatX and starts its master weights from those
            gpt2_init_params_llmc(mc, (uint32_t)cfg.seed, host_params.data());
            for (float& x : host_params) x = to_float(from_float<floatX>(x));
        } else {
            gpt2_init_params(mc, cfg.seed, host_params.data());
        }
    }
    model.set_params(host_params.data());
    std::vector<float>().swap(host_params);
    printf("model %s: L=%d C=%d heads=%d V=%d (padded %d), %zu parameters; %s attention\n", cfg.model.c_str(),
           mc.num_layers, mc.channels, mc.num_heads, mc.vocab_size, mc.padded_vocab_size, model.num_params,
           model.flash ? "flash" : "cuBLAS");
    if (cfg.profile_kernels) phase_timer().enable();

    // ---- data
    // each rank reads its own windows (the loader splits by rank)
    DataLoader train_loader(cfg.train_glob, B, T, rank, world, cfg.shuffle != 0, cfg.data_seed, pinned_alloc, pinned_free);
    if (cfg.dist.rank_data_split) {
        // every rank reads all shards for the ranges: a refusal is one line, rank 0's
        std::unique_ptr<SameOnEveryRank> same_split(launcher_world_size() > 0 && world > 1 ? new SameOnEveryRank(*comm) : nullptr);
        train_loader.split_by_first_token(); // unequal data per rank (common/dataloader.h)
        printf("rank data split (first token): %s\n", train_loader.split_summary().c_str());
    }
    const bool validating = cfg.val_every > 0 && cfg.val_batches > 0;
    DataLoader* val_loader = validating ? new DataLoader(cfg.val_glob, B, T, rank, world, false, cfg.data_seed, pinned_alloc, pinned_free) : nullptr;
    const int val_batches = validating ? (int)std::min<long>(cfg.val_batches, val_loader->batches_per_epoch()) : 0;
    const int max_steps = plan_max_steps(cfg, train_loader.batches_per_epoch(), grad_accum);
    for (const std::string& n : notes_for_run_length(cfg, max_steps)) printf("note: %s\n", n.c_str());
    Tokenizer tokenizer;
    if (cfg.sample_every > 0) tokenizer.load(cfg.tokenizer_path);

    // ---- optimizer
    const OptimConfig& oc = cfg.optim;
    std::unique_ptr<GpuDataParallel> dp(data_parallel ? new GpuDataParallel(*comm, cfg.dist, oc, model.num_params) : nullptr);
    GpuOptimizer optimizer(oc, mc, cfg.seed, dp && !cfg.zo.on() ? dp->optim_shard() : OptimShard{}, !cfg.zo.on()); // --zo: GpuZeroOrder's NS work
    if (dp) dp->attach(optimizer), dp->set_seed(cfg.seed);
    if (optimizer.master_sharded()) model.keep_master_part(optimizer.master_part(model.num_params)); // -z 1: this rank's shard
    // with -o, every rank: the train records' per-group update norms (summed over the ranks)
    std::unique_ptr<GpuUpdateNorms> update_norms(cfg.output_dir.empty() || cfg.zo.on() ? nullptr : new GpuUpdateNorms(model.master_count));
    print_run_plan(cfg, batch, max_steps);
    std::unique_ptr<GpuZeroOrder> zero_order(cfg.zo.on() ? new GpuZeroOrder(cfg.zo, mc, cfg.seed) : nullptr);
    if (zero_order) {
        print_zero_order_plan(cfg.zo);
        printf("zero-order memory plan: no gradient buffer (%.1f MiB not allocated); the backward's activation scratch is still "
               "allocated", gpt2_num_params(mc) * sizeof(floatX) / 1048576.0);
        if (cfg.zo.method != ZoMethod::MeZO)
            printf("; JAGUAR's m in the optimizer's momentum slots; JAGUAR's sets %.2f MiB (one step's index lists)",
                   GpuZeroOrder::set_index_bytes(cfg.zo, mc) / 1048576.0);
        if (cfg.zo.method == ZoMethod::JaguarMuon) // one layer's matrices, where --optim muon's GpuMuon holds all of them
            printf("; Newton-Schulz work %.1f MiB (one layer's matrices; --optim muon's: %.1f MiB)",
                   GpuZeroOrder::newton_schulz_bytes(cfg.zo, oc, mc) / 1048576.0,
                   (GpuOptimizer::device_bytes(oc, mc) - GpuOptimizer::device_bytes(oc, mc, OptimShard{}, false)) / 1048576.0);
        printf("\n");
    }
    // --zo: no gradient or parameter travels, only the two losses (two doubles, as train_gpt2cpu reports them)
    if (dp && zero_order) printf("data parallel: %d ranks (%s), --zo: each rank its own batch, the two losses all-reduced (16 bytes per step)\n",
                                 world, comm->backend());
    else if (dp) printf("%s\n", dp->describe(optimizer).c_str());
    const long comm_bytes = !dp || !GpuDataParallel::uses_collectives(*comm) ? -1 : zero_order ? (world > 1 ? 16 : 0) : dp->bytes_per_step(optimizer);

    // ---- output, checkpoints, resume (as train_gpt2cpu; the device state goes through HostTrainingState)
    // rank 0 writes; every rank reads the checkpoint it resumes from (a shared filesystem)
    const bool writing = !cfg.output_dir.empty() && rank == 0;
    if (writing) claim_output_dir(cfg.output_dir, cfg.resume != 0, cfg.overwrite != 0);
    if (world > 1 && !cfg.output_dir.empty()) comm->barrier(); // rank 0 has claimed (or cleared) the directory
    DataLoader* noise_loader = measuring_noise ? new DataLoader(cfg.train_glob, B, T, rank, world, true, noise_loader_seed(cfg.data_seed),
                                                                pinned_alloc, pinned_free) : nullptr;
    GpuNoiseAccumulator* noise_acc = measuring_noise ? new GpuNoiseAccumulator(model.num_params, cfg.noise_batches) : nullptr;
    const bool measuring_tail = cfg.tail_index_every > 0;
    std::unique_ptr<DataLoader> tail_loader(measuring_tail ? new DataLoader(cfg.train_glob, 1, T, rank, world, true, tail_loader_seed(cfg.data_seed)) : nullptr);
    std::unique_ptr<GpuTailIndexSampler> tail_sampler(measuring_tail ? new GpuTailIndexSampler(tail_slice, cfg.tail_index_samples) : nullptr);
    int start_step = 0, skips = 0;
    const RunShape run_shape{B, T, total_batch, cfg.train_glob, cfg.val_glob, world, cfg.shuffle, cfg.dist.sign_vote,
                             optim_group_rules_string(cfg.optim), cfg.data_seed,
                             zo_settings_name(cfg.zo), cfg.dist.rank_data_split};
    const int resume_step = cfg.resume ? latest_checkpoint_step(cfg.output_dir) : -1;
    if (resume_step == max_steps && run_done(cfg.output_dir, max_steps)) { // llm.c's restart loop ends here (every rank sees the marker)
        printf("already done at step %d: %s exists\n", max_steps, done_marker_path(cfg.output_dir, max_steps).c_str());
        return 0;
    }
    if (resume_step >= 0) {
        // every rank reads the same checkpoint: under mpirun a refusal is one line, rank 0's
        std::unique_ptr<SameOnEveryRank> same_resume(launcher_world_size() > 0 && world > 1 ? new SameOnEveryRank(*comm) : nullptr);
        HostTrainingState host(model, optimizer);
        std::vector<StateTensorRef> extra = host.extra_refs;
        if (dp) for (const StateTensorRef& r : dp->own_rank_state(optimizer, host.optim)) extra.push_back(r); // the vote's own momentum
        const TrainingState st = load_checkpoint(cfg.output_dir, resume_step, mc, cfg.seed, run_shape, max_steps, host.master.data(), host.optim_refs, extra);
        host.to_device(model, optimizer);
        train_loader.restore(st.train_pos);
        if (noise_loader) noise_loader->restore(st.noise_pos);
        same_resume.reset();
        start_step = st.step;
        skips = st.skips;
        printf("resuming from the checkpoint of step %d in %s\n", start_step, cfg.output_dir.c_str());
    } else if (cfg.resume) {
        printf("no complete checkpoint in %s: starting from step 0\n", cfg.output_dir.c_str());
    }
    RunLog log;
    if (rank == 0) open_run_log(&log, cfg, argc, argv, prop.name, model.num_params, total_batch, max_steps, resume_step);
    auto checkpoint = [&](int step) {
        if (cfg.output_dir.empty()) return;
        NvtxRange r("checkpoint");
        if (dp) dp->sync_for_checkpoint(optimizer, model.master); // every rank: the owners' master weights to all
        std::unique_ptr<HostTrainingState> host_state(writing ? new HostTrainingState(model, optimizer) : nullptr);
        if (host_state) host_state->from_device(model, optimizer); // rank 0's own part of the state
        if (dp) dp->gather_state(optimizer, model.master, host_state ? &host_state->optim : nullptr, host_state ? &host_state->master : nullptr); // every rank: the other owners' parts to rank 0
        std::vector<std::vector<float>> rank_store;
        std::vector<StateTensorRef> extra = host_state ? host_state->extra_refs : std::vector<StateTensorRef>{};
        if (dp) dp->gather_rank_state(optimizer, &rank_store, &extra); // every rank: the vote's per-rank momenta to rank 0
        if (!writing) return;
        HostTrainingState& host = *host_state;
        TrainingState st;
        st.step = step;
        st.skips = skips;
        st.seed = cfg.seed;
        st.run = run_shape;
        st.train_pos = train_loader.position();
        if (noise_loader) st.noise_pos = noise_loader->position();
        save_checkpoint(cfg.output_dir, mc, host.master.data(), st, host.optim_refs, cfg.keep_checkpoints, extra);
        printf("wrote checkpoint %s/{model,state}_%08d.bin\n", cfg.output_dir.c_str(), step);
        // test hook: a slow checkpoint, a long phase of rank 0 alone (test/test_comm_faults_cuda.sh)
        if (const char* slow = getenv("GPT2_TEST_SLOW_CHECKPOINT_S")) sleep((unsigned)atoi(slow));
    };
    const int nan_step = test_nan_grad_step(rank);
    const double flops_per_step = gpt2_flops_per_token(mc, T) * (double)total_batch;
    const double peak_flops = peak_bf16_flops(prop.name) * world; // MFU: of all the ranks' GPUs

    int stopped_by = 0; // the signal every rank agreed to stop on (common/stop_request.h)

    // ---- the loop
    for (int step = start_step; step <= max_steps; step++) {
        const bool last = step == max_steps;
        if (validating && (step % cfg.val_every == 0 || last)) {
            const float val_loss = validation_loss(model, *val_loader, val_batches, dp.get());
            printf("step %d: val loss %.6f\n", step, val_loss);
            log.val(step, val_loss, (long)step * total_batch);
        }
        // llm.c's schedule: at every validation step after step 0, and at the end
        if (hellaswag && ((cfg.val_every > 0 && step > 0 && step % cfg.val_every == 0) || last)) {
            const int correct = hellaswag_correct(model, *hellaswag, rank, world, dp.get());
            printf("step %d: HellaSwag %d/%d = %.4f\n", step, correct, hellaswag->num_examples(),
                   (double)correct / hellaswag->num_examples());
            log.eval(step, correct, hellaswag->num_examples(), (long)step * total_batch);
        }
        if (measuring_noise && noise_due(cfg, step, last)) {
            const NoiseDensityResult nd = measure_noise_density(model, *noise_loader, *noise_acc, cfg.noise_batches, dp.get());
            printf("step %d: gradient noise phi %.5f, mean density %.5f, tail index %.4f (%d batches)\n", step, nd.all.phi,
                   nd.all.mean_density, nd.all.tail_index, cfg.noise_batches);
            log.noise(step, nd, cfg.noise_batches, (long)B * T * world);
        }
        if (measuring_tail && tail_index_due(cfg, step, last)) {
            const TailIndexStats ts = measure_tail_index(model, *tail_loader, *tail_sampler, cfg.tail_index_samples, dp.get());
            printf("step %d: tail index %s %.4f, 25 coordinates %.4f (%d sequences of %d tokens per rank; finite variance reads %.4f)\n",
                   step, tail_slice.name.c_str(), ts.alpha, ts.coord_mean(), cfg.tail_index_samples, T,
                   tail_index_gaussian(cfg.tail_index_samples));
            log.tail(step, tail_slice.name, cfg.tail_index_samples, T, world, ts, tail_sampler->coords());
        }
        if (cfg.sample_every > 0 && rank == 0 && step > 0 && (step % cfg.sample_every == 0 || last))
            print_sample(model, tokenizer, cfg.gen_tokens, cfg.seed, step);
        if (last) {
            if (max_steps == 0 && resume_step < 0) checkpoint(0); // -x 0: the untrained model, for llm.c or PyTorch
            break;
        }

        cudaCheck(cudaDeviceSynchronize());
        const auto t0 = std::chrono::steady_clock::now();
        phase_timer().begin_step();
        if (cfg.overfit_single_batch) train_loader.reset(); // -a 1: the same batch every step
        if (zero_order) {
            zero_order_step(model, *zero_order, optimizer, oc, train_loader, cfg, step, max_steps, grad_accum, dp.get(), *comm, &skips,
                            log, t0, total_batch, comm_bytes);
        } else {
            model.zero_grad();
            const DataLoaderPosition batch_start = train_loader.position(); // ssvr replays the step's batches
            model.clear_losses();
            // several ranks: each gradient is 1/ranks of the mean, so their sum is the mean (a
            // sign-voting rank keeps its own mean gradient: clipping reads its norm)
            const int grad_divisor = dp && !dp->sign_vote() ? world : 1;
            for (int micro = 0; micro < grad_accum; micro++) {
                train_loader.next_batch();
                const float dloss = 1.0f / ((float)tokens_per_micro * grad_accum * grad_divisor);
                model.forward_async(train_loader.inputs(), train_loader.targets(), dloss);
                model.backward();
            }
            const double local_loss = model.mean_loss(); // the step's one loss copy
            const double loss = dp ? dp->mean(local_loss) : local_loss;
            if (step + 1 == nan_step) {
                const floatX nan = from_float<floatX>(NAN);
                cudaCheck(cudaMemcpy(model.grads, &nan, sizeof nan, cudaMemcpyHostToDevice));
            }
            if (dp) dp->reduce_gradients(model.grads);
            const GradNorms norms = dp ? dp->norms_and_clip(model.acts.norm, model.acts.norm_scratch, model.grads, oc.grad_clip, model.acts.grad_scale)
                                       : model.grad_norm_and_clip(oc.grad_clip);
            const double norm = norms.l2;
            // Several ranks see the same non-finite loss or norm: one reports it (the lowest rank whose
            // own loss is not finite, else rank 0: the gradients were summed), the others wait in a
            // barrier until it ends the job, so the error is one line.
            if (dp && world > 1 && !cfg.skip_nonfinite && !(std::isfinite(loss) && std::isfinite(norm)))
                leave_nonfinite_step_to(*comm, std::max(0, dp->lowest_rank_where(!std::isfinite(local_loss))), step + 1);
            if (!skip_nonfinite_step(step + 1, max_steps, loss, norm, cfg, &skips, log)) {
                const float lr_factor = lr_factor_at(cfg.schedule, step, max_steps);
                if (oc.algorithm == Algorithm::SSVR)
                    ssvr_gradients(model, optimizer, train_loader, batch_start, grad_accum,
                                   1.0f / ((float)tokens_per_micro * grad_accum), oc.grad_clip, step + 1);
                {
                    PhaseScope r("optimizer/%s", algorithm_name(oc.algorithm));
                    if (update_norms) update_norms->before_step(model.master);
                    if (dp) dp->step(optimizer, model.master, model.params, model.grads, model.acts.grad_scale, lr_factor, step + 1);
                    else optimizer.step(model.master, model.params, model.grads, model.acts.grad_scale, lr_factor, step + 1);
                }
                double update_sq[NUM_OPTIM_GROUPS] = {};
                if (update_norms) {
                    PhaseScope r("optimizer/update_norms");
                    update_norms->after_step(optimizer, model.master, model.master_begin, rank, update_sq);
                    if (dp) dp->sum_over_ranks(update_sq, NUM_OPTIM_GROUPS);
                }
                cudaCheck(cudaDeviceSynchronize());
                const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
                const double tokens_per_s = total_batch / (ms / 1000.0);
                char mfu[32];
                if (peak_flops > 0) snprintf(mfu, sizeof mfu, "%.1f%%", 100.0 * flops_per_step / (ms / 1000.0) / peak_flops);
                else snprintf(mfu, sizeof mfu, "n/a");
                printf("step %4d/%d | loss %.6f | lr %.3e | norm %.4f | %.1f ms | %.0f tok/s | MFU %s\n", step + 1, max_steps,
                       loss, oc.lr * lr_factor, norm, ms, tokens_per_s, mfu);
                log.train(step, loss, oc.lr * lr_factor, norm, ms, tokens_per_s, (long)(step + 1) * total_batch, norms.l1, norms.linf,
                          comm_bytes, update_norms ? update_norms_of(update_sq) : std::vector<std::pair<std::string, double>>{});
            }
        }
        phase_timer().end_step();
        // Right after the update, before the next step's val and noise batches, so a resumed run
        // redoes exactly those; the last step always gets one.
        const bool checkpointed = step + 1 == max_steps || (cfg.checkpoint_every > 0 && (step + 1) % cfg.checkpoint_every == 0);
        if (checkpointed) checkpoint(step + 1);
        // a stop signal on any rank: every rank stops after this update (the last one finishes normally)
        const int agreed = dp ? dp->max_over_ranks(local_stop_signal()) : local_stop_signal();
        if ((stopped_by = stop_after_update(agreed, step + 1, max_steps, checkpointed, cfg.output_dir, checkpoint))) break;
    }
    if (!stopped_by && writing) write_done_marker(cfg.output_dir, max_steps);
    phase_timer().print(stdout);
    delete hellaswag;
    matmul_plans_clear();
    delete val_loader;
    delete noise_loader;
    delete noise_acc;
    update_norms.reset();
    dp.reset();
    comm.reset();
    cuda_context_destroy();
    return stopped_by ? EXIT_PREEMPTED : 0;
}
#endif
