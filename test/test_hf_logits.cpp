// Helper of test/test_hf.py, not a test by itself: the CPU trainer's forward pass (cpu/gpt2.h,
// the code train_gpt2cpu runs) on a model file, so Python can hold its logits against
// transformers' without a second copy of the model.
// Usage: test_hf_logits MODEL.bin INPUTS.bin OUT.bin
//   INPUTS.bin: a named-tensor file with int32 "inputs" (B,T)
//   OUT.bin:    gets float32 "logits" (B,T,V): the first V of the Vp columns
#include <string>
#include <vector>

#include "../common/model_file.h"
#include "../common/named_tensors.h"
#include "../cpu/gpt2.h"

int main(int argc, char** argv) {
    if (argc != 4) fail_usage("usage: %s MODEL.bin INPUTS.bin OUT.bin", argv[0]);
    GPT2Config cfg;
    std::vector<float> params;
    load_model_file(argv[1], &cfg, &params);
    NamedTensorFile in;
    in.load(argv[2]);
    const NamedTensor& inputs = in.get("inputs");
    if (inputs.dtype != TensorDtype::Int32 || inputs.dims.size() != 2) fail_usage("'%s': \"inputs\" must be int32 (B,T)", argv[2]);
    const int B = inputs.dims[0], T = inputs.dims[1], V = cfg.vocab_size, Vp = cfg.padded_vocab_size;
    for (int32_t t : inputs.i32)
        if (t < 0 || t >= V) fail_usage("'%s': token %d is outside the vocabulary of %d", argv[2], t, V);

    GPT2Cpu model(cfg);
    model.params = params;
    model.forward(inputs.i32.data(), nullptr, B, T);
    std::vector<float> logits((size_t)B * T * V);
    for (size_t n = 0; n < (size_t)B * T; n++)
        std::copy(model.logits() + n * Vp, model.logits() + n * Vp + V, logits.begin() + n * V);
    NamedTensorFile out;
    out.put_f32("logits", {B, T, V}, logits.data());
    out.save(argv[3]);
    return 0;
}
