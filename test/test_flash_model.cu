// The CUDA model with flash attention (--attention flash) against the same model with the
// cuBLAS + softmax attention (--attention cublas) and against the fp32 CPU reference model
// (cpu/gpt2.h), on a tiny GPT-2 whose heads have size 64 (L=2, C=128, NH=2, V=500) and a T
// that is not a multiple of the 64-row tile: the activation plan holds no T x T buffer, the
// loss, logits and every parameter gradient agree to bf16 precision, and the flash backward is
// bit-identical run to run.
// (test/test_gpt2_cuda.cu checks the model against the PyTorch oracle on d2, head size 16,
// which stays on the cuBLAS path.) Without a CUDA device, or in the FP32 build: SKIP.
#define TESTING
#include "../train_gpt2.cu"

#include <cstring>

#include "../cpu/gpt2.h"
#include "check.h"

// Between the two bf16 attention paths; measured under the CUDA emulator: logits 5e-3,
// gradients at most 7e-3. Against the fp32 CPU model test/test_gpt2_cuda.cu's bf16 bound.
static const double TOL = 1.5e-2, TOL_CPU = 2e-2;

int main() {
    if (!cuda_device_available()) { test_skip("flash_model", "no CUDA device"); return 0; }
    if (!flash_attention_supported(FLASH_HEAD_SIZE)) { test_skip("flash_model", "flash attention needs the bf16 build and compute capability 8.0+"); return 0; }
    cuda_context_init();
    GPT2Config c;
    c.max_seq_len = 128, c.vocab_size = 500, c.padded_vocab_size = 512, c.num_layers = 2, c.num_heads = 2, c.channels = 128;
    const int B = 2, T = 100, N = B * T;
    std::vector<float> params(gpt2_num_params(c));
    gpt2_init_params(c, 7, params.data());
    std::vector<int> tokens(N + 1);
    for (int i = 0; i <= N; i++) tokens[i] = (int)(random_bits(11, i) % (uint64_t)c.vocab_size);
    const int* inputs = tokens.data();
    const int* targets = tokens.data() + 1;

    GPT2Cuda flash(c, B, T, false, "flash"), ref(c, B, T, false, "cublas");
    test_expect(flash.flash && !ref.flash, "flash_model/attention_choice", "--attention flash|cublas not honoured");
    const ActivationBuffers& a = flash.acts;
    test_expect(!a.att && !a.preatt && !a.d_att && !a.qkvr && !a.d_qkvr && a.att_lse && a.d_att_rowdot,
                "flash_model/no_TxT_buffers", "the flash plan allocates att/preatt/d_att or misses the logsumexp");
    const size_t saved = model_device_bytes(c, B, T, false, false) - model_device_bytes(c, B, T, false, true);
    const size_t tt_bytes = (size_t)(c.num_layers + 2) * B * c.num_heads * T * T * sizeof(floatX); // att per layer, preatt, d_att
    test_expect(saved >= tt_bytes, "flash_model/memory_plan",
                "flash saves " + std::to_string(saved) + " bytes, less than the " + std::to_string(tt_bytes) + " of the T x T buffers");

    flash.set_params(params.data());
    ref.set_params(params.data());
    const float loss_flash = flash.forward(inputs, targets, 0.0f), loss_ref = ref.forward(inputs, targets, 0.0f);
    check_close("flash_model/loss", &loss_flash, &loss_ref, 1, TOL);
    const size_t nl = (size_t)N * c.padded_vocab_size;
    check_close("flash_model/logits", download(flash.acts.logits, nl).data(), download(ref.acts.logits, nl).data(), nl, TOL);

    std::vector<float> grads[2];
    for (std::vector<float>& g : grads) {
        flash.zero_grad();
        flash.forward(inputs, targets, 1.0f / N);
        flash.backward();
        g = download(flash.grads, flash.num_params);
    }
    ref.zero_grad();
    ref.forward(inputs, targets, 1.0f / N);
    ref.backward();
    const std::vector<float> want = download(ref.grads, ref.num_params);
    GPT2Cpu cpu(c);
    cpu.params = params;
    const float loss_cpu = cpu.forward(inputs, targets, B, T);
    cpu.backward(1.0f / N);
    check_close("flash_model/loss_vs_cpu", &loss_flash, &loss_cpu, 1, TOL_CPU);
    for (const ParamTensor& t : flash.tensors) {
        const std::string name = std::string("flash_model/grad/") + t.name;
        check_close(name, grads[0].data() + t.offset, want.data() + t.offset, t.numel(), TOL);
        check_close(name + "_vs_cpu", grads[0].data() + t.offset, cpu.grads.data() + t.offset, t.numel(), TOL_CPU);
    }
    test_expect(memcmp(grads[0].data(), grads[1].data(), grads[0].size() * sizeof(float)) == 0,
                "flash_model/grad/deterministic", "two identical backward passes differ");
    return test_exit_code();
}
