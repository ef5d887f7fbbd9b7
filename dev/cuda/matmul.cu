// cuBLASLt linear layers against cpu/matmul.h: forward with the bias epilogue, forward with
// the GELU_AUX_BIAS epilogue (or its unfused fallback), the unfused GELU path (-r 1), and
// backward: dinp is overwritten (it starts as NaN), dweight and dbias accumulate (they start
// from random values on both sides). Under the emulator also: no cuBLASLt heuristic call
// admits split-K partial sums reduced in bf16 (the reduction-scheme preference).
#include <string>

#include "../../cpu/gelu.h"
#include "../../cpu/matmul.h"
#include "../../kernels/matmul.cuh"
#include "dev_common.cuh"

int main(int argc, char** argv) {
    DEV_SKIP_WITHOUT_DEVICE("matmul.cu");
    cuda_context_init();
    const int N = DEV_SIZE(4096, 256), C = DEV_SIZE(768, 64), OC = DEV_SIZE(3072, 256);
    const size_t NC = (size_t)N * C, NO = (size_t)N * OC, WC = (size_t)OC * C;
    const std::vector<float> inp = random_vector(NC, 1), weight = random_vector(WC, 2, -0.05f, 0.05f), bias = random_vector(OC, 3);
    const std::vector<float> dout = random_vector(NO, 4);
    const std::vector<float> dw0 = random_vector(WC, 6), db0 = random_vector(OC, 7);

    std::vector<float> ref_out(NO), ref_gelu(NO);
    matmul_forward_cpu(ref_out.data(), inp.data(), weight.data(), bias.data(), N, C, OC);
    gelu_forward_cpu(ref_gelu.data(), ref_out.data(), NO);
    std::vector<float> ref_dinp(NC, 0.0f), ref_dw = dw0, ref_db = db0;
    matmul_backward_cpu(ref_dinp.data(), ref_dw.data(), ref_db.data(), dout.data(), inp.data(), weight.data(), N, C, OC);

    floatX *d_inp = upload(inp), *d_w = upload(weight), *d_b = upload(bias), *d_dout = upload(dout);
    floatX *d_out = device_alloc<floatX>(NO), *d_pre = device_alloc<floatX>(NO);
    floatX *d_dinp = device_alloc<floatX>(NC), *d_dw = device_alloc<floatX>(WC), *d_db = device_alloc<floatX>(OC);
    const double flops = 2.0 * N * C * OC;

    std::vector<DevVersion> versions = {
        {1, "matmul_forward (bias epilogue)",
         [&] {
             poison(d_out, NO);
             matmul_forward(d_out, d_inp, d_w, d_b, N, C, OC);
             check_close("matmul_forward", download(d_out, NO).data(), ref_out.data(), NO, DEV_TOL);
         },
         [&] { matmul_forward(d_out, d_inp, d_w, d_b, N, C, OC); }, 0, flops},
        {2, "matmul_forward_gelu",
         [&] {
             poison(d_out, NO); poison(d_pre, NO);
             matmul_forward_gelu(d_out, d_pre, d_inp, d_w, d_b, N, C, OC);
             check_close("matmul_forward_gelu/pre", download(d_pre, NO).data(), ref_out.data(), NO, DEV_TOL);
             check_close("matmul_forward_gelu/out", download(d_out, NO).data(), ref_gelu.data(), NO, DEV_TOL);
         },
         [&] { matmul_forward_gelu(d_out, d_pre, d_inp, d_w, d_b, N, C, OC); }, 0, flops},
        {4, "matmul_forward_gelu (unfused)",
         [&] {
             poison(d_out, NO); poison(d_pre, NO);
             matmul_forward_gelu(d_out, d_pre, d_inp, d_w, d_b, N, C, OC, false);
             check_close("matmul_forward_gelu_unfused/pre", download(d_pre, NO).data(), ref_out.data(), NO, DEV_TOL);
             check_close("matmul_forward_gelu_unfused/out", download(d_out, NO).data(), ref_gelu.data(), NO, DEV_TOL);
         },
         [&] { matmul_forward_gelu(d_out, d_pre, d_inp, d_w, d_b, N, C, OC, false); }, 0, flops},
        {3, "matmul_backward",
         [&] {
             poison(d_dinp, NC); upload_into(d_dw, dw0); upload_into(d_db, db0);
             matmul_backward(d_dinp, d_dw, d_db, d_dout, d_inp, d_w, N, C, OC);
             check_close("matmul_backward/dinp", download(d_dinp, NC).data(), ref_dinp.data(), NC, DEV_TOL);
             check_close("matmul_backward/dweight", download(d_dw, WC).data(), ref_dw.data(), WC, DEV_TOL);
             check_close("matmul_backward/dbias", download(d_db, OC).data(), ref_db.data(), OC, DEV_TOL);
         },
         [&] { matmul_backward(d_dinp, d_dw, d_db, d_dout, d_inp, d_w, N, C, OC); }, 0, 2 * flops},
    };
    const int rc = dev_main("matmul.cu", argc, argv, versions);
#if defined(CUDA_EMULATION)
    // kernels/matmul.cuh must never let cuBLASLt reduce split-K partial sums in bf16
    const cuda_emu::LtHeuristicStats& lt = cuda_emu::lt_heuristic_stats();
    test_expect(lt.calls > 0 && lt.output_type_reductions_allowed == 0, "matmul/reduction_scheme_compute_type",
                std::to_string(lt.output_type_reductions_allowed) + " of " + std::to_string(lt.calls) +
                    " heuristic calls allow split-K reductions in the output type");
    return test_exit_code();
#else
    return rc;
#endif
}
