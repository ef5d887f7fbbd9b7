// Do all ranks of a data-parallel job run the same configuration? An MPMD launch
// (`mpirun -np 1 T -l 1e-3 : -np 1 T -l 1e-2`), a per-rank wrapper script or a node with other
// files would otherwise train silently with mixed settings, hang (another -x, -n or -z), or fail
// inside MPI (MPI_ERR_TRUNCATE: another -e or --sign-vote). Both trainers compare, before any
// other collective, every setting that must agree (resolved flags, the -e file's bytes, the
// shards -i and -j expand to on each rank):
//   1. one all-gather of a fixed-size digest: a 64-bit hash per setting (kMaxSettings slots), so
//      ranks whose settings differ in number or size still exchange the same byte count;
//   2. when any slot differs, every rank knows the first such setting (they all hold the same
//      table), and one more fixed-size all-gather brings each rank's value of it (kValueBytes).
// The result is one line naming the flag and every rank's value; the trainer prints it from
// rank 0 and every rank exits 2 (end_rank_after_rank0).
// Per-rank data is compared like the rest: the loader splits every shard's windows among the
// ranks, so different files per rank would break that split and the epoch's length (hence -x -1).
#pragma once
#include <sys/stat.h>
#include <glob.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "comm.h"
#include "train_config.h"
#include "utils.h"

using Setting = std::pair<std::string, std::string>; // the flag as a user types it, its resolved value

namespace rank_agreement_detail {
const size_t kMaxSettings = 128, kValueBytes = 256;

inline uint64_t fnv1a(const void* data, size_t n, uint64_t h = 1469598103934665603ull) {
    const unsigned char* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}
// The -e file's content hash ("" when it is a model name or unreadable: reading it fails later,
// with its own message).
inline std::string file_digest(const std::string& path) {
    FILE* f = fopen(path.c_str(), "rb");
    if (!f) return "";
    std::vector<char> buf(1 << 20);
    uint64_t h = 1469598103934665603ull;
    size_t n, total = 0;
    while ((n = fread(buf.data(), 1, buf.size(), f)) > 0) h = fnv1a(buf.data(), n, h), total += n;
    fclose(f);
    char out[64];
    snprintf(out, sizeof out, "%zu bytes, fnv1a %016llx", total, (unsigned long long)h);
    return out;
}
// What a shard glob expands to on this rank: the paths and their sizes.
inline std::string glob_files(const std::string& pattern) {
    glob_t g;
    std::string out;
    if (glob(pattern.c_str(), 0, nullptr, &g) == 0)
        for (size_t i = 0; i < g.gl_pathc; i++) {
            struct stat st;
            const long long size = stat(g.gl_pathv[i], &st) == 0 ? (long long)st.st_size : -1;
            out += (out.empty() ? "" : " ") + std::string(g.gl_pathv[i]) + " (" + std::to_string(size) + " bytes)";
        }
    globfree(&g);
    return out.empty() ? "nothing" : out;
}
// A float flag as the user would type it (%g), with all 9 digits only where %g loses some.
inline std::string num(float x) {
    char b[32];
    snprintf(b, sizeof b, "%g", x);
    if (strtof(b, nullptr) != x) snprintf(b, sizeof b, "%.9g", x);
    return b;
}
} // namespace rank_agreement_detail

