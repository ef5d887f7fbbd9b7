// The GPU zero-order step (optim/zero_order.cuh: GpuZeroOrder and its kernels) against the CPU
// step (common/zero_order.h: CpuZeroOrder) and the shared draws (common/zero_order_draws.h),
// element by element. A step's loss change is too small for losses to show a wrong update
// (a jaguar-sign step moves the loss ~2e-5 relative), so each kernel's output is compared:
// on fresh random master weights, JAGUAR m, seed, step t, lr factor and losses, one step of
// GpuZeroOrder::step runs every kernel; its loss callback (scripted losses, so both sides
// get the same estimate) downloads the perturbed floatX params at each of the two losses.
//   v1 MeZO: params at L+ and L- against floatX(master + -eps z) (zo_mezo_perturb_kernel),
//      wte's padding rows never touched, the master after the update against the CPU step
//      (zo_mezo_update_kernel) and params = floatX(master) exactly;
//   v2 jaguar-sign: the coordinates the +tau shift moved equal jaguar_sets' set exactly
//      (zo_jaguar_shift_kernel and the host-to-device index lists), params at L+ and L-
//      exactly floatX(master +- tau s) on the set and floatX(master) off it, m against the
//      CPU's on the set and bit for bit m0 off it (zo_jaguar_momentum_kernel), the update
//      W -= lr sign(m) (zo_sign_step_kernel): every coordinate's sign exact, the master
//      within fp32 rounding;
//   v3 jaguar-muon: v2's checks (the sign step on the embeddings, norms and biases), and the
//      hidden matrices' update W -= lr scale NS(m) + decay (GpuMuon::step_direction on m, one
//      layer per call) against the CPU's fp32 newton_schulz_cpu, tensor by tensor, within
//      MUON_TOL (below), params within one floatX step of master (stochastic rounding);
//   in v1 and v2, the restore (perturb / shift by 0): a step whose L- is NaN makes no update,
//      so params must come back bit for bit floatX(master), master and m untouched;
//   in all three, under emulation, the device memory GpuZeroOrder holds after a step equals
//      its device_bytes (JAGUAR's index lists, jaguar-muon's Newton-Schulz work).
// Shifts eps = tau = 0.05 (not the defaults 1e-3, 5e-3), so that in the bf16 build every
// perturbation moves its bf16 value (bf16 spacing below 1 is at most 2^-8 = 0.0039).
// Under the emulator the device runs the host's maths, so every value is also required bit
// for bit; on a GPU an FMA or sinf/logf may move a last bit, so there the tolerances apply
// (exact checks stay exact: sets, signs, the restore, floatX(master), untouched coordinates).
// The timing line is one step with constant losses: the kernels and, for JAGUAR, drawing
// the sets on the host and uploading them (what train_gpt2cu pays besides the two forwards).
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../../common/train_config.h"
#include "../../common/zero_order.h"
#include "../../optim/zero_order.cuh"
#include "dev_common.cuh"

#if defined(ENABLE_FP32)
static const double PARAM_TOL = 1e-6;
#else
static const double PARAM_TOL = 1e-2; // a GPU's last-bit differences may move a bf16 rounding
#endif
// fp32 master weights and m: an FMA on a GPU moves a last bit (relative ~6e-8); MeZO's CPU
// restore W + eps z - 2 eps z + eps z drifts by about an ulp (docs/zero_order.md)
static const double MASTER_TOL = 1e-6;
#if defined(CUDA_EMULATION)
static const bool SAME_MATHS = true; // the emulator computes the host's maths: bit for bit
#else
static const bool SAME_MATHS = false;
#endif
// jaguar-muon's matrices: ||update - CPU's|| / ||CPU's|| per tensor, the GPU's Newton-Schulz
// (bf16: bf16 operands and iterates, fp32 accumulation; fp32: fp32 GEMMs in another order)
// against newton_schulz_cpu in fp32, with the same decay in both. Measured under emulation, v3's
// four matrices: bf16 1.5e-2 to 2.0e-2 (the trainer's first update: up to 3.0e-2, the tolerance
// test/test_zero_order.sh gives it), fp32 2.3e-6 to 2.8e-6. A matrix lr off by 0.1% is 1e-3.
#if defined(ENABLE_FP32)
static const double MUON_TOL = 1e-4;
#else
static const double MUON_TOL = 5e-2;
#endif
// floatX's spacing relative to a value's magnitude, at most: what stochastic rounding may add
static const double FLOATX_SPACING = sizeof(floatX) == 2 ? 1.0 / 128 : 0.0;

