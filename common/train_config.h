// Command-line flags shared by train_gpt2cpu and train_gpt2cu. Letters follow llm.c where
// llm.c has the flag; everything else is a long option. Bad flags and impossible values
// are one-line errors with exit code 2.
#pragma once
#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "../optim/optim_config.h"
#include "comm.h"
#include "gpt2_layout.h"
#include "utils.h"
#include "zero_order_config.h"

struct TrainConfig {
    // data
    std::string train_glob = "data/tinyshakespeare/tiny_shakespeare_train.bin"; // -i
    std::string val_glob = "data/tinyshakespeare/tiny_shakespeare_val.bin";     // -j
    std::string tokenizer_path = "data/gpt2_tokenizer.bin";                     // --tokenizer
    std::string output_dir;        // -o: logs and checkpoints; empty: none
    std::string model = "d12";     // -e: a model name (d12, ...) or an llm.c model file
    int batch_size = 4;            // -b: micro-batch B
    int seq_len = 1024;            // -t: T
    long total_batch_tokens = -1;  // -d: tokens per optimizer step; -1: B*T (no accumulation)
    int max_steps = -1;            // -x: -1: one epoch of the training shards
    int val_every = 20;            // -v (0: never)
    int val_batches = 20;          // -m
    int checkpoint_every = 0;      // -n (0: only at the end, when -o is set)
    int sample_every = 0;          // -s (0: never)
    int gen_tokens = 64;           // -g
    int recompute = 0;             // -r: recompute GELU in backward (CUDA trainer)
    std::string attention = "auto"; // --attention auto|flash|cublas (CUDA trainer; train_gpt2cpu has one attention)
    int profile_kernels = 0;       // --profile-kernels: per-phase GPU time table after the run (CUDA trainer)
    int shuffle = 1;               // --no-shuffle sets 0
    unsigned long long seed = 42;  // --seed: init, data order (unless --data-seed), sampling
    unsigned long long data_seed = 0; // --data-seed: the data order; --seed's value unless given
    bool data_seed_given = false;
    int resume = 0;                // -y 1: resume from the latest complete checkpoint in -o
    int keep_checkpoints = 0;      // --keep K: keep the newest K checkpoints (0: keep all)
    int overwrite = 0;             // --overwrite: a fresh run may delete the checkpoints already in -o
    int allow_train_val_overlap = 0; // --allow-train-val-overlap: -i and -j may share files (common/dataloader.h)
    int skip_nonfinite = 0;        // --skip-nonfinite: skip a non-finite step instead of stopping
    int noise_every = 0;           // --noise-every N: gradient-noise density every N steps (0: never)
    int noise_batches = 8;         // --noise-batches K: micro-batch gradients per estimate
    std::vector<std::pair<int, int>> noise_windows; // --noise-windows A:B,...: measure only at steps in [A, B)
    int tail_index_every = 0;      // --tail-index-every N: the heavy-tail paper's tail index every N steps (0: never)
    int tail_index_samples = 1250; // --tail-index-samples K: single-sequence gradients per rank and estimate
    int tail_index_layer = -1;     // --tail-index-tensor qkvw:LAYER (-1: the middle layer, L/2)
    bool tail_index_wte = false;   // --tail-index-tensor wte: 2,048 fixed random rows of wte
    int hellaswag = 0;             // -h 1: HellaSwag accuracy at every validation (common/hellaswag.h)
    std::string hellaswag_path = "data/hellaswag/hellaswag_val.bin"; // --hellaswag FILE
    std::string init = "counter";  // --init counter|llmc: this project's generator or llm.c's mt19937 init
    int overfit_single_batch = 0;  // -a 1: train on the first val batch, every step (llm.c's debug mode)
    std::vector<std::string> notes; // one line each for llm.c flags accepted but without effect here
    DistConfig dist;               // -pn -pr -pg -pi -pf -ps -z --sign-vote --byzantine (common/comm.h)
    OptimConfig optim;
    ScheduleConfig schedule;
    ZoConfig zo;                   // --zo, --zo-eps, --zo-tau, --zo-beta, --zo-fraction (common/zero_order.h)
};

// Each trainer's defaults. train_gpt2cpu: a tiny model that visibly learns Tiny Shakespeare
// and prints a sample in minutes on 2 cores; train_gpt2cu: llm.c's GPT-2 (124M) run.
inline TrainConfig cpu_trainer_defaults() {
    TrainConfig c;
    c.model = "d2";
    c.batch_size = 8;
    c.seq_len = 128;
    c.max_steps = 150;
    c.val_every = 50;
    c.val_batches = 8;
    c.sample_every = 150;
    return c;
}
inline TrainConfig gpu_trainer_defaults() {
    TrainConfig c;
    c.batch_size = 64;
    c.seq_len = 1024;
    c.total_batch_tokens = 524288;
    return c;
}
// "-e d2 / d12, -b 8 / 64, ...": the defaults in which the two trainers differ.
inline std::string trainer_default_differences() {
    const TrainConfig a = cpu_trainer_defaults(), b = gpu_trainer_defaults();
    const std::vector<std::pair<std::string, std::pair<std::string, std::string>>> flags = {
        {"-e", {a.model, b.model}},
        {"-b", {std::to_string(a.batch_size), std::to_string(b.batch_size)}},
        {"-t", {std::to_string(a.seq_len), std::to_string(b.seq_len)}},
        {"-d", {std::to_string(a.total_batch_tokens), std::to_string(b.total_batch_tokens)}},
        {"-x", {std::to_string(a.max_steps), std::to_string(b.max_steps)}},
        {"-v", {std::to_string(a.val_every), std::to_string(b.val_every)}},
        {"-m", {std::to_string(a.val_batches), std::to_string(b.val_batches)}},
        {"-s", {std::to_string(a.sample_every), std::to_string(b.sample_every)}},
    };
    std::string out;
    for (const auto& f : flags)
        if (f.second.first != f.second.second) out += (out.empty() ? "" : ", ") + f.first + " " + f.second.first + " / " + f.second.second;
    return out;
}

