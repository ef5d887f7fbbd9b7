// train_gpt2cpu: the fp32 CPU reference trainer. Same flags as train_gpt2cu (--help lists
// them); slow, exact and readable: the CUDA trainer and its kernels are checked against
// the code it is built from (cpu/ for the model, optim/ for the optimizers).
//
// Reads top to bottom: flags, model, data, optimizer, output and resume, then the loop
// (validate, noise density, sample, forward/backward with gradient accumulation, clip,
// step, log, checkpoint).
//
// Data parallel (mpirun -np N ./train_gpt2cpu ...; optim/data_parallel.h): every rank trains
// on its own part of each step's batch; rank 0 alone prints, logs, samples and checkpoints.
//
// Test hooks: GPT2_TEST_NAN_GRAD_STEP=S (common/nonfinite_step.h); GPT2_TEST_RANK_TRAIN_GLOB=R:GLOB
// (rank R reads its training shards from GLOB, as a node with its own bad copy of the data
// would); GPT2_TEST_DUMP_GRAD=PREFIX (every rank writes its gradient of every step as it enters
// the update: the majority-vote test recomputes the vote from them); GPT2_TEST_DUMP_ZO=PREFIX
// (--zo: each step's parameters before it, losses, estimate and batch: test/zo_oracle.py).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <new>
#include <string>
#include <sys/stat.h>

#include "common/checkpoint.h"
#include "common/comm_mpi.h"
#include "common/dataloader.h"
#include "common/hellaswag.h"
#include "common/llmc_init.h"
#include "common/model_file.h"
#include "common/sampling.h"
#include "common/noise_density.h"
#include "common/stop_request.h"
#include "common/tail_index.h"
#include "common/output_dir.h"
#include "common/rank_agreement.h"
#include "common/nonfinite_step.h"
#include "common/run_log.h"
#include "common/tokenizer.h"
#include "common/train_config.h"
#include "common/zero_order.h"
#include "cpu/gpt2.h"
#include "cpu/memory_plan.h"
#include "optim/cpu_optimizer.h"
#include "optim/data_parallel.h"
#include "optim/grad_clip.h"
#include "optim/schedule.h"

// -e: a model name (d12, ...) or an llm.c model file; the shape alone, nothing allocated.
static GPT2Config model_shape(const TrainConfig& cfg) {
    GPT2Config shape;
    if (gpt2_config_from_name(cfg.model, &shape)) return shape;
    struct stat st;
    if (stat(cfg.model.c_str(), &st) != 0)
        fail_usage("-e '%s' is neither a model name (d2, d4, d6, d12, d24, d36, d48) nor a model file", cfg.model.c_str());
    return read_model_file_shape(cfg.model);
}

// The matmul kernels, for the config record: OpenBLAS picks its set by CPU at run time, and
// another set gives other last bits (docs/cpu_speed.md).
static std::string cpu_kernels() {
#ifdef USE_BLAS
    return std::string("OpenBLAS ") + blas_kernels();
#else
    return "loops (BLAS=0)";
#endif
}

// The model of -e: a model name initialized from --seed (--init: this project's generator or
// llm.c's), or the weights of a model file.
static GPT2Cpu build_model(const TrainConfig& cfg) {
    GPT2Config shape;
    if (gpt2_config_from_name(cfg.model, &shape)) {
        GPT2Cpu model(shape, !cfg.zo.on()); // --zo: no gradient buffer
        if (cfg.init == "llmc") gpt2_init_params_llmc(shape, (uint32_t)cfg.seed, model.params.data());
        else model.init(cfg.seed);
        return model;
    }
    if (cfg.init == "llmc") fail_usage("--init llmc initializes a model named by -e (d12, ...); -e '%s' is a file", cfg.model.c_str());
    std::vector<float> params;
    load_model_file(cfg.model, &shape, &params);
    GPT2Cpu model(shape, !cfg.zo.on());
    model.params = std::move(params);
    return model;
}

