// Encoder (token + position embedding) forward and deterministic backward against
// cpu/encoder.h. Backward accumulates: dwte/dwpe start from random values on both sides.
// The backward is also run twice from the same start and must give bit-identical results.
// Version 3 skews the tokens (40% of the positions hold token 198, "\n", as ~10% of Tiny
// Shakespeare does; a few more tokens are frequent too), so buckets are split into chunks
// (kernels/encoder.cuh) and their partial sums reduced; under the emulator with 8 rows per
// chunk, so the small batch splits as d12's does with 64.
#include <algorithm>
#include <cstring>
#include <string>

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
    buckets.allocate((int)N, C);

    // skewed tokens and their reference
    std::vector<int> skewed = random_tokens(N, 7, 2000);
    for (size_t i = 0; i < N; i++) {
        const uint64_t r = random_bits(8, i) % 100;
        if (r < 40) skewed[i] = 198;
        else if (r < 50) skewed[i] = 11 + (int)(r % 3); // three more tokens at ~3% each
    }
    std::vector<float> skew_dwte = dwte0, skew_dwpe = dwpe0;
    encoder_backward_cpu(skew_dwte.data(), skew_dwpe.data(), dout.data(), skewed.data(), B, T, C);
    const int skew_rows = DEV_SIZE(ENCODER_ROWS_PER_CHUNK, 8);
    EncoderBuckets skew_buckets;
    skew_buckets.allocate((int)N, C, skew_rows);
    int* d_skewed = upload_int(skewed);

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
        {3, "encoder_backward (skewed tokens)",
         [&] {
             std::vector<float> first;
             for (int run = 0; run < 2; run++) {
                 upload_into(d_dwte, dwte0); upload_into(d_dwpe, dwpe0);
                 skew_buckets.build(skewed.data(), (int)N, V);
                 encoder_backward(d_dwte, d_dwpe, d_dout, skew_buckets, B, T, C);
                 std::vector<float> got = download(d_dwte, (size_t)Vp * C);
                 if (run == 0) {
                     // the frequent token's bucket is split: more chunks than tokens, and no chunk over the limit
                     int longest = 0;
                     for (int k = 0; k < skew_buckets.num_chunks; k++)
                         longest = std::max(longest, skew_buckets.starts[k + 1] - skew_buckets.starts[k]);
                     test_expect(skew_buckets.num_split >= 1 && longest <= skew_rows, "encoder_backward_skewed/split",
                                 std::to_string(skew_buckets.num_split) + " split tokens, longest chunk " + std::to_string(longest) +
                                     " rows (limit " + std::to_string(skew_rows) + ")");
                     check_close("encoder_backward_skewed/dwte", got.data(), skew_dwte.data(), got.size(), DEV_TOL);
                     check_close("encoder_backward_skewed/dwte_row_198", got.data() + (size_t)198 * C,
                                 skew_dwte.data() + (size_t)198 * C, C, DEV_TOL);
                     check_close("encoder_backward_skewed/dwpe", download(d_dwpe, (size_t)T * C).data(), skew_dwpe.data(),
                                 (size_t)T * C, DEV_TOL);
                     first = got;
                 } else {
                     test_expect(memcmp(first.data(), got.data(), got.size() * sizeof(float)) == 0,
                                 "encoder_backward_skewed/deterministic", "two runs from the same start differ");
                 }
             }
         },
         [&] {
             skew_buckets.build(skewed.data(), (int)N, V);
             encoder_backward(d_dwte, d_dwpe, d_dout, skew_buckets, B, T, C);
         }, 3.0 * NC * sizeof(floatX)},
    };
    return dev_main("encoder.cu", argc, argv, versions);
}
