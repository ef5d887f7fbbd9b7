// Training checkpoints in the -o directory, shared by both trainers.
//
// A checkpoint at step S is two files:
//   model_%08d.bin  the weights as an llm.c model file (fp32, version 3; common/model_file.h)
//   state_%08d.bin  everything else needed to continue bit-identically, as a named-tensor
//                   file (common/named_tensors.h), records:
//       "step" int32[1], "skips" int32[1] (non-finite steps skipped so far),
//       "seed" int32[2] (lo, hi), "model_shape" int32[6] (maxT, V, Vp, L, NH, C),
//       "params" fp32: the master weights (the model file holds the same values),
//       "optim/<tensor>.<slot>" fp32: every optimizer state buffer,
//       "params_floatx" fp32 (train_gpt2cu only): the floatX parameters the model computes
//       with, exactly (bf16 converts to fp32 exactly); with stochastic rounding they are
//       not a function of the master weights,
//       "loader/train", "loader/noise" int32[6]: data-loader positions (epoch, shard,
//       sample as lo/hi pairs),
//       "run/batch" int32[4] (B, T, total batch lo, hi), "run/processes" int32[1] (data-
//       parallel ranks; absent in older files: 1), "run/shuffle", "run/sign_vote" int32[1]
//       (absent in older files: not compared; the vote then read from the "rank<r>/" records),
//       "run/rank_data_split" int32[1] (1 first-token, 0 none; absent in older files: not compared),
//       "run/data_seed" int32[2] (--data-seed lo, hi; absent in older files: their --seed),
//       "run/train_glob", "run/val_glob", "run/optim_groups" (--optim-group's rules, "" none;
//       absent in older files: none), "run/zo" (--zo and its settings,
//       zo_settings_name; absent in older files: not compared) bytes: what the data positions and the optimizer
//       state mean; a resume that changes them is refused (check_resume_matches, before any
//       tensor is read). Nothing else run-specific (times, hosts) goes in, so two runs
//       that reach the same step the same way write byte-identical files.
//   The step's sampling and data order come from counter-based RNG streams keyed by
//   (seed, step / position), so the positions above are the whole RNG state.
// Both files are written atomically (temporary file, fsync, rename), the model file first
// and the state file last, and a stale state file of the same step is removed before, so
// a checkpoint counts only when both files exist: a crash at any point leaves the
// previous complete checkpoint as the latest one. A write that fails removes what it wrote
// of that step (its .tmp files and the model file), so nothing half-done stays behind.
#pragma once
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "dataloader.h"
#include "gpt2_layout.h"
#include "model_file.h"
#include "named_tensors.h"
#include "utils.h"

inline std::string checkpoint_path(const std::string& dir, const char* kind, int step) {
    char name[64];
    snprintf(name, sizeof name, "/%s_%08d.bin", kind, step);
    return dir + name;
}

// Steps (ascending) that have both a model file and a state file in dir.
inline std::vector<int> complete_checkpoint_steps(const std::string& dir) {
    std::vector<int> models, states, both;
    DIR* d = opendir(dir.c_str());
    if (!d) return both;
    while (struct dirent* e = readdir(d)) {
        int step = -1, used = 0;
        const std::string name = e->d_name;
        if (sscanf(name.c_str(), "model_%8d.bin%n", &step, &used) == 1 && used == (int)name.size() && name.size() == 18)
            models.push_back(step);
        else if (sscanf(name.c_str(), "state_%8d.bin%n", &step, &used) == 1 && used == (int)name.size() && name.size() == 18)
            states.push_back(step);
    }
    closedir(d);
    std::sort(models.begin(), models.end());
    std::sort(states.begin(), states.end());
    std::set_intersection(models.begin(), models.end(), states.begin(), states.end(), std::back_inserter(both));
    return both;
}

inline int latest_checkpoint_step(const std::string& dir) {
    const std::vector<int> steps = complete_checkpoint_steps(dir);
    return steps.empty() ? -1 : steps.back();
}

