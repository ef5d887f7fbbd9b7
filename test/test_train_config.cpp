// common/train_config.h without running a trainer: llm.c's GPT-2 (124M) command line parses
// with llm.c's meaning (issue 16's "done when"), and its llm.c-only flags map or leave a note.
// Errors (one line, exit 2) are checked end to end in test/test_trainer_cli.sh.
#include <cmath>
#include <map>
#include <string>

#include "../common/launch_env.h"
#include "../common/train_config.h"
#include "../optim/param_groups.h"
#include "../optim/schedule.h"
#include "check.h"

static bool has_note(const TrainConfig& c, const std::string& start) {
    for (const std::string& n : c.notes)
        if (n.compare(0, start.size(), start) == 0) return true;
    return false;
}

static void test_llmc_d12_line() {
    // llm.c's README GPT-2 (124M) run, train_gpt2cu's defaults underneath.
    TrainConfig c;
    c.batch_size = 64;
    c.total_batch_tokens = 524288;
    parse_train_args_string("-i dev/data/fineweb10B/fineweb_train_*.bin -j dev/data/fineweb10B/fineweb_val_*.bin "
                            "-o log124M -e d12 -b 64 -t 1024 -d 524288 -r 0 -z 1 -c 0.1 -l 0.0006 -q 0.0 -u 700 "
                            "-n 5000 -v 250 -s 20000 -h 1", &c);
    const bool ok = c.train_glob == "dev/data/fineweb10B/fineweb_train_*.bin" && c.output_dir == "log124M" &&
                    c.model == "d12" && c.batch_size == 64 && c.seq_len == 1024 && c.total_batch_tokens == 524288 &&
                    c.recompute == 0 && std::fabs(c.optim.weight_decay - 0.1f) < 1e-9 &&
                    std::fabs(c.optim.lr - 6e-4f) < 1e-12 && c.schedule.final_lr_frac == 0.0f &&
                    c.schedule.warmup_steps == 700 && c.checkpoint_every == 5000 && c.val_every == 250 &&
                    c.sample_every == 20000 && c.hellaswag == 1 && c.optim.algorithm == Algorithm::AdamW &&
                    c.schedule.kind == Schedule::Cosine && c.notes.size() == 1 && has_note(c, "-z 1:");
    test_expect(ok, "flags/llmc_d12_command_line", "parsed values or notes differ (" + std::to_string(c.notes.size()) + " notes)");
}

static void test_llmc_flags() {
    TrainConfig c;
    parse_train_args_string("-o run -k wsd -nk 3 -f 0 -a 1 -j val.bin -w 1 -sl 0 -sg 0 -nm 0 -r 2", &c);
    test_expect(c.schedule.kind == Schedule::WSD && c.keep_checkpoints == 3 && c.attention == "cublas" &&
                    c.overfit_single_batch == 1 && c.train_glob == "val.bin" && c.shuffle == 0 && c.recompute == 1,
                "flags/llmc_flags_mapped", "-k, -nk, -f, -a or -r did not map");
    // -w 1, -sl 0, -sg 0, -nm 0 mean what they mean here (nothing to say); -r 2 gets a note (-o: -nk without it is one too).
    test_expect(c.notes.size() == 1 && has_note(c, "-r 2"), "flags/llmc_flags_same_meaning_no_note",
                std::to_string(c.notes.size()) + " notes");
    TrainConfig d;
    parse_train_args_string("-w 0 -ge 2 -sl 3 -sg 2.5 -nm 10 -lg 5 -z 0", &d);
    const bool all = d.notes.size() == 6 && has_note(d, "-w 0") && has_note(d, "-ge") && has_note(d, "-sl") &&
                     has_note(d, "-sg") && has_note(d, "-nm") && has_note(d, "-lg");
    test_expect(all, "flags/llmc_ignored_flags_each_note", std::to_string(d.notes.size()) + " notes, want 6");
    TrainConfig e;
    parse_train_args_string("-h 0 -x 0 --wsd-shape linear --init llmc --seed 4294967295", &e);
    test_expect(e.hellaswag == 0 && e.max_steps == 0 && e.schedule.wsd_shape == WsdShape::Linear && e.init == "llmc",
                "flags/h0_x0_wsd_shape_init", "values differ");
    TrainConfig f;
    test_expect(f.schedule.wsd_shape == WsdShape::Sqrt && f.init == "counter" && f.hellaswag == 0,
                "flags/defaults", "wsd shape sqrt, init counter, no HellaSwag by default");
}

