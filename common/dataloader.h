// Token-shard data loader shared by both trainers (format: data/README.md).
//
// Samples: a shard of n tokens has (n-1)/(B*T) windows; window k is tokens
// [k*B*T, k*B*T + B*T + 1): inputs are the first B*T, targets the same shifted by one.
// Each epoch visits every shard once, in a shard order, and inside a shard its windows in
// a window order; with shuffling both orders are Fisher-Yates permutations drawn from
// (seed, epoch[, shard]) with common/rng.h, so any position is reproducible. At step s of
// a shard, rank r of W reads window order[s*W + r]; each shard gives floor(windows / W)
// steps to every rank (the remaining windows are skipped) so all ranks stay in step and
// read disjoint windows.
//
// Unequal data per rank (--rank-data-split first-token, split_by_first_token(); for the vote
// experiments, docs/byzantine_vote.md): the shards are read into memory and cut into documents
// (a document starts at each EOT token, id 50256, and at the shard's first token; its first
// token is the one after the EOT). Every first-token id goes to one rank: equal-mass ranges,
// id x to rank floor(W (mass of the ids below x + mass(x) / 2) / total), mass counting the
// tokens of all shards' documents, so the ranges are contiguous in id and about equally large
// in tokens (equal-width ranges would give nearly all text to rank 0: ids are Zipf-like).
// Rank r's stream in a shard is its documents concatenated in file order; windows as above
// over that stream; every rank takes the same m = min over ranks of its windows in the shard
// (all ranks compute all ranks' counts), in its own window order (permutation(m) from the same
// keys), so the ranks stay in step and positions keep their meaning; the rest is unused.
//
// Memory: windows are read straight from the shard file with pread (the OS page cache does
// the rest), so no shard is held in memory; a background thread reads the next batch into
// the second of two host buffers (pinned when the trainer passes cudaMallocHost) while the
// trainer uses the current one.
#pragma once
#include <fcntl.h>
#include <sys/stat.h>
#include <glob.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "rng.h"
#include "utils.h"

// Where the next batch comes from; plain data, stored in checkpoints. It does not depend on
// the rank: sample_index counts windows consumed by all ranks together (a multiple of W).
struct DataLoaderPosition {
    uint64_t epoch = 0;
    uint64_t shard_index = 0;   // position in the epoch's shard order
    uint64_t sample_index = 0;  // position in that shard's window order
};

class DataLoader {
  public:
    static const int kShardMagic = 20240520, kShardVersion = 1, kHeaderInts = 256;
    static const int kVocabSize = 50257;  // GPT-2's; every model here has this vocabulary

    // glob: shard files (sorted); validates every shard up front (fail_usage on a problem).
    // host_alloc/host_free: allocator for the batch buffers (default malloc/free).
    DataLoader(const std::string& glob_pattern, int B, int T, int rank, int world_size, bool shuffle,
               uint64_t seed, void* (*host_alloc)(size_t) = nullptr, void (*host_free)(void*) = nullptr)
        : B_(B), T_(T), rank_(rank), world_(world_size), shuffle_(shuffle), seed_(seed),
          host_alloc_(host_alloc ? host_alloc : malloc), host_free_(host_free ? host_free : free) {
        if (B < 1 || T < 1) fail_usage("data loader needs B, T >= 1, got B=%d T=%d", B, T);
        if (world_size < 1 || rank < 0 || rank >= world_size)
            fail_usage("data loader rank %d is not in 0..%d", rank, world_size - 1);
        find_and_check_shards(glob_pattern);
        const size_t bt = (size_t)B * T;
        raw_ = (uint16_t*)malloc((bt + 1) * sizeof(uint16_t));
        for (Slot& s : slots_) {
            s.inputs = (int*)host_alloc_(bt * sizeof(int));
            s.targets = (int*)host_alloc_(bt * sizeof(int));
            if (!s.inputs || !s.targets) fail_runtime("cannot allocate %zu bytes for batch buffers", 2 * bt * sizeof(int));
        }
        if (!raw_) fail_runtime("cannot allocate the batch read buffer");
        start(DataLoaderPosition{});
    }