// Emulated: 36936 parameters, wte with padding rows (V = 99 of 104), tensors of 36 to 5184
// elements per layer (tails of the 256-thread blocks); on a GPU, 5.5M (optimizers.cu's shape).
static GPT2Config shape() {
    GPT2Config c;
    if (DEV_SIZE(false, true)) c.num_layers = 2, c.channels = 36, c.num_heads = 4, c.vocab_size = 99, c.padded_vocab_size = 104, c.max_seq_len = 30;
    else c.num_layers = 4, c.channels = 256, c.num_heads = 4, c.vocab_size = 8000, c.padded_vocab_size = 8192, c.max_seq_len = 1024;
    return c;
}

static std::vector<float> floatx_of(const std::vector<float>& v) {
    std::vector<float> out(v.size());
    for (size_t i = 0; i < v.size(); i++) out[i] = to_float(from_float<floatX>(v[i]));
    return out;
}
static size_t count_differing_bits(const std::vector<float>& a, const std::vector<float>& b) {
    size_t n = 0;
    for (size_t i = 0; i < a.size(); i++) n += memcmp(&a[i], &b[i], sizeof(float)) != 0;
    return n;
}
// Within tol relative, and bit for bit where both sides run the same maths.
static void check_values(const std::string& name, const std::vector<float>& got, const std::vector<float>& want, double tol) {
    const double err = relative_error(got.data(), want.data(), got.size());
    const size_t differ = count_differing_bits(got, want);
    const bool ok = err < tol && (!SAME_MATHS || differ == 0);
    char buf[200];
    snprintf(buf, sizeof buf, "rel err %.3e (tol %.1e), %zu of %zu differ in bits (%s)", err, tol, differ, got.size(),
             SAME_MATHS ? "none may: the emulator runs the host's maths" : "allowed on a GPU");
    ok ? test_pass(name, buf) : test_fail(name, buf);
}
static void check_identical(const std::string& name, const std::vector<float>& got, const std::vector<float>& want, const char* what) {
    const size_t differ = count_differing_bits(got, want);
    test_expect(differ == 0, name, std::to_string(differ) + " of " + std::to_string(got.size()) + " " + what + " differ in bits");
}

// GpuZeroOrder's device memory after a step against its device_bytes (the memory plan's figure).
// Exact under emulation; a GPU's cudaMemGetInfo counts in pages, so there it is not checked.
static void check_device_bytes(const std::string& name, size_t held, const ZoConfig& zo, const OptimConfig& oc, const GPT2Config& mc) {
    const size_t planned = GpuZeroOrder::device_bytes(zo, oc, mc);
#if defined(CUDA_EMULATION)
    test_expect(held == planned, name, std::to_string(held) + " bytes held after a step, device_bytes says " + std::to_string(planned));
#else
    test_skip(name, "cudaMemGetInfo on a GPU counts pages (held " + std::to_string(held) + ", planned " + std::to_string(planned) + ")");
#endif
}

// One method's inputs, on the host and the device: the same random values on both.
struct ZoCase {
    GPT2Config mc = shape();
    TrainConfig cfg;
    size_t n = gpt2_num_params(mc);
    uint64_t seed;
    int t;
    float lr_factor;
    std::vector<float> master0, params0, m0; // m0 by flat index (JAGUAR's slots)
    float* d_master;
    floatX* d_params;
    std::unique_ptr<GpuOptimizer> gpu;

