// HellaSwag evaluation (-h 1), as llm.c does it: each example is a context and 4 candidate
// completions; the model's answer is the completion with the lowest mean cross-entropy over
// its completion tokens (ties: the first), and accuracy is the share of examples where that is
// the label. Read from llm.c's eval file (data/hellaswag.py writes it, llm.c's
// dev/data/hellaswag.py too):
//   256 int32 header: [0] magic 20240522, [1] version 1, [2] number of examples,
//                     [3] longest example in bytes, rest 0
//   then per example, uint16s: 65535 (start), the example's size in bytes (these fields
//   included), its index (0, 1, ...), the label (0..3), the number of completions (4),
//   the context length then its tokens, and 4 times a completion length then its tokens.
// Batches are llm.c's: B/4 examples per micro-batch of B rows x T, example i in rows
// 4i..4i+3, each row its context then one completion; the targets of the completion tokens
// sit one position earlier (the last context token predicts the first completion token).
// Every other position holds token 0: the model is causal, so it changes no scored loss.
// The whole file is checked when it is opened; a problem is one line naming the file.
// Several ranks: whole batches are dealt round-robin, batch b to rank b % ranks, and the ranks'
// counts are summed (llm.c deals contiguous blocks of examples instead). Whole batches keep each
// example in the same rows of the same batch as on one rank, so the count is the one-rank count.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "utils.h"

class HellaSwagEval {
public:
    static constexpr int kCompletions = 4;
    static constexpr int kMagic = 20240522;

    HellaSwagEval(const std::string& path, int B, int T, int vocab_size) : B_(B), T_(T), path_(path) {
        if (B < kCompletions) fail_usage("HellaSwag needs a micro-batch of at least %d rows, got -b %d", kCompletions, B);
        struct stat st; // fopen succeeds on a directory, whose reads then fail as if truncated
        if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
            fail_usage("--hellaswag '%s' is a directory, not a file: give the eval file data/hellaswag.py writes", path.c_str());
        FILE* f = fopen(path.c_str(), "rb");
        if (!f) fail_usage("-h 1 needs the HellaSwag eval file '%s' (%s): make it with data/hellaswag.py or give --hellaswag FILE",
                           path.c_str(), strerror(errno));
        const long size = file_size_or_fail(f, path.c_str());
        if (size < 1024) fail_usage("HellaSwag file '%s' is truncated (%ld bytes, the header alone is 1024)", path.c_str(), size);
        int32_t header[256];
        read_exact(f, header, sizeof header, path.c_str());
        if (header[0] != kMagic) fail_usage("HellaSwag file '%s' has magic %d, not %d (not an llm.c eval file)", path.c_str(), header[0], kMagic);
        if (header[1] != 1) fail_usage("HellaSwag file '%s' has version %d, this reader knows version 1", path.c_str(), header[1]);
        if (header[2] < 1) fail_usage("HellaSwag file '%s' holds %d examples", path.c_str(), header[2]);
        if ((size - 1024) % 2 != 0) fail_usage("HellaSwag file '%s' has an odd number of bytes after the header", path.c_str());
        std::vector<uint16_t> words((size_t)(size - 1024) / 2);
        read_exact(f, words.data(), words.size() * 2, path.c_str());
        fclose(f);
        parse(words, header[2], header[3], vocab_size);
    }

    int num_examples() const { return (int)examples_.size(); }
    int examples_per_batch() const { return B_ / kCompletions; }
    int num_batches() const { return (num_examples() + examples_per_batch() - 1) / examples_per_batch(); }
    // Whether rank `rank` of `ranks` evaluates batch `batch` (see the top).
    static bool dealt_to(int batch, int rank, int ranks) { return batch % ranks == rank; }