    ~DataLoader() {
        stop();
        if (fd_ >= 0) close(fd_);
        for (Slot& s : slots_) { host_free_(s.inputs); host_free_(s.targets); }
        free(raw_);
    }
    DataLoader(const DataLoader&) = delete;
    DataLoader& operator=(const DataLoader&) = delete;

    // Makes the next batch current. Pointers from inputs()/targets() stay valid until the
    // next call to next_batch(), reset() or restore().
    void next_batch() {
        std::unique_lock<std::mutex> lock(mu_);
        const auto t0 = std::chrono::steady_clock::now();
        cv_.wait(lock, [&] { return slots_[take_].ready; });
        wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (current_ >= 0) slots_[current_].ready = false;  // hand the old buffer back to the reader
        current_ = take_;
        take_ ^= 1;
        cv_.notify_all();
    }
    const int* inputs() const { check_current(); return slots_[current_].inputs; }
    const int* targets() const { check_current(); return slots_[current_].targets; }

    // Back to the first batch of epoch 0 (the val loader calls this before every evaluation).
    void reset() { restore(DataLoaderPosition{}); }

    // Position of the batch the next next_batch() returns.
    DataLoaderPosition position() const {
        std::lock_guard<std::mutex> lock(mu_);
        // Batches are filled in the order they are taken, so if the next one is not ready
        // yet it is the one the reader is working on, at produce_pos_.
        return slots_[take_].ready ? slots_[take_].pos : produce_pos_;
    }

    void restore(const DataLoaderPosition& p) {
        if (p.shard_index >= shards_.size() || p.sample_index % world_ != 0)
            fail_usage("saved data position (epoch %llu, shard %llu, sample %llu) does not fit %zu shards and %d ranks",
                       (unsigned long long)p.epoch, (unsigned long long)p.shard_index,
                       (unsigned long long)p.sample_index, shards_.size(), world_);
        const Shard& s = shards_[shard_order(p.epoch)[p.shard_index]];
        if (p.sample_index / world_ > steps_in(s))
            fail_usage("saved data position (sample %llu) is past the end of '%s'", (unsigned long long)p.sample_index, s.path.c_str());
        stop();
        start(p);
    }

