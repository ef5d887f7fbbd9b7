// The two logs a trainer writes into -o DIR, shared by train_gpt2cpu and train_gpt2cu.
//
// main.log, llm.c's line format and step numbering (llm.c's dev/vislog.ipynb reads it), one
// line per event; STEP is the number of updates made before the event:
//   s:STEP trl:LOSS lr:LR norm:GRAD_NORM tps:TOKENS_PER_S   the update made at STEP (the first is s:0)
//   s:STEP tel:VAL_LOSS                                     validation after STEP updates (s:0: at init)
//   s:STEP eval:ACC                                         HellaSwag accuracy after STEP updates (-h 1)
//   s:STEP phi:PHI md:MEAN_DENSITY alpha:TAIL_INDEX         gradient-noise statistics (common/noise_density.h;
//                                                           alpha:nan when undefined, e.g. K < 4)
//   s:STEP tail:ALPHA coord:COORD_MEAN                       the heavy-tail paper's tail index (common/tail_index.h)
//   s:STEP skip:1                                           the update at STEP skipped (--skip-nonfinite)
// trl/tel/eval have llm.c's precision (%.4f, lr %.6f, norm %.2f); tps (and phi, skip) come after
// or beside llm.c's fields. Full precision is in metrics.jsonl.
// metrics.jsonl, one JSON object per line: first {"type":"config",...} (every flag after
// defaults are resolved, git revision, device, parameter count), then "train", "val",
// "eval", "noise" and "skip" records with the same step numbers as main.log ("tokens": the
// training tokens seen once the record's event is done).
//
// Resuming (-y 1) from the checkpoint after S updates keeps both files, drops the records the
// interrupted run wrote from step S on (the resumed run writes them again), appends a fresh
// config record with "resumed_from":S and continues, so the files read as one run. A torn line
// (no newline, or a record cut short: a crash mid-write) is cut off with one note line.
//
// A log never holds half a record: each line is written and flushed at once, and a failed write
// (a full disk, a lost mount) cuts the file back to its last complete line and ends the run with
// one line and exit 1; the checkpoints written so far are intact and -y 1 resumes from the last.
// A failed write to stdout (the console's copy of each record) ends the run the same way.
// Test hook: GPT2_TEST_FAIL_LOG_WRITE=N makes the N-th line written to the two logs (1-based,
// counted over both files) write half of itself and then fail as a full disk does (ENOSPC).
#pragma once
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "../optim/param_groups.h"
#include "noise_density.h"
#include "tail_index.h"
#include "train_config.h"
#include "utils.h"

#include <fcntl.h>
#include <unistd.h>