    // inputs and targets: B*T each, for batch `batch` (0..num_batches()-1).
    void fill_batch(int batch, int* inputs, int* targets) const {
        std::fill(inputs, inputs + (size_t)B_ * T_, 0);
        std::fill(targets, targets + (size_t)B_ * T_, 0);
        for (int i = 0; i < examples_per_batch(); i++) {
            const int e = batch * examples_per_batch() + i;
            if (e >= num_examples()) break;
            const Example& ex = examples_[e];
            const int n = (int)ex.context.size();
            for (int c = 0; c < kCompletions; c++) {
                int* in = inputs + (size_t)(i * kCompletions + c) * T_;
                int* tg = targets + (size_t)(i * kCompletions + c) * T_;
                std::copy(ex.context.begin(), ex.context.end(), in);
                const std::vector<int>& comp = ex.completions[c];
                for (size_t k = 0; k < comp.size(); k++) {
                    in[n + k] = comp[k];
                    tg[n + k - 1] = comp[k];
                }
            }
        }
    }

    // losses: the B*T per-position losses of a forward on fill_batch(batch). Returns how many
    // of the batch's examples the model answers right.
    int count_correct(int batch, const float* losses) const {
        int correct = 0;
        for (int i = 0; i < examples_per_batch(); i++) {
            const int e = batch * examples_per_batch() + i;
            if (e >= num_examples()) break;
            const Example& ex = examples_[e];
            const int n = (int)ex.context.size();
            int best = -1;
            float best_loss = 0.0f;
            for (int c = 0; c < kCompletions; c++) {
                const float* row = losses + (size_t)(i * kCompletions + c) * T_;
                const int len = (int)ex.completions[c].size();
                float sum = 0.0f;  // float, in position order, as llm.c sums
                for (int k = 0; k < len; k++) sum += row[n - 1 + k];
                const float mean = sum / len;
                if (best < 0 || mean < best_loss) best = c, best_loss = mean;
            }
            correct += best == ex.label;
        }
        return correct;
    }

private:
    struct Example {
        int label;
        std::vector<int> context;
        std::vector<int> completions[kCompletions];
    };

    [[noreturn]] void bad(int example, const char* what, long value) const {
        fail_usage("HellaSwag file '%s', example %d: %s (%ld)", path_.c_str(), example, what, value);
    }

    void parse(const std::vector<uint16_t>& w, int count, int longest_bytes, int vocab_size) {
        size_t pos = 0;
        auto take = [&](int e) -> int {
            if (pos >= w.size()) bad(e, "the file ends inside the example; at word", (long)pos);
            return w[pos++];
        };
        auto tokens = [&](int e, int n, std::vector<int>* out) {
            for (int k = 0; k < n; k++) {
                const int t = take(e);
                if (t >= vocab_size) bad(e, "token id outside the vocabulary", t);
                out->push_back(t);
            }
        };
        int longest = 0;
        for (int e = 0; e < count; e++) {
            const size_t start = pos;
            if (take(e) != 65535) bad(e, "no start marker 65535 at word", (long)start);
            const int bytes = take(e);
            if (take(e) != (e & 0xffff)) bad(e, "the example index does not match its position; index", w[pos - 1]);
            Example ex;
            ex.label = take(e);
            if (ex.label >= kCompletions) bad(e, "label is not in 0..3", ex.label);
            const int completions = take(e);
            if (completions != kCompletions) bad(e, "number of completions is not 4", completions);
            const int n = take(e);
            if (n < 1 || n >= T_) bad(e, "context length must be in 1..T-1 for -t T; length", n);
            tokens(e, n, &ex.context);
            for (int c = 0; c < kCompletions; c++) {
                const int len = take(e);
                if (len < 1 || n + len >= T_) bad(e, "context + completion must be shorter than -t; tokens", n + len);
                tokens(e, len, &ex.completions[c]);
            }
            if ((size_t)bytes != 2 * (pos - start)) bad(e, "its byte count does not match its contents; byte count", bytes);
            longest = std::max(longest, bytes);
            examples_.push_back(std::move(ex));
        }
        if (pos != w.size()) fail_usage("HellaSwag file '%s' has %zu bytes after its %d examples", path_.c_str(), 2 * (w.size() - pos), count);
        if (longest_bytes != longest)
            fail_usage("HellaSwag file '%s' says its longest example has %d bytes, it has %d", path_.c_str(), longest_bytes, longest);
    }

    int B_, T_;
    std::string path_;
    std::vector<Example> examples_;
};
