// The fused GPU optimizers (optim/gpu_optimizer.cuh) against the CPU reference (optim/*.h).
//   build/dev/optimizers           checks: every rule on fresh random data, several steps,
//                                  weight decay on (and off for the vectors), clip scale != 1
//   build/dev/optimizers --bench   d12 step times against their floors (GPU only), Markdown
// Checks, per rule and model shape (one with every tensor offset a multiple of 8 elements,
// one with odd offsets and tails):
//   - fp32 master weights and every state buffer within 1e-6 relative of the CPU reference
//     (Muon's matrices in the bf16 build: the update within bf16 tolerance, since
//     Newton-Schulz runs in bf16 there). Sign rules (SignSGD, Signum, Lion) move each
//     coordinate by +-lr: where the sign's argument is near 0 (Signum's and Lion's
//     beta*m + (1-beta)*g, one FMA on a GPU, two roundings on the host) it can flip between two
//     correct implementations, so those coordinates (off by >= lr/4) are counted and bounded,
//     and the rest compared (as test/test_gpt2_cuda.cu does);
//   - the floatX parameters: within one bf16 ulp of the master, and bit for bit the
//     stochastic rounding of the master with the step's key (FP32 build: equal to the master);
//   - stochastic rounding is unbiased: over many steps of a rule that leaves the master
//     unchanged (SignSGD, lr 0) the mean of the rounded values approaches the fp32 value,
//     which round-to-nearest cannot do;
//   - Newton-Schulz output of every matrix shape within bf16 tolerance of the fp32 CPU
//     iteration, its singular values in the band of the quintic iteration.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../../common/train_config.h"
#include "../../optim/gpu_optimizer.cuh"
#include "../../optim/grad_clip.h"
#include "../../test/singular_values.h"
#include "dev_common.cuh"

#if defined(ENABLE_FP32)
// fp32 Newton-Schulz: only the GEMMs' summation order differs from the CPU.
// MUON_UPDATE_TOL: fp32 summation orders through 5 Newton-Schulz iterations; --muon-scale rms
// measured 1.4e-5 under emulation (shape: below 1e-5).
static const double NS_TOL = 1e-5, MUON_UPDATE_TOL = 3e-5;
#else
// bf16 Newton-Schulz against the fp32 CPU iteration: measured 1.5e-2..2.2e-2 on the output
// (emulator), as a numpy model of the usual bf16 formulation (X, A, B rounded each
// iteration, a X + B X in one rounding) gives 1.7e-2..2.1e-2 on the same shapes.
static const double NS_TOL = 4e-2, MUON_UPDATE_TOL = 4e-2;
#endif
static const double MASTER_TOL = 1e-6, STATE_TOL = 1e-6;
// Sign flips of the sign rules, as a fraction of their coordinates: a simulation of this
// check's data with an FMA on one side gave 200-240 flipped coordinates of 5.5M (4e-5); the
// emulator (same roundings as the host) flips none. A wrong sign argument flips ~half.
static const double MAX_FLIP_FRACTION = 1e-3;
static const uint64_t SEED = 1234;

static const bool SMALL = DEV_SIZE(false, true); // under the emulator: small sizes, no benchmark

// A model shape for the tables: large (a few million parameters, offsets multiples of 8) on
// a GPU; under the emulator small; and one with odd offsets and tails everywhere.
static GPT2Config shape_config(bool odd) {
    GPT2Config c;
    if (odd) { // C = 36: wte 99 x 36 ends at an offset that is 4 mod 8, and so on
        c.num_layers = 2, c.channels = 36, c.num_heads = 4, c.vocab_size = 99, c.padded_vocab_size = 99, c.max_seq_len = 30;
    } else if (SMALL) {
        c.num_layers = 2, c.channels = 64, c.num_heads = 4, c.vocab_size = 500, c.padded_vocab_size = 512, c.max_seq_len = 64;
    } else { // 5.5M parameters
        c.num_layers = 4, c.channels = 256, c.num_heads = 4, c.vocab_size = 8000, c.padded_vocab_size = 8192, c.max_seq_len = 1024;
    }
    return c;
}

static OptimConfig optim_from_flags(const std::string& flags) {
    TrainConfig tc;
    parse_train_args_string(flags, &tc);
    return tc.optim;
}