    size_t total_tokens() const { return total_tokens_; }
    size_t num_shards() const { return shards_.size(); }
    long batches_per_epoch() const { return batches_per_epoch_; }  // for this rank, all shards
    double wait_seconds() const { std::lock_guard<std::mutex> lock(mu_); return wait_seconds_; }
    // See the top. Deterministic (no randomness: the ranges depend on the shards and W only).
    void split_by_first_token() {
        stop();
        const uint16_t eot = 50256;
        const size_t bt = (size_t)B_ * T_;
        std::vector<std::vector<uint16_t>> tokens(shards_.size());
        std::vector<double> mass(kVocabSize, 0.0);
        struct Doc { size_t begin, end; int first; };
        std::vector<std::vector<Doc>> docs(shards_.size());
        double total = 0;
        for (size_t k = 0; k < shards_.size(); k++) {
            tokens[k].resize(shards_[k].tokens);
            FILE* f = open_or_fail(shards_[k].path.c_str(), "rb");
            fseek(f, kHeaderInts * sizeof(int32_t), SEEK_SET);
            read_exact(f, tokens[k].data(), tokens[k].size() * sizeof(uint16_t), shards_[k].path.c_str());
            fclose(f);
            const std::vector<uint16_t>& t = tokens[k];
            for (size_t b = 0; b < t.size();) {
                size_t e = b + 1;
                while (e < t.size() && t[e] != eot) e++;
                const size_t at = t[b] == eot ? b + 1 : b; // the document's first token
                if (at < e) {
                    docs[k].push_back({b, e, t[at]});
                    mass[t[at]] += (double)(e - b);
                    total += (double)(e - b);
                }
                b = e;
            }
        }
        split_rank_of_.assign(kVocabSize, 0);
        double below = 0;
        for (int id = 0; id < kVocabSize; id++) {
            split_rank_of_[id] = total > 0 ? std::min(world_ - 1, (int)(world_ * (below + mass[id] / 2) / total)) : 0;
            below += mass[id];
        }
        split_tokens_.assign(shards_.size(), {});
        split_mass_.assign(world_, 0.0);
        batches_per_epoch_ = 0;
        total_tokens_ = 0;
        for (size_t k = 0; k < shards_.size(); k++) {
            std::vector<size_t> length(world_, 0);
            for (const Doc& d : docs[k]) {
                const int r = split_rank_of_[d.first];
                length[r] += d.end - d.begin;
                split_mass_[r] += (double)(d.end - d.begin);
                if (r == rank_) split_tokens_[k].insert(split_tokens_[k].end(), tokens[k].begin() + d.begin, tokens[k].begin() + d.end);
            }
            size_t m = SIZE_MAX;
            for (size_t len : length) m = std::min(m, len > 0 ? (len - 1) / bt : 0);
            shards_[k].windows = m * (size_t)world_; // steps_in() = m
            batches_per_epoch_ += (long)m;
            total_tokens_ += split_tokens_[k].size();
        }
        if (batches_per_epoch_ == 0)
        {
            size_t count = 0;
            for (const auto& d : docs) count += d.size();
            fail_usage("--rank-data-split first-token: some rank's documents fill no batch of B*T+1 = %zu tokens in any shard "
                       "(%zu document(s) in all; a shard without EOT tokens is one document)", bt + 1, count);
        }
        cached_shard_order_.clear(); // the window orders cached before the split are stale
        cached_window_shard_ = SIZE_MAX;
        start(DataLoaderPosition{});
    }
    bool split() const { return !split_rank_of_.empty(); }
    // After split_by_first_token(): the first-token id range of rank r and its share of the tokens.
    std::string split_summary() const {
        std::string out;
        for (int r = 0; r < world_; r++) {
            int lo = -1, hi = -1;
            for (int id = 0; id < kVocabSize; id++)
                if (split_rank_of_[id] == r) { if (lo < 0) lo = id; hi = id; }
            double all = 0;
            for (double m : split_mass_) all += m;
            char line[160];
            snprintf(line, sizeof line, "%srank %d: first token ids %d..%d, %.1f%% of the tokens", r ? "; " : "", r, lo, hi,
                     all > 0 ? 100.0 * split_mass_[r] / all : 0.0);
            out += line;
        }
        return out + "; " + std::to_string(batches_per_epoch_) + " batches per rank per epoch";
    }
    std::vector<std::string> shard_paths() const {
        std::vector<std::string> paths;
        for (const Shard& s : shards_) paths.push_back(s.path);
        return paths;
    }

  private:
    struct Shard { std::string path; size_t tokens; size_t windows; };
    struct Slot { int* inputs = nullptr; int* targets = nullptr; DataLoaderPosition pos; bool ready = false; };

