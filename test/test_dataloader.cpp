// Tests of common/dataloader.h and common/tokenizer.h on synthetic shards written by
// test/make_test_shards.py (token i of shard S is 10000*S + i, so every batch says where it
// came from), and on the real shards in the shared data folder when it exists.
//
//   test_dataloader TEST_DIR [SHARED_DATA_DIR]
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "../common/dataloader.h"
#include "../common/tokenizer.h"
#include "check.h"

static const int B = 2, T = 8, BT = B * T;
static std::string g_dir;
static std::vector<size_t> g_windows;  // windows per synthetic shard, from the manifest

struct Window {
    int shard, index;
    bool operator<(const Window& o) const { return shard != o.shard ? shard < o.shard : index < o.index; }
    bool operator==(const Window& o) const { return shard == o.shard && index == o.index; }
};

// Which window the current batch is, or {-1,-1} when its tokens are not exactly one window
// (inputs = B*T consecutive tokens of one shard starting at a window start, targets shifted).
static Window current_window(const DataLoader& dl) {
    const int first = dl.inputs()[0];
    const Window w{first / 10000, (first % 10000) / BT};
    if (first % 10000 % BT != 0 || w.shard >= (int)g_windows.size() || w.index >= (int)g_windows[w.shard]) return {-1, -1};
    for (int i = 0; i < BT; i++)
        if (dl.inputs()[i] != first + i || dl.targets()[i] != first + i + 1) return {-1, -1};
    return w;
}

static std::vector<Window> read_windows(DataLoader& dl, long n) {
    std::vector<Window> out;
    for (long i = 0; i < n; i++) { dl.next_batch(); out.push_back(current_window(dl)); }
    return out;
}

static std::string describe(const std::vector<Window>& ws, size_t max = 16) {
    std::string s;
    for (size_t i = 0; i < ws.size() && i < max; i++) s += "(" + std::to_string(ws[i].shard) + "," + std::to_string(ws[i].index) + ")";
    return s + (ws.size() > max ? "..." : "");
}

// PASS or FAIL with the same detail either way, so passing lines show what was compared.
static bool expect(bool ok, const std::string& name, const std::string& detail) {
    return ok ? test_pass(name, detail) : test_fail(name, detail);
}

static std::string good_glob() { return g_dir + "/good/train_*.bin"; }

static size_t total_windows() { size_t n = 0; for (size_t w : g_windows) n += w; return n; }

// Runs f in a child process; returns its exit code and what it wrote to stderr.
struct ChildResult { int exit_code; std::string err; };
static ChildResult run_in_child(const std::function<void()>& f) {
    int fds[2];
    if (pipe(fds) != 0) fail_runtime("pipe failed");
    fflush(stdout);
    fflush(stderr);
    const pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        f();
        fflush(stderr);
        exit(0);
    }
    close(fds[1]);
    std::string err;
    char buf[512];
    ssize_t got;
    while ((got = read(fds[0], buf, sizeof buf)) > 0) err.append(buf, (size_t)got);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, err};
}

static bool one_line(const std::string& s) { return !s.empty() && s.find('\n') == s.size() - 1; }

static void expect_error(const std::string& name, const std::function<void()>& f, int want_code,
                         const std::vector<std::string>& want_in_message) {
    const ChildResult r = run_in_child(f);
    std::string msg = r.err;
    if (!msg.empty() && msg.back() == '\n') msg.pop_back();
    if (r.exit_code != want_code) { test_fail(name, "exit code " + std::to_string(r.exit_code) + ", want " + std::to_string(want_code) + " (stderr: " + msg + ")"); return; }
    if (!one_line(r.err)) { test_fail(name, "stderr is not one line: " + r.err); return; }
    for (const std::string& w : want_in_message)
        if (msg.find(w) == std::string::npos) { test_fail(name, "message lacks '" + w + "': " + msg); return; }
    test_pass(name, "\"" + msg + "\"");
}