inline void print_train_usage(const char* prog, const TrainConfig& d) {
    printf("usage: %s [flags]\n", prog);
    printf("data and model:\n");
    printf("  -i GLOB      train token shards (default %s)\n", d.train_glob.c_str());
    printf("  -j GLOB      val token shards (default %s)\n", d.val_glob.c_str());
    printf("  --tokenizer F  GPT-2 tokenizer file for samples (default %s)\n", d.tokenizer_path.c_str());
    printf("  -o DIR       output directory for main.log and checkpoints (default: none)\n");
    printf("  -e MODEL     d2|d4|d6|d12|d24|d36|d48, or an llm.c model file (default %s)\n", d.model.c_str());
    printf("  -b B         micro-batch size (default %d)\n", d.batch_size);
    printf("  -t T         sequence length, at most 1024 (default %d)\n", d.seq_len);
    printf("  -d TOKENS    total batch in tokens, a multiple of B*T (default %ld: B*T when -1)\n", d.total_batch_tokens);
    printf("  -r 0|1       recompute GELU in the backward pass to save memory (default %d)\n", d.recompute);
    printf("  --attention A  auto|flash|cublas: flash attention (bf16, head size 64, compute capability 8.0+;\n"
           "               auto: where it applies) or cuBLAS + softmax; train_gpt2cu only (default %s)\n", d.attention.c_str());
    printf("  --profile-kernels  after the run: per-phase GPU times (CUDA events, train_gpt2cu); the matmuls' share of\n"
           "               the step and their GFLOP/s (train_gpt2cpu)\n");
    printf("  --seed N     seed for init, sampling, the vote noise and (without --data-seed) the data order (default %llu)\n", d.seed);
    printf("  --data-seed N  seed for the data order alone (shuffled shards and windows, and the noise loaders'\n"
           "               draws): a run varies its init and its data apart (default: --seed's value)\n");
    printf("  --init I     counter|llmc: this project's counter-based init, or llm.c's train_gpt2.cu init\n"
           "               (its mt19937 and fill order, seeded with --seed; llm.c always uses 42) (default %s)\n", d.init.c_str());
    printf("  --no-shuffle read shards and samples in order\n");
    printf("  --allow-train-val-overlap  let -i and -j match the same file (default: refused while validating: the val\n"
           "               loss would be measured on training data)\n");
    printf("loop:\n");
    printf("  -x STEPS     optimizer steps, 0: evaluate only (with -o, writes model_00000000.bin) (default %d: one epoch)\n", d.max_steps);
    printf("  -v N         validate every N steps, 0 never (default %d)\n", d.val_every);
    printf("  -m N         val batches (default %d)\n", d.val_batches);
    printf("  -n N         checkpoint every N steps, 0: only at the end (default %d)\n", d.checkpoint_every);
    printf("  -s N         sample every N steps, 0 never (default %d)\n", d.sample_every);
    printf("  -g N         tokens to generate per sample (default %d)\n", d.gen_tokens);
    printf("  -h 0|1       HellaSwag accuracy at every validation after step 0 and at the end (default %d)\n", d.hellaswag);
    printf("  --hellaswag F  llm.c eval file for -h 1, made by data/hellaswag.py (default %s)\n", d.hellaswag_path.c_str());
    printf("  -a 0|1       overfit a single batch: the first val batch, every step (default %d)\n", d.overfit_single_batch);
    printf("  -y 0|1       resume from the latest complete checkpoint in -o, if any (default %d)\n", d.resume);
    printf("  --keep K     keep only the newest K checkpoints, 0: keep all (default %d)\n", d.keep_checkpoints);
    printf("  --overwrite  a fresh run (-y 0) deletes the checkpoints already in -o (default: refuse to start)\n");
    printf("  --skip-nonfinite  skip a step whose loss or gradient norm is not finite (default: stop)\n");
    printf("  --noise-every N   gradient-noise density phi every N steps, 0 never (default %d)\n", d.noise_every);
    printf("  --noise-batches K micro-batch gradients per phi estimate, at least 2 (default %d)\n", d.noise_batches);
    printf("  --noise-windows A:B,C:D  measure only at steps A, A+N, ... below B (N: --noise-every), in each window;\n"
           "               not at the end unless a window holds it (default: every N steps and at the end)\n");
    printf("  --tail-index-every N  the heavy-tail paper's tail index every N steps and at the end, 0 never (default %d):\n"
           "               single-sequence gradients (B = 1) of one tensor, centred, Mohammadi's block estimator\n", d.tail_index_every);
    printf("  --tail-index-samples K  single-sequence gradients per rank and estimate, at least 4 (default %d)\n", d.tail_index_samples);
    printf("  --tail-index-tensor qkvw:LAYER|wte  the tensor: layer LAYER's qkvw, or 2,048 fixed random rows of wte\n"
           "               (default qkvw of the middle layer, L/2)\n");
    printf("optimizer (defaults marked * depend on --optim):\n");
    printf("  --optim NAME sgd|signsgd|signum|adamw|lion|muon|fmuon|smuon|nsgd|ssvr (default %s)\n", algorithm_name(d.optim.algorithm));
    printf("  -l LR        peak learning rate (* sgd 1e-2, signsgd/signum/lion/ssvr 1e-4, adamw 6e-4, muon/fmuon/smuon 2e-2\n"
           "               (6e-4 with --muon-scale rms), nsgd 1e-3 (0.1 with --nsgd-norm global))\n");
    printf("  --momentum M momentum of sgd, signum, muon, nsgd; ssvr's 1 - beta (* 0.9, muon 0.95)\n");
    printf("  --nesterov 0|1  Nesterov momentum for sgd, muon (* sgd 0, muon 1)\n");
    printf("  --beta1 B    adamw/lion beta1 (* 0.9)\n");
    printf("  --beta2 B    adamw/lion beta2 (* adamw 0.95, lion 0.99)\n");
    printf("  --eps E      adamw epsilon (default %g)\n", d.optim.eps);
    printf("  -c WD        weight decay (default %g)\n", d.optim.weight_decay);
    printf("  --wd-on SET  matrices|hidden|all: 2-D weights incl. embeddings, hidden matrices only, everything (default %s)\n", wd_on_name(d.optim.wd_on));
    printf("  --grad-clip N  global gradient-norm clip, 0 off (default %g)\n", d.optim.grad_clip);
    printf("  --muon-ns-steps N  Newton-Schulz iterations (default %d)\n", d.optim.muon_ns_steps);
    printf("  --muon-fallback NAME  optimizer for muon's non-matrix params (default %s)\n", algorithm_name(d.optim.muon_fallback));
    printf("  --muon-scale S  shape: lr * sqrt(max(1, rows/cols)); rms: lr * 0.2 * sqrt(max(rows, cols)), and the\n"
           "               fallback at muon's lr, default lr 6e-4 (default %s)\n", muon_scale_name(d.optim.muon_scale));
    printf("  --muon-ns N  quintic|polar-express Newton-Schulz coefficients (default %s)\n", muon_ns_name(d.optim.muon_ns));
    printf("  --fallback-lr LR  its learning rate (* the fallback's default lr)\n");
    printf("  --optim-group GROUP=RULE[:LR]  repeatable: GROUP (wte|wpe|attn: qkvw, attprojw|mlp: fcw, fcprojw|norms:\n"
           "               LayerNorm weights and all biases) trains with RULE (sgd|signsgd|signum|adamw|lion; muon for\n"
           "               attn|mlp under --optim muon) at LR (* RULE's default lr), with its own state and RULE's own\n"
           "               momentum/betas unless --momentum/--nesterov/--beta1/--beta2 are given (docs/param_groups.md)\n");
    printf("  --fanion-alpha A  fmuon, smuon: U = (1-A) scale NS(M) + A M/||M||_F (fmuon) or A s sign(M) (smuon),\n"
           "               A in [0, 1]; the muon-* flags and -z 1 apply as under muon (default %g)\n", d.optim.fanion_alpha);
    printf("  --smuon-sign-scale S  smuon: s > 0 (default %g)\n", d.optim.smuon_sign_scale);
    printf("  --nsgd-norm N  tensor|global: nsgd normalizes each layer slice's gradient, g/(||g||+1e-8), before the\n"
           "               momentum (the heavy-tail paper's NSGD), or steps by m/||m|| over the whole model (default %s)\n",
           nsgd_norm_name(d.optim.nsgd_norm));
    printf("zero-order training (forward passes only, no gradients; common/zero_order.h, docs/zero_order.md):\n");
    printf("  --zo M       mezo|jaguar-sign|jaguar-muon: MeZO's Gaussian two-point estimate and an SGD step (lr * 1e-6),\n"
           "               or JAGUAR's coordinate momentum with a sign step / Newton-Schulz on the hidden matrices\n"
           "               (lr * 1e-4); constant schedule unless --schedule is given (default off)\n");
    printf("  --zo-eps E   mezo: losses at W + E z and W - E z (default %g)\n", d.zo.eps);
    printf("  --zo-tau T   jaguar: losses at W + T s and W - T s on the sampled coordinates (default %g)\n", d.zo.tau);
    printf("  --zo-beta B  jaguar: m = B m + (1 - B) rho on the sampled coordinates (default %g)\n", d.zo.beta);
    printf("  --zo-fraction F  jaguar: samples F of a vector's entries, F of a matrix's rows x F of its columns (default %g)\n",
           d.zo.fraction);
    printf("schedule:\n");
    printf("  --schedule S cosine|linear|constant|wsd (default %s)\n", schedule_name(d.schedule.kind));
    printf("  -u N         warmup steps (default %d)\n", d.schedule.warmup_steps);
    printf("  --warmup-init F  lr fraction the warmup starts from (default %g)\n", d.schedule.warmup_init);
    printf("  --warmup-shape S  linear|cos: llm.c's linear ramp, or OneCycleLR's cosine ramp from --warmup-init to 1\n"
           "               at step N-1, the decay then starting there (default %s)\n", warmup_shape_name(d.schedule.warmup_shape));
    printf("  -q F         final lr as a fraction of the peak (default %g)\n", d.schedule.final_lr_frac);
    printf("  -k S         the same as --schedule (llm.c's flag)\n");
    printf("  --wsd-decay-frac F  wsd: share of steps spent decaying (default %g)\n", d.schedule.wsd_decay_frac);
    printf("  --wsd-shape S  sqrt|linear: wsd decays as 1 - sqrt(progress) (llm.c) or linearly (default %s)\n",
           wsd_shape_name(d.schedule.wsd_shape));
    printf("data parallel (mpirun -np N ./trainer ..., or one launch per process with -pn/-pr):\n");
    printf("  -z 0|1       0: all-reduce the gradients; 1: ZeRO-1, each rank updates its shard of the optimizer state (default %d)\n", d.dist.zero_stage);
    printf("  -pn N        processes in the job (default: the launcher's OMPI_COMM_WORLD_SIZE, PMI_SIZE or SLURM_NTASKS, else %d)\n", d.dist.num_processes);
    printf("  -pr R        this process's rank (default: OMPI_COMM_WORLD_RANK, PMI_RANK or SLURM_PROCID, else %d);\n"
           "               a flag that contradicts the launcher's value is an error\n", d.dist.process_rank);
    printf("  -pg G        GPUs per node: the local rank is R %% G when the launcher gives none (default %d);\n"
           "               the GPU is local rank %% visible GPUs (one visible per rank: GPU 0)\n", d.dist.gpus_per_node);
    printf("  -pi M        mpi|fs|tcp: how the ranks meet (default %s)\n", d.dist.init_method.c_str());
    printf("  -pf DIR      -pi fs: a directory every rank sees (default %s)\n", d.dist.fs_path.c_str());
    printf("  -ps ADDR     -pi tcp: rank 0's address\n");
    printf("               -pi fs|tcp: rank 0's id file (fs) carries a random job token and a beat, so a stale\n"
           "               ncclUniqueId.bin from a killed job is ignored (and removed by rank 0); a lost rank or a\n"
           "               failing one ends every rank within seconds (one line). GPT2_DIST_TIMEOUT=S (default 120):\n"
           "               the rendezvous and NCCL's init wait at most S s; GPT2_COMM_TIMEOUT=S (default 600): a\n"
           "               collective pending S s after every rank reached it ends the job\n");
    printf("  --sign-vote 0|1  signsgd/signum: majority vote of the ranks' 1-bit signs (default %d)\n", d.dist.sign_vote);
    printf("  --vote-bits 1|2|8  the vote's wire format: 1-bit signs (sign(0) = +1), 2-bit (sign(0) = 0), both all-gathered,\n"
           "               or int8 signs all-reduced (fewer bytes beyond 16 ranks) (default %d)\n", d.dist.vote_bits);
    printf("  --byzantine K  research: K ranks send negated signs (with --sign-vote; default %d)\n", d.dist.byzantine);
    printf("  --byzantine-mode blind|omniscient  blind: the K ranks negate their own signs; omniscient: they collude and all\n"
           "               vote -sign(mean honest gradient), learnt by an extra all-reduce (docs/byzantine_vote.md; default %s)\n",
           d.dist.byzantine_omniscient ? "omniscient" : "blind");
    printf("  --vote-noise C  noisy vote (Chen et al. 2020): each rank signs g + b xi, xi ~ N(0, I), b = C x max over ranks of\n"
           "               ||g||_inf per tensor; 0: off (with --sign-vote; default %g)\n", d.dist.vote_noise);
    printf("  --rank-data-split none|first-token  first-token: rank r of N trains only on the documents (EOT-delimited)\n"
           "               whose first token id is in the r-th of N equal-mass id ranges: unequal data per rank (default %s)\n",
           d.dist.rank_data_split ? "first-token" : "none");
    printf("  --vote-agreement 0|1  diagnostic (train_gpt2cpu): each train record gets vote_mean_agree, the fraction of\n"
           "               coordinates where the vote equals sign(mean of the ranks' unperturbed values), vote_mean_agree_w,\n"
           "               that fraction weighted by |mean|, and vote_expected_mean_agree(_w), the same for the sign of the\n"
           "               vote's expected tally under --vote-noise; two extra fp32 all-reduces per step, not in comm_bytes\n"
           "               (docs/byzantine_vote.md; default %d)\n",
           d.dist.vote_agreement);
    printf("  every rank must run the same settings (flags, -e file, the files -i/-j match): checked at start-up, one line\n"
           "  naming the flag otherwise (exit 2). GPT2_COMM_TIMEOUT=S (environment, default 600): an MPI collective waiting\n"
           "  longer ends the job, naming the rank that never arrived\n");
    printf("llm.c flags accepted for its command lines (a one-line note says when one has no effect here):\n");
    printf("  -w 0|1       fp32 master weights: always kept here; -w 0 is ignored\n");
    printf("  -ge N        GELU fusion: train_gpt2cu fuses it into the forward matmul (bf16 build); ignored\n");
    printf("  -sl Z, -sg Z skip an update by loss / gradient-norm z-score: not implemented, non-zero is ignored\n");
    printf("  -f 0|1       here: --attention cublas|auto (llm.c: the TF32 switch of fp32 builds)\n");
    printf("  -nk K        the same as --keep K\n");
    printf("  -nm M        major checkpoints: not implemented (--keep deletes any old one), non-zero is ignored\n");
    printf("  -lg N        GPU info every N steps: not implemented, ignored\n");
    printf("  --help       this help (also a bare -h as the last word; -h with a value is HellaSwag)\n");
    printf("stop and restart: SIGTERM, SIGUSR1 (Slurm's --signal=USR1@120) or SIGINT ends the step in flight, writes its\n"
           "  checkpoint (with -o) and exits 75; a third signal ends the process at once. The final checkpoint writes\n"
           "  DONE_<step> in -o; -y 1 on that run exits 0 (already done), as llm.c's restart loop expects.\n");
    printf("exit codes: 0 done (or already done), 1 runtime error (bad data, non-finite step, out of memory, lost rank),\n"
           "  2 usage error (bad flag, impossible configuration), 75 stopped by a signal after its checkpoint (resume: -y 1)\n");
    printf("defaults shown are this trainer's; train_gpt2cpu / train_gpt2cu differ in: %s\n", trainer_default_differences().c_str());
}

