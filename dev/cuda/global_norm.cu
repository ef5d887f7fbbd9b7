// Global gradient norm (deterministic two-stage reduction) against optim/grad_clip.h, and
// bit-identical across two runs.
#include "../../kernels/global_norm.cuh"
#include "../../optim/grad_clip.h"
#include "dev_common.cuh"

int main(int argc, char** argv) {
    DEV_SKIP_WITHOUT_DEVICE("global_norm.cu");
    const size_t n = DEV_SIZE(124439808, 3385088); // GPT-2 124M (emulated: d2) with the padded vocab
    const std::vector<float> g = random_vector(n, 1, -1e-3f, 1e-3f);
    const float ref = (float)global_grad_norm(g.data(), n);
    floatX* d_g = upload(g);
    float *d_norm = device_alloc<float>(1), *d_scratch = device_alloc<float>(GLOBAL_NORM_BLOCKS);
    std::vector<DevVersion> versions = {
        {1, "global_norm",
         [&] {
             float got[2];
             for (int run = 0; run < 2; run++) {
                 poison(d_norm, 1);
                 global_norm(d_norm, d_scratch, d_g, n);
                 cudaCheck(cudaMemcpy(&got[run], d_norm, sizeof(float), cudaMemcpyDeviceToHost));
             }
             check_close("global_norm", &got[0], &ref, 1, DEV_TOL);
             test_expect(got[0] == got[1], "global_norm/deterministic", "two runs differ");
         },
         [&] { global_norm(d_norm, d_scratch, d_g, n); }, (double)n * sizeof(floatX)},
    };
    return dev_main("global_norm.cu", argc, argv, versions);
}