    ZoCase(const std::string& flags, uint64_t key) {
        parse_train_args_string(flags, &cfg);
        seed = random_bits(key, 0);
        t = 1 + (int)(random_bits(key, 1) % 100000);
        lr_factor = 0.5f + 0.5f * (float)random_uniform(key, 2);
        master0.resize(n), m0.resize(n);
        for (size_t i = 0; i < n; i++) { // fp32 values, not floatX-rounded
            master0[i] = -1.0f + 2.0f * (float)random_uniform(key + 1, i);
            m0[i] = -1.0f + 2.0f * (float)random_uniform(key + 2, i);
        }
        params0 = floatx_of(master0);
        d_master = upload_f32(master0);
        d_params = upload(master0);
        gpu.reset(new GpuOptimizer(cfg.optim, mc, seed, OptimShard{}, false)); // as train_gpt2cu under --zo: no GpuMuon of its own
        for (const auto& slot : momentum_slots())
            cudaCheck(cudaMemcpy(slot.first, m0.data() + slot.second->offset, slot.second->numel() * sizeof(float), cudaMemcpyHostToDevice));
    }
    ~ZoCase() { cudaFree(d_master), cudaFree(d_params); }
    ZoCase(const ZoCase&) = delete;
    ZoCase& operator=(const ZoCase&) = delete;

    // One GPU step with losses L+, L-; the params seen at each loss call into `seen`; *held: the
    // device bytes GpuZeroOrder holds after the step (what cudaMemGetInfo says it took).
    ZoStepResult gpu_step(double plus, double minus, std::vector<std::vector<float>>* seen, size_t* held = nullptr) {
        size_t free_before = 0, free_after = 0, total = 0;
        cudaCheck(cudaMemGetInfo(&free_before, &total));
        GpuZeroOrder zo(cfg.zo, mc, seed);
        int call = 0;
        const ZoStepResult r = zo.step(d_master, d_params, *gpu, cfg.optim, [&] {
            if (seen) seen->push_back(download(d_params, n));
            return call++ == 0 ? plus : minus;
        }, [](double*, int) {} /* one process: the losses as they are */, lr_factor, t);
        cudaCheck(cudaMemGetInfo(&free_after, &total));
        if (held) *held = free_before - free_after;
        return r;
    }
    // The CPU step from the same inputs: the master weights after it; *m: its m by flat index.
    std::vector<float> cpu_step(double plus, double minus, std::vector<float>* m) {
        CpuOptimizer cpu(cfg.optim, mc);
        for (OptimStateBuffer& b : cpu.state()) // whole-tensor slots (no -z 1)
            std::copy(m0.begin() + b.tensor_offset, m0.begin() + b.tensor_offset + b.tensor_numel, b.data.begin());
        CpuZeroOrder zo(cfg.zo, mc, seed);
        std::vector<float> w = master0;
        int call = 0;
        zo.step(w.data(), cpu, [&] { return call++ == 0 ? plus : minus; }, lr_factor, t);
        if (m) {
            *m = m0;
            for (const OptimStateBuffer& b : cpu.state()) std::copy(b.data.begin(), b.data.end(), m->begin() + b.tensor_offset);
        }
        return w;
    }
    // The GPU optimizer's "<tensor>.momentum" slots (JAGUAR's m) and their tensors.
    std::vector<std::pair<float*, const ParamTensor*>> momentum_slots() const {
        std::vector<std::pair<float*, const ParamTensor*>> slots;
        for (size_t j = 0; j < gpu->state().size(); j++)
            for (const ParamGroup& g : gpu->groups())
                if (gpu->state_names()[j] == std::string(g.tensor.name) + ".momentum") slots.push_back({gpu->state()[j], &g.tensor});
        return slots;
    }
    // The GPU's m by flat index (m0 where the optimizer keeps no slot).
    std::vector<float> gpu_m() const {
        std::vector<float> m = m0;
        for (const auto& slot : momentum_slots())
            cudaCheck(cudaMemcpy(m.data() + slot.second->offset, slot.first, slot.second->numel() * sizeof(float), cudaMemcpyDeviceToHost));
        return m;
    }
    // Losses with a random difference: the estimate (L+ - L-) / (2 shift) is 0.1..0.5 in size.
    std::pair<double, double> losses(uint64_t key, float shift) const {
        const double plus = 2.0 + random_uniform(key, 3), d = 2.0 * shift * (0.1 + 0.4 * random_uniform(key, 4));
        return {plus, random_bits(key, 5) & 1 ? plus - d : plus + d};
    }
};

