// train_gpt2cpu: the fp32 CPU reference trainer. Same flags as train_gpt2cu (-h lists
// them); slow, exact and readable: the CUDA trainer and its kernels are checked against
// the code it is built from (cpu/ for the model, optim/ for the optimizers).
//
// Reads top to bottom: flags, model, data, optimizer, then the loop
// (validate, sample, forward/backward with gradient accumulation, clip, step, log).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <sys/stat.h>

#include "common/dataloader.h"
#include "common/model_file.h"
#include "common/tokenizer.h"
#include "common/train_config.h"
#include "cpu/gpt2.h"
#include "optim/cpu_optimizer.h"
#include "optim/grad_clip.h"
#include "optim/schedule.h"

// -e: a model name (d12, ...) initialized from --seed, or an llm.c model file.
static GPT2Cpu build_model(const TrainConfig& cfg) {
    GPT2Config shape;
    if (gpt2_config_from_name(cfg.model, &shape)) {
        GPT2Cpu model(shape);
        model.init(cfg.seed);
        return model;
    }
    struct stat st;
    if (stat(cfg.model.c_str(), &st) != 0)
        fail_usage("-e '%s' is neither a model name (d2, d4, d6, d12, d24, d36, d48) nor a model file", cfg.model.c_str());
    std::vector<float> params;
    load_model_file(cfg.model, &shape, &params);
    GPT2Cpu model(shape);
    model.params = params;
    return model;
}

// Mean loss over `batches` batches of the val loader, always the same tokens.
static float validation_loss(GPT2Cpu& model, DataLoader& val, int batches, int B, int T) {
    val.reset();
    double sum = 0;
    for (int i = 0; i < batches; i++) {
        val.next_batch();
        sum += model.forward(val.inputs(), val.targets(), B, T);
    }
    return (float)(sum / batches);
}

// Generates `n` tokens after an end-of-text token, sampling from the softmax over the
// real vocab with a counter-based RNG seeded by (seed, step), and prints them decoded.
static void print_sample(GPT2Cpu& model, Tokenizer& tokenizer, int n, uint64_t seed, int step) {
    const int V = model.config.vocab_size, Vp = model.config.padded_vocab_size;
    const int max_len = std::min(n + 1, model.config.max_seq_len);
    std::vector<int> tokens(1, tokenizer.eot_token());
    printf("sample at step %d: ", step);
    for (int t = 1; t < max_len; t++) {
        model.forward(tokens.data(), nullptr, 1, t);
        const float* logits = model.logits() + (size_t)(t - 1) * Vp;
        float maxv = logits[0];
        for (int v = 1; v < V; v++) maxv = std::max(maxv, logits[v]);
        double total = 0;
        for (int v = 0; v < V; v++) total += std::exp((double)logits[v] - maxv);
        const double coin = random_uniform(seed * 1000003ull + (uint64_t)step, (uint64_t)t) * total;
        double cdf = 0;
        int next = V - 1;
        for (int v = 0; v < V; v++) {
            cdf += std::exp((double)logits[v] - maxv);
            if (coin < cdf) { next = v; break; }
        }
        tokens.push_back(next);
        printf("%s", tokenizer.decode(next).c_str());
    }
    printf("\n");
}