// bf16 ulp of x (the spacing of bf16 values at |x|).
static double bf16_ulp(float x) {
    int e;
    std::frexp(std::fabs((double)x), &e);
    return std::ldexp(1.0, std::max(e, -125) - 8);
}

// The elements of the tensors Muon orthogonalizes (muon = true) or of all the others.
static std::vector<float> gather(const std::vector<float>& v, const OptimConfig& oc, const GPT2Config& mc, bool muon) {
    std::vector<float> out;
    for (const ParamGroup& g : optim_param_groups(oc, mc))
        if ((g.rule == Algorithm::Muon) == muon)
            out.insert(out.end(), v.begin() + g.tensor.offset, v.begin() + g.tensor.offset + g.tensor.numel());
    return out;
}

// The device side of check_rule and check_ssvr: fp32 master weights from `master`, the floatX
// parameters rounded from them, a gradient buffer and the clip scale; freed with the check.
struct DeviceOptimizerState {
    float *master, *scale;
    floatX *params, *grads;
    DeviceOptimizerState(const std::vector<float>& host_master, float clip_scale) {
        const size_t n = host_master.size();
        master = upload_f32(host_master);
        params = device_alloc<floatX>(n);
        copy_to_floatx(params, master, n);
        grads = device_alloc<floatX>(n);
        scale = upload_f32({clip_scale});
    }
    DeviceOptimizerState(const DeviceOptimizerState&) = delete;
    DeviceOptimizerState& operator=(const DeviceOptimizerState&) = delete;
    ~DeviceOptimizerState() { cudaFree(master), cudaFree(params), cudaFree(grads), cudaFree(scale); }
};