// DONE_%08d: written after the final step's checkpoint, as llm.c does, so a restart loop
// (`while [ ! -f DONE_00001000 ]; do mpirun ... -y 1; done`) ends; -y 1 on a run that holds the
// marker of its last step exits 0 ("already done").
inline std::string done_marker_path(const std::string& dir, int step) {
    char name[32];
    snprintf(name, sizeof name, "/DONE_%08d", step);
    return dir + name;
}
inline bool run_done(const std::string& dir, int max_steps) { return access(done_marker_path(dir, max_steps).c_str(), F_OK) == 0; }
inline void write_done_marker(const std::string& dir, int step) {
    write_file_atomically(done_marker_path(dir, step), nullptr, 0, nullptr, 0);
}

// --keep K: deletes every complete checkpoint but the newest K (K = 0 keeps all).
inline void delete_old_checkpoints(const std::string& dir, int keep) {
    if (keep <= 0) return;
    const std::vector<int> steps = complete_checkpoint_steps(dir);
    for (size_t i = 0; i + keep < steps.size(); i++) {
        unlink(checkpoint_path(dir, "state", steps[i]).c_str());  // state first: never a state without its model
        unlink(checkpoint_path(dir, "model", steps[i]).c_str());
    }
}

// A named fp32 buffer in host memory that a checkpoint saves or fills on restore. On restore
// it may be a part of its record: elements [record_offset, record_offset + numel) of a record
// of record_numel (ZeRO-1's shards; several refs may name one record, numel 0 only checks it).
struct StateTensorRef {
    std::string name;
    float* data;
    size_t numel;
    size_t record_offset = 0;
    size_t record_numel = 0; // 0: numel (the whole record)
};

// Under signum's majority vote (--sign-vote 1) every rank has its own momentum: a checkpoint
// keeps rank r's (r >= 1) as "rank<r>/optim/<tensor>.<slot>" beside rank 0's usual records
// (both trainers write and read these, so their checkpoints stay interchangeable).
inline std::string rank_state_record(int r, const std::string& name) { return "rank" + std::to_string(r) + "/optim/" + name; }

// The settings a data position and the optimizer state are only meaningful with (-b, -t, -d,
// -i, -j, the rank count, --no-shuffle, --sign-vote, --optim-group, --data-seed).
struct RunShape {
    int batch_size = 0, seq_len = 0;
    long total_batch = 0;
    std::string train_glob, val_glob;
    int processes = 1; // data-parallel ranks: each reads its own part of every step's batch
    int shuffle = -1;   // 1: shuffled, 0: --no-shuffle; -1: not recorded (older checkpoints)
    int sign_vote = -1; // --sign-vote: each rank's own momentum; -1: not recorded
    std::string optim_groups; // --optim-group's rules (optim_group_rules_string); "" none (and older checkpoints)
    uint64_t data_seed = 0; // --data-seed (older checkpoints, without the record: their --seed, which set the order)
    std::string zo;     // --zo and its settings (zo_settings_name); "": not recorded
    int rank_data_split = -1; // --rank-data-split: 1 first-token, 0 none; -1: not recorded (older checkpoints)
};

struct TrainingState {
    int step = 0;
    int skips = 0;
    uint64_t seed = 0;
    DataLoaderPosition train_pos, noise_pos;
    RunShape run;
};

namespace checkpoint_detail {
inline std::vector<int32_t> split64(const std::vector<uint64_t>& v) {
    std::vector<int32_t> out;
    for (uint64_t x : v) { out.push_back((int32_t)(uint32_t)x); out.push_back((int32_t)(uint32_t)(x >> 32)); }
    return out;
}
inline uint64_t join64(const std::vector<int32_t>& v, size_t i) {
    return (uint64_t)(uint32_t)v[2 * i] | ((uint64_t)(uint32_t)v[2 * i + 1] << 32);
}
inline std::vector<int32_t> position_ints(const DataLoaderPosition& p) { return split64({p.epoch, p.shard_index, p.sample_index}); }
inline DataLoaderPosition position_from(const std::vector<int32_t>& v, const std::string& path) {
    if (v.size() != 6) fail_usage("'%s': a loader position has %zu values, want 6", path.c_str(), v.size());
    return DataLoaderPosition{join64(v, 0), join64(v, 1), join64(v, 2)};
}
inline std::vector<int32_t> shape_ints(const GPT2Config& c) {
    return {c.max_seq_len, c.vocab_size, c.padded_vocab_size, c.num_layers, c.num_heads, c.channels};
}
} // namespace checkpoint_detail

