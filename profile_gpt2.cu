// profile_gpt2: one training step (forward, backward, global norm, optimizer update) of the
// CUDA trainer's model for Nsight Compute and Nsight Systems, after warm-up steps. Takes the
// trainer's flags (-e, -b, -t, -r, --optim, --attention, --profile-kernels ...; default d12,
// B=16, T=1024) and trains on random tokens, so it needs no data files.
// Only the profiled step runs between cudaProfilerStart and cudaProfilerStop and inside the
// NVTX range "profile_step"; its phases carry the trainer's NVTX ranges (forward/block 3/mlp,
// backward/..., optimizer/...). scripts/profile.sh runs ncu over it:
//   ncu --profile-from-start off --nvtx ... ./profile_gpt2 -b 16
//   nsys profile --capture-range=cudaProfilerApi --trace=cuda,nvtx -o gpt2 ./profile_gpt2 -b 16
// With --profile-kernels it then times PROFILE_TIMED_STEPS more steps with CUDA events and prints
// the per-phase table (as train_gpt2cu --profile-kernels does).
#define TESTING
#include "train_gpt2.cu"

#include <cuda_profiler_api.h>

constexpr int PROFILE_WARMUP_STEPS = 3, PROFILE_TIMED_STEPS = 10;

int main(int argc, char** argv) {
    TrainConfig cfg;
    cfg.batch_size = 16;
    cfg.seq_len = 1024;
    parse_train_args(argc, argv, &cfg);
    const int B = cfg.batch_size, T = cfg.seq_len;
    GPT2Config mc;
    if (!gpt2_config_from_name(cfg.model, &mc)) fail_usage("-e '%s' is not a model name (d2 ... d48)", cfg.model.c_str());
    if (T > mc.max_seq_len) fail_usage("sequence length -t %d exceeds the model's maximum %d", T, mc.max_seq_len);
    if (!cuda_device_available()) fail_runtime("profile_gpt2 needs a CUDA GPU and found none");
    cudaCheck(cudaSetDevice(0));
    cuda_context_init();

    GPT2Cuda model(mc, B, T, cfg.recompute != 0, cfg.attention);
    std::vector<float> params(gpt2_num_params(mc));
    gpt2_init_params(mc, cfg.seed, params.data());
    model.set_params(params.data());
    GpuOptimizer optimizer(cfg.optim, mc);
    std::vector<int> tokens((size_t)B * T + 1);
    for (size_t i = 0; i < tokens.size(); i++) tokens[i] = (int)(random_bits(cfg.seed, i) % (uint64_t)mc.vocab_size);
    printf("profile_gpt2: %s, B=%d T=%d, %s, %s attention; %d warm-up steps, then the profiled step\n", cfg.model.c_str(),
           B, T, algorithm_name(cfg.optim.algorithm), model.flash ? "flash" : "cuBLAS", PROFILE_WARMUP_STEPS);

    auto train_step = [&](int step) {
        model.zero_grad();
        model.clear_losses();
        model.forward_async(tokens.data(), tokens.data() + 1, 1.0f / ((float)B * T));
        model.backward();
        model.grad_norm_and_clip(cfg.optim.grad_clip);
        const float loss = (float)model.mean_loss(); // as train_gpt2cu: one loss copy per step
        {
            PhaseScope r("optimizer/%s", algorithm_name(cfg.optim.algorithm));
            optimizer.step(model.master, model.params, model.grads, model.acts.grad_scale, 1.0f, step + 1);
        }
        cudaCheck(cudaDeviceSynchronize());
        return loss;
    };
    int step = 0;
    for (; step < PROFILE_WARMUP_STEPS; step++) train_step(step);
    float loss;
    {
        cudaCheck(cudaProfilerStart());
        NvtxRange r("profile_step");
        const auto t0 = std::chrono::steady_clock::now();
        loss = train_step(step++);
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        cudaCheck(cudaProfilerStop());
        printf("profiled step: loss %.4f, %.1f ms (%.0f tokens/s; slower under a profiler)\n", loss, ms, B * T / (ms / 1000.0));
    }
    if (cfg.profile_kernels) {
        phase_timer().enable();
        for (int i = 0; i <= PROFILE_TIMED_STEPS; i++, step++) { // +1: the timer's own warm-up step
            phase_timer().begin_step();
            train_step(step);
            phase_timer().end_step();
        }
        phase_timer().print(stdout);
    }
    cuda_context_destroy();
    return 0;
}