// Fails (exit 2) when the run's memory plan (cpu/memory_plan.h) exceeds MemAvailable.
// ranks: the job's processes (-z 1 divides the optimizer state among them).
static void check_memory(const TrainConfig& cfg, const GPT2Config& mc, int ranks) {
    const bool validating = cfg.val_every > 0 && cfg.val_batches > 0, measuring_noise = cfg.noise_every > 0;
    const int state_shards = cfg.dist.zero_stage == 1 && !cfg.dist.sign_vote ? ranks : 1;
    const int tail_layer = tail_index_layer(cfg, mc.num_layers); // exit 2 when out of range, measured or not
    const size_t tail_bytes =
        cfg.tail_index_every > 0 ? tail_index_plan_bytes(mc, cfg.tail_index_wte, tail_layer, cfg.tail_index_samples, cfg.seq_len) : 0;
    const CpuMemoryPlan plan = plan_cpu_memory(mc, cfg.optim, cfg.batch_size, cfg.seq_len,
                                               1 + validating + measuring_noise, measuring_noise ? cfg.noise_batches : 0, state_shards,
                                               tail_bytes, cfg.zo.on());
    const size_t available = mem_available_bytes();
    if (available > 0 && plan.total() > available)
        fail_usage("not enough memory: this run needs %.2f GiB (%s), %.2f GiB available (try a smaller -b or -t)",
                   plan.total() / 1073741824.0, plan.breakdown().c_str(), available / 1073741824.0);
    printf("memory: this run needs %.2f GiB of %.2f GiB available\n", plan.total() / 1073741824.0,
           available / 1073741824.0);
}

// Mean loss over `batches` batches of the val loader, always the same tokens (each rank its
// part of every batch; the mean over ranks).
static float validation_loss(GPT2Cpu& model, DataLoader& val, int batches, int B, int T, CpuDataParallel& dp) {
    val.reset();
    double sum = 0;
    for (int i = 0; i < batches; i++) {
        val.next_batch();
        sum += model.forward(val.inputs(), val.targets(), B, T);
    }
    return (float)dp.mean(sum / batches);
}

// HellaSwag (common/hellaswag.h): the number of examples the model answers right; each rank
// evaluates the batches dealt to it, and the ranks' counts are summed.
static int hellaswag_correct(GPT2Cpu& model, const HellaSwagEval& eval, int B, int T, Comm& comm) {
    std::vector<int> inputs((size_t)B * T), targets((size_t)B * T);
    int correct = 0;
    for (int b = 0; b < eval.num_batches(); b++) {
        if (!HellaSwagEval::dealt_to(b, comm.rank(), comm.size())) continue;
        eval.fill_batch(b, inputs.data(), targets.data());
        model.forward(inputs.data(), targets.data(), B, T);
        correct += eval.count_correct(b, model.losses());
    }
    comm.all_reduce_sum(&correct, 1, CommDtype::I32);
    return correct;
}

// Generates `n` tokens after an end-of-text token (common/sampling.h: seeded by seed and
// step, the same draw as train_gpt2cu) and prints them decoded.
static void print_sample(GPT2Cpu& model, Tokenizer& tokenizer, int n, uint64_t seed, int step) {
    const int V = model.config.vocab_size, Vp = model.config.padded_vocab_size;
    const int max_len = std::min(n + 1, model.config.max_seq_len);
    std::vector<int> tokens(1, tokenizer.eot_token());
    printf("sample at step %d: ", step);
    for (int t = 1; t < max_len; t++) {
        model.forward(tokens.data(), nullptr, 1, t);
        const float* logits = model.logits() + (size_t)(t - 1) * Vp;
        const int next = sample_token(logits, V, seed, step, t);
        tokens.push_back(next);
        printf("%s", tokenizer.decode(next).c_str());
    }
    printf("\n");
}

// Mean micro-batch gradient of K noise batches at the current weights, accumulated into
// acc; no update. Leaves model.grads dirty (the next training step zeroes them). With several
// ranks a sample is the gradient of the whole micro-batch of all ranks (B*ranks rows, summed
// across ranks), so K samples at B/n per rank mean what K samples at B mean in one process.
static NoiseDensityResult measure_noise_density(GPT2Cpu& model, DataLoader& noise_loader, GradientNoiseAccumulator& acc,
                                                int batches, int B, int T, Comm& comm) {
    acc.reset();
    for (int k = 0; k < batches; k++) {
        noise_loader.next_batch();
        model.zero_grad();
        model.forward(noise_loader.inputs(), noise_loader.targets(), B, T);
        model.backward(1.0f / ((float)B * T * comm.size()));
        comm.all_reduce_sum(model.grads.data(), model.grads.size(), CommDtype::F32);
        acc.add(model.grads.data());
    }
    return gpt2_noise_density(acc, model.config, T);
}