// `steps` steps of one optimizer on the GPU and the CPU from the same random master weights,
// with fresh random gradients each step, clip scale 0.8 and a falling lr factor.
static void check_rule(const std::string& name, const std::string& flags, bool odd, int steps) {
    const GPT2Config mc = shape_config(odd);
    const OptimConfig oc = optim_from_flags(flags);
    const size_t n = gpt2_num_params(mc);
    const std::string tag = name + (odd ? "/odd" : "") + "/";

    std::vector<float> master(n); // fp32 values, not floatX-rounded
    for (size_t i = 0; i < n; i++) master[i] = -1.0f + 2.0f * (float)random_uniform(100, i);
    const std::vector<float> init = master;
    const float scale = 0.8f;
    DeviceOptimizerState dev(master, scale);
    float *d_master = dev.master, *d_scale = dev.scale;
    floatX *d_params = dev.params, *d_grads = dev.grads;

    GpuOptimizer gpu(oc, mc, SEED);
    CpuOptimizer cpu(oc, mc);
    for (int t = 1; t <= steps; t++) {
        const std::vector<float> g = random_vector(n, 200 + t, -1e-2f, 1e-2f); // floatX values
        upload_into(d_grads, g);
        const float lr_factor = 1.0f - 0.1f * (t - 1);
        gpu.step(d_master, d_params, d_grads, d_scale, lr_factor, t);
        std::vector<float> scaled(g);
        scale_grads(scaled.data(), n, scale);
        cpu.step(master.data(), scaled.data(), lr_factor, t);
    }
    cudaCheck(cudaDeviceSynchronize());
    const std::vector<float> got = download_f32(d_master, n);

    // master: the element-wise tensors tight, less the sign rules' flipped coordinates;
    // Muon's matrices on their update
    std::vector<float> got_e, want_e;
    size_t flips = 0, sign_coordinates = 0;
    for (const ParamGroup& g : optim_param_groups(oc, mc)) {
        if (g.rule == Algorithm::Muon) continue;
        const bool sign_rule = g.rule == Algorithm::SignSGD || g.rule == Algorithm::Signum || g.rule == Algorithm::Lion;
        for (size_t i = g.tensor.offset; i < g.tensor.offset + g.tensor.numel(); i++) {
            if (sign_rule) {
                sign_coordinates++;
                if (std::fabs((double)got[i] - master[i]) >= 0.25 * g.peak_lr) { flips++; continue; }
            }
            got_e.push_back(got[i]);
            want_e.push_back(master[i]);
        }
    }
    if (sign_coordinates > 0) {
        char why[128];
        snprintf(why, sizeof why, "%zu of %zu coordinates differ by a sign flip (bound %.0e of them)", flips,
                 sign_coordinates, MAX_FLIP_FRACTION);
        if (flips <= MAX_FLIP_FRACTION * sign_coordinates) test_pass(tag + "sign_flips", why);
        else test_fail(tag + "sign_flips", why);
    }
    check_close(tag + "master", got_e.data(), want_e.data(), got_e.size(), MASTER_TOL);
    std::vector<float> got_m = gather(got, oc, mc, true), want_m = gather(master, oc, mc, true);
    if (!got_m.empty()) {
        const std::vector<float> init_m = gather(init, oc, mc, true);
        for (size_t i = 0; i < got_m.size(); i++) got_m[i] -= init_m[i], want_m[i] -= init_m[i];
        check_close(tag + "muon_update", got_m.data(), want_m.data(), got_m.size(), MUON_UPDATE_TOL);
    }
    // state buffers, by name, in the same order as the CPU's; Muon's momentum does not see
    // Newton-Schulz, so it is tight too
    const std::vector<OptimStateBuffer>& ref_state = cpu.state();
    test_expect(ref_state.size() == gpu.state().size(), tag + "state_count", "GPU and CPU keep different state buffers");
    for (size_t k = 0; k < std::min(ref_state.size(), gpu.state().size()); k++) {
        const std::vector<float> s = download_f32(gpu.state()[k], gpu.state_numel()[k]);
        if (gpu.state_names()[k] != ref_state[k].name) test_fail(tag + "state/" + ref_state[k].name, "GPU names it " + gpu.state_names()[k]);
        else check_close(tag + "state/" + ref_state[k].name, s.data(), ref_state[k].data.data(), s.size(), STATE_TOL);
    }

    // floatX parameters against the GPU's own master
    const std::vector<float> params = download(d_params, n);
    size_t beyond_ulp = 0, wrong_bits = 0;
    const uint64_t key = rounding_key(SEED, steps);
    for (size_t i = 0; i < n; i++) {
        if (std::fabs((double)params[i] - got[i]) >= bf16_ulp(got[i])) beyond_ulp++;
#if defined(ENABLE_FP32)
        wrong_bits += params[i] != got[i];
#else
        const uint16_t want = bf16_bits_stochastic(got[i], rounding_lane(rounding_word(key, i / 4), i));
        uint32_t bits;
        memcpy(&bits, &params[i], sizeof bits);
        wrong_bits += (bits >> 16) != want;
#endif
    }
    test_expect(beyond_ulp == 0, tag + "params_within_ulp", std::to_string(beyond_ulp) + " parameters are a bf16 ulp or more from the master");
    test_expect(wrong_bits == 0, tag + "params_rounding",
                std::to_string(wrong_bits) + " parameters differ from the stochastic rounding of the master with the step's key");
}