static void test_in_order() {
    DataLoader dl(good_glob(), B, T, 0, 1, false, 1);
    expect(dl.num_shards() == g_windows.size() && dl.batches_per_epoch() == (long)total_windows() && dl.total_tokens() == 81 + 55 + 65 + 17,
                "loader_counts", "num_shards " + std::to_string(dl.num_shards()) + " batches_per_epoch " + std::to_string(dl.batches_per_epoch()) + " total_tokens " + std::to_string(dl.total_tokens()));
    std::vector<Window> want;
    for (int epoch = 0; epoch < 2; epoch++)
        for (size_t s = 0; s < g_windows.size(); s++)
            for (size_t k = 0; k < g_windows[s]; k++) want.push_back({(int)s, (int)k});
    const std::vector<Window> got = read_windows(dl, (long)want.size());
    expect(got == want, "in_order_exact_tokens_across_shards_and_epochs",
                "got " + describe(got, 30) + " want " + describe(want, 30));
}

// Checks that one epoch visits every window once, shard by shard.
static bool is_epoch_permutation(const std::vector<Window>& epoch, std::string* why) {
    std::set<Window> seen(epoch.begin(), epoch.end());
    if (epoch.size() != total_windows() || seen.size() != epoch.size() || seen.count({-1, -1})) { *why = "not a permutation of all windows: " + describe(epoch, 30); return false; }
    std::set<int> finished;
    for (size_t i = 0; i < epoch.size(); i++) {
        if (i > 0 && epoch[i].shard != epoch[i - 1].shard) finished.insert(epoch[i - 1].shard);
        if (finished.count(epoch[i].shard)) { *why = "shard " + std::to_string(epoch[i].shard) + " is visited twice in one epoch: " + describe(epoch, 30); return false; }
    }
    return true;
}

static void test_shuffle() {
    const long n = (long)total_windows();
    DataLoader a(good_glob(), B, T, 0, 1, true, 7), b(good_glob(), B, T, 0, 1, true, 7), c(good_glob(), B, T, 0, 1, true, 8);
    const std::vector<Window> wa = read_windows(a, 3 * n), wb = read_windows(b, 3 * n), wc = read_windows(c, 3 * n);
    std::string why;
    bool ok = true;
    for (int e = 0; e < 3 && ok; e++) ok = is_epoch_permutation(std::vector<Window>(wa.begin() + e * n, wa.begin() + (e + 1) * n), &why);
    expect(ok, "shuffle_each_epoch_is_a_permutation", why);
    std::vector<Window> in_order;
    for (size_t s = 0; s < g_windows.size(); s++)
        for (size_t k = 0; k < g_windows[s]; k++) in_order.push_back({(int)s, (int)k});
    const std::vector<Window> e0(wa.begin(), wa.begin() + n), e1(wa.begin() + n, wa.begin() + 2 * n);
    expect(e0 != in_order && e0 != e1, "shuffle_differs_from_order_and_between_epochs", "epoch 0 " + describe(e0, 30) + " epoch 1 " + describe(e1, 30));
    // The order inside each shard must be redrawn every epoch, not only the shard order.
    std::map<int, std::set<std::vector<int>>> orders;  // shard -> distinct window orders seen
    for (int e = 0; e < 3; e++) {
        std::map<int, std::vector<int>> order;
        for (long i = e * n; i < (e + 1) * n; i++) order[wa[i].shard].push_back(wa[i].index);
        for (auto& kv : order) orders[kv.first].insert(kv.second);
    }
    const size_t distinct = orders[0].size() + orders[1].size() + orders[2].size();
    expect(distinct >= 7, "shuffle_window_order_changes_per_epoch", std::to_string(distinct) + " distinct window orders of shards 0-2 over 3 epochs (max 9)");
    expect(wa == wb, "shuffle_same_seed_same_order", describe(wa) + " vs " + describe(wb));
    expect(wa != wc, "shuffle_other_seed_other_order", "seed 7 " + describe(wa) + " seed 8 " + describe(wc));
}