namespace run_log_detail {
inline std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') { out += '\\'; out += (char)c; }
        else if (c < 0x20) { char buf[8]; snprintf(buf, sizeof buf, "\\u%04x", c); out += buf; }
        else out += (char)c;
    }
    return out + "\"";
}
// Shortest round-tripping form of a float/double; JSON has no NaN or infinity, so those
// become null (train records never hold one: non-finite steps stop the run or are skipped).
inline std::string json_number(double x) {
    if (!std::isfinite(x)) return "null";
    char buf[32];
    snprintf(buf, sizeof buf, "%.9g", x);
    return buf;
}
// "s:12 trl:..." -> 12 and "trl"; false for a line that is not a record.
inline bool main_log_record(const std::string& line, long* step, std::string* kind) {
    int used = 0;
    if (sscanf(line.c_str(), "s:%ld %n", step, &used) != 1 || used == 0) return false;
    const size_t colon = line.find(':', used);
    if (colon == std::string::npos) return false;
    *kind = line.substr(used, colon - used);
    return true;
}
// {"type":"train","step":12,...} -> 12 and "train"; false when either is missing.
inline bool metrics_record(const std::string& line, long* step, std::string* type) {
    const size_t t = line.find("\"type\":\"");
    if (t == std::string::npos) return false;
    const size_t start = t + 8, end = line.find('"', start);
    if (end == std::string::npos) return false;
    *type = line.substr(start, end - start);
    const size_t s = line.find("\"step\":");
    if (s == std::string::npos) { *step = -1; return true; }
    *step = strtol(line.c_str() + s + 7, nullptr, 10);
    return true;
}
// A whole main.log record: "s:STEP" then "key:value" pairs, one space apart, every value a
// number (nan allowed), with every field its kind is written with (a line cut short lacks some;
// "s:STEP phi:PHI" alone is an older trainer's whole noise line).
inline bool complete_main_log_line(const std::string& line) {
    static const std::vector<std::pair<std::string, std::vector<std::string>>> fields = {
        {"trl", {"trl", "lr", "norm", "tps"}}, {"tel", {"tel"}}, {"eval", {"eval"}}, {"phi", {"phi", "md", "alpha"}},
        {"phi", {"phi"}}, {"tail", {"tail", "coord"}}, {"skip", {"skip"}}};
    std::vector<std::string> keys;
    size_t pos = 0;
    while (pos <= line.size()) {
        size_t end = line.find(' ', pos);
        if (end == std::string::npos) end = line.size();
        const std::string pair = line.substr(pos, end - pos);
        const size_t colon = pair.find(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == pair.size()) return false;
        const std::string value = pair.substr(colon + 1);
        char* stop = nullptr;
        strtod(value.c_str(), &stop);
        if (*stop != '\0') return false;
        keys.push_back(pair.substr(0, colon));
        pos = end + 1;
    }
    if (keys.size() < 2 || keys[0] != "s") return false;
    bool known = false;
    for (const auto& kind : fields) {
        if (kind.first != keys[1]) continue;
        if (std::vector<std::string>(keys.begin() + 1, keys.end()) == kind.second) return true;
        known = true;
    }
    return !known;  // a kind this version does not write is kept as it is
}
// A whole metrics.jsonl record: one JSON object, its braces and brackets closing exactly at the
// last character, outside any string (a line cut short never closes; two halves run together
// close early or not at all).
inline bool complete_metrics_line(const std::string& line) {
    if (line.empty() || line[0] != '{') return false;
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < line.size(); i++) {
        const char c = line[i];
        if (in_string) {
            if (c == '\\') i++;
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') in_string = true;
        else if (c == '{' || c == '[') depth++;
        else if (c == '}' || c == ']') {
            if (--depth == 0 && i + 1 != line.size()) return false;
        }
    }
    return depth == 0 && !in_string;
}
// Rewrites path (atomically) keeping the complete lines for which keep(line) is true; a torn
// line (no newline at the end, or not complete(line)) is dropped and counted in *torn.
template <class Complete, class Keep>
inline void filter_lines(const std::string& path, Complete complete, Keep keep, int* torn) {
    *torn = 0;
    FILE* f = fopen(path.c_str(), "rb");
    if (!f) return;  // nothing logged yet
    std::string kept, line;
    int c;
    while ((c = fgetc(f)) != EOF) {
        if (c != '\n') { line += (char)c; continue; }
        if (!complete(line)) ++*torn;
        else if (keep(line)) kept += line + "\n";
        line.clear();
    }
    fclose(f);
    if (!line.empty()) ++*torn;  // the last line, cut off before its newline
    write_file_atomically(path, nullptr, 0, kept.data(), kept.size());
}

// The N of GPT2_TEST_FAIL_LOG_WRITE (see top), or 0.
inline long test_fail_log_write() {
    const char* env = getenv("GPT2_TEST_FAIL_LOG_WRITE");
    return env ? atol(env) : 0;
}

// The console's copy of the records: a failed write to stdout (a full disk under a redirect)
// is an error, not a silent gap.
inline void check_console_or_fail() {
    errno = 0;
    const bool flush_failed = fflush(stdout) != 0;
    const int err = errno;
    if (flush_failed || ferror(stdout)) {  // a line-buffered printf already failed: its errno is gone
        clearerr(stdout);
        fail_runtime("cannot write to standard output%s%s%s: the run stops; its checkpoints are intact, -y 1 resumes",
                     flush_failed ? " (" : "", flush_failed ? strerror(err) : "", flush_failed ? ")" : "");
    }
}

