// Global gradient norms (deterministic two-stage reduction: ||g||_2, ||g||_1, ||g||_inf in
// one pass) against optim/grad_clip.h, and bit-identical across two runs.
#include "../../kernels/global_norm.cuh"
#include "../../optim/grad_clip.h"
#include "dev_common.cuh"

int main(int argc, char** argv) {
    DEV_SKIP_WITHOUT_DEVICE("global_norm.cu");
    const size_t n = DEV_SIZE(124439808, 3385088); // GPT-2 124M (emulated: d2) with the padded vocab
    const std::vector<float> g = random_vector(n, 1, -1e-3f, 1e-3f);
    const GradNorms want = grad_norms(g.data(), n);
    const float ref = (float)want.l2, ref_l1 = (float)want.l1, ref_linf = (float)want.linf;
    floatX* d_g = upload(g);
    float *d_norm = device_alloc<float>(GLOBAL_NORM_OUTPUTS), *d_scratch = device_alloc<float>(GLOBAL_NORM_SCRATCH);
    std::vector<DevVersion> versions = {
        {1, "global_norm",
         [&] {
             float got[2][GLOBAL_NORM_OUTPUTS];
             for (int run = 0; run < 2; run++) {
                 poison(d_norm, GLOBAL_NORM_OUTPUTS);
                 global_norm(d_norm, d_scratch, d_g, n);
                 cudaCheck(cudaMemcpy(got[run], d_norm, sizeof got[run], cudaMemcpyDeviceToHost));
             }
             check_close("global_norm", &got[0][0], &ref, 1, DEV_TOL);
             check_close("global_norm/l1", &got[0][1], &ref_l1, 1, DEV_TOL);
             // the largest |g| is one element: exact in fp32, its floatX rounding in bf16
             check_close("global_norm/linf", &got[0][2], &ref_linf, 1, DEV_TOL);
             test_expect(memcmp(got[0], got[1], sizeof got[0]) == 0, "global_norm/deterministic", "two runs differ");
         },
         [&] { global_norm(d_norm, d_scratch, d_g, n); }, (double)n * sizeof(floatX)},
    };
    return dev_main("global_norm.cu", argc, argv, versions);
}