// ZeRO-1 on the GPU (optim/data_parallel.cuh): 3 GpuOptimizers with the OptimShard of ranks
// 0..2 under -z 1, each holding its shard's state only (Muon: its layers' momentum), stepping
// one shared master / params buffer (as the all-gather leaves them), against one unsharded
// GpuOptimizer (each given the master pointer of its part): the master and every state buffer,
// put together from the ranks' held parts,
// within 1e-6 (the same per-element arithmetic; Muon's batches differ by rank), and the
// ranks' held state adds up to the whole, with at most about a third on each.
static void check_zero1_shards(const std::string& name, const std::string& flags, bool odd, int steps) {
    GPT2Config mc = shape_config(odd);
    mc.num_layers = 4; // Muon deals 16 matrices round-robin to 3 ranks: a rank's layers of a tensor are 3 apart
    const OptimConfig oc = optim_from_flags(flags);
    const size_t n = gpt2_num_params(mc);
    const int R = 3;
    const std::string tag = "zero1/" + name + (odd ? "/odd" : "") + "/";
    std::vector<float> master(n);
    for (size_t i = 0; i < n; i++) master[i] = -1.0f + 2.0f * (float)random_uniform(110, i);
    DeviceOptimizerState whole_dev(master, 0.8f), shard_dev(master, 0.8f);
    GpuOptimizer whole(oc, mc, SEED);
    std::vector<std::unique_ptr<GpuOptimizer>> ranks;
    const size_t shard = (n + 64 * R - 1) / (64 * R) * 64; // GpuDataParallel::shard_elements
    size_t held = 0, most = 0;
    for (int r = 0; r < R; r++) {
        OptimShard s;
        s.shard = shard, s.rank = r, s.ranks = R;
        ranks.emplace_back(new GpuOptimizer(oc, mc, SEED, s));
        held += ranks.back()->held_floats();
        most = std::max(most, ranks.back()->held_floats());
    }
    // element-wise: a third each to 64-float rounding per buffer; Muon: whole layers (16 among
    // 3 ranks, unevenly sized tensors), so only less than the whole
    const size_t bound = oc.algorithm == Algorithm::Muon ? whole.whole_floats() - 1 : whole.whole_floats() / R + 64 * NUM_PARAM_TENSORS * 2;
    test_expect(held == whole.whole_floats() && most <= bound, tag + "held_state",
                std::to_string(held) + " floats held over the ranks (at most " + std::to_string(most) + " on one) of " +
                    std::to_string(whole.whole_floats()));
    for (int t = 1; t <= steps; t++) {
        const std::vector<float> g = random_vector(n, 300 + t, -1e-2f, 1e-2f);
        upload_into(whole_dev.grads, g);
        upload_into(shard_dev.grads, g);
        whole.step(whole_dev.master, whole_dev.params, whole_dev.grads, whole_dev.scale, 0.9f, t);
        // each rank's master pointer at its part (without Muon the optimizer indexes the shard's
        // master weights from the shard's first element: master_part)
        for (int r = 0; r < R; r++)
            ranks[r]->step(shard_dev.master + ranks[r]->master_part(n).begin, shard_dev.params, shard_dev.grads, shard_dev.scale, 0.9f, t);
    }
    cudaCheck(cudaDeviceSynchronize());
    const std::vector<float> want = download_f32(whole_dev.master, n), got = download_f32(shard_dev.master, n);
    check_close(tag + "master", got.data(), want.data(), n, oc.algorithm == Algorithm::Muon ? MUON_UPDATE_TOL : MASTER_TOL);
    std::vector<float> ref_all, got_all; // every state buffer, concatenated (an element no rank holds stays NaN)
    for (size_t k = 0; k < whole.state().size(); k++) {
        std::vector<float> ref(whole.state_numel()[k]), put_together(whole.state_numel()[k], NAN);
        whole.download_state(k, ref.data());
        for (int r = 0; r < R; r++) ranks[r]->download_state(k, put_together.data());
        ref_all.insert(ref_all.end(), ref.begin(), ref.end());
        got_all.insert(got_all.end(), put_together.begin(), put_together.end());
    }
    check_close(tag + "state (" + std::to_string(whole.state().size()) + " buffers)", got_all.data(), ref_all.data(), ref_all.size(), STATE_TOL);
}