namespace train_config_detail {
inline long parse_long(const std::string& flag, const char* v) {
    char* end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno == ERANGE) fail_usage("flag %s: %s is too %s", flag.c_str(), v, *v == '-' ? "small" : "large");
    if (*v == '\0' || *end != '\0' || errno) fail_usage("flag %s wants an integer, got '%s'", flag.c_str(), v);
    return x;
}
// An int flag in [lo, hi]; the range is checked on the 64-bit value, before narrowing, so
// 4294967297 is "too large", never 1.
inline int parse_int(const std::string& flag, const char* v, long lo = INT_MIN, long hi = INT_MAX) {
    const long x = parse_long(flag, v);
    if (x > hi) fail_usage("flag %s: %s is too large (at most %ld)", flag.c_str(), v, hi);
    if (x < lo) fail_usage("flag %s: %s is too small (at least %ld)", flag.c_str(), v, lo);
    return (int)x;
}
inline unsigned long long parse_seed(const std::string& flag, const char* v) {
    char* end;
    errno = 0;
    const unsigned long long x = strtoull(v, &end, 10);
    if (*v == '\0' || *v == '-' || *end != '\0' || errno) fail_usage("flag %s wants a non-negative integer below 2^64, got '%s'", flag.c_str(), v);
    return x;
}
inline float parse_float(const std::string& flag, const char* v) {
    char* end;
    float x = strtof(v, &end);
    if (*v == '\0' || *end != '\0' || !std::isfinite(x)) fail_usage("flag %s wants a number, got '%s'", flag.c_str(), v);
    return x;
}
// --optim-group GROUP=RULE[:LR] (optim/param_groups.h): one group's rule and lr. The rules
// are the element-wise ones that update each tensor on its own (sgd, signsgd, signum, adamw,
// lion), and muon for the matrix groups attn and mlp; nsgd and ssvr are not group rules.
// Checks what the value alone decides; parse_train_args checks the rest after every flag.
inline GroupRule parse_optim_group(const char* v) {
    const std::string all = v;
    const size_t eq = all.find('=');
    if (eq == std::string::npos) fail_usage("--optim-group wants GROUP=RULE[:LR], got '%s'", v);
    GroupRule r;
    const std::string group = all.substr(0, eq), rest = all.substr(eq + 1);
    if (!optim_group_from_name(group, &r.group))
        fail_usage("--optim-group %s: unknown group '%s' (wte|wpe|attn|mlp|norms)", v, group.c_str());
    const size_t colon = rest.find(':');
    const std::string rule = rest.substr(0, colon);
    if (!algorithm_from_name(rule, &r.rule))
        fail_usage("--optim-group %s: unknown rule '%s' (sgd|signsgd|signum|adamw|lion, or muon for attn|mlp)", v, rule.c_str());
    if (r.rule == Algorithm::NSGD || r.rule == Algorithm::SSVR) // a norm over many tensors, a second gradient pass
        fail_usage("--optim-group %s: %s is not a group rule (sgd|signsgd|signum|adamw|lion, or muon for attn|mlp)", v, rule.c_str());
    if (r.rule == Algorithm::Muon && r.group != OptimGroup::Attn && r.group != OptimGroup::Mlp)
        fail_usage("--optim-group %s: muon orthogonalizes matrices; group %s is not attn or mlp", v, group.c_str());
    if (colon != std::string::npos) {
        const std::string lr = rest.substr(colon + 1);
        char* end;
        r.lr = strtof(lr.c_str(), &end);
        if (lr.empty() || *end != '\0' || !std::isfinite(r.lr) || r.lr < 0)
            fail_usage("--optim-group %s: the learning rate must be a number >= 0, got '%s'", v, lr.c_str());
    }
    return r;
}
// What --optim-group rules need of the other flags (the groups named once each already).
inline void check_optim_groups(const TrainConfig& cfg) {
    const OptimConfig& o = cfg.optim;
    if (o.group_rules.empty()) return;
    if (o.algorithm == Algorithm::NSGD || o.algorithm == Algorithm::SSVR)
        fail_usage("--optim-group does not apply to --optim %s (its norm or second gradient spans the whole model)", algorithm_name(o.algorithm));
    for (const GroupRule& r : o.group_rules) {
        const char* g = optim_group_name(r.group);
        const bool matrix_group = r.group == OptimGroup::Attn || r.group == OptimGroup::Mlp;
        // data parallelism deals Muon's matrices whole by --optim (optim/data_parallel.h)
        if (r.rule == Algorithm::Muon && o.algorithm != Algorithm::Muon)
            fail_usage("--optim-group %s=muon needs --optim muon (which gives attn and mlp muon already; the group may set its lr)", g);
        if (o.algorithm == Algorithm::Muon && matrix_group && r.rule != Algorithm::Muon)
            fail_usage("--optim-group %s=%s: under --optim muon the groups attn and mlp stay muon (give %s=muon:LR for another lr)", g,
                       algorithm_name(r.rule), g);
        if (cfg.dist.sign_vote && r.rule != o.algorithm)
            fail_usage("--sign-vote 1 votes on one rule's signs: --optim-group %s=%s differs from --optim %s (a group may set its lr only)", g,
                       algorithm_name(r.rule), algorithm_name(o.algorithm));
        if (r.rule == Algorithm::SGD && o.nesterov == 1 && o.momentum == 0.0f) fail_usage("--nesterov 1 needs --momentum > 0 for sgd (--optim-group %s)", g);
    }
}

