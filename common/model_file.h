// llm.c model files, so weights move between this tool, llm.c and its PyTorch export:
//   header: 256 x int32: [0] magic 20240326, [1] version (3 = fp32, 5 = bf16),
//           [2] maxT, [3] V, [4] L, [5] NH, [6] C, [7] Vp; the rest 0
//   then every parameter in llm.c order (common/gpt2_layout.h), fp32 or bf16.
// Writes are atomic: a temporary file is written, flushed to disk, then renamed over
// the target, so a crash never leaves a half-written model where a good one was.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "gpt2_layout.h"
#include "utils.h"

enum { MODEL_FILE_MAGIC = 20240326, MODEL_VERSION_FP32 = 3, MODEL_VERSION_BF16 = 5 };

// bf16 -> fp32 is exact: the bf16 bits are the top half of the fp32 bits.
inline float bf16_bits_to_float(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

// Reads and checks the 256-int header of an open model file into h and cfg.
inline void read_model_header(FILE* f, const std::string& path, int32_t (&h)[256], GPT2Config* cfg) {
    read_exact(f, h, sizeof h, path.c_str());
    if (h[0] != MODEL_FILE_MAGIC) fail_usage("'%s' is not an llm.c model file (magic %d, want %d)", path.c_str(), h[0], MODEL_FILE_MAGIC);
    if (h[1] != MODEL_VERSION_FP32 && h[1] != MODEL_VERSION_BF16)
        fail_usage("'%s': unsupported model file version %d (want 3 = fp32 or 5 = bf16)", path.c_str(), h[1]);
    cfg->max_seq_len = h[2];
    cfg->vocab_size = h[3];
    cfg->num_layers = h[4];
    cfg->num_heads = h[5];
    cfg->channels = h[6];
    cfg->padded_vocab_size = h[7];
    const std::string problem = gpt2_config_problem(*cfg);
    if (!problem.empty()) fail_usage("'%s': bad model shape in header: %s", path.c_str(), problem.c_str());
}

// The model shape of an llm.c model file, from its header alone (for planning memory).
inline GPT2Config read_model_file_shape(const std::string& path) {
    FILE* f = open_or_fail(path.c_str(), "rb");
    int32_t h[256];
    GPT2Config cfg;
    read_model_header(f, path, h, &cfg);
    fclose(f);
    return cfg;
}

// Reads an llm.c model file into cfg and params (fp32, converted from bf16 if needed).
inline void load_model_file(const std::string& path, GPT2Config* cfg, std::vector<float>* params) {
    FILE* f = open_or_fail(path.c_str(), "rb");
    const long size = file_size_or_fail(f, path.c_str());
    int32_t h[256];
    read_model_header(f, path, h, cfg);
    const size_t n = gpt2_num_params(*cfg);
    const size_t elem = h[1] == MODEL_VERSION_FP32 ? 4 : 2;
    if ((size_t)size != sizeof h + n * elem)
        fail_usage("'%s' has %ld bytes, want %zu for this model (truncated or wrong shape)", path.c_str(), size, sizeof h + n * elem);
    params->resize(n);
    if (elem == 4) {
        read_exact(f, params->data(), n * 4, path.c_str());
    } else {
        std::vector<uint16_t> raw(n);
        read_exact(f, raw.data(), n * 2, path.c_str());
        for (size_t i = 0; i < n; i++) (*params)[i] = bf16_bits_to_float(raw[i]);
    }
    fclose(f);
}

// Writes fp32 parameters as an llm.c model file, version 3 (atomically); false and *error
// on a failure, leaving nothing behind.
inline bool try_save_model_file(const std::string& path, const GPT2Config& cfg, const float* params, std::string* error) {
    int32_t h[256] = {0};
    h[0] = MODEL_FILE_MAGIC;
    h[1] = MODEL_VERSION_FP32;
    h[2] = cfg.max_seq_len;
    h[3] = cfg.vocab_size;
    h[4] = cfg.num_layers;
    h[5] = cfg.num_heads;
    h[6] = cfg.channels;
    h[7] = cfg.padded_vocab_size;
    return try_write_file_atomically(path, h, sizeof h, params, gpt2_num_params(cfg) * sizeof(float), error);
}
inline void save_model_file(const std::string& path, const GPT2Config& cfg, const float* params) {
    std::string error;
    if (!try_save_model_file(path, cfg, params, &error)) fail_runtime("%s", error.c_str());
}