// --optim fmuon|smuon: Muon's algorithm with its variant, Muon's defaults, Muon's parameter groups.
static void test_fanion_flags() {
    TrainConfig f, m, sm;
    parse_train_args_string("--optim fmuon", &f);
    parse_train_args_string("--optim muon", &m);
    parse_train_args_string("--optim smuon --fanion-alpha 0.25 --smuon-sign-scale 0.01 --muon-scale rms", &sm);
    const OptimConfig &o = f.optim, &s = sm.optim;
    test_expect(o.algorithm == Algorithm::Muon && o.muon_variant == MuonVariant::FMuon && o.fanion_alpha == 0.5f &&
                    o.smuon_sign_scale == 0.003f && o.lr == m.optim.lr && o.momentum == 0.95f && o.nesterov == 1 &&
                    o.fallback_lr == m.optim.fallback_lr && std::string(optim_name(o)) == "fmuon" && f.notes.empty(),
                "flags/fmuon_defaults", std::string(optim_name(o)) + " lr " + std::to_string(o.lr) + " alpha " + std::to_string(o.fanion_alpha));
    test_expect(s.muon_variant == MuonVariant::SMuon && s.fanion_alpha == 0.25f && s.smuon_sign_scale == 0.01f &&
                    s.lr == default_lr(Algorithm::AdamW) && std::string(optim_name(s)) == "smuon" &&
                    std::string(optim_name(m.optim)) == "muon",
                "flags/smuon_values", std::string(optim_name(s)) + " alpha " + std::to_string(s.fanion_alpha));
    GPT2Config model;
    gpt2_config_from_name("d2", &model);
    const std::vector<ParamGroup> gf = optim_param_groups(o, model), gm = optim_param_groups(m.optim, model);
    bool same = gf.size() == gm.size();
    for (size_t k = 0; same && k < gf.size(); k++) same = gf[k].rule == gm[k].rule && gf[k].peak_lr == gm[k].peak_lr;
    test_expect(same, "flags/fmuon_param_groups_are_muons", "the rule or lr of some tensor differs from muon's");
}

// --noise-windows: the paper's measurement windows (issue 13) on top of --noise-every.
static void test_noise_windows() {
    auto due_steps = [](const TrainConfig& c, int max_steps) {
        std::string out;
        for (int s = 0; s <= max_steps; s++)
            if (noise_due(c, s, s == max_steps)) out += (out.empty() ? "" : " ") + std::to_string(s);
        return out;
    };
    TrainConfig plain;
    parse_train_args_string("--noise-every 4", &plain);
    test_expect(due_steps(plain, 10) == "0 4 8 10", "flags/noise_every_and_last", "steps '" + due_steps(plain, 10) + "'");
    TrainConfig w;
    parse_train_args_string("--noise-every 2 --noise-windows 0:4,10:15,19:25", &w);
    const std::string got = due_steps(w, 20);
    test_expect(w.noise_windows.size() == 3 && got == "0 2 10 12 14 19", "flags/noise_windows_steps",
                "steps '" + got + "', want '0 2 10 12 14 19' (windows [A,B), from A every N, no end measurement)");
    test_expect(noise_windows_string(w) == "0:4,10:15,19:25", "flags/noise_windows_string", noise_windows_string(w));
    TrainConfig none;
    test_expect(none.noise_windows.empty() && noise_windows_string(none).empty() && !noise_due(none, 0, true),
                "flags/noise_windows_default", "windows given by default, or noise due without --noise-every");
}

// --lrs "FLAGS": the learning rate of every step 0 .. -x - 1 that the trainers take from these
// flags (peak * lr_factor_at, as float), one per line; test/test_warmup_onecycle.py compares
// them with PyTorch's OneCycleLR.
static int print_lrs(const char* flags) {
    TrainConfig c;
    parse_train_args_string(flags, &c);
    if (c.max_steps < 1) fail_usage("--lrs needs -x STEPS in its flags");
    for (int step = 0; step < c.max_steps; step++) printf("%.9g\n", (double)(c.optim.lr * lr_factor_at(c.schedule, step, c.max_steps)));
    return 0;
}

