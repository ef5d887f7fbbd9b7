// GPT-2 decode table for printing samples (llm.c tokenizer file, layout in data/README.md):
// 256 x uint32 header (magic 20240328, version 1 or 2, vocab size, end-of-text id in
// version 2), then per token id a uint8 length and that many bytes.
// A missing file is not fatal: one warning, and tokens then print as "<id>".
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "utils.h"

class Tokenizer {
  public:
    static const uint32_t kMagic = 20240328;
    static const int kGpt2Eot = 50256;

    uint32_t vocab_size = 0;  // 0 until a file is loaded

    // Returns false (after one warning on stderr) when the file cannot be opened; a file that
    // opens but is not a valid tokenizer file is a fail_usage error.
    bool load(const std::string& path) {
        struct stat st;
        if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) fail_usage("--tokenizer '%s' is a directory, not a file", path.c_str());
        FILE* f = fopen(path.c_str(), "rb");
        if (!f) {
            fprintf(stderr, "warning: tokenizer file '%s' not found (%s); samples will print token ids\n",
                    path.c_str(), strerror(errno));
            return false;
        }
        const long size = file_size_or_fail(f, path.c_str());
        uint32_t header[256];
        if (size < (long)sizeof header) fail_usage("'%s' is truncated: shorter than the %zu-byte tokenizer header", path.c_str(), sizeof header);
        read_exact(f, header, sizeof header, path.c_str());
        if (header[0] != kMagic) fail_usage("'%s' is not a tokenizer file (magic %u, want %u)", path.c_str(), header[0], kMagic);
        if (header[1] != 1 && header[1] != 2) fail_usage("'%s' has tokenizer version %u, want 1 or 2", path.c_str(), header[1]);
        if (header[2] == 0 || header[2] > (1u << 20)) fail_usage("'%s' has an implausible vocab size %u", path.c_str(), header[2]);
        const int eot = header[1] == 2 ? (int)header[3] : kGpt2Eot;  // version 1 predates the field
        if (eot < 0 || (uint32_t)eot >= header[2]) fail_usage("'%s' has end-of-text id %d outside its vocab of %u", path.c_str(), eot, header[2]);
        std::vector<std::string> table(header[2]);
        for (uint32_t i = 0; i < header[2]; i++) {
            unsigned char len = 0;
            read_exact(f, &len, 1, path.c_str());
            if (len == 0) fail_usage("'%s' is corrupt: token %u has length 0", path.c_str(), i);
            table[i].resize(len);
            read_exact(f, &table[i][0], len, path.c_str());
        }
        if (ftell(f) != size) fail_usage("'%s' has %ld bytes after its %u tokens", path.c_str(), size - ftell(f), header[2]);
        fclose(f);
        table_.swap(table);
        vocab_size = header[2];
        eot_ = eot;
        return true;
    }

    bool loaded() const { return !table_.empty(); }
    // The end-of-text id; GPT-2's 50256 when no file is loaded (samples still start from it).
    int eot_token() const { return eot_; }

    // Bytes of one token, or "<id>" when no file is loaded or id is outside the vocab (e.g. a
    // padded-vocab row). The reference is valid until the next decode() call.
    const std::string& decode(int id) {
        if (id >= 0 && (size_t)id < table_.size()) return table_[id];
        scratch_ = "<" + std::to_string(id) + ">";
        return scratch_;
    }
    std::string decode_all(const int* ids, size_t n) {
        std::string out;
        for (size_t i = 0; i < n; i++) out += decode(ids[i]);
        return out;
    }

  private:
    std::vector<std::string> table_;
    int eot_ = kGpt2Eot;
    std::string scratch_;
};