// The heavy-tail paper's tail index (common/tail_index.h): K single-sequence (B = 1) gradients
// of the slice at the current weights, from this rank's own loader, rewound first so every
// measurement (and a resumed run's) sees the same sequences; no all-reduce of the gradients,
// each rank estimates from its own K, and the indices are averaged over ranks. Leaves
// model.grads dirty (the next training step zeroes them). GPT2_TEST_DUMP_TAIL=PREFIX (tests)
// writes the samples to PREFIX.stepS.rankR.f32 (K x n fp32, row-major).
static TailIndexStats measure_tail_index(GPT2Cpu& model, DataLoader& tail_loader, TailIndexSampler& sampler, int K, int T,
                                         int step, int rank, CpuDataParallel& dp) {
    tail_loader.reset();
    sampler.reset();
    for (int k = 0; k < K; k++) {
        tail_loader.next_batch();
        model.zero_grad();
        model.forward(tail_loader.inputs(), tail_loader.targets(), 1, T);
        model.backward(1.0f / (float)T);
        sampler.add(model.grads.data());
    }
    if (const char* prefix = getenv("GPT2_TEST_DUMP_TAIL"))
        write_file_atomically(std::string(prefix) + ".step" + std::to_string(step) + ".rank" + std::to_string(rank) + ".f32",
                              nullptr, 0, sampler.samples(), (size_t)K * sampler.slice().size() * sizeof(float));
    TailIndexStats s = sampler.estimate();
    tail_index_rank_mean(&s, [&](double x) { return dp.mean(x); });
    return s;
}

// --profile-kernels: how much of each training step (after the first) the matmuls take and
// the rate they run at (cpu/blas.h's counters), for scripts/bench_cpu.sh's ceiling share.
struct MatmulProfile {
    bool enabled, timing_step = false;
    double step_ms = 0;
    int steps = 0;
    explicit MatmulProfile(bool on) : enabled(on) {
#ifndef USE_BLAS
        if (on) printf("note: --profile-kernels times the BLAS matmuls, and this train_gpt2cpu is a BLAS=0 build: nothing to time\n");
#endif
    }
    void begin_step(bool counted) {
        timing_step = enabled && counted;
#ifdef USE_BLAS
        blas_profile().on = timing_step;
#endif
    }
    void end_matmuls() {
#ifdef USE_BLAS
        blas_profile().on = false;
#endif
    }
    void end_step(double ms) {
        if (timing_step) step_ms += ms, steps++;
        timing_step = false;
    }
    void print() const {
#ifdef USE_BLAS
        if (!enabled) return;
        if (steps == 0) { printf("profile: no step after the first to time (give -x 2 or more)\n"); return; }
        const BlasProfile& p = blas_profile();
        printf("profile: matmuls %.1f ms of %.1f ms per step (%.1f%%), %.1f GFLOP/s in the matmuls (%ld products, %d steps)\n",
               p.seconds * 1e3 / steps, step_ms / steps, 100.0 * p.seconds * 1e3 / step_ms, p.flops / p.seconds / 1e9,
               p.calls / steps, steps);
#endif
    }
};

// ---- ssvr's second gradient (optim/ssvr.h), a separate block of the step: v = g_t +
// (1 - beta) v with the step's (already clipped) gradient, then for t > 1 the gradient at the
// previous step's parameters on the same micro-batches (the loader replays them from
// batch_start), clipped by its own norm, and v -= (1 - beta) g_prev. A second forward and
// backward per step: about twice SignSGD's compute. Leaves the loader where it was.
static void ssvr_gradients(GPT2Cpu& model, CpuOptimizer& optimizer, DataLoader& loader, const DataLoaderPosition& batch_start,
                           int grad_accum, int B, int T, float clip, int t, CpuDataParallel& dp) {
    optimizer.ssvr_gradients(model.params, model.grads.data(), t, [&] {
        const DataLoaderPosition after = loader.position();
        loader.restore(batch_start);
        model.zero_grad();
        for (int micro = 0; micro < grad_accum; micro++) {
            loader.next_batch();
            model.forward(loader.inputs(), loader.targets(), B, T);
            model.backward(1.0f / ((float)B * T * grad_accum * dp.gradient_divisor()));
        }
        loader.restore(after);
        dp.reduce_gradients(model.grads.data()); // -z 0 only (check_data_parallel_flags)
        const double norm = global_grad_norm(model.grads.data(), model.grads.size());
        if (!std::isfinite(norm)) fail_runtime("step %d: ssvr's gradient at the previous parameters is not finite", t);
        scale_grads(model.grads.data(), model.grads.size(), clip_scale(norm, clip));
    });
}