    // Reads every header and checks the file size; the error names the file and the problem.
    void find_and_check_shards(const std::string& pattern) {
        glob_t g;
        const int rc = glob(pattern.c_str(), 0, nullptr, &g);
        if (rc == GLOB_NOMATCH) fail_usage("no token shard matches '%s' (file not found)", pattern.c_str());
        if (rc != 0) fail_usage("cannot expand the shard pattern '%s'", pattern.c_str());
        const size_t batch_tokens = (size_t)B_ * T_;
        for (size_t i = 0; i < g.gl_pathc; i++) {
            const char* path = g.gl_pathv[i];
            FILE* f = open_or_fail(path, "rb");
            const long size = file_size_or_fail(f, path);
            int32_t header[kHeaderInts];
            if (size < (long)sizeof header)
                fail_usage("'%s' is truncated: %ld bytes, shorter than the %zu-byte shard header", path, size, sizeof header);
            read_exact(f, header, sizeof header, path);
            if (header[0] != kShardMagic) fail_usage("'%s' is not a token shard (magic %d, want %d)", path, header[0], kShardMagic);
            if (header[1] != kShardVersion) fail_usage("'%s' has shard version %d, want %d", path, header[1], kShardVersion);
            const long long count = header[2];
            const long long want = (long long)sizeof header + 2 * count;
            if (count < 0 || size < want)
                fail_usage("'%s' is truncated: header says %lld tokens (%lld bytes), file has %ld bytes", path, count, want, size);
            if (size > want) fail_usage("'%s' has %lld bytes after the %lld tokens its header announces", path, size - want, count);
            if ((size_t)count < batch_tokens + 1)
                fail_usage("'%s' has %lld tokens, fewer than one batch needs (B*T+1 = %zu)", path, count, batch_tokens + 1);
            check_token_ids(f, path, (size_t)count);
            fclose(f);
            shards_.push_back(Shard{path, (size_t)count, ((size_t)count - 1) / batch_tokens});
            total_tokens_ += (size_t)count;
            batches_per_epoch_ += (long)steps_in(shards_.back());
        }
        globfree(&g);
        if (batches_per_epoch_ == 0)
            fail_usage("shards '%s' hold no batch for each of %d ranks (B=%d, T=%d)", pattern.c_str(), world_, B_, T_);
    }

    // Every id must be a GPT-2 token; checked when the shard is opened (a linear scan, about
    // 0.1 s per 100M tokens) so a bad id is found before any step trains, not when a batch
    // reaches it. Once per file (by path, size and mtime) in a process: the train, val and
    // noise loaders often read the same shards.
    static void check_token_ids(FILE* f, const char* path, size_t count) {
        struct stat st;
        std::string key;
        if (fstat(fileno(f), &st) == 0)
            key = std::string(path) + "\n" + std::to_string((long long)st.st_size) + "\n" +
                  std::to_string((long long)st.st_mtim.tv_sec) + "." + std::to_string((long long)st.st_mtim.tv_nsec);
        static std::mutex mutex;
        static std::set<std::string> checked;
        {
            std::lock_guard<std::mutex> lock(mutex);
            if (!key.empty() && checked.count(key)) return;
        }
        scan_token_ids(f, path, count);
        std::lock_guard<std::mutex> lock(mutex);
        if (!key.empty()) checked.insert(key);
        token_scans()++;
    }
public:
    // Shards scanned for token ids so far in this process (tests: a second loader skips them).
    static long& token_scans() {
        static long n = 0;
        return n;
    }
private:
    static void scan_token_ids(FILE* f, const char* path, size_t count) {
        std::vector<uint16_t> chunk(1 << 20);
        for (size_t done = 0; done < count;) {
            const size_t n = std::min(chunk.size(), count - done);
            read_exact(f, chunk.data(), n * sizeof(uint16_t), path);
            for (size_t i = 0; i < n; i++)
                if (chunk[i] >= kVocabSize)
                    fail_usage("'%s': token id %u at token position %zu is outside GPT-2's vocabulary [0, %d)", path,
                               chunk[i], done + i, kVocabSize);
            done += n;
        }
    }

    uint64_t steps_in(const Shard& s) const { return s.windows / (uint64_t)world_; }

    // Fisher-Yates permutation of 0..n-1 from one random stream (identity without shuffling).
    std::vector<size_t> permutation(size_t n, uint64_t key) const {
        std::vector<size_t> order(n);
        for (size_t i = 0; i < n; i++) order[i] = i;
        if (!shuffle_) return order;
        for (size_t i = n; i-- > 1;) {
            const size_t j = (size_t)(((unsigned __int128)random_bits(key, i) * (i + 1)) >> 64);  // uniform in 0..i
            std::swap(order[i], order[j]);
        }
        return order;
    }
    // Stream keys: salted so the data order never shares a stream with weight init.
    uint64_t epoch_key(uint64_t epoch) const { return splitmix64(splitmix64(seed_ ^ 0x6461746131ull) + epoch); }
    std::vector<size_t> shard_order(uint64_t epoch) const { return permutation(shards_.size(), epoch_key(epoch)); }
    std::vector<size_t> window_order(uint64_t epoch, size_t shard) const {
        return permutation(split() ? steps_in(shards_[shard]) : shards_[shard].windows, splitmix64(epoch_key(epoch) + 1 + shard));
    }