static const char* MEZO_FLAGS = "--zo mezo --zo-eps 0.05 -l 0.2 -c 0.1";
static const char* JAGUAR_FLAGS = "--zo jaguar-sign --zo-tau 0.05 --zo-beta 0.3 --zo-fraction 0.2 -l 0.05 -c 0.1";
static const char* JAGUAR_MUON_FLAGS = "--zo jaguar-muon --zo-tau 0.05 --zo-beta 0.3 --zo-fraction 0.2 -l 0.05 -c 0.1";

static void check_mezo(uint64_t key) {
    ZoCase c(MEZO_FLAGS, key);
    const auto L = c.losses(key, c.cfg.zo.eps);
    std::vector<std::vector<float>> seen;
    size_t held = 0;
    c.gpu_step(L.first, L.second, &seen, &held);
    test_expect(seen.size() == 2, "zero_order/mezo/loss_calls", std::to_string(seen.size()) + " loss calls, not 2");
    if (seen.size() != 2) return;
    check_device_bytes("zero_order/mezo/device_bytes", held, c.cfg.zo, c.cfg.optim, c.mc);
    const uint64_t z_key = zo_step_key(c.seed, c.t, ZoStream::MezoDirection);
    const size_t wte_valid = (size_t)c.mc.vocab_size * c.mc.channels, wte_all = (size_t)c.mc.padded_vocab_size * c.mc.channels;
    for (int side = 0; side < 2; side++) {
        const float scale = side ? -c.cfg.zo.eps : c.cfg.zo.eps;
        std::vector<float> want = c.master0;
        for (const auto& r : mezo_ranges(c.mc))
            for (size_t i = r.first; i < r.second; i++) want[i] += scale * mezo_direction(z_key, i);
        check_values(std::string("zero_order/mezo/params_at_") + (side ? "minus" : "plus"), seen[side], floatx_of(want), PARAM_TOL);
    }
    const std::vector<float> master = download_f32(c.d_master, c.n), params = download(c.d_params, c.n);
    check_close("zero_order/mezo/master_vs_cpu_step", master.data(), c.cpu_step(L.first, L.second, nullptr).data(), c.n, MASTER_TOL);
    check_identical("zero_order/mezo/params_are_floatx_master", params, floatx_of(master), "params");
    // wte's padding rows: never perturbed, never updated
    std::vector<float> got, want;
    const std::vector<float>* after[] = {&seen[0], &seen[1], &params};
    for (const std::vector<float>* v : after) {
        got.insert(got.end(), v->begin() + wte_valid, v->begin() + wte_all);
        want.insert(want.end(), c.params0.begin() + wte_valid, c.params0.begin() + wte_all);
    }
    got.insert(got.end(), master.begin() + wte_valid, master.begin() + wte_all);
    want.insert(want.end(), c.master0.begin() + wte_valid, c.master0.begin() + wte_all);
    check_identical("zero_order/mezo/wte_padding_untouched", got, want, "padding values (params at L+, L-, after; master)");
}