// --tail-index-*: defaults (off, K = 1,250, the middle layer's qkvw), the tensor spec, the due steps.
static void test_tail_index_flags() {
    TrainConfig d;
    parse_train_args_string("", &d);
    test_expect(d.tail_index_every == 0 && d.tail_index_samples == 1250 && !d.tail_index_wte && tail_index_layer(d, 12) == 6 &&
                    tail_index_layer(d, 2) == 1 && !tail_index_due(d, 0, true),
                "flags/tail_index_defaults", "not off, K 1250, qkvw of layer L/2 by default");
    TrainConfig q;
    parse_train_args_string("--tail-index-every 3 --tail-index-samples 64 --tail-index-tensor qkvw:4", &q);
    std::string due;
    for (int s = 0; s <= 7; s++)
        if (tail_index_due(q, s, s == 7)) due += (due.empty() ? "" : " ") + std::to_string(s);
    test_expect(q.tail_index_samples == 64 && !q.tail_index_wte && tail_index_layer(q, 12) == 4 && due == "0 3 6 7",
                "flags/tail_index_qkvw", "K " + std::to_string(q.tail_index_samples) + ", due steps '" + due + "'");
    TrainConfig w;
    parse_train_args_string("--tail-index-tensor qkvw:1 --tail-index-tensor wte", &w);
    test_expect(w.tail_index_wte, "flags/tail_index_wte", "--tail-index-tensor wte did not select wte");
}