// "A:B,C:D": step windows [A, B), 0 <= A < B, in increasing order and not overlapping.
inline std::vector<std::pair<int, int>> parse_step_windows(const std::string& flag, const char* v) {
    std::vector<std::pair<int, int>> out;
    const std::string all = v;
    size_t start = 0;
    while (true) {
        const size_t comma = all.find(',', start);
        const std::string item = all.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        const size_t colon = item.find(':');
        if (colon == std::string::npos) fail_usage("flag %s wants windows START:END[,START:END...], got '%s'", flag.c_str(), v);
        const int a = parse_int(flag, item.substr(0, colon).c_str(), 0);
        const int b = parse_int(flag, item.substr(colon + 1).c_str(), 0);
        if (b <= a) fail_usage("flag %s: window %d:%d is empty (END must exceed START)", flag.c_str(), a, b);
        if (!out.empty() && a < out.back().second)
            fail_usage("flag %s: window %d:%d starts before the previous one ends (%d); give them in order, apart", flag.c_str(), a, b, out.back().second);
        out.push_back({a, b});
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return out;
}
// --tail-index-tensor qkvw:LAYER | wte (LAYER >= 0; its upper bound is checked once the
// model is known: check_tail_index_layer).
inline void parse_tail_index_tensor(const std::string& flag, const char* v, TrainConfig* cfg) {
    const std::string s = v;
    if (s == "wte") {
        cfg->tail_index_wte = true;
        return;
    }
    if (s.rfind("qkvw:", 0) != 0 || s.size() == 5)
        fail_usage("flag %s wants qkvw:LAYER or wte, got '%s'", flag.c_str(), v);
    cfg->tail_index_wte = false;
    cfg->tail_index_layer = parse_int(flag, s.c_str() + 5, 0);
}
} // namespace train_config_detail

// A flag given on the command line that this run never reads gets one note line (not an error:
// a script that sets it for every run stays usable). given: the flags that came with a value.
inline void notes_for_idle_flags(const std::set<std::string>& given, TrainConfig* cfg) {
    auto note_if = [&](const char* flag, bool idle, const std::string& why) {
        if (given.count(flag) && idle) cfg->notes.push_back(std::string(flag) + " has no effect: " + why);
    };
    const Algorithm a = cfg->optim.algorithm, fb = cfg->optim.muon_fallback;
    const bool muon = a == Algorithm::Muon;
    note_if("-m", cfg->val_every == 0, "-v 0 never validates");
    if (given.count("-v") && cfg->val_every > 0 && cfg->val_batches == 0)
        cfg->notes.push_back("-v " + std::to_string(cfg->val_every) + " has no effect: -m 0 gives it no val batches, so nothing is validated");
    note_if("--noise-batches", cfg->noise_every == 0, "the noise density is measured only with --noise-every N");
    note_if("--tail-index-samples", cfg->tail_index_every == 0, "the tail index is measured only with --tail-index-every N");
    note_if("--tail-index-tensor", cfg->tail_index_every == 0, "the tail index is measured only with --tail-index-every N");
    note_if("-g", cfg->sample_every == 0, "-s 0 never samples");
    note_if("--tokenizer", cfg->sample_every == 0, "the tokenizer decodes samples, and -s 0 never samples");
    note_if("--hellaswag", cfg->hellaswag == 0, "HellaSwag runs only with -h 1");
    note_if("-n", cfg->output_dir.empty() && cfg->checkpoint_every > 0, "checkpoints are written only with -o DIR");
    note_if("--keep", cfg->output_dir.empty(), "checkpoints are written only with -o DIR");
    note_if("-nk", cfg->output_dir.empty(), "checkpoints are written only with -o DIR");
    note_if("--wsd-decay-frac", cfg->schedule.kind != Schedule::WSD, "it shapes --schedule wsd only");
    note_if("--wsd-shape", cfg->schedule.kind != Schedule::WSD, "it shapes --schedule wsd only");
    // the rules in use: --optim's, muon's fallback, the --optim-group rules
    std::set<Algorithm> rules = {a};
    if (muon) rules.insert(fb);
    for (const GroupRule& r : cfg->optim.group_rules) rules.insert(r.rule);
    auto uses = [&](std::initializer_list<Algorithm> any) {
        for (Algorithm x : any)
            if (rules.count(x)) return true;
        return false;
    };
    const std::string by = std::string("--optim ") + optim_name(cfg->optim) + (cfg->optim.group_rules.empty() ? "" : " and its --optim-group rules") +
                           " do" + (cfg->optim.group_rules.empty() ? "es" : "") + " not use it";
    note_if("--momentum", !uses({Algorithm::SGD, Algorithm::Signum, Algorithm::Muon, Algorithm::NSGD, Algorithm::SSVR}), by);
    note_if("--nesterov", !uses({Algorithm::SGD, Algorithm::Muon}), by);
    const bool betas = uses({Algorithm::AdamW, Algorithm::Lion});
    note_if("--beta1", !betas, by);
    note_if("--beta2", !betas, by);
    note_if("--eps", !uses({Algorithm::AdamW}), by);
    for (const char* f : {"--muon-ns-steps", "--muon-fallback", "--muon-scale", "--muon-ns", "--fallback-lr"}) note_if(f, !muon, by);
    note_if("--nsgd-norm", a != Algorithm::NSGD, by);
}

// Notes that need the run's length (-x, or one epoch): a --noise-windows window that starts
// after the last step measures nothing.
inline std::vector<std::string> notes_for_run_length(const TrainConfig& cfg, int max_steps) {
    std::vector<std::string> notes;
    if (cfg.noise_every > 0)
        for (const auto& w : cfg.noise_windows)
            if (w.first > max_steps)
                notes.push_back("--noise-windows " + std::to_string(w.first) + ":" + std::to_string(w.second) + " has no effect: it starts "
                                "after the run's last step " + std::to_string(max_steps) + " (-x), so nothing is measured there");
    return notes;
}