static void test_ranks(int world) {
    const std::string name = "ranks_W" + std::to_string(world);
    long want_bpe = 0;
    size_t want_per_epoch = 0;
    for (size_t w : g_windows) { want_bpe += (long)(w / world); want_per_epoch += w / world * world; }
    std::vector<std::vector<Window>> per_rank;
    for (int r = 0; r < world; r++) {
        DataLoader dl(good_glob(), B, T, r, world, true, 11);
        if (dl.batches_per_epoch() != want_bpe) { test_fail(name + "_batches_per_epoch", "rank " + std::to_string(r) + " has " + std::to_string(dl.batches_per_epoch()) + ", want " + std::to_string(want_bpe)); return; }
        per_rank.push_back(read_windows(dl, 2 * want_bpe));
    }
    test_pass(name + "_batches_per_epoch", std::to_string(want_bpe) + " per rank");
    for (int e = 0; e < 2; e++) {
        std::set<Window> all;
        std::map<int, size_t> per_shard;
        bool same_shard = true;
        for (long s = e * want_bpe; s < (e + 1) * want_bpe; s++)
            for (int r = 0; r < world; r++) {
                const Window w = per_rank[r][s];
                all.insert(w);
                per_shard[w.shard]++;
                same_shard = same_shard && w.shard == per_rank[0][s].shard;
            }
        bool complete = all.size() == want_per_epoch && !all.count({-1, -1});
        for (size_t s = 0; s < g_windows.size(); s++) complete = complete && per_shard[(int)s] == g_windows[s] / world * world;
        expect(all.size() == (size_t)(want_bpe * world) && same_shard && complete, name + "_disjoint_complete_epoch" + std::to_string(e),
                    std::to_string(all.size()) + " distinct windows from " + std::to_string(want_bpe * world) + " reads (want " +
                    std::to_string(want_per_epoch) + "), ranks in step: " + (same_shard ? "yes" : "no"));
    }
}

static void test_restore(int world, int rank) {
    const std::string name = "restore_W" + std::to_string(world) + "_r" + std::to_string(rank);
    DataLoader a(good_glob(), B, T, rank, world, true, 3);
    const long bpe = a.batches_per_epoch(), n = 3 * bpe;
    std::vector<DataLoaderPosition> pos;
    std::vector<Window> seq;
    for (long i = 0; i < n; i++) {
        pos.push_back(a.position());
        a.next_batch();
        seq.push_back(current_window(a));
    }
    const DataLoaderPosition p_epoch = pos[bpe];
    // Shards with no step for this world size are skipped, so the shard index may be past 0.
    const std::string where = "(" + std::to_string(p_epoch.epoch) + "," + std::to_string(p_epoch.shard_index) + "," + std::to_string(p_epoch.sample_index) + ")";
    if (!expect(p_epoch.epoch == 1 && p_epoch.sample_index == 0, name + "_epoch_position", "after " + std::to_string(bpe) + " batches: " + where)) return;
    bool ok = true;
    std::string why;
    DataLoader b(good_glob(), B, T, rank, world, true, 3);
    for (long i = 0; i + 5 <= n && ok; i++) {  // every start point, crossing shards and epochs
        b.restore(pos[i]);
        const std::vector<Window> got = read_windows(b, 5);
        if (got != std::vector<Window>(seq.begin() + i, seq.begin() + i + 5)) { ok = false; why = "from batch " + std::to_string(i) + " got " + describe(got); }
    }
    b.reset();
    const DataLoaderPosition p0 = b.position();
    ok = ok && p0.epoch == 0 && p0.shard_index == pos[0].shard_index && p0.sample_index == 0 && read_windows(b, 5) == std::vector<Window>(seq.begin(), seq.begin() + 5);
    expect(ok, name + "_continues_exactly", !why.empty() ? why : ok ? "from every batch of 3 epochs, 5 batches each; reset rereads the start" : "reset does not go back to the first batch");
}

static void test_reset_and_alloc() {
    static int allocs = 0, frees = 0;
    auto counting_alloc = [](size_t n) -> void* { allocs++; return malloc(n); };
    auto counting_free = [](void* p) { frees++; free(p); };
    {
        DataLoader val(good_glob(), B, T, 0, 1, true, 5, counting_alloc, counting_free);
        const std::vector<Window> first = read_windows(val, 7);
        val.reset();
        const std::vector<Window> again = read_windows(val, 7);
        val.reset();
        read_windows(val, 2);
        val.reset();
        const std::vector<Window> third = read_windows(val, 7);
        expect(first == again && first == third, "reset_rereads_same_batches", describe(first) + " then " + describe(again) + " then " + describe(third));
    }
    expect(allocs == 4 && frees == 4, "host_alloc_used_for_batch_buffers", "allocs " + std::to_string(allocs) + " frees " + std::to_string(frees));
}