    // Moves p forward past shards where this world size has no step left; rolls epochs over.
    DataLoaderPosition normalized(DataLoaderPosition p) const {
        std::vector<size_t> order = shard_order(p.epoch);
        while (p.sample_index / world_ >= steps_in(shards_[order[p.shard_index]])) {
            p.sample_index = 0;
            if (++p.shard_index == shards_.size()) { p.shard_index = 0; p.epoch++; order = shard_order(p.epoch); }
        }
        return p;
    }

    // Reader thread: fills the slots in order, one batch ahead of the trainer.
    void start(const DataLoaderPosition& p) {
        for (Slot& s : slots_) s.ready = false;
        current_ = -1;
        take_ = fill_ = 0;
        stop_ = false;
        produce_pos_ = normalized(p);
        reader_ = std::thread([this] { read_loop(); });
    }
    void stop() {
        {
            std::lock_guard<std::mutex> lock(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        if (reader_.joinable()) reader_.join();
    }
    void read_loop() {
        for (;;) {
            DataLoaderPosition p;
            int slot;
            {
                std::unique_lock<std::mutex> lock(mu_);
                cv_.wait(lock, [&] { return stop_ || (!slots_[fill_].ready && fill_ != current_); });
                if (stop_) return;
                p = produce_pos_;
                slot = fill_;
            }
            read_batch(p, slots_[slot]);
            {
                std::lock_guard<std::mutex> lock(mu_);
                slots_[slot].pos = p;
                slots_[slot].ready = true;
                fill_ ^= 1;
                DataLoaderPosition next = p;
                next.sample_index += world_;
                produce_pos_ = normalized(next);
            }
            cv_.notify_all();
        }
    }

    void read_batch(const DataLoaderPosition& p, Slot& slot) {
        if (p.epoch != cached_epoch_ || cached_shard_order_.empty()) {
            cached_shard_order_ = shard_order(p.epoch);
            cached_epoch_ = p.epoch;
            cached_window_shard_ = SIZE_MAX;
        }
        const size_t shard = cached_shard_order_[p.shard_index];
        if (shard != cached_window_shard_) {  // entering a shard: its window order and file
            cached_windows_ = window_order(p.epoch, shard);
            cached_window_shard_ = shard;
            if (fd_ >= 0) close(fd_);
            fd_ = open(shards_[shard].path.c_str(), O_RDONLY);
            if (fd_ < 0) fail_runtime("cannot open shard '%s' (%s)", shards_[shard].path.c_str(), strerror(errno));
        }
        const size_t bt = (size_t)B_ * T_;
        if (split()) { // this rank's own stream, in memory: its own window order
            const uint16_t* w = split_tokens_[shard].data() + cached_windows_[p.sample_index / world_] * bt;
            for (size_t i = 0; i < bt; i++) slot.inputs[i] = w[i], slot.targets[i] = w[i + 1];
            return;
        }
        const size_t window = cached_windows_[p.sample_index + rank_];
        const size_t bytes = (bt + 1) * sizeof(uint16_t);
        const off_t offset = (off_t)(kHeaderInts * sizeof(int32_t) + window * bt * sizeof(uint16_t));
        size_t done = 0;
        while (done < bytes) {
            const ssize_t got = pread(fd_, (char*)raw_ + done, bytes - done, offset + (off_t)done);
            if (got <= 0) fail_runtime("reading shard '%s' failed (%s)", shards_[shard].path.c_str(), got < 0 ? strerror(errno) : "file shrank");
            done += (size_t)got;
        }
        for (size_t i = 0; i < bt; i++) {
            slot.inputs[i] = raw_[i];
            slot.targets[i] = raw_[i + 1];
        }
    }

    void check_current() const {
        if (current_ < 0) fail_runtime("DataLoader: inputs()/targets() before the first next_batch()");
    }

    const int B_, T_, rank_, world_;
    const bool shuffle_;
    const uint64_t seed_;
    void* (*host_alloc_)(size_t);
    void (*host_free_)(void*);
    std::vector<Shard> shards_;
    size_t total_tokens_ = 0;
    long batches_per_epoch_ = 0;

    // Shared between the trainer and the reader thread, guarded by mu_.
    mutable std::mutex mu_;
    std::condition_variable cv_;
    Slot slots_[2];
    int current_ = -1, take_ = 0, fill_ = 0;
    bool stop_ = false;
    DataLoaderPosition produce_pos_;
    double wait_seconds_ = 0;
    std::thread reader_;

    // Reader thread only.
    uint16_t* raw_ = nullptr;
    int fd_ = -1;
    uint64_t cached_epoch_ = 0;
    std::vector<size_t> cached_shard_order_, cached_windows_;
    size_t cached_window_shard_ = SIZE_MAX;

    // --rank-data-split first-token (set before the reader starts; read-only after).
    std::vector<int> split_rank_of_;                 // first-token id -> rank
    std::vector<std::vector<uint16_t>> split_tokens_; // per shard: this rank's documents
    std::vector<double> split_mass_;                  // per rank: tokens of its documents, all shards
};

// The files the train glob -i and the val glob -j both match, compared by resolved real path
// (a symlink or another spelling of the same file counts), in -i's order.
inline std::vector<std::string> shared_shard_files(const std::string& train_glob, const std::string& val_glob) {
    auto real_paths = [](const std::string& pattern) {
        std::vector<std::pair<std::string, std::string>> out; // (real path, as matched)
        glob_t g;
        if (glob(pattern.c_str(), 0, nullptr, &g) == 0)
            for (size_t i = 0; i < g.gl_pathc; i++) {
                char* real = realpath(g.gl_pathv[i], nullptr);
                out.push_back({real ? real : g.gl_pathv[i], g.gl_pathv[i]});
                free(real);
            }
        globfree(&g);
        return out;
    };
    std::set<std::string> val;
    for (const auto& p : real_paths(val_glob)) val.insert(p.first);
    std::vector<std::string> shared;
    for (const auto& p : real_paths(train_glob))
        if (val.count(p.first)) shared.push_back(p.second);
    return shared;
}

// Training on the val shards makes the val loss meaningless: while validating, -i and -j must
// not share a file unless --allow-train-val-overlap says so (then one note; the flag with
// nothing shared is a note too). -a 1 trains on the val batch by design: not checked.
inline void check_train_val_overlap(const std::string& train_glob, const std::string& val_glob, bool validating, bool allowed,
                                    bool overfit_single_batch, std::vector<std::string>* notes) {
    if (overfit_single_batch) return;
    const std::vector<std::string> shared = validating ? shared_shard_files(train_glob, val_glob) : std::vector<std::string>{};
    if (!shared.empty() && !allowed)
        fail_usage("-i '%s' and -j '%s' both match '%s'%s: the val loss would be measured on training data (give disjoint "
                   "globs, or --allow-train-val-overlap)", train_glob.c_str(), val_glob.c_str(), shared[0].c_str(),
                   shared.size() > 1 ? (" and " + std::to_string(shared.size() - 1) + " more").c_str() : "");
    if (!allowed) return;
    if (shared.empty())
        notes->push_back(validating ? "--allow-train-val-overlap has no effect: -i and -j share no file"
                                    : "--allow-train-val-overlap has no effect: nothing is validated (-v 0 or -m 0)");
    else
        notes->push_back("--allow-train-val-overlap: -i and -j share " + std::to_string(shared.size()) + " file(s) ('" + shared[0] +
                         "'...): the val loss includes training data");
}