// ssvr: each step folds a random current and previous gradient into v (the trainer's order:
// ssvr_add_current, ssvr_sub_previous from step 2, step) on both sides; the master, v and the
// previous parameters (the GPU keeps them in floatX: within a bf16 ulp of the CPU's fp32 ones,
// which are the master before the step) against the CPU reference.
static void check_ssvr(bool odd, int steps) {
    const GPT2Config mc = shape_config(odd);
    const OptimConfig oc = optim_from_flags("--optim ssvr -l 1e-3 -c 0.1");
    const size_t n = gpt2_num_params(mc);
    const std::string tag = std::string("ssvr") + (odd ? "/odd" : "") + "/";
    std::vector<float> master(n);
    for (size_t i = 0; i < n; i++) master[i] = -1.0f + 2.0f * (float)random_uniform(300, i);
    const float scale = 0.8f;
    DeviceOptimizerState dev(master, scale);
    float *d_master = dev.master, *d_scale = dev.scale;
    floatX *d_params = dev.params, *d_grads = dev.grads;
    GpuOptimizer gpu(oc, mc, SEED);
    CpuOptimizer cpu(oc, mc);
    for (int t = 1; t <= steps; t++) {
        for (int pass = 0; pass < (t > 1 ? 2 : 1); pass++) {
            std::vector<float> g = random_vector(n, 400 + 2 * t + pass, -1e-2f, 1e-2f);
            upload_into(d_grads, g);
            scale_grads(g.data(), n, scale);
            if (pass == 0) gpu.ssvr_add_current(d_grads, d_scale), cpu.ssvr_add_current(g.data());
            else gpu.ssvr_sub_previous(d_grads, d_scale), cpu.ssvr_sub_previous(g.data());
        }
        gpu.step(d_master, d_params, d_grads, d_scale, 1.0f, t);
        cpu.step(master.data(), std::vector<float>(n, 0.0f).data(), 1.0f, t); // ssvr's step reads only v
    }
    cudaCheck(cudaDeviceSynchronize());
    const std::vector<float> got = download_f32(d_master, n);
    check_close(tag + "master", got.data(), master.data(), n, MASTER_TOL);
    std::vector<float> cpu_prev(n);
    cpu.ssvr_previous_params(cpu_prev.data());
    size_t far = 0;
    for (size_t k = 0; k < gpu.state_names().size(); k++) {
        std::vector<float> s(gpu.state_numel()[k]);
        gpu.download_state(k, s.data());
        const OptimStateBuffer& ref = cpu.state()[k];
        if (gpu.state_names()[k] != ref.name) { test_fail(tag + "state/" + ref.name, "GPU names it " + gpu.state_names()[k]); continue; }
        if (ref.name.find(".prev_params") == std::string::npos) { check_close(tag + "state/" + ref.name, s.data(), ref.data.data(), s.size(), STATE_TOL); continue; }
        for (size_t i = 0; i < s.size(); i++) far += std::fabs((double)s[i] - ref.data[i]) >= bf16_ulp(ref.data[i]);
    }
    test_expect(far == 0, tag + "prev_params_within_ulp", std::to_string(far) + " previous parameters a bf16 ulp or more from the CPU's");
}

// The rules of issue 13 that check_rule covers as they are (nsgd with either norm; Muon's rms
// scale and Polar Express), and ssvr by check_ssvr.
static void check_issue13_rules(int steps) {
    const char* runs[][2] = {
        {"nsgd", "--optim nsgd -c 0.1"}, // --nsgd-norm tensor: per layer slice (slices of 36 on the odd shape)
        {"nsgd_global", "--optim nsgd --nsgd-norm global -c 0.1"},
        {"muon_rms", "--optim muon --muon-scale rms -c 0.1"},
        {"muon_polar", "--optim muon --muon-ns polar-express -c 0.1 --fallback-lr 1e-3"},
    };
    for (bool odd : {false, true}) {
        for (const auto& run : runs) check_rule(run[0], run[1], odd, steps);
        check_ssvr(odd, steps);
    }
}

// SignSGD at lr 0 leaves the master unchanged; each step rounds it again with a new key.
// mean_i |mean_t(param) - master| / ulp: round-to-nearest gives about 1/4 (the mean distance
// to the nearest bf16 value), unbiased rounding 0.31/sqrt(trials).
static void check_rounding_unbiased() {
#if defined(ENABLE_FP32)
    test_skip("rounding/unbiased", "FP32 build: parameters are the master weights");
#else
    const GPT2Config mc = shape_config(false);
    OptimConfig oc = optim_from_flags("--optim signsgd");
    oc.lr = 0.0f;
    const size_t n = gpt2_num_params(mc), sampled = std::min<size_t>(n, SMALL ? 16384 : 262144);
    const int trials = SMALL ? 64 : 256;
    std::vector<float> master(n);
    for (size_t i = 0; i < n; i++) master[i] = -1.0f + 2.0f * (float)random_uniform(300, i);
    float* d_master = upload_f32(master);
    floatX *d_params = device_alloc<floatX>(n), *d_grads = upload(random_vector(n, 301));
    GpuOptimizer gpu(oc, mc, SEED);
    std::vector<double> sum(sampled, 0.0);
    std::vector<floatX> tmp(sampled);
    for (int t = 1; t <= trials; t++) {
        gpu.step(d_master, d_params, d_grads, nullptr, 1.0f, t);
        cudaCheck(cudaMemcpy(tmp.data(), d_params, sampled * sizeof(floatX), cudaMemcpyDeviceToHost));
        for (size_t i = 0; i < sampled; i++) sum[i] += to_float(tmp[i]);
    }
    double stochastic = 0.0, nearest = 0.0, signed_bias = 0.0;
    for (size_t i = 0; i < sampled; i++) {
        const double ulp = bf16_ulp(master[i]);
        stochastic += std::fabs(sum[i] / trials - master[i]) / ulp;
        signed_bias += (sum[i] / trials - master[i]) / ulp;
        nearest += std::fabs((double)to_float(__float2bfloat16(master[i])) - master[i]) / ulp;
    }
    stochastic /= sampled, nearest /= sampled, signed_bias /= sampled;
    const double expected = 0.31 / std::sqrt((double)trials);
    char buf[200];
    snprintf(buf, sizeof buf, "mean |E[round(x)] - x| = %.4f ulp over %d trials x %zu values (expected %.4f; round-to-nearest %.4f), mean signed %.5f ulp",
             stochastic, trials, sampled, expected, nearest, signed_bias);
    if (stochastic < 2.0 * expected && std::fabs(signed_bias) < 0.01) test_pass("rounding/unbiased", buf);
    else test_fail("rounding/unbiased", buf);
    cudaFree(d_master), cudaFree(d_params), cudaFree(d_grads);
#endif
}