// --zo's values and what cannot go with it (one line, exit 2). A zero-order run has no gradient,
// so everything that reads one is refused; its step reuses an existing rule, which --zo picks:
// mezo: sgd without momentum; jaguar-sign: signum's slot holds JAGUAR's momentum; jaguar-muon:
// muon on the hidden matrices, signum's slot and sign step (at -l) for the rest.
inline void check_zero_order_flags(const std::set<std::string>& given, TrainConfig* cfg) {
    ZoConfig& z = cfg->zo;
    OptimConfig& o = cfg->optim;
    if (!(z.eps > 0)) fail_usage("--zo-eps must be positive, got %g", z.eps);
    if (!(z.tau > 0)) fail_usage("--zo-tau must be positive, got %g", z.tau);
    if (!(z.beta >= 0 && z.beta < 1)) fail_usage("--zo-beta must be in [0, 1), got %g", z.beta);
    if (!(z.fraction > 0 && z.fraction <= 1)) fail_usage("--zo-fraction must be in (0, 1], got %g", z.fraction);
    const bool mezo = z.method == ZoMethod::MeZO, jaguar = z.method == ZoMethod::JaguarSign || z.method == ZoMethod::JaguarMuon;
    auto idle = [&](const char* flag, bool is_idle, const char* why) {
        if (given.count(flag) && is_idle) cfg->notes.push_back(std::string(flag) + " has no effect: " + why);
    };
    idle("--zo-eps", !mezo, "it is --zo mezo's perturbation scale");
    idle("--zo-tau", !jaguar, "it is --zo jaguar-sign|jaguar-muon's coordinate shift");
    idle("--zo-beta", !jaguar, "it is --zo jaguar-sign|jaguar-muon's momentum");
    idle("--zo-fraction", !jaguar, "it is --zo jaguar-sign|jaguar-muon's sampled share");
    if (!z.on()) return;
    const char* zo = zo_method_name(z.method);
    if (cfg->dist.sign_vote) fail_usage("--zo %s has no gradient signs to vote on: leave out --sign-vote", zo);
    if (cfg->dist.zero_stage == 1) fail_usage("--zo %s keeps no sharded optimizer state: -z 1 does not apply, leave it out", zo);
    if (cfg->noise_every > 0) fail_usage("--noise-every measures gradients, and --zo %s computes none: leave one out", zo);
    if (cfg->tail_index_every > 0) fail_usage("--tail-index-every measures gradients, and --zo %s computes none: leave one out", zo);
    const Algorithm rule = mezo ? Algorithm::SGD : z.method == ZoMethod::JaguarSign ? Algorithm::Signum : Algorithm::Muon;
    const bool rule_given = given.count("--optim") > 0;
    const bool rule_fits = o.algorithm == rule || (z.method == ZoMethod::JaguarSign && o.algorithm == Algorithm::SignSGD);
    if (rule_given && !rule_fits)
        fail_usage("--zo %s steps with %s's rule: --optim %s does not go with it (leave --optim out)", zo,
                   mezo ? "sgd" : z.method == ZoMethod::JaguarSign ? "signsgd" : "muon", algorithm_name(o.algorithm));
    if (given.count("--momentum"))
        fail_usage("--zo %s: --momentum does not apply (%s)", zo, mezo ? "MeZO is plain zero-order SGD" : "JAGUAR's momentum is --zo-beta");
    if (given.count("--nesterov")) fail_usage("--zo %s: --nesterov does not apply (no gradient to look ahead with)", zo);
    if (given.count("--muon-fallback")) fail_usage("--zo %s: --muon-fallback does not apply (the non-matrix tensors take JAGUAR's sign step)", zo);
    o.algorithm = rule;
    o.momentum = 0.0f; // sgd: none; signum / muon: their momentum slot is JAGUAR's, updated by zero_order.h
    o.nesterov = 0;
    o.muon_fallback = Algorithm::Signum;
    if (!given.count("-l")) o.lr = mezo ? 1e-6f : 1e-4f; // MeZO's OPT runs; JAGUAR's fine-tuning script
    if (!given.count("--fallback-lr")) o.fallback_lr = o.lr;
    if (!given.count("--schedule") && !given.count("-k")) cfg->schedule.kind = Schedule::Constant;
    idle("--grad-clip", true, "--zo computes no gradient to clip");
}