static void test_prefetch() {
    DataLoader dl(good_glob(), B, T, 0, 1, true, 9);
    dl.next_batch();
    double waited = 0;
    for (int i = 0; i < 5; i++) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // ample time to fill the next buffer, even on a loaded machine
        const double before = dl.wait_seconds();
        dl.next_batch();
        waited += dl.wait_seconds() - before;
    }
    char buf[96];
    snprintf(buf, sizeof buf, "waited %.2e s over 5 prefetched batches", waited);
    expect(std::isfinite(dl.wait_seconds()) && dl.wait_seconds() >= 0 && waited < 0.25, "prefetch_no_wait", buf);
}

static void test_errors() {
    const std::string bad = g_dir + "/bad/";
    auto loader = [](const std::string& glob, int b, int t, int rank = 0, int world = 1) {
        return [=] { DataLoader dl(glob, b, t, rank, world, false, 1); };
    };
    expect_error("error_missing_shard", loader(bad + "missing.bin", B, T), 2, {"missing.bin", "not found"});
    expect_error("error_wrong_magic", loader(bad + "bad_magic.bin", B, T), 2, {"bad_magic.bin", "magic"});
    expect_error("error_wrong_version", loader(bad + "bad_version.bin", B, T), 2, {"bad_version.bin", "version"});
    expect_error("error_truncated", loader(bad + "truncated.bin", B, T), 2, {"truncated.bin", "truncated"});
    expect_error("error_shorter_than_header", loader(bad + "header_cut.bin", B, T), 2, {"header_cut.bin", "truncated"});
    expect_error("error_fewer_tokens_than_batch", loader(bad + "short.bin", B, T), 2, {"short.bin", "fewer than one batch"});
    expect_error("error_batch_larger_than_shard", loader(good_glob(), B, 64), 2, {"train_000.bin", "fewer than one batch"});
    expect_error("error_bad_rank", loader(good_glob(), B, T, 2, 2), 2, {"rank"});
    expect_error("error_restore_out_of_range", [] {
        DataLoader dl(good_glob(), B, T, 0, 1, false, 1);
        dl.restore(DataLoaderPosition{0, 4, 0});
    }, 2, {"position"});
    // The token-id scan runs once per file in a process, and again when the file changes.
    expect_error("token_scan_once_per_file", [] {
        const std::string path = g_dir + "/rescan.bin";
        auto write_shard = [&](uint16_t last) {
            int header[256] = {20240520, 1, 257};
            std::vector<uint16_t> tokens(257, 7);
            tokens.back() = last;
            FILE* f = fopen(path.c_str(), "wb");
            fwrite(header, sizeof header, 1, f);
            fwrite(tokens.data(), 2, tokens.size(), f);
            fclose(f);
        };
        write_shard(8);
        const long before = DataLoader::token_scans();
        { DataLoader a(path, 2, 8, 0, 1, false, 1); DataLoader b(path, 2, 8, 0, 1, true, 2); }
        if (DataLoader::token_scans() != before + 1) { fprintf(stderr, "scanned %ld times\n", DataLoader::token_scans() - before); exit(3); }
        write_shard(60000); // a new mtime: scanned again, and the bad id found
        DataLoader c(path, 2, 8, 0, 1, false, 1);
    }, 2, {"rescan.bin", "token id 60000 at token position 256", "outside GPT-2's vocabulary"});
    const std::string tok = g_dir + "/tok/";
    expect_error("tokenizer_error_wrong_magic", [=] { Tokenizer t; t.load(tok + "bad_magic.bin"); }, 2, {"bad_magic.bin", "magic"});
    expect_error("tokenizer_error_truncated", [=] { Tokenizer t; t.load(tok + "truncated.bin"); }, 2, {"truncated.bin", "truncated"});
    expect_error("tokenizer_missing_warns_once", [=] {
        Tokenizer t;
        const bool loaded = t.load(tok + "missing.bin");
        const int ids[3] = {5, 50256, 7};
        if (loaded || t.decode_all(ids, 3) != "<5><50256><7>" || t.eot_token() != 50256) exit(3);
    }, 0, {"warning", "missing.bin"});
}

