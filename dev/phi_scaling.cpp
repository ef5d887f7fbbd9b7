// phi's estimate at fixed weights as a function of the tokens per gradient (B x T) and of the
// number of gradients K, for scripts/phi_scaling.sh. The trainer's measurement exactly
// (train_gpt2cpu ... --noise-every 1 --noise-windows 0:1 at step 0): the same model from the
// seed (or a model file), the same noise loader (noise_loader_seed), the same accumulator and
// gpt2_noise_density. The K gradients of a smaller K are the first ones of a larger K (the
// loader is the same), so one pass of max(K) gradients per B gives every K: the estimate is
// read after gradient K for each K asked for. Samples are not kept (no tail index), so the
// memory does not grow with K.
//   build/phi_scaling MODEL SEED TRAIN_SHARD T B1,B2,.. K1,K2,..
// MODEL: a model name (d2, d4, ...) initialized from SEED as the trainer does (--init counter),
// or an llm.c model file (a checkpoint's model_*.bin). One JSON line per (B, K) on stdout:
//   {"B":..,"T":..,"tokens_per_gradient":..,"K":..,"seconds":..,"phi":..,"d":..,
//    "phi_per_tensor":{..},"phi_per_group":{..}}
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "../common/dataloader.h"
#include "../common/model_file.h"
#include "../common/noise_density.h"
#include "../common/train_config.h"
#include "../cpu/gpt2.h"

static std::vector<int> int_list(const char* what, const std::string& text) {
    std::vector<int> out;
    size_t at = 0;
    while (at <= text.size()) {
        const size_t comma = std::min(text.find(',', at), text.size());
        out.push_back(train_config_detail::parse_int(what, text.substr(at, comma - at).c_str(), 1));
        at = comma + 1;
    }
    return out;
}

static std::string json_named(const std::vector<std::pair<std::string, NoiseStats>>& named) {
    std::string s = "{";
    for (size_t i = 0; i < named.size(); i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s\"%s\":%.9g", i ? "," : "", named[i].first.c_str(), named[i].second.phi);
        s += buf;
    }
    return s + "}";
}

int main(int argc, char** argv) {
    if (argc != 7) fail_usage("usage: %s MODEL SEED TRAIN_SHARD T B1,B2,.. K1,K2,..", argv[0]);
    const std::string model_arg = argv[1], shard = argv[3];
    const uint64_t seed = strtoull(argv[2], nullptr, 10);
    const int T = train_config_detail::parse_int("T", argv[4], 1);
    const std::vector<int> Bs = int_list("B", argv[5]), Ks = int_list("K", argv[6]);
    int K_max = 0;
    for (int K : Ks) {
        if (K < 2) fail_usage("K must be at least 2, got %d", K);
        K_max = std::max(K_max, K);
    }

    GPT2Config cfg;
    std::vector<float> file_params;
    if (!gpt2_config_from_name(model_arg, &cfg)) load_model_file(model_arg, &cfg, &file_params);
    if (T > cfg.max_seq_len) fail_usage("T %d is above the model's %d positions", T, cfg.max_seq_len);
    for (int B : Bs) {
        GPT2Cpu model(cfg);
        if (file_params.empty()) model.init(seed);
        else model.params = file_params;
        DataLoader loader(shard, B, T, 0, 1, true, noise_loader_seed(seed));
        GradientNoiseAccumulator acc(model.params.size(), false);
        acc.reset();
        const auto start = std::chrono::steady_clock::now();
        for (int k = 1; k <= K_max; k++) {
            loader.next_batch();
            model.zero_grad();
            model.forward(loader.inputs(), loader.targets(), B, T);
            model.backward(1.0f / ((float)B * T));
            acc.add(model.grads.data());
            if (std::find(Ks.begin(), Ks.end(), k) == Ks.end()) continue;
            const NoiseDensityResult r = gpt2_noise_density(acc, cfg, T);
            const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            printf("{\"B\":%d,\"T\":%d,\"tokens_per_gradient\":%ld,\"K\":%d,\"seconds\":%.1f,\"phi\":%.9g,\"d\":%zu,"
                   "\"phi_per_tensor\":%s,\"phi_per_group\":%s}\n",
                   B, T, (long)B * T, k, seconds, r.all.phi, r.all.d, json_named(r.per_tensor).c_str(),
                   json_named(r.per_group).c_str());
            fflush(stdout);
        }
    }
    return 0;
}