// Parses argv into cfg (which holds the caller's defaults), then checks every value.
inline void parse_train_args(int argc, char** argv, TrainConfig* cfg) {
    using namespace train_config_detail;
    const TrainConfig defaults = *cfg;
    std::set<std::string> given; // the flags with a value on the command line (notes_for_idle_flags)
    for (int i = 1; i < argc; i++) {
        const std::string flag = argv[i];
        // llm.c's -h N is HellaSwag; help is --help, or -h with no value after it.
        if (flag == "--help" || (flag == "-h" && i + 1 == argc)) { print_train_usage(argv[0], defaults); exit(0); }
        if (flag == "--no-shuffle") { cfg->shuffle = 0; continue; }
        if (flag == "--skip-nonfinite") { cfg->skip_nonfinite = 1; continue; }
        if (flag == "--profile-kernels") { cfg->profile_kernels = 1; continue; }
        if (flag == "--overwrite") { cfg->overwrite = 1; continue; }
        if (flag == "--allow-train-val-overlap") { cfg->allow_train_val_overlap = 1; continue; }
        if (flag.size() < 2 || flag[0] != '-') fail_usage("unexpected argument '%s' (see --help)", flag.c_str());
        if (i + 1 >= argc) fail_usage("flag %s needs a value", flag.c_str());
        const char* v = argv[++i];
        given.insert(flag);
        OptimConfig& o = cfg->optim;
        ScheduleConfig& s = cfg->schedule;
        if (flag == "-i") cfg->train_glob = v;
        else if (flag == "-j") cfg->val_glob = v;
        else if (flag == "--tokenizer") cfg->tokenizer_path = v;
        else if (flag == "-o") cfg->output_dir = v;
        else if (flag == "-e") cfg->model = v;
        else if (flag == "-b") cfg->batch_size = parse_int(flag, v);
        else if (flag == "-t") cfg->seq_len = parse_int(flag, v);
        else if (flag == "-d") cfg->total_batch_tokens = parse_long(flag, v);
        else if (flag == "-x") cfg->max_steps = parse_int(flag, v);
        else if (flag == "-v") cfg->val_every = parse_int(flag, v);
        else if (flag == "-m") cfg->val_batches = parse_int(flag, v);
        else if (flag == "-n") cfg->checkpoint_every = parse_int(flag, v);
        else if (flag == "-s") cfg->sample_every = parse_int(flag, v);
        else if (flag == "-g") cfg->gen_tokens = parse_int(flag, v);
        else if (flag == "-r") cfg->recompute = parse_int(flag, v);
        else if (flag == "-h") cfg->hellaswag = parse_int(flag, v, 0, 1);
        else if (flag == "--hellaswag") cfg->hellaswag_path = v;
        else if (flag == "--init") {
            cfg->init = v;
            if (cfg->init != "counter" && cfg->init != "llmc") fail_usage("--init wants counter|llmc, got '%s'", v);
        }
        else if (flag == "-a") cfg->overfit_single_batch = parse_int(flag, v, 0, 1);
        else if (flag == "-z") {
            cfg->dist.zero_stage = parse_int(flag, v, 0, 3);
            if (cfg->dist.zero_stage > 1) fail_usage("-z %d: ZeRO stages 2 and 3 are not implemented (neither are they in llm.c); use -z 0 or 1", cfg->dist.zero_stage);
        }
        else if (flag == "-pn") cfg->dist.num_processes = parse_int(flag, v, 1), cfg->dist.num_processes_given = true;
        else if (flag == "-pr") cfg->dist.process_rank = parse_int(flag, v, 0), cfg->dist.process_rank_given = true;
        else if (flag == "-pg") cfg->dist.gpus_per_node = parse_int(flag, v, 1);
        else if (flag == "-pi") {
            cfg->dist.init_method = v;
            if (cfg->dist.init_method != "mpi" && cfg->dist.init_method != "fs" && cfg->dist.init_method != "tcp")
                fail_usage("-pi wants mpi|fs|tcp, got '%s'", v);
        }
        else if (flag == "-pf") cfg->dist.fs_path = v;
        else if (flag == "-ps") cfg->dist.server_ip = v;
        else if (flag == "--sign-vote") cfg->dist.sign_vote = parse_int(flag, v, 0, 1);
        else if (flag == "--byzantine") cfg->dist.byzantine = parse_int(flag, v, 0);
        else if (flag == "--byzantine-mode") {
            const std::string m = v;
            if (m != "blind" && m != "omniscient") fail_usage("--byzantine-mode wants blind or omniscient, got '%s'", v);
            cfg->dist.byzantine_omniscient = m == "omniscient";
        }
        else if (flag == "--vote-noise") {
            cfg->dist.vote_noise = parse_float(flag, v);
            if (!(cfg->dist.vote_noise >= 0.0f) || !std::isfinite(cfg->dist.vote_noise))
                fail_usage("--vote-noise wants a finite C >= 0 (0: off), got '%s'", v);
        }
        else if (flag == "--rank-data-split") {
            const std::string m = v;
            if (m != "none" && m != "first-token") fail_usage("--rank-data-split wants none or first-token, got '%s'", v);
            cfg->dist.rank_data_split = m == "first-token";
        }
        else if (flag == "--vote-agreement") cfg->dist.vote_agreement = parse_int(flag, v, 0, 1);
        else if (flag == "--vote-bits") {
            cfg->dist.vote_bits = parse_int(flag, v, 1, 8);
            if (cfg->dist.vote_bits != 1 && cfg->dist.vote_bits != 2 && cfg->dist.vote_bits != 8) fail_usage("--vote-bits wants 1, 2 or 8, got %d", cfg->dist.vote_bits);
        }
        else if (flag == "-w") {
            if (parse_int(flag, v, 0, 1) == 0) cfg->notes.push_back("-w 0 is ignored: the optimizer always keeps fp32 master weights here");
        }
        else if (flag == "-ge") {
            parse_int(flag, v, 0, 2);
            cfg->notes.push_back("-ge is ignored: train_gpt2cu fuses GELU into the forward matmul where cuBLASLt can (bf16 build), never into backward; train_gpt2cpu never fuses");
        }
        else if (flag == "-sl" || flag == "-sg") {
            if (parse_float(flag, v) != 0.0f)
                cfg->notes.push_back(flag + " is ignored: skipping updates by " + (flag == "-sl" ? "loss" : "gradient-norm") +
                                     " z-score is not implemented (--skip-nonfinite skips non-finite steps)");
        }
        else if (flag == "-f") cfg->attention = parse_int(flag, v, 0, 1) ? "auto" : "cublas";
        else if (flag == "-nk") cfg->keep_checkpoints = parse_int(flag, v);
        else if (flag == "-nm") {
            if (parse_int(flag, v, 0) != 0) cfg->notes.push_back("-nm is ignored: major checkpoints are not implemented (--keep / -nk deletes any old checkpoint)");
        }
        else if (flag == "-lg") {
            parse_int(flag, v);
            cfg->notes.push_back("-lg is ignored: GPU utilization logging is not implemented");
        }
        else if (flag == "--attention") {
            cfg->attention = v;
            if (cfg->attention != "auto" && cfg->attention != "flash" && cfg->attention != "cublas")
                fail_usage("--attention wants auto|flash|cublas, got '%s'", v);
        }
        else if (flag == "--seed") cfg->seed = parse_seed(flag, v);
        else if (flag == "--data-seed") { cfg->data_seed = parse_seed(flag, v); cfg->data_seed_given = true; }
        else if (flag == "-y") cfg->resume = parse_int(flag, v);
        else if (flag == "--keep") cfg->keep_checkpoints = parse_int(flag, v);
        else if (flag == "--noise-every") cfg->noise_every = parse_int(flag, v);
        else if (flag == "--noise-batches") cfg->noise_batches = parse_int(flag, v);
        else if (flag == "--noise-windows") cfg->noise_windows = parse_step_windows(flag, v);
        else if (flag == "--tail-index-every") cfg->tail_index_every = parse_int(flag, v);
        else if (flag == "--tail-index-samples") cfg->tail_index_samples = parse_int(flag, v);
        else if (flag == "--tail-index-tensor") parse_tail_index_tensor(flag, v, cfg);
        else if (flag == "--optim") { if (!optim_from_name(v, &o)) fail_usage("unknown optimizer '%s' (sgd|signsgd|signum|adamw|lion|muon|fmuon|smuon|nsgd|ssvr)", v); }
        else if (flag == "--fanion-alpha") o.fanion_alpha = parse_float(flag, v);
        else if (flag == "--smuon-sign-scale") o.smuon_sign_scale = parse_float(flag, v);
        else if (flag == "--muon-scale") { if (!strcmp(v, "shape")) o.muon_scale = MuonScale::Shape; else if (!strcmp(v, "rms")) o.muon_scale = MuonScale::RMS; else fail_usage("--muon-scale wants shape|rms, got '%s'", v); }
        else if (flag == "--muon-ns") { if (!strcmp(v, "quintic")) o.muon_ns = MuonNs::Quintic; else if (!strcmp(v, "polar-express")) o.muon_ns = MuonNs::PolarExpress; else fail_usage("--muon-ns wants quintic|polar-express, got '%s'", v); }
        else if (flag == "-l") o.lr = parse_float(flag, v);
        else if (flag == "--momentum") o.momentum = parse_float(flag, v);
        else if (flag == "--nesterov") o.nesterov = parse_int(flag, v);
        else if (flag == "--beta1") o.beta1 = parse_float(flag, v);
        else if (flag == "--beta2") o.beta2 = parse_float(flag, v);
        else if (flag == "--eps") o.eps = parse_float(flag, v);
        else if (flag == "-c") o.weight_decay = parse_float(flag, v);
        else if (flag == "--wd-on") {
            const std::string w = v;
            if (w == "matrices") o.wd_on = WeightDecayOn::Matrices;
            else if (w == "hidden") o.wd_on = WeightDecayOn::Hidden;
            else if (w == "all") o.wd_on = WeightDecayOn::All;
            else fail_usage("--wd-on wants matrices|hidden|all, got '%s'", v);
        }
        else if (flag == "--grad-clip") o.grad_clip = parse_float(flag, v);
        else if (flag == "--muon-ns-steps") o.muon_ns_steps = parse_int(flag, v);
        else if (flag == "--muon-fallback") {
            if (!algorithm_from_name(v, &o.muon_fallback) || o.muon_fallback == Algorithm::Muon || o.muon_fallback == Algorithm::NSGD ||
                o.muon_fallback == Algorithm::SSVR)
                fail_usage("--muon-fallback wants sgd|signsgd|signum|adamw|lion, got '%s'", v);
        }
        else if (flag == "--fallback-lr") o.fallback_lr = parse_float(flag, v);
        else if (flag == "--optim-group") {
            const GroupRule r = parse_optim_group(v);
            for (const GroupRule& other : o.group_rules)
                if (other.group == r.group) fail_usage("--optim-group names group %s twice", optim_group_name(r.group));
            o.group_rules.push_back(r);
        }
        else if (flag == "--nsgd-norm") {
            if (!strcmp(v, "tensor")) o.nsgd_norm = NsgdNorm::Tensor;
            else if (!strcmp(v, "global")) o.nsgd_norm = NsgdNorm::Global;
            else fail_usage("--nsgd-norm wants tensor|global, got '%s'", v);
        }
        else if (flag == "--zo") {
            if (!zo_method_from_name(v, &cfg->zo.method)) fail_usage("--zo wants mezo|jaguar-sign|jaguar-muon, got '%s'", v);
        }
        else if (flag == "--zo-eps") cfg->zo.eps = parse_float(flag, v);
        else if (flag == "--zo-tau") cfg->zo.tau = parse_float(flag, v);
        else if (flag == "--zo-beta") cfg->zo.beta = parse_float(flag, v);
        else if (flag == "--zo-fraction") cfg->zo.fraction = parse_float(flag, v);
        else if (flag == "--schedule" || flag == "-k") {
            const std::string w = v;
            if (w == "cosine") s.kind = Schedule::Cosine;
            else if (w == "linear") s.kind = Schedule::Linear;
            else if (w == "constant") s.kind = Schedule::Constant;
            else if (w == "wsd") s.kind = Schedule::WSD;
            else fail_usage("%s wants cosine|linear|constant|wsd, got '%s'", flag.c_str(), v);
        }
        else if (flag == "--wsd-shape") {
            const std::string w = v;
            if (w == "sqrt") s.wsd_shape = WsdShape::Sqrt;
            else if (w == "linear") s.wsd_shape = WsdShape::Linear;
            else fail_usage("--wsd-shape wants sqrt|linear, got '%s'", v);
        }
        else if (flag == "--warmup-shape") {
            if (!strcmp(v, "linear")) s.warmup_shape = WarmupShape::Linear;
            else if (!strcmp(v, "cos")) s.warmup_shape = WarmupShape::Cos;
            else fail_usage("--warmup-shape wants linear|cos, got '%s'", v);
        }
        else if (flag == "-u") s.warmup_steps = parse_int(flag, v);
        else if (flag == "--warmup-init") s.warmup_init = parse_float(flag, v);
        else if (flag == "-q") s.final_lr_frac = parse_float(flag, v);
        else if (flag == "--wsd-decay-frac") s.wsd_decay_frac = parse_float(flag, v);
        else fail_usage("unknown flag '%s' (see --help)", flag.c_str());
    }
    // Values that can be checked without the model or the data.
    const OptimConfig& o = cfg->optim;
    const ScheduleConfig& s = cfg->schedule;
    if (cfg->batch_size < 1) fail_usage("micro-batch -b must be at least 1, got %d", cfg->batch_size);
    if (cfg->seq_len < 1 || cfg->seq_len > 1024) fail_usage("sequence length -t must be in 1..1024, got %d", cfg->seq_len);
    if (cfg->total_batch_tokens != -1 && cfg->total_batch_tokens < 1) fail_usage("total batch -d must be positive or -1, got %ld", cfg->total_batch_tokens);
    if (cfg->max_steps < -1) fail_usage("max steps -x must be -1 (one epoch), 0 (evaluate only) or positive, got %d", cfg->max_steps);
    // B*T and the accumulation count are ints downstream: check them before they can wrap.
    const long tokens_per_micro = (long)cfg->batch_size * cfg->seq_len;
    if (tokens_per_micro > INT_MAX) fail_usage("micro-batch -b %d x -t %d = %ld tokens is too large (at most %d)", cfg->batch_size, cfg->seq_len, tokens_per_micro, INT_MAX);
    if (cfg->total_batch_tokens != -1 && cfg->total_batch_tokens / tokens_per_micro > INT_MAX)
        fail_usage("total batch -d %ld is too large: %ld accumulation steps of B*T = %ld (at most %d)", cfg->total_batch_tokens,
                   cfg->total_batch_tokens / tokens_per_micro, tokens_per_micro, INT_MAX);
    if (cfg->dist.zero_stage == 1 && cfg->dist.num_processes <= 1 && launcher_world_size() <= 1)
        cfg->notes.push_back("-z 1: ZeRO-1 shards the optimizer state across processes; with one process it equals -z 0");
    const bool byzantine_mode_given = given.count("--byzantine-mode") > 0;
    if (byzantine_mode_given && !cfg->dist.sign_vote)
        fail_usage("--byzantine-mode sets how --byzantine ranks attack the majority vote: it needs --sign-vote 1");
    if (byzantine_mode_given && cfg->dist.byzantine == 0) fail_usage("--byzantine-mode needs --byzantine K (K >= 1 adversarial ranks)");
    if (cfg->dist.vote_noise > 0.0f && !cfg->dist.sign_vote) fail_usage("--vote-noise %g perturbs each rank's gradient before its sign in the majority vote: it needs --sign-vote 1", cfg->dist.vote_noise);
    if (cfg->dist.vote_agreement && !cfg->dist.sign_vote) fail_usage("--vote-agreement 1 measures the majority vote: it needs --sign-vote 1");
    if (cfg->dist.vote_bits != 1 && !cfg->dist.sign_vote) fail_usage("--vote-bits %d sets the majority vote's wire format: it needs --sign-vote 1", cfg->dist.vote_bits);
    if (cfg->recompute < 0 || cfg->recompute > 2) fail_usage("-r wants 0, 1 or 2, got %d", cfg->recompute);
    if (cfg->recompute == 2) {
        cfg->recompute = 1;
        cfg->notes.push_back("-r 2 recomputes GELU only: layernorm recomputation is not implemented (the same as -r 1)");
    }
    if (!cfg->data_seed_given) cfg->data_seed = cfg->seed; // the old runs' data order, bit for bit
    if (cfg->overfit_single_batch) { // llm.c: the first batch of the (smaller) val split, re-read every step
        cfg->train_glob = cfg->val_glob;
        cfg->shuffle = 0;
    }
    if (cfg->hellaswag && cfg->batch_size < 4)
        fail_usage("-h 1 packs the 4 completions of an example into the micro-batch: it needs -b 4 or more, got %d", cfg->batch_size);
    if (cfg->init == "llmc" && cfg->seed > 0xffffffffull)
        fail_usage("--init llmc seeds llm.c's 32-bit mt19937: --seed must be below 2^32, got %llu", cfg->seed);
    if (cfg->val_every < 0 || cfg->val_batches < 0 || cfg->checkpoint_every < 0 || cfg->sample_every < 0 || cfg->gen_tokens < 0)
        fail_usage("-v, -m, -n, -s and -g must not be negative");
    if (cfg->resume != 0 && cfg->resume != 1) fail_usage("-y wants 0 or 1, got %d", cfg->resume);
    if (cfg->resume == 1 && cfg->output_dir.empty()) fail_usage("-y 1 resumes from checkpoints in -o DIR; give -o");
    if (cfg->overwrite && cfg->output_dir.empty()) fail_usage("--overwrite applies to the checkpoints in -o DIR; give -o");
    if (cfg->overwrite && cfg->resume == 1) fail_usage("--overwrite starts fresh and -y 1 resumes: give one of them");
    if (cfg->keep_checkpoints < 0) fail_usage("--keep must not be negative, got %d", cfg->keep_checkpoints);
    if (cfg->noise_every < 0) fail_usage("--noise-every must not be negative, got %d", cfg->noise_every);
    if (!cfg->noise_windows.empty() && cfg->noise_every == 0)
        fail_usage("--noise-windows picks where --noise-every N measures: give --noise-every too");
    if (cfg->tail_index_every < 0) fail_usage("--tail-index-every must not be negative, got %d", cfg->tail_index_every);
    if (cfg->tail_index_samples < 4)
        fail_usage("--tail-index-samples must be at least 4 (the estimator sums blocks of m >= 2 samples), got %d", cfg->tail_index_samples);
    if (cfg->noise_batches < 2) fail_usage("--noise-batches must be at least 2 (a standard deviation needs two samples), got %d", cfg->noise_batches);
    if (o.lr != -1.0f && !(o.lr >= 0)) fail_usage("learning rate -l must not be negative, got %g", o.lr);
    if (o.fallback_lr != -1.0f && !(o.fallback_lr >= 0)) fail_usage("--fallback-lr must not be negative, got %g", o.fallback_lr);
    if (o.momentum != -1.0f && !(o.momentum >= 0 && o.momentum < 1)) fail_usage("--momentum must be in [0, 1), got %g", o.momentum);
    if (o.nesterov != -1 && o.nesterov != 0 && o.nesterov != 1) fail_usage("--nesterov wants 0 or 1, got %d", o.nesterov);
    if (o.beta1 != -1.0f && !(o.beta1 >= 0 && o.beta1 < 1)) fail_usage("--beta1 must be in [0, 1), got %g", o.beta1);
    if (o.beta2 != -1.0f && !(o.beta2 >= 0 && o.beta2 < 1)) fail_usage("--beta2 must be in [0, 1), got %g", o.beta2);
    if (!(o.eps > 0)) fail_usage("--eps must be positive, got %g", o.eps);
    if (!(o.weight_decay >= 0)) fail_usage("weight decay -c must not be negative, got %g", o.weight_decay);
    if (!(o.grad_clip >= 0)) fail_usage("--grad-clip must not be negative, got %g", o.grad_clip);
    if (o.muon_ns_steps < 0) fail_usage("--muon-ns-steps must not be negative, got %d", o.muon_ns_steps);
    const bool fanion = o.algorithm == Algorithm::Muon && o.muon_variant != MuonVariant::Muon;
    if (given.count("--fanion-alpha") && !fanion) fail_usage("--fanion-alpha needs --optim fmuon or smuon, got --optim %s", optim_name(o));
    if (!(o.fanion_alpha >= 0 && o.fanion_alpha <= 1)) fail_usage("--fanion-alpha must be in [0, 1], got %g", o.fanion_alpha);
    if (given.count("--smuon-sign-scale") && !(o.algorithm == Algorithm::Muon && o.muon_variant == MuonVariant::SMuon))
        fail_usage("--smuon-sign-scale needs --optim smuon, got --optim %s", optim_name(o));
    if (!(o.smuon_sign_scale > 0))
        fail_usage("--smuon-sign-scale must be positive, got %g", o.smuon_sign_scale);
    if (s.warmup_steps < 0) fail_usage("warmup -u must not be negative, got %d", s.warmup_steps);
    if (!(s.warmup_init >= 0 && s.warmup_init <= 1)) fail_usage("--warmup-init must be in [0, 1], got %g", s.warmup_init);
    if (!(s.final_lr_frac >= 0 && s.final_lr_frac <= 1)) fail_usage("final lr fraction -q must be in [0, 1], got %g", s.final_lr_frac);
    if (!(s.wsd_decay_frac >= 0 && s.wsd_decay_frac <= 1)) fail_usage("--wsd-decay-frac must be in [0, 1], got %g", s.wsd_decay_frac);
    if (o.algorithm == Algorithm::SGD && o.nesterov == 1 && o.momentum == 0.0f) fail_usage("--nesterov 1 needs --momentum > 0 for sgd");
    // per-slice norms would need each slice's sum of squares summed over the ranks that share it
    if (o.algorithm == Algorithm::NSGD && o.nsgd_norm == NsgdNorm::Tensor && cfg->dist.zero_stage == 1)
        fail_usage("-z 1 shards nsgd's layer slices across ranks: use --nsgd-norm global or -z 0 with --nsgd-norm tensor");
    check_optim_groups(*cfg);
    check_zero_order_flags(given, cfg);
    notes_for_idle_flags(given, cfg);
    resolve_optim_defaults(&cfg->optim);
}

