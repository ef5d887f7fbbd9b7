// common/train_config.h without running a trainer: llm.c's GPT-2 (124M) command line parses
// with llm.c's meaning (issue 16's "done when"), and its llm.c-only flags map or leave a note.
// Errors (one line, exit 2) are checked end to end in test/test_trainer_cli.sh.
#include <cmath>
#include <string>

#include "../common/train_config.h"
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
    parse_train_args_string("-k wsd -nk 3 -f 0 -a 1 -j val.bin -w 1 -sl 0 -sg 0 -nm 0 -r 2", &c);
    test_expect(c.schedule.kind == Schedule::WSD && c.keep_checkpoints == 3 && c.attention == "cublas" &&
                    c.overfit_single_batch == 1 && c.train_glob == "val.bin" && c.shuffle == 0 && c.recompute == 1,
                "flags/llmc_flags_mapped", "-k, -nk, -f, -a or -r did not map");
    // -w 1, -sl 0, -sg 0, -nm 0 mean what they mean here (nothing to say); -r 2 gets a note.
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

int main(int argc, char** argv) {
    if (argc == 3 && std::string(argv[1]) == "--lrs") return print_lrs(argv[2]);
    test_llmc_d12_line();
    test_llmc_flags();
    test_noise_windows();
    test_tail_index_flags();
    return test_exit_code();
}