// Writes the checkpoint of `step` into dir (see the top for the order), then applies --keep.
// extra: more fp32 records under their own names (params_floatx).
inline void save_checkpoint(const std::string& dir, const GPT2Config& model, const float* master_params,
                            const TrainingState& st, const std::vector<StateTensorRef>& optim_state, int keep,
                            const std::vector<StateTensorRef>& extra = {}) {
    using namespace checkpoint_detail;
    const std::string model_path = checkpoint_path(dir, "model", st.step), state_path = checkpoint_path(dir, "state", st.step);
    unlink(state_path.c_str());  // a state file left from an earlier run must not pair with a half-done save
    std::string error;
    if (!try_save_model_file(model_path, model, master_params, &error))
        fail_runtime("checkpoint of step %d not written: %s", st.step, error.c_str());
    NamedTensorFile f;
    const int32_t step = st.step, skips = st.skips;
    f.put_i32("step", {1}, &step);
    f.put_i32("skips", {1}, &skips);
    const std::vector<int32_t> seed = split64({st.seed}), shape = shape_ints(model);
    const std::vector<int32_t> train = position_ints(st.train_pos), noise = position_ints(st.noise_pos);
    f.put_i32("seed", {2}, seed.data());
    f.put_i32("model_shape", {6}, shape.data());
    f.put_i32("loader/train", {6}, train.data());
    f.put_i32("loader/noise", {6}, noise.data());
    const std::vector<int32_t> batch = {st.run.batch_size, st.run.seq_len, (int32_t)(uint32_t)(uint64_t)st.run.total_batch,
                                        (int32_t)(uint32_t)((uint64_t)st.run.total_batch >> 32)};
    f.put_i32("run/batch", {4}, batch.data());
    f.put_i32("run/processes", {1}, &st.run.processes);
    f.put_i32("run/shuffle", {1}, &st.run.shuffle);
    f.put_i32("run/sign_vote", {1}, &st.run.sign_vote);
    const std::vector<int32_t> data_seed = split64({st.run.data_seed});
    f.put_i32("run/data_seed", {2}, data_seed.data());
    f.put_str("run/train_glob", st.run.train_glob);
    f.put_str("run/val_glob", st.run.val_glob);
    f.put_str("run/optim_groups", st.run.optim_groups);
    if (!st.run.zo.empty()) f.put_str("run/zo", st.run.zo);
    f.put_i32("run/rank_data_split", {1}, &st.run.rank_data_split);
    f.put_f32("params", {(int)gpt2_num_params(model)}, master_params);
    for (const StateTensorRef& r : optim_state) f.put_f32("optim/" + r.name, {(int)r.numel}, r.data);
    for (const StateTensorRef& r : extra) f.put_f32(r.name, {(int)r.numel}, r.data);
    if (!f.try_save_atomically(state_path, &error)) {
        unlink(model_path.c_str());  // a model file without its state file is no checkpoint: don't leave one
        const int previous = latest_checkpoint_step(dir);
        fail_runtime("checkpoint of step %d not written: %s (latest complete checkpoint: %s)", st.step, error.c_str(),
                     previous >= 0 ? ("step " + std::to_string(previous)).c_str() : "none");
    }
    delete_old_checkpoints(dir, keep);
}

inline void check_resume_matches(const TrainingState& st, const RunShape& now, int max_steps, const std::string& dir);

