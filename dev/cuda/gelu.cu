// GELU forward and backward against cpu/gelu.h.
#include "../../cpu/gelu.h"
#include "../../kernels/gelu.cuh"
#include "dev_common.cuh"

int main(int argc, char** argv) {
    DEV_SKIP_WITHOUT_DEVICE("gelu.cu");
    const size_t n = DEV_SIZE((size_t)8 * 1024 * 3072, 100000); // B*T*4C of a d12 micro-batch of 8
    const std::vector<float> x = random_vector(n, 1, -4.0f, 4.0f), dout = random_vector(n, 2);
    std::vector<float> ref_out(n), ref_dinp(n, 0.0f);
    gelu_forward_cpu(ref_out.data(), x.data(), n);
    gelu_backward_cpu(ref_dinp.data(), x.data(), dout.data(), n);
    floatX *d_x = upload(x), *d_dout = upload(dout), *d_out = device_alloc<floatX>(n), *d_dinp = device_alloc<floatX>(n);
    std::vector<DevVersion> versions = {
        {1, "gelu_forward",
         [&] { poison(d_out, n); gelu_forward(d_out, d_x, n); check_close("gelu_forward", download(d_out, n).data(), ref_out.data(), n, DEV_TOL); },
         [&] { gelu_forward(d_out, d_x, n); }, 2.0 * n * sizeof(floatX)},
        {2, "gelu_backward",
         [&] { poison(d_dinp, n); gelu_backward(d_dinp, d_x, d_dout, n); check_close("gelu_backward", download(d_dinp, n).data(), ref_dinp.data(), n, DEV_TOL); },
         [&] { gelu_backward(d_dinp, d_x, d_dout, n); }, 3.0 * n * sizeof(floatX)},
    };
    return dev_main("gelu.cu", argc, argv, versions);
}