// Every setting of cfg that all ranks must share, flag by flag (after resolve_optim_defaults).
// Left out, as they may differ by design: -pr (the rank), -pg, -pi/-pf/-ps (how a rank finds
// the others: if they differ the ranks never meet), --tokenizer and --hellaswag (paths on each
// node; -s and -h themselves are compared).
inline std::vector<Setting> settings_that_must_agree(const TrainConfig& c) {
    using namespace rank_agreement_detail;
    const OptimConfig& o = c.optim;
    const ScheduleConfig& s = c.schedule;
    GPT2Config named;
    std::vector<Setting> v = {
        {"-i", c.train_glob}, {"-i (the files it matches)", glob_files(c.train_glob)},
        {"-j", c.val_glob}, {"-j (the files it matches)", glob_files(c.val_glob)},
        {"-e", c.model}, {"-e (the model file's content)", gpt2_config_from_name(c.model, &named) ? "" : file_digest(c.model)},
        {"-o", c.output_dir}, {"-b", std::to_string(c.batch_size)}, {"-t", std::to_string(c.seq_len)},
        {"-d", std::to_string(c.total_batch_tokens)}, {"-x", std::to_string(c.max_steps)}, {"-v", std::to_string(c.val_every)},
        {"-m", std::to_string(c.val_batches)}, {"-n", std::to_string(c.checkpoint_every)}, {"-s", std::to_string(c.sample_every)},
        {"-g", std::to_string(c.gen_tokens)}, {"-r", std::to_string(c.recompute)}, {"--attention", c.attention},
        {"--profile-kernels", std::to_string(c.profile_kernels)}, {"--no-shuffle", c.shuffle ? "off" : "on"},
        {"--seed", std::to_string(c.seed)}, {"--data-seed", std::to_string(c.data_seed)}, {"-y", std::to_string(c.resume)}, {"--keep", std::to_string(c.keep_checkpoints)},
        {"--overwrite", std::to_string(c.overwrite)}, {"--skip-nonfinite", std::to_string(c.skip_nonfinite)},
        {"--noise-every", std::to_string(c.noise_every)}, {"--noise-batches", std::to_string(c.noise_batches)},
        {"--noise-windows", noise_windows_string(c)}, {"--tail-index-every", std::to_string(c.tail_index_every)},
        {"--tail-index-samples", std::to_string(c.tail_index_samples)},
        {"--tail-index-tensor", c.tail_index_wte ? "wte" : "qkvw:" + std::to_string(c.tail_index_layer)},
        {"-h", std::to_string(c.hellaswag)}, {"--init", c.init}, {"-a", std::to_string(c.overfit_single_batch)},
        {"-pn", std::to_string(c.dist.num_processes)}, {"-z", std::to_string(c.dist.zero_stage)},
        {"--sign-vote", std::to_string(c.dist.sign_vote)}, {"--vote-bits", std::to_string(c.dist.vote_bits)},
        {"--byzantine", std::to_string(c.dist.byzantine)}, {"--byzantine-mode", c.dist.byzantine_omniscient ? "omniscient" : "blind"},
        {"--vote-noise", num(c.dist.vote_noise)}, {"--rank-data-split", c.dist.rank_data_split ? "first-token" : "none"},
        {"--vote-agreement", std::to_string(c.dist.vote_agreement)},
        {"--optim", optim_name(o)}, {"-l", num(o.lr)}, {"--momentum", num(o.momentum)},
        {"--nesterov", std::to_string(o.nesterov)}, {"--beta1", num(o.beta1)}, {"--beta2", num(o.beta2)}, {"--eps", num(o.eps)},
        {"-c", num(o.weight_decay)}, {"--wd-on", wd_on_name(o.wd_on)}, {"--grad-clip", num(o.grad_clip)},
        {"--muon-ns-steps", std::to_string(o.muon_ns_steps)}, {"--muon-fallback", algorithm_name(o.muon_fallback)},
        {"--muon-scale", muon_scale_name(o.muon_scale)}, {"--muon-ns", muon_ns_name(o.muon_ns)}, {"--fallback-lr", num(o.fallback_lr)},
        {"--fanion-alpha", num(o.fanion_alpha)}, {"--smuon-sign-scale", num(o.smuon_sign_scale)},
        {"--nsgd-norm", nsgd_norm_name(o.nsgd_norm)}, {"--schedule", schedule_name(s.kind)}, {"-u", std::to_string(s.warmup_steps)},
        {"--warmup-init", num(s.warmup_init)}, {"--warmup-shape", warmup_shape_name(s.warmup_shape)}, {"-q", num(s.final_lr_frac)},
        {"--wsd-decay-frac", num(s.wsd_decay_frac)}, {"--wsd-shape", wsd_shape_name(s.wsd_shape)},
        {"--optim-group", optim_group_rules_string(o)},
        {"--zo", zo_method_name(c.zo.method)}, {"--zo-eps", num(c.zo.eps)}, {"--zo-tau", num(c.zo.tau)}, {"--zo-beta", num(c.zo.beta)},
        {"--zo-fraction", num(c.zo.fraction)},
    };
    return v;
}

