// Encoder (token + position embedding) forward and deterministic backward against
// cpu/encoder.h. Backward accumulates: dwte/dwpe start from random values on both sides.
// The backward is also run twice from the same start and must give bit-identical results.
#include <cstring>

#include "../../cpu/encoder.h"
#include "../../kernels/encoder.cuh"
#include "dev_common.cuh"

int main(int argc, char** argv) {
    DEV_SKIP_WITHOUT_DEVICE("encoder.cu");
    const int B = DEV_SIZE(8, 2), T = DEV_SIZE(1024, 64), C = DEV_SIZE(768, 64), V = 50257, Vp = 50304;
    const size_t N = (size_t)B * T, NC = N * C;
    std::vector<int> inp = random_tokens(N, 1, 2000); // a small vocabulary range: tokens repeat
    inp[0] = V - 1;
    const std::vector<float> wte = random_vector((size_t)Vp * C, 2), wpe = random_vector((size_t)T * C, 3);
    const std::vector<float> dout = random_vector(NC, 4), dwte0 = random_vector((size_t)Vp * C, 5), dwpe0 = random_vector((size_t)T * C, 6);
    std::vector<float> ref_out(NC), ref_dwte = dwte0, ref_dwpe = dwpe0;
    encoder_forward_cpu(ref_out.data(), inp.data(), wte.data(), wpe.data(), B, T, C);
    encoder_backward_cpu(ref_dwte.data(), ref_dwpe.data(), dout.data(), inp.data(), B, T, C);

    int* d_inp = upload_int(inp);
    floatX *d_wte = upload(wte), *d_wpe = upload(wpe), *d_dout = upload(dout), *d_out = device_alloc<floatX>(NC);
    floatX *d_dwte = device_alloc<floatX>((size_t)Vp * C), *d_dwpe = device_alloc<floatX>((size_t)T * C);
    EncoderBuckets buckets;
    buckets.allocate((int)N);

    std::vector<DevVersion> versions = {
        {1, "encoder_forward",
         [&] {
             poison(d_out, NC);
             encoder_forward(d_out, d_inp, d_wte, d_wpe, B, T, C);
             check_close("encoder_forward", download(d_out, NC).data(), ref_out.data(), NC, DEV_TOL);
         },
         [&] { encoder_forward(d_out, d_inp, d_wte, d_wpe, B, T, C); }, 3.0 * NC * sizeof(floatX)},
        {2, "encoder_backward (bucketed)",
         [&] {
             std::vector<float> first;
             for (int run = 0; run < 2; run++) {
                 upload_into(d_dwte, dwte0); upload_into(d_dwpe, dwpe0);
                 buckets.build(inp.data(), (int)N, V);
                 encoder_backward(d_dwte, d_dwpe, d_dout, buckets, B, T, C);
                 std::vector<float> got = download(d_dwte, (size_t)Vp * C);
                 if (run == 0) {
                     check_close("encoder_backward/dwte", got.data(), ref_dwte.data(), got.size(), DEV_TOL);
                     check_close("encoder_backward/dwpe", download(d_dwpe, (size_t)T * C).data(), ref_dwpe.data(), (size_t)T * C, DEV_TOL);
                     first = got;
                 } else {
                     test_expect(memcmp(first.data(), got.data(), got.size() * sizeof(float)) == 0, "encoder_backward/deterministic",
                                 "two runs from the same start differ");
                 }
             }
         },
         [&] { encoder_backward(d_dwte, d_dwpe, d_dout, buckets, B, T, C); }, 3.0 * NC * sizeof(floatX)},
    };
    return dev_main("encoder.cu", argc, argv, versions);
}