// Whether the gradient-noise statistics are measured before the update at `step` (last: the
// step after the final update). Without windows: every N steps and at the end; with them: at
// A, A+N, ... below B in each window [A, B), so a long run can measure where it matters.
inline bool noise_due(const TrainConfig& cfg, int step, bool last) {
    if (cfg.noise_every <= 0) return false;
    if (cfg.noise_windows.empty()) return step % cfg.noise_every == 0 || last;
    for (const auto& w : cfg.noise_windows)
        if (step >= w.first && step < w.second && (step - w.first) % cfg.noise_every == 0) return true;
    return false;
}

// Whether the heavy-tail paper's tail index is measured before the update at `step`: every
// N steps and at the end, like the noise density without windows.
inline bool tail_index_due(const TrainConfig& cfg, int step, bool last) {
    return cfg.tail_index_every > 0 && (step % cfg.tail_index_every == 0 || last);
}

// The qkvw layer --tail-index-tensor names for a model of num_layers layers (the middle one,
// L/2 as the paper's code picks it, by default); exit 2 when out of range.
inline int tail_index_layer(const TrainConfig& cfg, int num_layers) {
    if (cfg.tail_index_layer >= num_layers)
        fail_usage("--tail-index-tensor qkvw:%d: the model has layers 0..%d", cfg.tail_index_layer, num_layers - 1);
    return cfg.tail_index_layer >= 0 ? cfg.tail_index_layer : num_layers / 2;
}