int main(int argc, char** argv) {
    // ---- flags
    TrainConfig cfg; // CPU defaults: a micro-batch of 4, no accumulation unless -d asks
    parse_train_args(argc, argv, &cfg);
    const int B = cfg.batch_size, T = cfg.seq_len;

    // ---- model
    GPT2Cpu model = build_model(cfg);
    const GPT2Config& mc = model.config;
    if (T > mc.max_seq_len) fail_usage("sequence length -t %d exceeds the model's maximum %d", T, mc.max_seq_len);
    const size_t num_params = model.params.size();
    printf("model %s: L=%d C=%d heads=%d V=%d (padded %d), %zu parameters\n", cfg.model.c_str(), mc.num_layers,
           mc.channels, mc.num_heads, mc.vocab_size, mc.padded_vocab_size, num_params);

    // ---- batch and data
    const long tokens_per_micro = (long)B * T;
    const long total_batch = cfg.total_batch_tokens == -1 ? tokens_per_micro : cfg.total_batch_tokens;
    if (total_batch % tokens_per_micro != 0)
        fail_usage("total batch -d %ld is not a multiple of B*T = %ld", total_batch, tokens_per_micro);
    const int grad_accum = (int)(total_batch / tokens_per_micro);
    DataLoader train_loader(cfg.train_glob, B, T, 0, 1, cfg.shuffle != 0, cfg.seed);
    const bool validating = cfg.val_every > 0 && cfg.val_batches > 0;
    DataLoader* val_loader = validating ? new DataLoader(cfg.val_glob, B, T, 0, 1, false, cfg.seed) : nullptr;
    const int val_batches = validating ? (int)std::min<long>(cfg.val_batches, val_loader->batches_per_epoch()) : 0;
    const int max_steps = cfg.max_steps > 0 ? cfg.max_steps : (int)std::max<long>(1, train_loader.batches_per_epoch() / grad_accum);
    printf("batch: %d x %d tokens, %d accumulation step(s) = %ld tokens per step; %d steps\n", B, T, grad_accum, total_batch, max_steps);

    Tokenizer tokenizer;
    if (cfg.sample_every > 0) tokenizer.load(cfg.tokenizer_path);

    // ---- optimizer
    const OptimConfig& oc = cfg.optim;
    CpuOptimizer optimizer(oc, mc);
    printf("optimizer %s: lr %g, weight decay %g on %s, clip %g, schedule %s (warmup %d)", algorithm_name(oc.algorithm),
           oc.lr, oc.weight_decay, wd_on_name(oc.wd_on), oc.grad_clip, schedule_name(cfg.schedule.kind), cfg.schedule.warmup_steps);
    if (oc.algorithm == Algorithm::Muon) printf(", fallback %s at lr %g", algorithm_name(oc.muon_fallback), oc.fallback_lr);
    printf("\n");

    // ---- output
    FILE* log = nullptr;
    if (!cfg.output_dir.empty()) {
        mkdir(cfg.output_dir.c_str(), 0755);
        log = open_or_fail((cfg.output_dir + "/main.log").c_str(), "w");
    }
    auto save_checkpoint = [&](int step) {
        if (cfg.output_dir.empty()) return;
        char path[512];
        snprintf(path, sizeof path, "%s/model_%08d.bin", cfg.output_dir.c_str(), step);
        save_model_file(path, mc, model.params.data());
        printf("wrote %s\n", path);
    };

    // ---- the loop
    for (int step = 0; step <= max_steps; step++) {
        const bool last = step == max_steps;
        if (validating && (step % cfg.val_every == 0 || last)) {
            const float val_loss = validation_loss(model, *val_loader, val_batches, B, T);
            printf("step %d: val loss %.6f\n", step, val_loss);
            if (log) { fprintf(log, "s:%d tel:%.6f\n", step, val_loss); fflush(log); }
        }
        if (cfg.sample_every > 0 && step > 0 && (step % cfg.sample_every == 0 || last))
            print_sample(model, tokenizer, cfg.gen_tokens, cfg.seed, step);
        if (last) break;

        const auto t0 = std::chrono::steady_clock::now();
        model.zero_grad();
        double loss = 0;
        for (int micro = 0; micro < grad_accum; micro++) {
            train_loader.next_batch();
            loss += model.forward(train_loader.inputs(), train_loader.targets(), B, T) / grad_accum;
            model.backward(1.0f / ((float)tokens_per_micro * grad_accum));
        }
        const double norm = global_grad_norm(model.grads.data(), num_params);
        if (!std::isfinite(loss) || !std::isfinite(norm))
            fail_runtime("step %d: loss %g, gradient norm %g is not finite; stopping (no checkpoint written for it)", step + 1, loss, norm);
        scale_grads(model.grads.data(), num_params, clip_scale(norm, oc.grad_clip));
        const float lr_factor = lr_factor_at(cfg.schedule, step, max_steps);
        optimizer.step(model.params.data(), model.grads.data(), lr_factor, step + 1);
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();

        printf("step %4d/%d | loss %.6f | lr %.3e | norm %.4f | %.1f ms | %.0f tok/s\n", step + 1, max_steps, loss,
               oc.lr * lr_factor, norm, ms, total_batch / (ms / 1000.0));
        if (log) { fprintf(log, "s:%d trl:%.6f\n", step + 1, loss); fflush(log); }
        if (cfg.checkpoint_every > 0 && (step + 1) % cfg.checkpoint_every == 0 && step + 1 < max_steps) save_checkpoint(step + 1);
    }
    save_checkpoint(max_steps);
    if (log) fclose(log);
    delete val_loader;
    return 0;
}
