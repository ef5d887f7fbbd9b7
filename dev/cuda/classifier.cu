// Fused softmax + cross-entropy + dlogits against cpu/classifier.h: losses, and the logits
// buffer overwritten with dlogits (padded columns must come out 0).
#include "../../cpu/classifier.h"
#include "../../kernels/classifier.cuh"
#include "dev_common.cuh"

int main(int argc, char** argv) {
    DEV_SKIP_WITHOUT_DEVICE("classifier.cu");
    const int N = DEV_SIZE(2048, 64), V = 50257, Vp = 50304;
    const size_t NV = (size_t)N * Vp;
    std::vector<float> logits = random_vector(NV, 1, -6.0f, 6.0f);
    for (int n = 0; n < N; n++)
        for (int v = V; v < Vp; v++) logits[(size_t)n * Vp + v] = 100.0f; // padding: must be ignored
    const std::vector<int> targets = random_tokens(N, 2, V);
    const float dloss = 1.0f / N;
    std::vector<float> ref_losses(N), probs(NV), ref_dlogits(NV, 0.0f);
    crossentropy_forward_cpu(ref_losses.data(), probs.data(), logits.data(), targets.data(), N, V, Vp);
    crossentropy_backward_cpu(ref_dlogits.data(), probs.data(), targets.data(), dloss, N, V, Vp);
    // relative error over dlogits is dominated by the target columns; check the rest separately too
    std::vector<float> ref_off(ref_dlogits);
    for (int n = 0; n < N; n++) ref_off[(size_t)n * Vp + targets[n]] = 0.0f;

    floatX* d_logits = device_alloc<floatX>(NV);
    float* d_losses = device_alloc<float>(N);
    int* d_targets = upload_int(targets);
    std::vector<DevVersion> versions = {
        {1, "fused_classifier",
         [&] {
             upload_into(d_logits, logits); poison(d_losses, N);
             fused_classifier(d_logits, d_losses, d_targets, dloss, N, V, Vp, true);
             check_close("fused_classifier/losses", download_f32(d_losses, N).data(), ref_losses.data(), N, DEV_TOL);
             std::vector<float> got = download(d_logits, NV);
             check_close("fused_classifier/dlogits", got.data(), ref_dlogits.data(), NV, DEV_TOL);
             for (int n = 0; n < N; n++) got[(size_t)n * Vp + targets[n]] = 0.0f;
             check_close("fused_classifier/dlogits_off_target", got.data(), ref_off.data(), NV, DEV_TOL);
         },
         // timed on a buffer that already holds dlogits: the same work, forward + backward sweep
         [&] { fused_classifier(d_logits, d_losses, d_targets, dloss, N, V, Vp, true); }, 3.0 * NV * sizeof(floatX)},
    };
    return dev_main("classifier.cu", argc, argv, versions);
}