// One log file written a whole line at a time (write(2), no stdio buffer that could flush half
// a line later): a failed write cuts the file back to the end of its last complete line.
class LogFile {
public:
    void open(const std::string& path, bool append) {
        path_ = path;
        fclose(open_or_fail(path.c_str(), append ? "a" : "w"));  // the usual error for a bad path
        fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND);
        if (fd_ < 0) fail_usage("cannot open '%s' (%s)", path.c_str(), strerror(errno));
        complete_bytes_ = lseek(fd_, 0, SEEK_END);
    }
    ~LogFile() {
        if (fd_ >= 0) ::close(fd_);
    }
    bool is_open() const { return fd_ >= 0; }
    void write_line(const std::string& record) {
        const std::string line = record + "\n";
        static long lines_written = 0;
        const bool inject = ++lines_written == test_fail_log_write();
        const size_t want = inject ? line.size() / 2 : line.size();
        size_t done = 0;
        while (done < want) {
            const ssize_t n = ::write(fd_, line.data() + done, want - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return failed(n < 0 ? errno : ENOSPC);
            done += (size_t)n;
        }
        if (inject) return failed(ENOSPC);
        complete_bytes_ += (off_t)line.size();
    }

private:
    [[noreturn]] void failed(int err) {
        const bool cut = ftruncate(fd_, complete_bytes_) == 0;
        fail_runtime("cannot write '%s' (%s): the run stops%s; its checkpoints are intact, -y 1 resumes from the last one",
                     path_.c_str(), strerror(err), cut ? " (the log ends at its last complete record)" : "");
    }
    std::string path_;
    int fd_ = -1;
    off_t complete_bytes_ = 0;
};
} // namespace run_log_detail

// The source revision the binary was built from, recorded at build time (the Makefile
// writes build/git_revision.h: GPT2_GIT_REVISION, GPT2_GIT_DIRTY = uncommitted changes to
// tracked files); "unknown" for a build outside a git checkout or without the Makefile.
// Not the working directory's HEAD at run time, which may be another repository.
#if __has_include("../build/git_revision.h")
#include "../build/git_revision.h"
#endif
#ifndef GPT2_GIT_REVISION
#define GPT2_GIT_REVISION "unknown"
#define GPT2_GIT_DIRTY -1
#endif
inline std::string git_revision() { return GPT2_GIT_REVISION; }
// "true"/"false", or "null" when unknown.
inline std::string git_dirty_json() { return GPT2_GIT_DIRTY < 0 ? "null" : GPT2_GIT_DIRTY ? "true" : "false"; }