// Reads the checkpoint of `step`: checks the model shape, the seed and the run's settings
// (check_resume_matches: now, max_steps) against this run, then fills master_params
// (gpt2_num_params(model) floats), every optimizer buffer and every extra record by name.
inline TrainingState load_checkpoint(const std::string& dir, int step, const GPT2Config& model, uint64_t seed, const RunShape& now,
                                     int max_steps, float* master_params, const std::vector<StateTensorRef>& optim_state,
                                     const std::vector<StateTensorRef>& extra = {}) {
    using namespace checkpoint_detail;
    const std::string state_path = checkpoint_path(dir, "state", step);
    GPT2Config file_shape;
    std::vector<float> file_params;
    load_model_file(checkpoint_path(dir, "model", step), &file_shape, &file_params);
    if (shape_ints(file_shape) != shape_ints(model))
        fail_usage("checkpoint step %d in '%s' holds a different model shape than -e", step, dir.c_str());
    NamedTensorFile f;
    f.load(state_path);
    TrainingState st;
    st.step = f.i32("step").at(0);
    st.skips = f.i32("skips").at(0);
    st.seed = join64(f.i32("seed"), 0);
    if (st.step != step) fail_usage("'%s' says step %d", state_path.c_str(), st.step);
    if (st.seed != seed) fail_usage("checkpoint '%s' was trained with --seed %llu, this run has %llu", state_path.c_str(),
                                    (unsigned long long)st.seed, (unsigned long long)seed);
    if (f.i32("model_shape") != shape_ints(model)) fail_usage("'%s' holds a different model shape", state_path.c_str());
    if (!f.has("run/batch") || f.i32("run/batch").size() != 4 || !f.has("run/train_glob") || !f.has("run/val_glob"))
        fail_usage("checkpoint '%s' has no run/batch record (written by an older version): it cannot be resumed safely",
                   state_path.c_str());
    const std::vector<int32_t>& batch = f.i32("run/batch");
    st.run.batch_size = batch[0];
    st.run.seq_len = batch[1];
    st.run.total_batch = (long)join64(batch, 1);
    st.run.processes = f.has("run/processes") ? f.i32("run/processes").at(0) : 1;
    st.run.train_glob = f.str("run/train_glob");
    st.run.val_glob = f.str("run/val_glob");
    st.run.shuffle = f.has("run/shuffle") ? f.i32("run/shuffle").at(0) : -1;
    st.run.optim_groups = f.has("run/optim_groups") ? f.str("run/optim_groups") : "";
    st.run.data_seed = f.has("run/data_seed") ? join64(f.i32("run/data_seed"), 0) : st.seed;
    st.run.zo = f.has("run/zo") ? f.str("run/zo") : "";
    st.run.rank_data_split = f.has("run/rank_data_split") ? f.i32("run/rank_data_split").at(0) : -1;
    bool rank_records = false; // the vote's per-rank momenta ("rank<r>/optim/...")
    for (const auto& kv : f.records) rank_records |= kv.first.rfind("rank", 0) == 0;
    st.run.sign_vote = f.has("run/sign_vote") ? f.i32("run/sign_vote").at(0) : rank_records ? 1 : st.run.processes > 1 ? 0 : -1;
    check_resume_matches(st, now, max_steps, dir); // before any tensor: a changed setting names itself
    st.train_pos = position_from(f.i32("loader/train"), state_path);
    st.noise_pos = position_from(f.i32("loader/noise"), state_path);
    const std::vector<float>& params = f.f32("params");
    if (params.size() != gpt2_num_params(model)) fail_usage("'%s': params has %zu values", state_path.c_str(), params.size());
    std::copy(params.begin(), params.end(), master_params);
    // Copies record `name` into r, or fails naming the likely cause when it is missing.
    auto read_into = [&](const std::string& name, const StateTensorRef& r, const char* missing_why) {
        if (!f.has(name)) fail_usage("checkpoint '%s' has no record '%s' (%s)", state_path.c_str(), name.c_str(), missing_why);
        const std::vector<float>& v = f.f32(name);
        const size_t want = r.record_numel ? r.record_numel : r.numel;
        if (v.size() != want) fail_usage("'%s': %s has %zu values, want %zu", state_path.c_str(), name.c_str(), v.size(), want);
        std::copy(v.begin() + r.record_offset, v.begin() + r.record_offset + r.numel, r.data);
    };
    std::set<std::string> optim_names;
    for (const StateTensorRef& r : optim_state) {
        read_into("optim/" + r.name, r, "trained with another --optim?");
        optim_names.insert(r.name);
    }
    for (const StateTensorRef& r : extra)
        read_into(r.name, r, r.name.rfind("rank", 0) == 0 ? "the vote's per-rank momentum: trained without --sign-vote 1?" : "written by another trainer?");
    size_t optim_records = 0;
    for (const auto& kv : f.records) optim_records += kv.first.rfind("optim/", 0) == 0;
    if (optim_records != optim_names.size())
        fail_usage("checkpoint '%s' has %zu optimizer buffers, this optimizer has %zu (another --optim?)", state_path.c_str(),
                   optim_records, optim_names.size());
    return st;
}