// v2 (jaguar-sign, tag "jaguar") and v3 (jaguar-muon, tag "jaguar_muon"): the same set, shifts
// and m; the sign step on every tensor of v2 and on v3's non-matrix tensors; v3's matrices by Muon.
static void check_jaguar(const char* tag, const char* flags, uint64_t key) {
    ZoCase c(flags, key);
    const std::string name = std::string("zero_order/") + tag + "/";
    const auto L = c.losses(key, c.cfg.zo.tau);
    std::vector<std::vector<float>> seen;
    size_t held = 0;
    const ZoStepResult r = c.gpu_step(L.first, L.second, &seen, &held);
    test_expect(seen.size() == 2, name + "loss_calls", std::to_string(seen.size()) + " loss calls, not 2");
    if (seen.size() != 2) return;
    check_device_bytes(name + "device_bytes", held, c.cfg.zo, c.cfg.optim, c.mc);
    // the CPU's set, and the coordinates the GPU's +tau shift moved
    std::vector<size_t> set;
    for (const JaguarSet& s : jaguar_sets(c.mc, c.cfg.zo.fraction, c.seed, c.t))
        for (size_t k = 0; k < s.size(); k++) set.push_back(s.flat(k));
    std::sort(set.begin(), set.end());
    std::vector<size_t> moved;
    for (size_t i = 0; i < c.n; i++)
        if (memcmp(&seen[0][i], &c.params0[i], sizeof(float)) != 0) moved.push_back(i);
    size_t first_diff = 0;
    while (first_diff < std::min(set.size(), moved.size()) && set[first_diff] == moved[first_diff]) first_diff++;
    test_expect(moved == set, name + "set",
                std::to_string(moved.size()) + " coordinates moved, the set has " + std::to_string(set.size()) + "; first difference at entry " +
                    std::to_string(first_diff));
    std::vector<bool> in_set(c.n, false);
    for (size_t i : set) in_set[i] = true;
    // the shifted params: floatX(master +- tau s) on the set, exact on any device (s = +-1)
    const uint64_t sign_key = zo_step_key(c.seed, c.t, ZoStream::JaguarSigns);
    for (int side = 0; side < 2; side++) {
        const float by = side ? -c.cfg.zo.tau : c.cfg.zo.tau;
        std::vector<float> want = c.master0;
        for (size_t i : set) want[i] += by * jaguar_sign(sign_key, i);
        check_identical(name + "params_at_" + (side ? "minus" : "plus"), seen[side], floatx_of(want), "params");
    }
    // m: the CPU's on the set, m0 elsewhere
    std::vector<float> m_want;
    const std::vector<float> want_master = c.cpu_step(L.first, L.second, &m_want), m = c.gpu_m();
    std::vector<float> on_got, on_want, off_got, off_want;
    for (size_t i = 0; i < c.n; i++) {
        (in_set[i] ? on_got : off_got).push_back(m[i]);
        (in_set[i] ? on_want : off_want).push_back(in_set[i] ? m_want[i] : c.m0[i]);
    }
    check_values(name + "momentum_on_set", on_got, on_want, MASTER_TOL);
    check_identical(name + "momentum_off_set_unchanged", off_got, off_want, "m values off the set");
    // the sign step: W -= lr (wd W + sign(m)): each coordinate moves by lr wd W +- lr; a flipped
    // sign by 2 lr more. Muon's matrices: their update against the CPU's, tensor by tensor.
    const std::vector<float> master = download_f32(c.d_master, c.n), params = download(c.d_params, c.n);
    std::vector<float> sign_got, sign_want, sign_params;
    size_t wrong_sign = 0, off_grid = 0, matrix_n = 0;
    for (const ParamGroup& g : c.gpu->groups()) {
        const size_t lo = g.tensor.offset, hi = lo + g.tensor.numel();
        if (g.rule == Algorithm::Muon) {
            std::vector<double> got, want;
            for (size_t i = lo; i < hi; i++) {
                got.push_back((double)master[i] - c.master0[i]), want.push_back((double)want_master[i] - c.master0[i]);
                off_grid += !(std::fabs((double)params[i] - master[i]) <= std::fabs((double)master[i]) * FLOATX_SPACING);
            }
            matrix_n += hi - lo;
            check_close(name + "update_" + g.tensor.name + "_vs_cpu", got.data(), want.data(), got.size(), MUON_TOL);
            continue;
        }
        const float lr = g.peak_lr * c.lr_factor;
        for (size_t i = lo; i < hi; i++) {
            wrong_sign += std::fabs(master[i] - want_master[i]) > lr;
            sign_got.push_back(master[i]), sign_want.push_back(want_master[i]), sign_params.push_back(params[i]);
        }
    }
    test_expect(wrong_sign == 0, name + "update_signs",
                std::to_string(wrong_sign) + " of " + std::to_string(sign_got.size()) + " coordinates moved the wrong way");
    check_values(name + "master_vs_cpu_step", sign_got, sign_want, MASTER_TOL);
    check_identical(name + "params_are_floatx_master", sign_params, floatx_of(sign_got), "params");
    if (matrix_n)
        test_expect(off_grid == 0, name + "matrix_params_within_one_floatx_step",
                    std::to_string(off_grid) + " of " + std::to_string(matrix_n) + " params further than one floatX step from master");
    printf("  %s: rho %.4f, %zu of %zu coordinates in the set\n", tag, r.estimate, set.size(), c.n);
}