// GpuMuon's Newton-Schulz output for every matrix shape against newton_schulz_cpu of the same
// momentum update (first step, m = 0), and the singular values of one layer slice.
static void check_newton_schulz(bool odd) {
    const GPT2Config mc = shape_config(odd);
    const OptimConfig oc = optim_from_flags("--optim muon");
    std::vector<ParamTensor> matrices;
    for (const ParamGroup& g : optim_param_groups(oc, mc))
        if (g.rule == Algorithm::Muon) matrices.push_back(g.tensor);
    const size_t n = gpt2_num_params(mc);
    const std::vector<float> g = random_vector(n, 400, -1e-2f, 1e-2f);
    floatX *d_grads = upload(g), *d_params = device_alloc<floatX>(n);
    float* d_master = upload_f32(std::vector<float>(n, 0.5f));
    GpuMuon muon(matrices);
    std::vector<float*> momentum;
    std::vector<MuonHyper> hyper;
    const MuonHyper h = {0.0f, 0.0f, oc.momentum, oc.nesterov == 1, oc.muon_ns_steps};
    for (const ParamTensor& t : matrices) {
        momentum.push_back(upload_f32(std::vector<float>(t.numel(), 0.0f)));
        hyper.push_back(h);
    }
    muon.step(d_master, d_params, d_grads, nullptr, momentum, hyper, rounding_key(SEED, 1));
    cudaCheck(cudaDeviceSynchronize());
    for (size_t k = 0; k < matrices.size(); k++) {
        const ParamTensor& t = matrices[k];
        const std::string tag = std::string("newton_schulz/") + t.name + (odd ? "/odd" : "");
        const std::vector<float> got = download(muon.orthogonalized((int)k), t.numel());
        std::vector<float> want(t.numel()), u(t.layer_numel());
        for (int l = 0; l < t.layers; l++) {
            const size_t base = l * t.layer_numel();
            for (size_t i = 0; i < t.layer_numel(); i++) {
                float m = 0.0f;
                muon_momentum_element(g[t.offset + base + i], m, u[i], h);
            }
            newton_schulz_cpu(want.data() + base, u.data(), t.rows, t.cols, h.ns_steps);
        }
        check_close(tag, got.data(), want.data(), got.size(), NS_TOL);
        const std::vector<double> sv = singular_values(got.data(), t.rows, t.cols);
        const double lo = *std::min_element(sv.begin(), sv.end()), hi = *std::max_element(sv.begin(), sv.end());
        char buf[96];
        snprintf(buf, sizeof buf, "singular values of layer 0 in [%.3f, %.3f]", lo, hi);
        if (lo >= 0.6 && hi <= 1.3) test_pass(tag + "/singular_values", buf);
        else test_fail(tag + "/singular_values", std::string(buf) + ", want within [0.6, 1.3]");
    }
    for (float* m : momentum) cudaFree(m);
    cudaFree(d_grads), cudaFree(d_params), cudaFree(d_master);
}

// ---------------------------------------------------------------------------------------
// Benchmark (GPU only): d12 step times against their floors, one Markdown table.