// common/launch_env.h: rank, size and local rank from the launcher's variables and -pn/-pr.
// Returns "rank size local launcher" or "error: ..." for the flags and environment given.
static std::string launch(const std::string& flags, const std::map<std::string, std::string>& vars) {
    TrainConfig c;
    parse_train_args_string(flags, &c);
    const EnvLookup env = [&vars](const char* name) -> const char* {
        auto it = vars.find(name);
        return it == vars.end() ? nullptr : it->second.c_str();
    };
    LaunchRanks r;
    std::string error;
    if (!resolve_launch_ranks(c.dist, env, &r, &error)) return "error: " + error;
    return std::to_string(r.rank) + " " + std::to_string(r.size) + " " + std::to_string(r.local_rank) + " " + r.launcher;
}
static void expect_launch(const std::string& name, const std::string& flags, const std::map<std::string, std::string>& vars,
                          const std::string& want) {
    const std::string got = launch(flags, vars);
    test_expect(got == want, "launch/" + name, "flags '" + flags + "': got '" + got + "', want '" + want + "'");
}
static void test_launch_ranks() {
    const std::map<std::string, std::string> slurm = {{"SLURM_PROCID", "3"}, {"SLURM_NTASKS", "4"}, {"SLURM_LOCALID", "1"}};
    const std::map<std::string, std::string> ompi = {{"OMPI_COMM_WORLD_RANK", "5"}, {"OMPI_COMM_WORLD_SIZE", "8"},
                                                     {"OMPI_COMM_WORLD_LOCAL_RANK", "5"}};
    expect_launch("none_defaults", "", {}, "0 1 0 ");
    expect_launch("flags_only", "-pn 4 -pr 3 -pg 2", {}, "3 4 1 ");
    expect_launch("flags_rank_not_below_size", "-pn 2 -pr 2", {}, "error: -pr 2 is not below -pn 2");
    expect_launch("slurm", "", slurm, "3 4 1 SLURM");
    expect_launch("slurm_agreeing_flags", "-pn 4 -pr 3", slurm, "3 4 1 SLURM");
    expect_launch("slurm_pr_contradicts", "-pr 1", slurm, "error: -pr 1 contradicts SLURM_PROCID=3 (leave -pr out under a launcher)");
    expect_launch("slurm_pr0_contradicts", "-pr 0", slurm, "error: -pr 0 contradicts SLURM_PROCID=3 (leave -pr out under a launcher)");
    expect_launch("slurm_pn_contradicts", "-pn 2", slurm, "error: -pn 2 contradicts SLURM_NTASKS=4 (leave -pn out under a launcher)");
    expect_launch("slurm_no_localid_uses_pg", "-pg 2", {{"SLURM_PROCID", "3"}, {"SLURM_NTASKS", "4"}}, "3 4 1 SLURM");
    expect_launch("slurm_procid_without_ntasks", "", {{"SLURM_PROCID", "0"}}, "error: SLURM_NTASKS is unset");
    expect_launch("slurm_rank_not_below_size", "", {{"SLURM_PROCID", "4"}, {"SLURM_NTASKS", "4"}},
                  "error: SLURM_PROCID=4 is not below SLURM_NTASKS=4");
    expect_launch("slurm_malformed", "", {{"SLURM_PROCID", "x1"}, {"SLURM_NTASKS", "4"}},
                  "error: SLURM_PROCID='x1' is not a whole number >= 0");
    expect_launch("slurm_zero_tasks", "", {{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "0"}}, "error: SLURM_NTASKS=0: a job has at least one process");
    expect_launch("slurm_bad_localid", "", {{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"SLURM_LOCALID", "-1"}},
                  "error: SLURM_LOCALID='-1' is not a whole number >= 0");
    expect_launch("ompi", "", ompi, "5 8 5 OMPI");
    expect_launch("ompi_pn_contradicts", "-pn 4", ompi, "error: -pn 4 contradicts OMPI_COMM_WORLD_SIZE=8 (leave -pn out under a launcher)");
    // mpirun inside a Slurm allocation: OMPI_ wins, SLURM_PROCID (the batch step's) is not compared
    std::map<std::string, std::string> both = ompi;
    both.insert(slurm.begin(), slurm.end());
    expect_launch("ompi_over_slurm", "-pr 5", both, "5 8 5 OMPI");
    expect_launch("pmi", "-pg 4", {{"PMI_RANK", "6"}, {"PMI_SIZE", "8"}}, "6 8 2 PMI");
    expect_launch("pmi_localrankid", "", {{"PMI_RANK", "6"}, {"PMI_SIZE", "8"}, {"MPI_LOCALRANKID", "0"}}, "6 8 0 PMI");
    expect_launch("pmi_over_slurm", "", {{"PMI_RANK", "1"}, {"PMI_SIZE", "2"}, {"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "1"}}, "1 2 1 PMI");
    expect_launch("pmi_pr_contradicts", "-pr 0", {{"PMI_RANK", "1"}, {"PMI_SIZE", "2"}},
                  "error: -pr 0 contradicts PMI_RANK=1 (leave -pr out under a launcher)");
}

// choose_gpu: local rank % visible GPUs; one visible per rank (--gpus-per-task=1) is GPU 0.
static void test_choose_gpu() {
    std::string error, got;
    const int cases[][3] = {{0, 8, 0}, {5, 8, 5}, {5, 1, 0}, {7, 1, 0}, {9, 8, 1}, {3, 2, 1}};
    for (const auto& c : cases) {
        const int d = choose_gpu(c[0], c[1], &error);
        if (d != c[2]) got += " local " + std::to_string(c[0]) + " of " + std::to_string(c[1]) + " -> " + std::to_string(d) + " (want " + std::to_string(c[2]) + ")";
    }
    test_expect(got.empty(), "launch/choose_gpu", "device choice differs:" + got);
    error.clear();
    const int none = choose_gpu(0, 0, &error);
    test_expect(none == -1 && error.find("found none") != std::string::npos, "launch/choose_gpu_no_device",
                "got " + std::to_string(none) + " '" + error + "'");
    error.clear();
    const int negative = choose_gpu(-1, 4, &error);
    test_expect(negative == -1 && !error.empty(), "launch/choose_gpu_negative_local_rank", "got " + std::to_string(negative));
}

// --optim-group's defaults rule (optim_config.h resolve_optim_defaults): a group's rule takes
// its own defaults unless the flag was given; the table (param_groups.h) gives every tensor
// its group's rule, lr and hyperparameters, and Muon's fallback is the same table.
static void test_optim_groups() {
    const GPT2Config model = [] { GPT2Config m; gpt2_config_from_name("d2", &m); return m; }();
    auto rule_of = [&](const OptimConfig& o, const char* tensor) {
        for (const ParamGroup& g : optim_param_groups(o, model))
            if (std::string(g.tensor.name) == tensor) return g;
        return ParamGroup{};
    };
    TrainConfig a;
    parse_train_args_string("--optim adamw --optim-group attn=lion --optim-group wte=sgd:0.5 --optim-group norms=signum", &a);
    const ParamGroup qkvw = rule_of(a.optim, "qkvw"), wte = rule_of(a.optim, "wte"), fcb = rule_of(a.optim, "fcb"), fcw = rule_of(a.optim, "fcw");
    test_expect(qkvw.rule == Algorithm::Lion && qkvw.peak_lr == 1e-4f && qkvw.hyper.beta2 == 0.99f && qkvw.hyper.beta1 == 0.9f &&
                    rule_of(a.optim, "attprojw").rule == Algorithm::Lion && a.optim.beta2 == 0.95f,
                "flags/optim_group_own_defaults", "attn: lion lr 1e-4 beta2 0.99 (adamw keeps 0.95)");
    test_expect(wte.rule == Algorithm::SGD && wte.peak_lr == 0.5f && wte.hyper.momentum == 0.9f && wte.hyper.nesterov == 0 &&
                    fcb.rule == Algorithm::Signum && fcb.hyper.momentum == 0.9f && rule_of(a.optim, "ln1w").rule == Algorithm::Signum &&
                    fcw.rule == Algorithm::AdamW && fcw.peak_lr == 6e-4f && rule_of(a.optim, "wpe").rule == Algorithm::AdamW,
                "flags/optim_group_membership", "wte sgd 0.5, norms (fcb, ln1w) signum, mlp and wpe adamw");
    TrainConfig b;
    parse_train_args_string("--optim adamw --beta2 0.9 --momentum 0.5 --optim-group attn=lion --optim-group wte=sgd", &b);
    test_expect(rule_of(b.optim, "qkvw").hyper.beta2 == 0.9f && rule_of(b.optim, "wte").hyper.momentum == 0.5f,
                "flags/optim_group_given_flags_win", "--beta2 0.9 and --momentum 0.5 reach the groups");
    // muon: the fallback is the table's default for wte, wpe, norms; a muon group keeps -l's default (rms: 6e-4)
    TrainConfig m;
    parse_train_args_string("--optim muon --muon-scale rms --optim-group mlp=muon --optim-group wte=sgd", &m);
    test_expect(rule_of(m.optim, "fcw").rule == Algorithm::Muon && rule_of(m.optim, "fcw").peak_lr == 6e-4f &&
                    rule_of(m.optim, "fcw").hyper.momentum == 0.95f && rule_of(m.optim, "fcw").hyper.nesterov == 1 &&
                    rule_of(m.optim, "wpe").rule == Algorithm::AdamW && rule_of(m.optim, "wpe").peak_lr == 6e-4f &&
                    rule_of(m.optim, "wte").rule == Algorithm::SGD && rule_of(m.optim, "wte").hyper.momentum == 0.9f &&
                    rule_of(m.optim, "qkvw").rule == Algorithm::Muon,
                "flags/optim_group_under_muon", "mlp muon at -l 6e-4 (0.95, nesterov), wpe the adamw fallback, wte sgd (0.9)");
    test_expect(optim_group_rules_string(a.optim) == "wte=sgd:0.5,attn=lion:9.99999975e-05,norms=signum:9.99999975e-05",
                "flags/optim_group_rules_string", "'" + optim_group_rules_string(a.optim) + "' (group order, exact lr)");
}

int main(int argc, char** argv) {
    if (argc == 3 && std::string(argv[1]) == "--lrs") return print_lrs(argv[2]);
    test_llmc_d12_line();
    test_llmc_flags();
    test_noise_windows();
    test_tail_index_flags();
    test_fanion_flags();
    test_launch_ranks();
    test_choose_gpu();
    test_optim_groups();
    return test_exit_code();
}