// The "config" record: every TrainConfig field (cfg must have total_batch_tokens,
// max_steps and dist.num_processes, the job's rank count, resolved by the caller), the command line, git revision and device.
// cpu_kernels: the CPU trainer's matmul kernels (its results depend on them; "" leaves the key out).
inline std::string run_config_json(const TrainConfig& cfg, const std::string& argv_line, const std::string& device,
                                   size_t num_params, long tokens_per_step, int resumed_from, const std::string& cpu_kernels = "") {
    using run_log_detail::json_number;
    using run_log_detail::json_string;
    const OptimConfig& o = cfg.optim;
    const ScheduleConfig& s = cfg.schedule;
    std::vector<std::pair<std::string, std::string>> f = {
        {"optim", json_string(optim_name(o))}, {"lr", json_number(o.lr)},
        {"momentum", json_number(o.momentum)}, {"nesterov", std::to_string(o.nesterov)},
        {"beta1", json_number(o.beta1)}, {"beta2", json_number(o.beta2)}, {"eps", json_number(o.eps)},
        {"weight_decay", json_number(o.weight_decay)}, {"wd_on", json_string(wd_on_name(o.wd_on))},
        {"grad_clip", json_number(o.grad_clip)}, {"schedule", json_string(schedule_name(s.kind))},
        {"warmup_steps", std::to_string(s.warmup_steps)}, {"warmup_init", json_number(s.warmup_init)},
        {"final_lr_frac", json_number(s.final_lr_frac)}, {"wsd_decay_frac", json_number(s.wsd_decay_frac)},
        {"muon_ns_steps", std::to_string(o.muon_ns_steps)}, {"muon_fallback", json_string(algorithm_name(o.muon_fallback))},
        {"fallback_lr", json_number(o.fallback_lr)}, {"muon_scale", json_string(muon_scale_name(o.muon_scale))},
        {"muon_ns", json_string(muon_ns_name(o.muon_ns))}, {"fanion_alpha", json_number(o.fanion_alpha)},
        {"smuon_sign_scale", json_number(o.smuon_sign_scale)}, {"nsgd_norm", json_string(nsgd_norm_name(o.nsgd_norm))},
        {"warmup_shape", json_string(warmup_shape_name(s.warmup_shape))}, {"model", json_string(cfg.model)},
        {"batch_size", std::to_string(cfg.batch_size)}, {"seq_len", std::to_string(cfg.seq_len)},
        {"total_batch_tokens", std::to_string(cfg.total_batch_tokens)}, {"max_steps", std::to_string(cfg.max_steps)},
        {"seed", std::to_string(cfg.seed)}, {"data_seed", std::to_string(cfg.data_seed)}, {"train_glob", json_string(cfg.train_glob)},
        {"val_glob", json_string(cfg.val_glob)}, {"tokenizer", json_string(cfg.tokenizer_path)},
        {"output_dir", json_string(cfg.output_dir)}, {"val_every", std::to_string(cfg.val_every)},
        {"val_batches", std::to_string(cfg.val_batches)}, {"checkpoint_every", std::to_string(cfg.checkpoint_every)},
        {"sample_every", std::to_string(cfg.sample_every)}, {"gen_tokens", std::to_string(cfg.gen_tokens)},
        {"recompute", std::to_string(cfg.recompute)}, {"shuffle", std::to_string(cfg.shuffle)},
        {"resume", std::to_string(cfg.resume)}, {"keep", std::to_string(cfg.keep_checkpoints)},
        {"overwrite", std::to_string(cfg.overwrite)},
        {"skip_nonfinite", std::to_string(cfg.skip_nonfinite)}, {"noise_every", std::to_string(cfg.noise_every)},
        {"noise_batches", std::to_string(cfg.noise_batches)},
        {"noise_windows", json_string(noise_windows_string(cfg))}, {"attention", json_string(cfg.attention)},
        {"tail_index_every", std::to_string(cfg.tail_index_every)}, {"tail_index_samples", std::to_string(cfg.tail_index_samples)},
        {"tail_index_tensor", json_string(cfg.tail_index_wte ? std::string("wte") : cfg.tail_index_layer < 0 ? std::string("qkvw:mid") : "qkvw:" + std::to_string(cfg.tail_index_layer))},
        {"profile_kernels", std::to_string(cfg.profile_kernels)}, {"hellaswag", std::to_string(cfg.hellaswag)},
        {"hellaswag_path", json_string(cfg.hellaswag_path)}, {"init", json_string(cfg.init)},
        {"wsd_shape", json_string(wsd_shape_name(s.wsd_shape))}, {"overfit_single_batch", std::to_string(cfg.overfit_single_batch)},
        {"zero_stage", std::to_string(cfg.dist.zero_stage)}, {"sign_vote", std::to_string(cfg.dist.sign_vote)},
        {"vote_bits", std::to_string(cfg.dist.vote_bits)},
        {"byzantine", std::to_string(cfg.dist.byzantine)},
        {"byzantine_mode", json_string(cfg.dist.byzantine_omniscient ? "omniscient" : "blind")},
        {"vote_noise", json_number(cfg.dist.vote_noise)},
        {"rank_data_split", json_string(cfg.dist.rank_data_split ? "first-token" : "none")},
        {"vote_agreement", std::to_string(cfg.dist.vote_agreement)}, {"processes", std::to_string(cfg.dist.num_processes)},
    };
    // "optim_groups": every group's rule, lr and hyperparameters (optim/param_groups.h), --optim-group or not
    std::string groups = "{";
    for (int k = 0; k < NUM_OPTIM_GROUPS; k++) {
        const GroupRule r = optim_group_rule(o, (OptimGroup)k);
        bool given = false; // by --optim-group
        for (const GroupRule& g : o.group_rules) given |= g.group == r.group;
        groups += std::string(k ? "," : "") + json_string(optim_group_name(r.group)) + ":{\"rule\":" + json_string(algorithm_name(r.rule)) +
                  ",\"lr\":" + json_number(r.lr) + ",\"momentum\":" + json_number(r.hyper.momentum) + ",\"nesterov\":" +
                  std::to_string(r.hyper.nesterov) + ",\"beta1\":" + json_number(r.hyper.beta1) + ",\"beta2\":" + json_number(r.hyper.beta2) +
                  ",\"given\":" + (given ? "true" : "false") + "}";
    }
    groups += "}";
    f.push_back({"optim_group", json_string(optim_group_rules_string(o))});
    f.push_back({"optim_groups", groups});
    std::string flags = "{";
    for (size_t i = 0; i < f.size(); i++) flags += (i ? "," : "") + json_string(f[i].first) + ":" + f[i].second;
    flags += "}";
    std::string out = "{\"type\":\"config\",\"argv\":" + json_string(argv_line) + ",\"flags\":" + flags +
                      ",\"git_revision\":" + json_string(git_revision()) + ",\"git_dirty\":" + git_dirty_json() + ",\"device\":" + json_string(device) +
                      ",\"num_params\":" + std::to_string(num_params) + ",\"tokens_per_step\":" + std::to_string(tokens_per_step);
    if (!cpu_kernels.empty()) out += ",\"cpu_kernels\":" + json_string(cpu_kernels);
    if (resumed_from >= 0) out += ",\"resumed_from\":" + std::to_string(resumed_from);
    return out + "}";
}