// GPT2_TEST_RANK_TRAIN_GLOB=R:GLOB (see the top): rank R's training shards.
static std::string rank_train_glob(const std::string& glob, int rank) {
    const char* env = getenv("GPT2_TEST_RANK_TRAIN_GLOB");
    if (!env) return glob;
    const std::string v = env;
    const size_t colon = v.find(':');
    if (colon == std::string::npos || atoi(v.substr(0, colon).c_str()) != rank) return glob;
    return v.substr(colon + 1);
}

// GPT2_TEST_DUMP_GRAD=PREFIX (see the top): this rank's gradient as it enters the update of
// step S (1-based) to PREFIX.step<S>.rank<R>.f32, and rank 0's parameters before it to
// PREFIX.step<S>.params.f32.
static void dump_test_gradient(const std::vector<float>& grads, const std::vector<float>& params, int step, int rank) {
    const char* prefix = getenv("GPT2_TEST_DUMP_GRAD");
    if (!prefix) return;
    const std::string base = std::string(prefix) + ".step" + std::to_string(step);
    write_file_atomically(base + ".rank" + std::to_string(rank) + ".f32", nullptr, 0, grads.data(), grads.size() * sizeof(float));
    if (rank == 0) write_file_atomically(base + ".params.f32", nullptr, 0, params.data(), params.size() * sizeof(float));
}

// GPT2_TEST_DUMP_ZO=PREFIX (see the top): step S's parameters before it to
// PREFIX.step<S>.params.f32, its L+, L- and estimate (3 doubles) to PREFIX.step<S>.zo.f64 and
// its batch (inputs then targets, int32) to PREFIX.step<S>.batch.i32. Rank 0 only; called
// before the step (r null: the parameters) and after it (the rest).
static void dump_test_zero_order(const std::vector<float>& params, const ZoStepResult* r, const DataLoader& loader, int B, int T,
                                 int step, int rank) {
    const char* prefix = getenv("GPT2_TEST_DUMP_ZO");
    if (!prefix || rank != 0) return;
    const std::string base = std::string(prefix) + ".step" + std::to_string(step);
    if (!r) {
        write_file_atomically(base + ".params.f32", nullptr, 0, params.data(), params.size() * sizeof(float));
        return;
    }
    const double values[3] = {r->loss_plus, r->loss_minus, r->estimate};
    write_file_atomically(base + ".zo.f64", nullptr, 0, values, sizeof values);
    std::vector<int> batch(loader.inputs(), loader.inputs() + (size_t)B * T);
    batch.insert(batch.end(), loader.targets(), loader.targets() + (size_t)B * T);
    write_file_atomically(base + ".batch.i32", nullptr, 0, batch.data(), batch.size() * sizeof(int));
}

// --zo (common/zero_order.h): one zero-order step: the losses of the step's batch (every
// micro-batch, replayed from the same position, averaged over ranks) at the two perturbed
// weights, then the update. The "norm" column is |estimate| (MeZO's projected gradient,
// JAGUAR's rho).
static void zero_order_step(GPT2Cpu& model, CpuZeroOrder& zo, CpuOptimizer& optimizer, DataLoader& loader, const TrainConfig& cfg,
                            int step, int max_steps, int grad_accum, CpuDataParallel& dp, Comm& comm, int* skips, RunLog& log,
                            std::chrono::steady_clock::time_point t0, long total_batch) {
    const int B = cfg.batch_size, T = cfg.seq_len;
    const DataLoaderPosition batch_start = loader.position();
    auto batch_loss = [&]() {
        loader.restore(batch_start);
        double loss = 0;
        for (int micro = 0; micro < grad_accum; micro++) {
            loader.next_batch();
            loss += model.forward(loader.inputs(), loader.targets(), B, T) / grad_accum;
        }
        return dp.mean(loss);
    };
    const float lr_factor = lr_factor_at(cfg.schedule, step, max_steps);
    dump_test_zero_order(model.params, nullptr, loader, B, T, step + 1, comm.rank());
    const ZoStepResult r = zo.step(model.params.data(), optimizer, batch_loss, lr_factor, step + 1);
    dump_test_zero_order(model.params, &r, loader, B, T, step + 1, comm.rank());
    const double loss = r.loss(), norm = std::fabs(r.estimate);
    if (!cfg.skip_nonfinite && !std::isfinite(r.estimate)) leave_nonfinite_step_to(comm, 0, step + 1);
    if (skip_nonfinite_step(step + 1, max_steps, loss, norm, cfg, skips, log)) return; // the step left the weights as they were
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const double tokens_per_s = total_batch / (ms / 1000.0);
    printf("step %4d/%d | loss %.6f | lr %.3e | norm %.4f | %.1f ms | %.0f tok/s\n", step + 1, max_steps, loss,
           cfg.optim.lr * lr_factor, norm, ms, tokens_per_s);
    log.train(step, loss, cfg.optim.lr * lr_factor, norm, ms, tokens_per_s, (long)(step + 1) * total_batch, norm, norm,
              comm.size() > 1 ? 2 * (long long)sizeof(double) : -1);
}