// gather(send, recv, bytes): recv[r * bytes .. (r + 1) * bytes) = rank r's send (an all-gather
// of bytes; host memory). Returns "" when every rank has the same settings, else the line:
// "the ranks disagree on -l: rank 0 has 0.001, rank 1 has 0.01 (...)".
inline std::string first_disagreement(const std::vector<Setting>& mine, int ranks,
                                      const std::function<void(const void*, void*, size_t)>& gather) {
    using namespace rank_agreement_detail;
    std::vector<uint64_t> digest(kMaxSettings + 1, 0), all(digest.size() * ranks);
    digest[0] = mine.size();
    for (size_t i = 0; i < mine.size() && i < kMaxSettings; i++)
        digest[i + 1] = fnv1a(mine[i].second.data(), mine[i].second.size(), fnv1a(mine[i].first.data(), mine[i].first.size()));
    gather(digest.data(), all.data(), digest.size() * sizeof(uint64_t));
    size_t differs = 0; // 1 + the first slot in which some rank differs from rank 0 (0: none)
    for (size_t i = 0; i < digest.size() && !differs; i++)
        for (int r = 1; r < ranks && !differs; r++)
            if (all[r * digest.size() + i] != all[i]) differs = i + 1;
    if (!differs) return "";
    if (differs == 1) return "the ranks run different builds of the trainer (they compare different numbers of settings)";
    const size_t index = differs - 2;
    std::vector<char> value(kValueBytes, 0), values(kValueBytes * ranks);
    const std::string flag = index < mine.size() ? mine[index].first : "?";
    std::string v = index < mine.size() ? mine[index].second : "";
    if (v.size() >= kValueBytes) v = v.substr(0, kValueBytes - 4) + "...";
    snprintf(value.data(), kValueBytes, "%s", v.c_str());
    gather(value.data(), values.data(), kValueBytes);
    std::string line = "the ranks disagree on " + flag + ":";
    for (int r = 0; r < ranks; r++) {
        if (r == 8 && ranks > 9) { line += " ..."; break; }
        std::string x(&values[r * kValueBytes], strnlen(&values[r * kValueBytes], kValueBytes));
        line += std::string(r ? "," : "") + " rank " + std::to_string(r) + " has '" + x + "'";
    }
    return line + " (every rank must run the same configuration)";
}

// After a finding every rank has made (first_disagreement): rank 0 prints `line` and ends the
// job with `code` (under MPI: MPI_Abort, which ends the others); a rank > 0 prints nothing and
// waits for that (30 s at most), then exits with the same code itself (NCCL's fs/tcp launch has
// no MPI_Abort: there each rank simply exits).
[[noreturn]] inline void end_rank_after_rank0(int rank, int code, const std::string& line) {
    if (rank == 0) fail_with(code, "%s", line.c_str());
    fflush(stdout);
    if (launcher_world_size() > 0) {
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (std::chrono::steady_clock::now() < until) sleep(1); // a signal may cut sleep() short
    }
    _exit(code);
}

// The check itself, for a communicator on host memory.
inline void check_ranks_agree(Comm& comm, const TrainConfig& cfg) {
    if (comm.size() == 1) return;
    const std::string line = first_disagreement(settings_that_must_agree(cfg), comm.size(), [&](const void* s, void* r, size_t bytes) {
        comm.all_gather(s, r, bytes, CommDtype::I8);
    });
    if (!line.empty()) end_rank_after_rank0(comm.rank(), EXIT_USAGE, line);
}