static void test_fake_tokenizer() {
    Tokenizer t;
    const bool ok = t.load(g_dir + "/tok/fake_tokenizer.bin");
    const int ids[2] = {256, 257};
    expect(ok && t.vocab_size == 259 && t.eot_token() == 258 && t.decode_all(ids, 2) == "Hello world" &&
                t.decode(258) == "<|endoftext|>" && t.decode(65) == "A" && t.decode(259) == "<259>",
                "tokenizer_fake_decode", "loaded " + std::to_string(ok) + " vocab " + std::to_string(t.vocab_size) + " eot " + std::to_string(t.eot_token()) + " decode '" + t.decode_all(ids, 2) + "'");
}

static std::string escaped(const std::string& s) {
    std::string out;
    for (char c : s) out += c == '\n' ? std::string("\\n") : std::string(1, c);
    return out;
}

static bool file_exists(const std::string& p) { struct stat st; return stat(p.c_str(), &st) == 0; }

static void test_shared(const std::string& shared) {
    const std::string tok_path = shared + "/gpt2_tokenizer.bin";
    Tokenizer tok;
    if (!file_exists(tok_path)) {
        test_skip("shared_gpt2_tokenizer_decode", "no " + tok_path);
    } else {
        tok.load(tok_path);
        const int ids[2] = {15496, 995};
        const std::string got = tok.decode_all(ids, 2);
        expect(tok.vocab_size == 50257 && tok.eot_token() == 50256 && got == "Hello world" && tok.decode(50256) == "<|endoftext|>",
                    "shared_gpt2_tokenizer_decode", "15496,995 -> '" + got + "', vocab " + std::to_string(tok.vocab_size) + ", eot " + std::to_string(tok.eot_token()));
    }
    struct { const char* name; const char* path; size_t tokens; } shards[] = {
        {"shared_tinyshakespeare_val", "/tinyshakespeare/tiny_shakespeare_val.bin", 32768},
        {"shared_tinyshakespeare_train", "/tinyshakespeare/tiny_shakespeare_train.bin", 305260},
        {"shared_fineweb_sample_val", "/fineweb_sample/fineweb_edu_sample_val.bin", 32768},
        {"shared_fineweb_sample_train", "/fineweb_sample/fineweb_edu_sample_train.bin", 185121},
    };
    for (const auto& s : shards) {
        const std::string path = shared + s.path;
        if (!file_exists(path)) { test_skip(s.name, "no " + path); continue; }
        DataLoader dl(path, 4, 64, 0, 1, false, 1);
        expect(dl.total_tokens() == s.tokens && dl.batches_per_epoch() == (long)((s.tokens - 1) / 256), s.name,
                    "tokens " + std::to_string(dl.total_tokens()) + " want " + std::to_string(s.tokens));
    }
    // The first val batch, decoded without its end-of-text tokens, is the start of the text.
    const std::string val = shared + "/tinyshakespeare/tiny_shakespeare_val.bin", text_path = shared + "/tinyshakespeare/input.txt";
    if (!tok.loaded() || !file_exists(val) || !file_exists(text_path)) { test_skip("shared_tinyshakespeare_decodes_to_text", "tokenizer, val shard or input.txt missing"); return; }
    DataLoader dl(val, 4, 64, 0, 1, false, 1);
    dl.next_batch();
    std::string decoded;
    for (int i = 0; i < 4 * 64; i++) if (dl.inputs()[i] != tok.eot_token()) decoded += tok.decode(dl.inputs()[i]);
    std::ifstream f(text_path, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    expect(dl.inputs()[0] == tok.eot_token() && text.compare(0, decoded.size(), decoded) == 0 && decoded.size() > 500,
                "shared_tinyshakespeare_decodes_to_text", "first batch decodes to '" + escaped(decoded.substr(0, 40)) + "...' (" + std::to_string(decoded.size()) + " bytes)");
}

// --rank-data-split first-token on a shard written here: 90 documents [EOT, first, body...], the
// first token one of 6 ids (100, 1100, ..., 5100) with unequal masses, every body token 20000 + the
// document's number, so a batch token says its document. Over two epochs of W = 3 ranks: every
// token a rank reads is from a document whose first id is in that rank's range; the ranges are
// disjoint, ordered by rank and together hold every id; each rank's share of the tokens is within
// one id's mass of 1/W; all ranks have the same batches per epoch; a second loader reads the same.
static void test_rank_split() {
    const std::string dir = g_dir + "/split";
    mkdir(dir.c_str(), 0755);
    std::vector<uint16_t> tokens;
    std::vector<int> first_of_doc;
    std::map<int, size_t> mass;
    for (int d = 0; d < 90; d++) {
        const int first = 100 + 1000 * ((d * d + d / 7) % 6), len = 20 + (d * 37) % 41;
        first_of_doc.push_back(first);
        tokens.push_back(50256);
        tokens.push_back((uint16_t)first);
        for (int i = 2; i < len; i++) tokens.push_back((uint16_t)(20000 + d));
        mass[first] += (size_t)len;
    }
    int32_t header[256] = {20240520, 1, (int32_t)tokens.size()};
    FILE* f = fopen((dir + "/split_train.bin").c_str(), "wb");
    fwrite(header, sizeof header, 1, f);
    fwrite(tokens.data(), sizeof(uint16_t), tokens.size(), f);
    fclose(f);
    const int W = 3;
    std::vector<std::set<int>> ids(W);
    std::vector<long> bpe(W);
    bool own_only = true, same_again = true;
    std::string detail;
    for (int r = 0; r < W; r++) {
        DataLoader dl(dir + "/split_train.bin", B, T, r, W, true, 5), again(dir + "/split_train.bin", B, T, r, W, true, 5);
        dl.split_by_first_token();
        again.split_by_first_token();
        bpe[r] = dl.batches_per_epoch();
        for (long s = 0; s < 2 * bpe[r]; s++) {
            dl.next_batch();
            again.next_batch();
            for (int i = 0; i < BT; i++) {
                const int t = dl.inputs()[i];
                same_again = same_again && t == again.inputs()[i] && dl.targets()[i] == again.targets()[i];
                if (t == 50256) continue;
                ids[r].insert(t >= 20000 ? first_of_doc[t - 20000] : t);
            }
        }
        if (r == 0) detail = dl.split_summary();
    }
    // the ranges: each rank's ids below the next rank's, every id read by exactly one rank
    std::set<int> all;
    for (int r = 0; r < W; r++) {
        for (int id : ids[r]) own_only = own_only && !all.count(id);
        all.insert(ids[r].begin(), ids[r].end());
        if (r > 0 && !ids[r].empty() && !ids[r - 1].empty()) own_only = own_only && *ids[r - 1].rbegin() < *ids[r].begin();
    }
    // balance: rank r's ids' mass within the largest id's mass of total / W
    size_t total = 0, largest = 0;
    for (const auto& m : mass) total += m.second, largest = std::max(largest, m.second);
    bool balanced = true;
    for (int r = 0; r < W; r++) {
        size_t m = 0;
        for (int id : ids[r]) m += mass[id];
        balanced = balanced && std::fabs((double)m - (double)total / W) <= (double)largest;
    }
    expect(own_only && all.size() == mass.size() && balanced && bpe[0] == bpe[1] && bpe[1] == bpe[2] && bpe[0] > 0 && same_again,
           "rank_split_first_token", std::string("ranges disjoint and ordered: ") + (own_only ? "yes" : "no") + ", " + std::to_string(all.size()) +
               " of " + std::to_string(mass.size()) + " ids read, balanced: " + (balanced ? "yes" : "no") + ", deterministic: " +
               (same_again ? "yes" : "no") + "; " + detail);
}

int main(int argc, char** argv) {
    if (argc < 2 || argc > 3) { fprintf(stderr, "usage: %s TEST_DIR [SHARED_DATA_DIR]\n", argv[0]); return 2; }
    g_dir = argv[1];
    std::ifstream manifest(g_dir + "/good/manifest.txt");
    std::string path;
    size_t count;
    while (manifest >> path >> count) g_windows.push_back((count - 1) / BT);
    if (g_windows.empty()) { fprintf(stderr, "error: no manifest in '%s/good' (run test/make_test_shards.py)\n", g_dir.c_str()); return 2; }

    test_in_order();
    test_shuffle();
    test_ranks(2);
    test_ranks(3);
    test_restore(1, 0);
    test_restore(2, 1);
    test_reset_and_alloc();
    test_prefetch();
    test_errors();
    test_fake_tokenizer();
    test_rank_split();
    const std::string shared = argc == 3 ? argv[2] : "";
    if (shared.empty() || !file_exists(shared)) test_skip("shared_data", "no shared data folder '" + shared + "'");
    else test_shared(shared);
    return test_exit_code();
}