// Device copy bandwidth (GB/s, read + write) from a 1 GiB device-to-device copy.
static double copy_bandwidth() {
    const size_t bytes = 1ull << 30;
    char *a = device_alloc<char>(bytes), *b = device_alloc<char>(bytes);
    cudaCheck(cudaMemset(a, 1, bytes));
    const float ms = time_ms([&] { cudaCheck(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice)); });
    cudaFree(a), cudaFree(b);
    return 2.0 * bytes / (ms * 1e-3) / 1e9;
}

// floatX GEMM rate (TFLOP/s) with fp32 accumulation, 8192^3.
static double gemm_rate() {
    const int s = 8192;
    floatX *a = device_alloc<floatX>((size_t)s * s), *b = device_alloc<floatX>((size_t)s * s), *c = device_alloc<floatX>((size_t)s * s);
    cudaCheck(cudaMemset(a, 0, (size_t)s * s * sizeof(floatX)));
    cudaCheck(cudaMemset(b, 0, (size_t)s * s * sizeof(floatX)));
    const float ms = time_ms([&] { gemm_batched_floatx(c, a, b, s, s, s, false, false, s, s, s, 0, 0, 0, 1, 1.0f, 0.0f); });
    cudaFree(a), cudaFree(b), cudaFree(c);
    return 2.0 * s * s * (double)s / (ms * 1e-3) / 1e12;
}

// Bytes one element-wise step of these groups moves (grad, master, state, param).
static double elementwise_bytes(const OptimConfig& oc, const std::vector<ParamGroup>& groups) {
    double bytes = 0;
    for (const ParamGroup& g : groups)
        bytes += (double)g.tensor.numel() *
                 (g.rule == Algorithm::Muon ? 4.0 * sizeof(floatX) + 16.0 // momentum: grad, m, u; apply: O, master, param
                                            : (double)fused_bytes_per_element((int)optim_state_slots(g).size()));
    return bytes;
}

static int run_benchmark() {
    if (SMALL) {
        test_skip("optimizers/bench", "emulated: no timings");
        return 0;
    }
    cuda_context_init();
    GPT2Config mc;
    gpt2_config_from_name("d12", &mc);
    const size_t n = gpt2_num_params(mc);
    const double bandwidth = copy_bandwidth(), rate = gemm_rate();
    cudaDeviceProp prop;
    cudaCheck(cudaGetDeviceProperties(&prop, 0));
    float* d_master = upload_f32(random_vector(n, 500, -0.1f, 0.1f));
    floatX *d_params = device_alloc<floatX>(n), *d_grads = upload(random_vector(n, 501, -1e-3f, 1e-3f));
    copy_to_floatx(d_params, d_master, n);

    printf("\n%s, precision %s: device copy %.0f GB/s (read + write, 1 GiB cudaMemcpy), GEMM %.0f TFLOP/s (%s, 8192^3, fp32 accumulation)\n\n",
           prop.name, PRECISION_NAME, bandwidth, rate, PRECISION_NAME);
    printf("| optimizer (d12, %.1fM params) | step ms | bytes moved | floor ms | step / floor |\n", n / 1e6);
    printf("|---|---|---|---|---|\n");
    const char* runs[] = {"--optim sgd --momentum 0", "--optim sgd", "--optim signsgd", "--optim signum", "--optim adamw", "--optim lion", "--optim muon"};
    double muon_ms[2] = {0, 0};
    for (const char* flags : runs) {
        const OptimConfig oc = optim_from_flags(std::string(flags) + " -c 0.1");
        GpuOptimizer opt(oc, mc, SEED);
        int t = 1;
        const float ms = time_ms([&] { opt.step(d_master, d_params, d_grads, nullptr, 1.0f, t++); }, 3, 20);
        const double bytes = elementwise_bytes(oc, opt.groups());
        double floor_ms = bytes / bandwidth / 1e6;
        std::string label = std::string(flags).substr(8);
        if (oc.algorithm == Algorithm::Muon) {
            std::vector<ParamTensor> matrices;
            for (const ParamGroup& g : opt.groups())
                if (g.rule == Algorithm::Muon) matrices.push_back(g.tensor);
            floor_ms += newton_schulz_flops(matrices, oc.muon_ns_steps) / (rate * 1e12) * 1e3;
            label += " (5 NS iterations, fallback adamw)";
            muon_ms[0] = ms;
            OptimConfig no_ns = oc;
            no_ns.muon_ns_steps = 0;
            GpuOptimizer opt0(no_ns, mc, SEED);
            muon_ms[1] = time_ms([&] { opt0.step(d_master, d_params, d_grads, nullptr, 1.0f, t++); }, 3, 20);
        }
        printf("| %s | %.3f | %.2f GB | %.3f | %.2fx |\n", label.c_str(), ms, bytes / 1e9, floor_ms, ms / floor_ms);
    }
    // Newton-Schulz alone: the Muon step minus the same step with 0 iterations.
    std::vector<ParamTensor> matrices;
    for (const ParamTensor& t : gpt2_param_tensors(mc))
        if (t.kind == ParamKind::HiddenMatrix) matrices.push_back(t);
    const double ns_flops = newton_schulz_flops(matrices, 5), ns_ms = muon_ms[0] - muon_ms[1];
    const double ns_floor_ms = ns_flops / (rate * 1e12) * 1e3;
    const double tokens = 524288, step_ms = 6.0 * n * tokens / (rate * 1e12) * 1e3;
    printf("\n| Newton-Schulz (5 iterations, 4 shapes x %d layers, %s) | ms | TFLOP | floor ms | NS / floor | share of a d12 step |\n",
           mc.num_layers, PRECISION_NAME);
    printf("|---|---|---|---|---|---|\n");
    printf("| muon step minus muon step with 0 iterations | %.3f | %.2f | %.3f | %.2fx | %.2f%% of %.0f ms |\n", ns_ms,
           ns_flops / 1e12, ns_floor_ms, ns_ms / ns_floor_ms, 100.0 * ns_ms / step_ms, step_ms);
    printf("\nfloor: bytes moved at the copy bandwidth (+ Newton-Schulz FLOPs at the GEMM rate for muon). The d12 step at %.0f "
           "tokens is an estimate, 6 x %.1fM params x tokens at the measured GEMM rate (%.0f ms), not a measured step.\n",
           tokens, n / 1e6, step_ms);
    cudaFree(d_master), cudaFree(d_params), cudaFree(d_grads);
    return 0;
}