// A resume continues the checkpoint's run bit-identically only with the same batch, data and
// data order: a different rank count, -b, -t, -d, -i, -j, --no-shuffle, --sign-vote, --optim-group,
// --data-seed, --rank-data-split or --zo (its method or settings) is refused (naming the flag and both values), and so is
// a -x that leaves nothing to train.
inline void check_resume_matches(const TrainingState& st, const RunShape& now, int max_steps, const std::string& dir) {
    auto refuse = [&](const char* flag, const std::string& was, const std::string& is) {
        fail_usage("cannot resume the checkpoint of step %d in '%s' with %s %s: it was trained with %s %s (the data "
                   "position and a bit-identical resume depend on it)", st.step, dir.c_str(), flag, is.c_str(), flag, was.c_str());
    };
    const RunShape& was = st.run;
    if (was.processes != now.processes)
        fail_usage("cannot resume the checkpoint of step %d in '%s' with %d process(es): it was trained with %d (each rank's "
                   "part of the data and its optimizer state depend on it)", st.step, dir.c_str(), now.processes, was.processes);
    if (was.batch_size != now.batch_size) refuse("-b", std::to_string(was.batch_size), std::to_string(now.batch_size));
    if (was.seq_len != now.seq_len) refuse("-t", std::to_string(was.seq_len), std::to_string(now.seq_len));
    if (was.total_batch != now.total_batch) refuse("-d", std::to_string(was.total_batch), std::to_string(now.total_batch));
    if (was.train_glob != now.train_glob) refuse("-i", "'" + was.train_glob + "'", "'" + now.train_glob + "'");
    if (was.val_glob != now.val_glob) refuse("-j", "'" + was.val_glob + "'", "'" + now.val_glob + "'");
    if (was.shuffle >= 0 && now.shuffle >= 0 && was.shuffle != now.shuffle)
        fail_usage("cannot resume the checkpoint of step %d in '%s' %s --no-shuffle: it was trained %s (the data order would "
                   "change mid-run)", st.step, dir.c_str(), now.shuffle ? "without" : "with",
                   was.shuffle ? "shuffled" : "with --no-shuffle");
    if (was.data_seed != now.data_seed)
        refuse("--data-seed", std::to_string(was.data_seed), std::to_string(now.data_seed));
    if (was.sign_vote >= 0 && now.sign_vote >= 0 && was.sign_vote != now.sign_vote)
        fail_usage("cannot resume the checkpoint of step %d in '%s' with --sign-vote %d: it was trained with --sign-vote %d (the "
                   "vote keeps each rank's own momentum)", st.step, dir.c_str(), now.sign_vote, was.sign_vote);
    if (was.optim_groups != now.optim_groups)
        fail_usage("cannot resume the checkpoint of step %d in '%s' with --optim-group '%s': it was trained with '%s' (each group's "
                   "rule, lr and state must stay the same)", st.step, dir.c_str(), now.optim_groups.c_str(), was.optim_groups.c_str());
    if (was.rank_data_split >= 0 && now.rank_data_split >= 0 && was.rank_data_split != now.rank_data_split)
        refuse("--rank-data-split", was.rank_data_split ? "first-token" : "none", now.rank_data_split ? "first-token" : "none");
    if (!was.zo.empty() && !now.zo.empty() && was.zo != now.zo) // e.g. signum's momentum slot holding JAGUAR's m
        fail_usage("cannot resume the checkpoint of step %d in '%s' with --zo %s: it was trained with --zo %s (the step's rule "
                   "and what its momentum holds depend on it)", st.step, dir.c_str(), now.zo.c_str(), was.zo.c_str());
    if (max_steps <= st.step)
        fail_usage("nothing to do: the checkpoint in '%s' is at step %d and this run ends at step %d (-x); raise -x to "
                   "train further", dir.c_str(), st.step, max_steps);
}