class RunLog {
public:
    // Opens DIR/main.log and DIR/metrics.jsonl. resume_step < 0: a fresh run (files
    // truncated); otherwise the run continues from the checkpoint at that step (see top).
    // Every record's step follows the numbering at the top (train/skip: 0-based update index).
    void open(const std::string& dir, int resume_step) {
        using namespace run_log_detail;
        const std::string main_path = dir + "/main.log", metrics_path = dir + "/metrics.jsonl";
        if (resume_step >= 0) {
            const long S = resume_step;
            int torn_main = 0, torn_metrics = 0;
            filter_lines(main_path, complete_main_log_line, [&](const std::string& line) {
                long step; std::string kind;
                return main_log_record(line, &step, &kind) && step < S;
            }, &torn_main);
            filter_lines(metrics_path, complete_metrics_line, [&](const std::string& line) {
                long step; std::string type;
                if (!metrics_record(line, &step, &type)) return false;
                return type == "config" || step < S;
            }, &torn_metrics);
            if (torn_main + torn_metrics > 0)
                printf("note: cut %d torn line(s) from %s and %d from %s (a write cut short): the logs end at their last complete record\n",
                       torn_main, main_path.c_str(), torn_metrics, metrics_path.c_str());
        }
        main_.open(main_path, resume_step >= 0);
        metrics_.open(metrics_path, resume_step >= 0);
    }
    // The last lines printed after the last record (a checkpoint's) reached the console too.
    ~RunLog() { run_log_detail::check_console_or_fail(); }
    bool active() const { return main_.is_open(); }

    void config(const std::string& json) { metrics(json); }

