// LayerNorm forward, fused residual + LayerNorm forward, and backward against cpu/layernorm.h.
// Backward accumulates, so its outputs start from random values on both sides (which also
// checks that it adds rather than overwrites).
#include "../../cpu/layernorm.h"
#include "../../cpu/residual.h"
#include "../../kernels/layernorm.cuh"
#include "dev_common.cuh"

int main(int argc, char** argv) {
    DEV_SKIP_WITHOUT_DEVICE("layernorm.cu");
    const int N = DEV_SIZE(8 * 1024, 256), C = DEV_SIZE(768, 64);
    const size_t NC = (size_t)N * C;
    const std::vector<float> x = random_vector(NC, 1, -2.0f, 3.0f), skip = random_vector(NC, 2);
    const std::vector<float> w = random_vector(C, 3, 0.5f, 1.5f), b = random_vector(C, 4), dout = random_vector(NC, 5);
    const std::vector<float> dinp0 = random_vector(NC, 6), dw0 = random_vector(C, 7), db0 = random_vector(C, 8);

    std::vector<float> ref_out(NC), ref_mean(N), ref_rstd(N), ref_res(NC), ref_out2(NC), ref_mean2(N), ref_rstd2(N);
    layernorm_forward_cpu(ref_out.data(), ref_mean.data(), ref_rstd.data(), x.data(), w.data(), b.data(), N, C);
    residual_forward_cpu(ref_res.data(), x.data(), skip.data(), NC);
    for (float& v : ref_res) v = to_float(from_float<floatX>(v)); // the GPU stores the sum as floatX
    layernorm_forward_cpu(ref_out2.data(), ref_mean2.data(), ref_rstd2.data(), ref_res.data(), w.data(), b.data(), N, C);
    std::vector<float> ref_dinp = dinp0, ref_dw = dw0, ref_db = db0;
    layernorm_backward_cpu(ref_dinp.data(), ref_dw.data(), ref_db.data(), dout.data(), x.data(), w.data(), ref_mean.data(),
                           ref_rstd.data(), N, C);

    floatX *d_x = upload(x), *d_skip = upload(skip), *d_w = upload(w), *d_b = upload(b), *d_dout = upload(dout);
    floatX *d_out = device_alloc<floatX>(NC), *d_res = device_alloc<floatX>(NC);
    floatX *d_dinp = device_alloc<floatX>(NC), *d_dw = device_alloc<floatX>(C), *d_db = device_alloc<floatX>(C);
    float *d_mean = device_alloc<float>(N), *d_rstd = device_alloc<float>(N);
    float* d_ref_mean = upload_f32(ref_mean);
    float* d_ref_rstd = upload_f32(ref_rstd);

    std::vector<DevVersion> versions = {
        {1, "layernorm_forward",
         [&] {
             poison(d_out, NC); poison(d_mean, N); poison(d_rstd, N);
             layernorm_forward(d_out, d_mean, d_rstd, d_x, d_w, d_b, N, C);
             check_close("layernorm_forward/out", download(d_out, NC).data(), ref_out.data(), NC, DEV_TOL);
             check_close("layernorm_forward/mean", download_f32(d_mean, N).data(), ref_mean.data(), N, DEV_TOL);
             check_close("layernorm_forward/rstd", download_f32(d_rstd, N).data(), ref_rstd.data(), N, DEV_TOL);
         },
         [&] { layernorm_forward(d_out, d_mean, d_rstd, d_x, d_w, d_b, N, C); }, 2.0 * NC * sizeof(floatX)},
        {2, "fused_residual_layernorm",
         [&] {
             poison(d_out, NC); poison(d_res, NC); poison(d_mean, N); poison(d_rstd, N);
             fused_residual_layernorm_forward(d_res, d_out, d_mean, d_rstd, d_x, d_skip, d_w, d_b, N, C);
             check_close("fused_residual_layernorm/residual", download(d_res, NC).data(), ref_res.data(), NC, DEV_TOL);
             check_close("fused_residual_layernorm/out", download(d_out, NC).data(), ref_out2.data(), NC, DEV_TOL);
             check_close("fused_residual_layernorm/rstd", download_f32(d_rstd, N).data(), ref_rstd2.data(), N, DEV_TOL);
         },
         [&] { fused_residual_layernorm_forward(d_res, d_out, d_mean, d_rstd, d_x, d_skip, d_w, d_b, N, C); },
         4.0 * NC * sizeof(floatX)},
        {3, "layernorm_backward",
         [&] {
             upload_into(d_dinp, dinp0); upload_into(d_dw, dw0); upload_into(d_db, db0);
             layernorm_backward(d_dinp, d_dw, d_db, d_dout, d_x, d_w, d_ref_mean, d_ref_rstd, N, C);
             check_close("layernorm_backward/dinp", download(d_dinp, NC).data(), ref_dinp.data(), NC, DEV_TOL);
             check_close("layernorm_backward/dweight", download(d_dw, C).data(), ref_dw.data(), C, DEV_TOL);
             check_close("layernorm_backward/dbias", download(d_db, C).data(), ref_db.data(), C, DEV_TOL);
         },
         [&] { layernorm_backward(d_dinp, d_dw, d_db, d_dout, d_x, d_w, d_ref_mean, d_ref_rstd, N, C); },
         5.0 * NC * sizeof(floatX)},
    };
    return dev_main("layernorm.cu", argc, argv, versions);
}