static int train(int argc, char** argv) {
    // ---- flags
    TrainConfig cfg = cpu_trainer_defaults();  // a tiny model, minutes on 2 cores (-h lists what differs from train_gpt2cu)
    {
        // Every rank parses the same command line: a bad flag is one error line, rank 0's.
        const QuietStderrUnlessRank0 quiet;
        parse_train_args(argc, argv, &cfg);
        check_train_val_overlap(cfg.train_glob, cfg.val_glob, cfg.val_every > 0 && cfg.val_batches > 0, cfg.allow_train_val_overlap != 0,
                                cfg.overfit_single_batch != 0, &cfg.notes);
    }
    install_stop_handlers(); // SIGTERM, SIGUSR1, SIGINT: checkpoint after the step in flight, exit 75
    std::unique_ptr<Comm> comm_owner = make_host_comm(cfg.dist);
    Comm& comm = *comm_owner;
    const int rank = comm.rank(), ranks = comm.size();
    const bool root = rank == 0;
    cfg.dist.num_processes = ranks;
    if (!root && !freopen("/dev/null", "w", stdout)) fail_runtime("cannot silence stdout of rank %d", rank); // rank 0 speaks for the job
    check_ranks_agree(comm, cfg); // before any other collective: mixed settings hang or truncate them
    print_config_notes(cfg);
    SameOnEveryRank same_on_every_rank(comm); // until the data: an error here is one line, rank 0's
    check_data_parallel_flags(cfg.dist, cfg.optim.algorithm, ranks);
    const int B = cfg.batch_size, T = cfg.seq_len;

    // ---- model, after its memory plan
    const GPT2Config shape = model_shape(cfg);
    if (T > shape.max_seq_len) fail_usage("sequence length -t %d exceeds the model's maximum %d", T, shape.max_seq_len);
    check_memory(cfg, shape, ranks);
    GPT2Cpu model = build_model(cfg);
    const GPT2Config& mc = model.config;
    const size_t num_params = model.params.size();
    printf("model %s: L=%d C=%d heads=%d V=%d (padded %d), %zu parameters\n", cfg.model.c_str(), mc.num_layers,
           mc.channels, mc.num_heads, mc.vocab_size, mc.padded_vocab_size, num_params);

    // ---- batch and data
    const BatchPlan batch = plan_batch(cfg, ranks);
    const long tokens_per_micro = batch.tokens_per_micro, total_batch = batch.total_batch;
    const int grad_accum = batch.grad_accum;
    // every rank evaluates its share of HellaSwag; a bad file is the same error on every rank
    std::unique_ptr<HellaSwagEval> hellaswag(cfg.hellaswag ? new HellaSwagEval(cfg.hellaswag_path, B, T, mc.vocab_size) : nullptr);
    same_on_every_rank.end(); // each rank's own shards from here: its errors name it
    DataLoader train_loader(rank_train_glob(cfg.train_glob, rank), B, T, rank, ranks, cfg.shuffle != 0, cfg.data_seed);
    if (cfg.dist.rank_data_split) {
        SameOnEveryRank same_split(comm); // every rank reads all shards for the ranges: a refusal is one line, rank 0's
        train_loader.split_by_first_token(); // unequal data per rank (common/dataloader.h)
        if (root) printf("rank data split (first token): %s\n", train_loader.split_summary().c_str());
    }
    const bool validating = cfg.val_every > 0 && cfg.val_batches > 0;
    DataLoader* val_loader = validating ? new DataLoader(cfg.val_glob, B, T, rank, ranks, false, cfg.data_seed) : nullptr;
    const int val_batches = validating ? (int)std::min<long>(cfg.val_batches, val_loader->batches_per_epoch()) : 0;
    const int max_steps = plan_max_steps(cfg, train_loader.batches_per_epoch(), grad_accum);
    for (const std::string& n : notes_for_run_length(cfg, max_steps)) printf("note: %s\n", n.c_str());

    Tokenizer tokenizer;
    if (cfg.sample_every > 0 && root) tokenizer.load(cfg.tokenizer_path);

    // ---- optimizer
    const OptimConfig& oc = cfg.optim;
    CpuOptimizer optimizer(oc, mc, CpuDataParallel::zero1_state_ranges(cfg.dist, oc, mc, ranks, rank)); // -z 1: this rank's part only
    CpuDataParallel dp(comm, cfg.dist, optimizer, num_params);
    dp.set_seed(cfg.seed);
    print_run_plan(cfg, batch, max_steps);
    std::unique_ptr<CpuZeroOrder> zero_order(cfg.zo.on() ? new CpuZeroOrder(cfg.zo, mc, cfg.seed) : nullptr);
    if (zero_order) print_zero_order_plan(cfg.zo);
    const long long comm_bytes = dp.comm_bytes_per_step();
    if (ranks > 1 && cfg.zo.on()) {
        printf("data parallel: %d processes (%s), --zo: each rank its own batch, the two losses all-reduced (16 bytes per step)\n",
               ranks, comm.backend());
    } else if (ranks > 1) {
        printf("data parallel: %d processes (%s), %s; %lld bytes sent per rank per step (%.2f MB)\n", ranks, comm.backend(),
               dp_scheme_name(dp.scheme(), cfg.dist.vote_bits).c_str(), comm_bytes, comm_bytes / 1e6);
        if (dp.sharded())
            printf("optimizer state: this rank keeps %.2f MB of the whole %.2f MB\n", dp.state_floats() * 4 / 1e6,
                   dp.full_state_floats() * 4 / 1e6);
    }

    // ---- output, checkpoints, resume (rank 0 owns the directory; every rank reads the
    // checkpoint, so -o must be a directory every rank sees)
    const bool writing = !cfg.output_dir.empty() && root;
    if (writing) claim_output_dir(cfg.output_dir, cfg.resume != 0, cfg.overwrite != 0);
    comm.barrier(); // the directory is claimed (and --overwrite done) before any rank looks into it
    const bool measuring_noise = cfg.noise_every > 0;
    DataLoader* noise_loader =
        measuring_noise ? new DataLoader(cfg.train_glob, B, T, rank, ranks, true, noise_loader_seed(cfg.data_seed)) : nullptr;
    GradientNoiseAccumulator* noise_acc = measuring_noise ? new GradientNoiseAccumulator(num_params) : nullptr;
    const bool measuring_tail = cfg.tail_index_every > 0;
    std::unique_ptr<DataLoader> tail_loader(measuring_tail ? new DataLoader(cfg.train_glob, 1, T, rank, ranks, true, tail_loader_seed(cfg.data_seed)) : nullptr);
    std::unique_ptr<TailIndexSampler> tail_sampler(
        measuring_tail ? new TailIndexSampler(tail_index_slice(mc, cfg.tail_index_wte, tail_index_layer(cfg, mc.num_layers)), cfg.tail_index_samples)
                       : nullptr);
    int start_step = 0, skips = 0;
    const RunShape run_shape{B, T, total_batch, cfg.train_glob, cfg.val_glob, ranks, cfg.shuffle, cfg.dist.sign_vote,
                             optim_group_rules_string(cfg.optim), cfg.data_seed,
                             zo_settings_name(cfg.zo), cfg.dist.rank_data_split};
    int resume_step = cfg.resume ? latest_checkpoint_step(cfg.output_dir) : -1;
    comm.broadcast(&resume_step, 1, CommDtype::I32, 0); // rank 0's view of the directory decides
    int done = cfg.resume && root && resume_step == max_steps && run_done(cfg.output_dir, max_steps);
    comm.broadcast(&done, 1, CommDtype::I32, 0);
    if (done) { // llm.c's restart loop ends here
        printf("already done at step %d: %s exists\n", max_steps, done_marker_path(cfg.output_dir, max_steps).c_str());
        return 0;
    }
    if (resume_step >= 0) {
        SameOnEveryRank same_resume(comm); // every rank reads the same checkpoint: a refusal is one line, rank 0's
        const TrainingState st = load_checkpoint(cfg.output_dir, resume_step, mc, cfg.seed, run_shape, max_steps, model.params.data(), dp.resume_state(),
                                                 dp.own_rank_state());
        train_loader.restore(st.train_pos);
        if (noise_loader) noise_loader->restore(st.noise_pos);
        same_resume.end();
        start_step = st.step;
        skips = st.skips;
        printf("resuming from the checkpoint of step %d in %s\n", start_step, cfg.output_dir.c_str());
    } else if (cfg.resume) {
        printf("no complete checkpoint in %s: starting from step 0\n", cfg.output_dir.c_str());
    }
    RunLog log;
    if (writing) open_run_log(&log, cfg, argc, argv, "cpu", num_params, total_batch, max_steps, resume_step, cpu_kernels());
    auto checkpoint = [&](int step) {
        if (cfg.output_dir.empty()) return;
        const std::vector<StateTensorRef> optim_state = dp.checkpoint_state();   // collective: -z 1's shards to rank 0
        const std::vector<StateTensorRef> rank_state = dp.gather_rank_state(); // collective: the vote's per-rank momenta
        if (!writing) {
            dp.release_checkpoint_state();
            return;
        }
        TrainingState st;
        st.step = step;
        st.skips = skips;
        st.seed = cfg.seed;
        st.run = run_shape;
        st.train_pos = train_loader.position();
        if (noise_loader) st.noise_pos = noise_loader->position();
        save_checkpoint(cfg.output_dir, mc, model.params.data(), st, optim_state, cfg.keep_checkpoints, rank_state);
        dp.release_checkpoint_state();
        printf("wrote checkpoint %s/{model,state}_%08d.bin\n", cfg.output_dir.c_str(), step);
    };
    const int nan_step = test_nan_grad_step(rank);
    MatmulProfile profile(cfg.profile_kernels != 0);

    int stopped_by = 0; // the signal every rank agreed to stop on (common/stop_request.h)
    // Rank 0 with -o: the parameters before the step's update, for the train record's per-group
    // update norms (every step writes a train record). Copied before the step's timer starts:
    // forward, backward and ssvr's detour to its previous parameters leave them as they are.
    std::vector<float> params_before;

    // ---- the loop
    for (int step = start_step; step <= max_steps; step++) {
        const bool last = step == max_steps;
        if (validating && (step % cfg.val_every == 0 || last)) {
            const float val_loss = validation_loss(model, *val_loader, val_batches, B, T, dp);
            printf("step %d: val loss %.6f\n", step, val_loss);
            log.val(step, val_loss, (long)step * total_batch);
        }
        // llm.c's schedule: at every validation step after step 0, and at the end
        if (hellaswag && ((cfg.val_every > 0 && step > 0 && step % cfg.val_every == 0) || last)) {
            const int correct = hellaswag_correct(model, *hellaswag, B, T, comm);
            printf("step %d: HellaSwag %d/%d = %.4f\n", step, correct, hellaswag->num_examples(),
                   (double)correct / hellaswag->num_examples());
            log.eval(step, correct, hellaswag->num_examples(), (long)step * total_batch);
        }
        if (measuring_noise && noise_due(cfg, step, last)) {
            const NoiseDensityResult nd = measure_noise_density(model, *noise_loader, *noise_acc, cfg.noise_batches, B, T, comm);
            printf("step %d: gradient noise phi %.5f, mean density %.5f, tail index %.4f (%d batches)\n", step, nd.all.phi,
                   nd.all.mean_density, nd.all.tail_index, cfg.noise_batches);
            log.noise(step, nd, cfg.noise_batches, (long)B * T * ranks);
        }
        if (measuring_tail && tail_index_due(cfg, step, last)) {
            const TailIndexStats ts = measure_tail_index(model, *tail_loader, *tail_sampler, cfg.tail_index_samples, T, step, rank, dp);
            printf("step %d: tail index %s %.4f, 25 coordinates %.4f (%d sequences of %d tokens per rank; finite variance reads %.4f)\n",
                   step, tail_sampler->slice().name.c_str(), ts.alpha, ts.coord_mean(), cfg.tail_index_samples, T,
                   tail_index_gaussian(cfg.tail_index_samples));
            log.tail(step, tail_sampler->slice().name, cfg.tail_index_samples, T, ranks, ts, tail_sampler->coords());
        }
        if (root && cfg.sample_every > 0 && step > 0 && (step % cfg.sample_every == 0 || last))
            print_sample(model, tokenizer, cfg.gen_tokens, cfg.seed, step);
        if (last) {
            if (max_steps == 0 && resume_step < 0) checkpoint(0); // -x 0: the untrained model, for llm.c or PyTorch
            break;
        }

        if (log.active() && !zero_order) params_before = model.params;
        const auto t0 = std::chrono::steady_clock::now();
        if (cfg.overfit_single_batch) train_loader.reset(); // -a 1: the same batch every step
        if (zero_order) {
            zero_order_step(model, *zero_order, optimizer, train_loader, cfg, step, max_steps, grad_accum, dp, comm, &skips, log, t0,
                            total_batch);
        } else {
        model.zero_grad();
        double loss = 0;
        const DataLoaderPosition batch_start = train_loader.position(); // ssvr replays the step's batches
        profile.begin_step(step > start_step); // the first step warms up
        for (int micro = 0; micro < grad_accum; micro++) {
            train_loader.next_batch();
            loss += model.forward(train_loader.inputs(), train_loader.targets(), B, T) / grad_accum;
            model.backward(1.0f / ((float)tokens_per_micro * grad_accum * dp.gradient_divisor()));
        }
        profile.end_matmuls();
        if (step + 1 == nan_step) model.grads[0] = NAN;
        // A non-finite step is reported by the lowest rank where it arose (rank 0 when only
        // the sum overflowed); the others wait in a barrier until that rank ends the job.
        const int nonfinite_rank = dp.first_nonfinite_rank(loss, model.grads.data());
        loss = dp.mean(loss);
        dp.reduce_gradients(model.grads.data());
        const GradNorms norms = dp.norms(model.grads.data());
        const double norm = norms.l2;
        if (!cfg.skip_nonfinite && !(std::isfinite(loss) && std::isfinite(norm))) leave_nonfinite_step_to(comm, std::max(0, nonfinite_rank), step + 1);
        if (!skip_nonfinite_step(step + 1, max_steps, loss, norm, cfg, &skips, log)) {
            dp.scale(model.grads.data(), clip_scale(norm, oc.grad_clip));
            const float lr_factor = lr_factor_at(cfg.schedule, step, max_steps);
            if (oc.algorithm == Algorithm::SSVR)
                ssvr_gradients(model, optimizer, train_loader, batch_start, grad_accum, B, T, oc.grad_clip, step + 1, dp);
            dump_test_gradient(model.grads, model.params, step + 1, rank);
            dp.step(model.params.data(), model.grads.data(), lr_factor, step + 1);
            const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
            double update_sq[NUM_OPTIM_GROUPS] = {};
            if (log.active())
                add_update_sq_per_group(optimizer.groups(), params_before.data(), model.params.data(), 0, num_params, update_sq);
            profile.end_step(ms);
            const double tokens_per_s = total_batch / (ms / 1000.0);
            printf("step %4d/%d | loss %.6f | lr %.3e | norm %.4f | %.1f ms | %.0f tok/s\n", step + 1, max_steps, loss,
                   oc.lr * lr_factor, norm, ms, tokens_per_s);
            log.train(step, loss, oc.lr * lr_factor, norm, ms, tokens_per_s, (long)(step + 1) * total_batch, norms.l1, norms.linf,
                      ranks > 1 ? comm_bytes : -1, log.active() ? update_norms_of(update_sq) : std::vector<std::pair<std::string, double>>{},
                      dp.vote_agreement());
        }
        }
        // Right after the update, before the next step's val and noise batches, so a resumed run
        // redoes exactly those; the last step always gets one.
        const bool checkpointed = step + 1 == max_steps || (cfg.checkpoint_every > 0 && (step + 1) % cfg.checkpoint_every == 0);
        if (checkpointed) checkpoint(step + 1);
        // a stop signal on any rank: every rank stops after this update (the last one finishes normally)
        int agreed = local_stop_signal();
        comm.all_reduce_max(&agreed, 1, CommDtype::I32);
        if ((stopped_by = stop_after_update(agreed, step + 1, max_steps, checkpointed, cfg.output_dir, checkpoint))) break;
    }
    if (!stopped_by && writing) write_done_marker(cfg.output_dir, max_steps);
    profile.print();
    delete val_loader;
    delete noise_loader;
    delete noise_acc;
    return stopped_by ? EXIT_PREEMPTED : 0;
}

int main(int argc, char** argv) {
    line_buffer_stdout();
    try {
        return train(argc, argv);
    } catch (const std::bad_alloc&) { // what the memory plan did not foresee
        fflush(stdout);
        fail_usage("out of memory: an allocation failed (std::bad_alloc) with %.2f GiB available; try a smaller -b or -t",
                   mem_available_bytes() / 1073741824.0);
    }
}