    // grad_l1, grad_linf: ||g||_1 and ||g||_inf of the step's gradient (before clipping), from
    // the same pass as norm (= ||g||_2).
    void train(int step, double loss, double lr, double norm, double ms, double tokens_per_s, long tokens,
               double grad_l1 = NAN, double grad_linf = NAN, long long comm_bytes = -1,
               const std::vector<std::pair<std::string, double>>& update_norms = {},
               const std::vector<std::pair<std::string, double>>& extra = {}) {
        using run_log_detail::json_number;
        run_log_detail::check_console_or_fail();
        if (!active()) return;
        // comm_bytes: bytes this rank sent in the step's collectives (multi-process runs only)
        main_line(format_line("s:%d trl:%.4f lr:%.6f norm:%.2f tps:%.0f", step, loss, lr, norm, tokens_per_s));
        metrics("{\"type\":\"train\",\"step\":" + std::to_string(step) + ",\"loss\":" + json_number(loss) +
                ",\"lr\":" + json_number(lr) + ",\"grad_norm\":" + json_number(norm) + ",\"grad_l1\":" + json_number(grad_l1) +
                ",\"grad_l2\":" + json_number(norm) + ",\"grad_linf\":" + json_number(grad_linf) + ",\"ms\":" + json_number(ms) +
                ",\"tokens_per_s\":" + json_number(tokens_per_s) + ",\"tokens\":" + std::to_string(tokens) +
                (comm_bytes >= 0 ? ",\"comm_bytes\":" + std::to_string(comm_bytes) : std::string()) + update_norm_json(update_norms) +
                extra_json(extra) + "}");
    }
    // extra: further top-level number fields (--vote-agreement's), "" when none.
    static std::string extra_json(const std::vector<std::pair<std::string, double>>& fields) {
        std::string out;
        for (const auto& f : fields) out += "," + run_log_detail::json_string(f.first) + ":" + run_log_detail::json_number(f.second);
        return out;
    }
    // ,"update_norm":{"wte":..,...}: the L2 norm of each group's parameter change in the step
    // (optim/param_groups.h); "" when not measured.
    static std::string update_norm_json(const std::vector<std::pair<std::string, double>>& norms) {
        if (norms.empty()) return "";
        std::string out = ",\"update_norm\":{";
        for (size_t i = 0; i < norms.size(); i++)
            out += (i ? "," : "") + run_log_detail::json_string(norms[i].first) + ":" + run_log_detail::json_number(norms[i].second);
        return out + "}";
    }
    void val(int step, double loss, long tokens) {
        run_log_detail::check_console_or_fail();
        if (!active()) return;
        main_line(format_line("s:%d tel:%.4f", step, loss));
        metrics("{\"type\":\"val\",\"step\":" + std::to_string(step) + ",\"loss\":" + run_log_detail::json_number(loss) +
                ",\"tokens\":" + std::to_string(tokens) + "}");
    }
    void eval(int step, int correct, int examples, long tokens) {
        run_log_detail::check_console_or_fail();
        if (!active()) return;
        const double acc = examples > 0 ? (double)correct / examples : 0.0;
        main_line(format_line("s:%d eval:%.4f", step, acc));
        metrics("{\"type\":\"eval\",\"step\":" + std::to_string(step) + ",\"task\":\"hellaswag\",\"accuracy\":" +
                run_log_detail::json_number(acc) + ",\"correct\":" + std::to_string(correct) + ",\"examples\":" +
                std::to_string(examples) + ",\"tokens\":" + std::to_string(tokens) + "}");
    }
    // metrics.jsonl: "phi", "mean_density", "tail_index" (null when undefined), each also
    // "<stat>_per_tensor" by tensor name; "phi_per_group" (noise_groups()); "d", the coordinates
    // counted; "K" (= "batches") and "tokens_per_gradient", what the estimate depends on.
    void noise(int step, const NoiseDensityResult& r, int batches, long tokens_per_gradient) {
        using run_log_detail::json_number;
        run_log_detail::check_console_or_fail();
        if (!active()) return;
        main_line(format_line("s:%d phi:%.5f md:%.5f alpha:%.4f", step, r.all.phi, r.all.mean_density, r.all.tail_index));
        auto per_name = [&](const std::vector<std::pair<std::string, NoiseStats>>& named, double NoiseStats::*stat) {
            std::string t = "{";
            for (size_t i = 0; i < named.size(); i++)
                t += (i ? ",\"" : "\"") + named[i].first + "\":" + json_number(named[i].second.*stat);
            return t + "}";
        };
        auto per_tensor = [&](double NoiseStats::*stat) { return per_name(r.per_tensor, stat); };
        metrics("{\"type\":\"noise\",\"step\":" + std::to_string(step) + ",\"phi\":" + json_number(r.all.phi) +
                ",\"mean_density\":" + json_number(r.all.mean_density) + ",\"tail_index\":" + json_number(r.all.tail_index) +
                ",\"phi_per_tensor\":" + per_tensor(&NoiseStats::phi) +
                ",\"mean_density_per_tensor\":" + per_tensor(&NoiseStats::mean_density) +
                ",\"tail_index_per_tensor\":" + per_tensor(&NoiseStats::tail_index) +
                ",\"phi_per_group\":" + per_name(r.per_group, &NoiseStats::phi) + ",\"d\":" + std::to_string(r.all.d) +
                ",\"batches\":" + std::to_string(batches) + ",\"K\":" + std::to_string(batches) +
                ",\"tokens_per_gradient\":" + std::to_string(tokens_per_gradient) + "}");
    }
    // metrics.jsonl "tail": the means over ranks of the whole slice's index ("alpha") and of
    // the 25 coordinates' ("coord_alpha", at slice indices "coords"; "coord_alpha_mean" their
    // mean where defined), from "samples" sequences of "seq_len" tokens per rank, beside
    // "gaussian_alpha", what the estimator reads for finite-variance noise at that K.
    void tail(int step, const std::string& tensor, int samples, int seq_len, int ranks, const TailIndexStats& s,
              const std::vector<size_t>& coords) {
        using run_log_detail::json_number;
        run_log_detail::check_console_or_fail();
        if (!active()) return;
        main_line(format_line("s:%d tail:%.4f coord:%.4f", step, s.alpha, s.coord_mean()));
        std::string ca = "[", ci = "[";
        for (size_t i = 0; i < s.coord_alpha.size(); i++) ca += (i ? "," : "") + json_number(s.coord_alpha[i]);
        for (size_t i = 0; i < coords.size(); i++) ci += (i ? "," : "") + std::to_string(coords[i]);
        metrics("{\"type\":\"tail\",\"step\":" + std::to_string(step) + ",\"tensor\":" + run_log_detail::json_string(tensor) +
                ",\"samples\":" + std::to_string(samples) + ",\"seq_len\":" + std::to_string(seq_len) +
                ",\"ranks\":" + std::to_string(ranks) + ",\"alpha\":" + json_number(s.alpha) +
                ",\"coord_alpha_mean\":" + json_number(s.coord_mean()) + ",\"gaussian_alpha\":" +
                json_number(tail_index_gaussian(samples)) + ",\"coord_alpha\":" + ca + "],\"coords\":" + ci + "]}");
    }
    void skip(int step, const std::string& reason, int total_skips) {
        run_log_detail::check_console_or_fail();
        if (!active()) return;
        main_line(format_line("s:%d skip:1", step));
        metrics("{\"type\":\"skip\",\"step\":" + std::to_string(step) + ",\"reason\":" + run_log_detail::json_string(reason) +
                ",\"skips\":" + std::to_string(total_skips) + "}");
    }

private:
    void metrics(const std::string& json) {
        if (metrics_.is_open()) metrics_.write_line(json);
    }
    void main_line(const std::string& line) { main_.write_line(line); }
    static std::string format_line(const char* fmt, ...) __attribute__((format(printf, 1, 2))) {
        char buf[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        return buf;
    }
    run_log_detail::LogFile main_;
    run_log_detail::LogFile metrics_;
};

// The command line as one string (the config record's "argv").
inline std::string argv_line(int argc, char** argv) {
    std::string line;
    for (int i = 0; i < argc; i++) line += (i ? " " : "") + std::string(argv[i]);
    return line;
}

// With -o: opens the logs (continuing them when resume_step >= 0) and writes the config
// record, with the total batch and the step count resolved. Without -o the log stays inactive.
inline void open_run_log(RunLog* log, const TrainConfig& cfg, int argc, char** argv, const std::string& device,
                         size_t num_params, long total_batch, int max_steps, int resume_step, const std::string& cpu_kernels = "") {
    if (cfg.output_dir.empty()) return;
    log->open(cfg.output_dir, resume_step);
    TrainConfig resolved = cfg;
    resolved.total_batch_tokens = total_batch;
    resolved.max_steps = max_steps;
    log->config(run_config_json(resolved, argv_line(argc, argv), device, num_params, total_batch, resume_step, cpu_kernels));
}