// A non-finite estimate: no update, and the restore (shift by 0) leaves params floatX(master).
static void check_restore(const char* method, const char* flags, uint64_t key) {
    ZoCase c(flags, key);
    const std::string tag = std::string("zero_order/") + method + "/restore_";
    std::vector<std::vector<float>> seen;
    c.gpu_step(3.0, NAN, &seen);
    test_expect(seen.size() == 2 && seen[0] != c.params0, tag + "was_perturbed", "the params at L+ are the unperturbed ones: nothing to restore");
    check_identical(tag + "params", download(c.d_params, c.n), c.params0, "params");
    check_identical(tag + "master", download_f32(c.d_master, c.n), c.master0, "master values");
    check_identical(tag + "momentum", c.gpu_m(), c.m0, "m values");
}

// Memory traffic of one step's kernels, for GB/s. MeZO: 3 perturbs (master in, params out),
// the update (master in and out, params out). JAGUAR: the sign step over every coordinate
// (master in and out, m in, params out); the shifts and m on the set are a few percent.
static double step_bytes(bool mezo) {
    const double n = (double)gpt2_num_params(shape()), p = sizeof(floatX);
    return mezo ? n * (3 * (4 + p) + 8 + p) : n * (12 + p);
}

// The hidden matrices of shape(): Newton-Schulz's work in a jaguar-muon step.
static std::vector<ParamTensor> muon_matrices() {
    std::vector<ParamTensor> out;
    for (const ParamTensor& t : gpt2_param_tensors(shape()))
        if (t.kind == ParamKind::HiddenMatrix) out.push_back(t);
    return out;
}

int main(int argc, char** argv) {
    DEV_SKIP_WITHOUT_DEVICE("zero_order.cu");
    cuda_context_init(); // cuBLAS, for jaguar-muon's Newton-Schulz
    ZoCase mezo(MEZO_FLAGS, 700), jaguar(JAGUAR_FLAGS, 800), jaguar_muon(JAGUAR_MUON_FLAGS, 900);
    std::vector<DevVersion> versions = {
        {1, "mezo_step", [] { check_mezo(100), check_restore("mezo", MEZO_FLAGS, 300); }, [&] { mezo.gpu_step(3.0, 2.99, nullptr); },
         step_bytes(true)},
        {2, "jaguar_sign_step", [] { check_jaguar("jaguar", JAGUAR_FLAGS, 200), check_restore("jaguar", JAGUAR_FLAGS, 400); },
         [&] { jaguar.gpu_step(3.0, 2.99, nullptr); }, step_bytes(false)},
        // the timing line: the sign step's traffic and Newton-Schulz's FLOPs (those dominate it)
        {3, "jaguar_muon_step", [] { check_jaguar("jaguar_muon", JAGUAR_MUON_FLAGS, 500); }, [&] { jaguar_muon.gpu_step(3.0, 2.99, nullptr); },
         step_bytes(false), newton_schulz_flops(muon_matrices(), jaguar_muon.cfg.optim.muon_ns_steps)},
    };
    return dev_main("zero_order.cu", argc, argv, versions);
}