// "0:100,5000:5100": the windows as --noise-windows takes them ("" when none).
inline std::string noise_windows_string(const TrainConfig& cfg) {
    std::string out;
    for (const auto& w : cfg.noise_windows) out += (out.empty() ? "" : ",") + std::to_string(w.first) + ":" + std::to_string(w.second);
    return out;
}

// The notes parse_train_args collected, one line each, before anything else runs.
inline void print_config_notes(const TrainConfig& cfg) {
    for (const std::string& n : cfg.notes) printf("note: %s\n", n.c_str());
}

// The batch of one optimizer step: -d tokens (B*T when -1), taken in grad_accum micro-steps
// of B*T tokens each; -d must be a multiple of B*T.
// With P processes (data parallelism) -b is each process's micro-batch and -d the total over
// all of them: -d must be a multiple of B*T*P (-1: B*T*P, no accumulation).
struct BatchPlan {
    long tokens_per_micro, total_batch;
    int grad_accum;
    int processes = 1;
};
inline BatchPlan plan_batch(const TrainConfig& cfg, int processes = 1) {
    BatchPlan p;
    p.processes = processes;
    p.tokens_per_micro = (long)cfg.batch_size * cfg.seq_len;
    const long all_ranks = p.tokens_per_micro * processes;
    p.total_batch = cfg.total_batch_tokens == -1 ? all_ranks : cfg.total_batch_tokens;
    if (processes == 1 && p.total_batch % p.tokens_per_micro != 0)
        fail_usage("total batch -d %ld is not a multiple of B*T = %ld", p.total_batch, p.tokens_per_micro);
    if (p.total_batch % all_ranks != 0)
        fail_usage("total batch -d %ld is not a multiple of B*T*processes = %d*%d*%d = %ld", p.total_batch, cfg.batch_size,
                   cfg.seq_len, processes, all_ranks);
    if (p.total_batch / all_ranks > INT_MAX) fail_usage("total batch -d %ld is too large", p.total_batch);
    p.grad_accum = (int)(p.total_batch / all_ranks);
    return p;
}

// Optimizer steps of the run: -x (0: evaluate only), or one epoch of the training shards when -x is -1.
inline int plan_max_steps(const TrainConfig& cfg, long batches_per_epoch, int grad_accum) {
    if (cfg.max_steps >= 0) return cfg.max_steps;
    return (int)std::min<long>(INT_MAX, std::max<long>(1, batches_per_epoch / grad_accum));
}

// The two lines both trainers print before training: the batch and the optimizer settings.
inline void print_run_plan(const TrainConfig& cfg, const BatchPlan& b, int max_steps) {
    const OptimConfig& o = cfg.optim;
    if (b.processes > 1)
        printf("batch: %d x %d tokens, %d accumulation step(s), %d processes = %ld tokens per step; %d steps\n", cfg.batch_size,
               cfg.seq_len, b.grad_accum, b.processes, b.total_batch, max_steps);
    else
        printf("batch: %d x %d tokens, %d accumulation step(s) = %ld tokens per step; %d steps\n", cfg.batch_size,
               cfg.seq_len, b.grad_accum, b.total_batch, max_steps);
    printf("optimizer %s: lr %g, weight decay %g on %s", optim_name(o), o.lr, o.weight_decay, wd_on_name(o.wd_on));
    if (!cfg.zo.on()) printf(", clip %g", o.grad_clip); // --zo: no gradient, nothing clipped
    printf(", schedule %s (warmup %d)", schedule_name(cfg.schedule.kind), cfg.schedule.warmup_steps);
    if (o.algorithm == Algorithm::Muon) printf(", fallback %s at lr %g", algorithm_name(o.muon_fallback), o.fallback_lr);
    for (const GroupRule& r : o.group_rules)
        printf(", group %s %s at lr %g", optim_group_name(r.group), algorithm_name(r.rule), r.lr);
    if (o.algorithm == Algorithm::Muon && o.muon_variant != MuonVariant::Muon) printf(", alpha %g", o.fanion_alpha);
    if (o.algorithm == Algorithm::Muon && o.muon_variant == MuonVariant::SMuon) printf(", sign scale %g", o.smuon_sign_scale);
    if (o.algorithm == Algorithm::NSGD) printf(", norm per %s", o.nsgd_norm == NsgdNorm::Tensor ? "layer slice" : "whole model");
    if (cfg.schedule.warmup_shape == WarmupShape::Cos) printf(", cos warmup");
    printf("\n");
}

// Splits a command-line string ("--optim sgd -l 0.1") into words and parses it; the tests
// use this to read the optimizer settings the oracle recorded.
inline void parse_train_args_string(const std::string& line, TrainConfig* cfg) {
    std::vector<std::string> words = {"train"};
    size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && line[i] == ' ') i++;
        size_t j = i;
        while (j < line.size() && line[j] != ' ') j++;
        if (j > i) words.push_back(line.substr(i, j - i));
        i = j;
    }
    std::vector<char*> argv;
    for (std::string& w : words) argv.push_back(&w[0]);
    parse_train_args((int)argv.size(), argv.data(), cfg);
}