int main(int argc, char** argv) {
    DEV_SKIP_WITHOUT_DEVICE("optimizers.cu");
    const bool bench = argc > 1 && std::string(argv[1]) == "--bench";
    if (argc > 1 && !bench) fail_usage("usage: %s [--bench]", argv[0]);
    if (bench) return run_benchmark();
    cuda_context_init();
    const int steps = 3;
    const char* runs[][2] = {
        {"sgd", "--optim sgd --momentum 0 -c 0.1"},
        {"sgd_nesterov", "--optim sgd --momentum 0.9 --nesterov 1 -c 0.1 --wd-on all"},
        {"signsgd", "--optim signsgd -l 1e-3 -c 0.1"},
        {"signum", "--optim signum -l 1e-3 -c 0.1"},
        {"adamw", "--optim adamw -c 0.1"},
        {"lion", "--optim lion -l 1e-3 -c 0.1 --wd-on hidden"},
        {"muon_adamw", "--optim muon -c 0.1 --fallback-lr 1e-3"},
        {"muon_sgd", "--optim muon --nesterov 0 -c 0.1 --muon-fallback sgd --muon-ns-steps 0"},
    };
    for (bool odd : {false, true})
        for (const auto& run : runs) check_rule(run[0], run[1], odd, steps);
    check_issue13_rules(steps);
    // F-Muon and S-Muon (optim/muon.h): the apply kernel's second update from the recomputed u;
    // one shape each (the odd one has the unaligned slices), for make test's time
    check_rule("fmuon", "--optim fmuon -c 0.1 --fallback-lr 1e-3", true, steps);
    check_rule("smuon", "--optim smuon --nesterov 0 --fanion-alpha 0.3 --smuon-sign-scale 0.01 --muon-scale rms -c 0.1", false, steps);
    check_zero1_shards("fmuon", "--optim fmuon -c 0.1 --fallback-lr 1e-3", true, steps);
    for (bool odd : {false, true}) {
        check_zero1_shards("adamw", "--optim adamw -c 0.1", odd, steps);
        check_zero1_shards("muon_adamw", "--optim muon -c 0.1 --fallback-lr 1e-3", odd, steps);
    }
    check_rounding_unbiased();
    for (bool odd : {false, true}) check_newton_schulz(odd);
    return test_exit_code();
}
