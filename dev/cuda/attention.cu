// Attention forward and backward (cuBLAS batched GEMMs + fused softmax) against
// cpu/attention.h. Backward uses the reference's att as its input, so only the backward maths
// is under test there.
#include "../../cpu/attention.h"
#include "../../kernels/attention.cuh"
#include "dev_common.cuh"

int main(int argc, char** argv) {
    DEV_SKIP_WITHOUT_DEVICE("attention.cu");
    cuda_context_init();
    const int B = 4, T = 1024, C = 768, NH = 12;
    const size_t NC = (size_t)B * T * C, ATT = (size_t)B * NH * T * T;
    const std::vector<float> qkv = random_vector(3 * NC, 1, -2.0f, 2.0f), dout = random_vector(NC, 2);
    std::vector<float> ref_out(NC), ref_preatt(ATT), ref_att(ATT), ref_dqkv(3 * NC, 0.0f), dpre(ATT), datt(ATT);
    attention_forward_cpu(ref_out.data(), ref_preatt.data(), ref_att.data(), qkv.data(), B, T, C, NH);
    std::vector<float> att_x(ATT); // the att the GPU backward will read: rounded to floatX
    for (size_t i = 0; i < ATT; i++) att_x[i] = to_float(from_float<floatX>(ref_att[i]));
    attention_backward_cpu(ref_dqkv.data(), dpre.data(), datt.data(), dout.data(), qkv.data(), att_x.data(), B, T, C, NH);

    floatX *d_qkv = upload(qkv), *d_dout = upload(dout), *d_att_ref = upload(att_x);
    floatX *d_out = device_alloc<floatX>(NC), *d_att = device_alloc<floatX>(ATT), *d_qkvr = device_alloc<floatX>(3 * NC);
    floatX *d_preatt = device_alloc<floatX>(ATT), *d_y = device_alloc<floatX>(NC), *d_dqkv = device_alloc<floatX>(3 * NC);
    floatX *d_dqkvr = device_alloc<floatX>(3 * NC), *d_dy = device_alloc<floatX>(NC), *d_datt = device_alloc<floatX>(ATT);
    const double flops = 4.0 * B * NH * (double)T * T * (C / NH); // two GEMMs, full (unmasked) T x T

    std::vector<DevVersion> versions = {
        {1, "attention_forward",
         [&] {
             poison(d_out, NC); poison(d_att, ATT);
             attention_forward(d_out, d_att, d_qkvr, d_preatt, d_y, d_qkv, B, T, C, NH);
             check_close("attention_forward/out", download(d_out, NC).data(), ref_out.data(), NC, DEV_TOL);
             check_close("attention_forward/att", download(d_att, ATT).data(), ref_att.data(), ATT, DEV_TOL);
         },
         [&] { attention_forward(d_out, d_att, d_qkvr, d_preatt, d_y, d_qkv, B, T, C, NH); }, 0, flops},
        {2, "attention_backward",
         [&] {
             poison(d_dqkv, 3 * NC);
             attention_backward(d_dqkv, d_qkvr, d_dqkvr, d_dy, d_datt, d_dout, d_qkv, d_att_ref, B, T, C, NH);
             check_close("attention_backward/dqkv", download(d_dqkv, 3 * NC).data(), ref_dqkv.data(), 3 * NC, DEV_TOL);
         },
         [&] { attention_backward(d_dqkv, d_qkvr, d_dqkvr, d_dy, d_datt, d_dout, d_qkv, d_att_ref, B, T, C, NH); }, 0, 2 * flops},
    };
    return dev_main("attention.cu", argc, argv, versions);
}
