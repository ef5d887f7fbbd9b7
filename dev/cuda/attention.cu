// Attention forward and backward against cpu/attention.h:
//   v1, v2: cuBLAS batched GEMMs + fused softmax (kernels/attention.cuh). Backward uses the
//           reference's att as its input, so only the backward maths is under test there.
//   v3, v4: flash attention (kernels/flash_attention.cuh, head size 64, bf16 build only),
//           checked against the CPU reference and against v1/v2 on the GPU. Backward reads the
//           reference's out and logsumexp, and must be bit-identical run to run.
// Every version is checked at the benchmark size (B=4, T=1024, d12's 12 heads of 64; under the
// CPU emulator B=2, T=128, 2 heads of 64) and the flash versions also at a size whose T is not
// a multiple of the 64-row tile.
#include "../../cpu/attention.h"
#include "../../kernels/attention.cuh"
#include "../../kernels/flash_attention.cuh"
#include "dev_common.cuh"

#include <cstring>

// Flash outputs against the references: bf16 rounding of inputs and outputs alone is ~2e-3
// (measured under emulation: 1.8e-3 forward, 3e-3 backward).
static const double FLASH_TOL = 1e-2;

struct AttentionCase {
    int B, T, C, NH;
    size_t NC() const { return (size_t)B * T * C; }
    size_t ATT() const { return (size_t)B * NH * T * T; }
    size_t rows() const { return (size_t)B * NH * T; }
};

// CPU reference of one size: forward outputs, the logsumexp of each row, and the backward.
struct AttentionReference {
    std::vector<float> qkv, dout, out, preatt, att, att_x, lse, dqkv;
    explicit AttentionReference(const AttentionCase& s) {
        const size_t NC = s.NC(), ATT = s.ATT();
        qkv = random_vector(3 * NC, 1, -2.0f, 2.0f);
        dout = random_vector(NC, 2);
        out.assign(NC, 0.0f), preatt.assign(ATT, 0.0f), att.assign(ATT, 0.0f), dqkv.assign(3 * NC, 0.0f);
        attention_forward_cpu(out.data(), preatt.data(), att.data(), qkv.data(), s.B, s.T, s.C, s.NH);
        att_x.resize(ATT); // the att the unfused GPU backward reads: rounded to floatX
        for (size_t i = 0; i < ATT; i++) att_x[i] = to_float(from_float<floatX>(att[i]));
        std::vector<float> dpre(ATT), datt(ATT);
        attention_backward_cpu(dqkv.data(), dpre.data(), datt.data(), dout.data(), qkv.data(), att.data(), s.B, s.T,
                               s.C, s.NH);
        lse.resize(s.rows()); // log sum_t2<=t exp(preatt), preatt already scaled
        for (size_t row = 0; row < s.rows(); row++) {
            const int t = row % s.T;
            const float* p = preatt.data() + row * s.T;
            double maxv = -INFINITY, sum = 0;
            for (int t2 = 0; t2 <= t; t2++) maxv = std::max(maxv, (double)p[t2]);
            for (int t2 = 0; t2 <= t; t2++) sum += std::exp(p[t2] - maxv);
            lse[row] = (float)(maxv + std::log(sum));
        }
    }
};

static std::string case_name(const char* what, const AttentionCase& s) {
    char buf[96];
    snprintf(buf, sizeof buf, "%s[B%d,T%d,C%d,NH%d]", what, s.B, s.T, s.C, s.NH);
    return buf;
}

struct FlashBuffers {
    floatX *qkv, *dout, *ref_out, *out, *dqkv;
    float *lse, *ref_lse, *D;
    FlashBuffers(const AttentionCase& s, const AttentionReference& ref) {
        qkv = upload(ref.qkv), dout = upload(ref.dout), ref_out = upload(ref.out);
        out = device_alloc<floatX>(s.NC()), dqkv = device_alloc<floatX>(3 * s.NC());
        lse = device_alloc<float>(s.rows()), ref_lse = upload_f32(ref.lse), D = device_alloc<float>(s.rows());
    }
    ~FlashBuffers() {
        for (void* p : {(void*)qkv, (void*)dout, (void*)ref_out, (void*)out, (void*)dqkv, (void*)lse, (void*)ref_lse, (void*)D})
            cudaFree(p);
    }
};

// Flash forward at one size against the CPU reference and, when given, the unfused GPU output.
static void check_flash_forward(const AttentionCase& s, const AttentionReference& ref, const std::vector<float>* unfused) {
    FlashBuffers d(s, ref);
    poison(d.out, s.NC()), poison(d.lse, s.rows());
    flash_attention_forward(d.out, d.lse, d.qkv, s.B, s.T, s.C, s.NH);
    const std::vector<float> out = download(d.out, s.NC());
    check_close(case_name("flash_forward/out", s), out.data(), ref.out.data(), s.NC(), FLASH_TOL);
    check_close(case_name("flash_forward/lse", s), download_f32(d.lse, s.rows()).data(), ref.lse.data(), s.rows(), 1e-3);
    if (unfused) check_close(case_name("flash_forward/out_vs_unfused", s), out.data(), unfused->data(), s.NC(), FLASH_TOL);
}

// Flash backward (from the reference's out and logsumexp) likewise, and bit-identical twice.
static void check_flash_backward(const AttentionCase& s, const AttentionReference& ref, const std::vector<float>* unfused) {
    FlashBuffers d(s, ref);
    std::vector<float> runs[2];
    for (std::vector<float>& run : runs) {
        poison(d.dqkv, 3 * s.NC());
        flash_attention_backward(d.dqkv, d.D, d.dout, d.qkv, d.ref_out, d.ref_lse, s.B, s.T, s.C, s.NH);
        run = download(d.dqkv, 3 * s.NC());
    }
    check_close(case_name("flash_backward/dqkv", s), runs[0].data(), ref.dqkv.data(), 3 * s.NC(), FLASH_TOL);
    if (unfused) check_close(case_name("flash_backward/dqkv_vs_unfused", s), runs[0].data(), unfused->data(), 3 * s.NC(), FLASH_TOL);
    test_expect(memcmp(runs[0].data(), runs[1].data(), runs[0].size() * sizeof(float)) == 0,
                case_name("flash_backward/deterministic", s), "two identical runs differ");
}

int main(int argc, char** argv) {
    DEV_SKIP_WITHOUT_DEVICE("attention.cu");
    cuda_context_init();
    // d12 attention at T=1024 on a GPU; head size 64 under emulation too (flash needs it)
    const AttentionCase s = {DEV_SIZE(4, 2), DEV_SIZE(1024, 128), DEV_SIZE(768, 128), DEV_SIZE(12, 2)};
    const AttentionReference ref(s);
    const size_t NC = s.NC(), ATT = s.ATT();
    const bool flash = flash_attention_supported(s.C / s.NH);

    floatX *d_qkv = upload(ref.qkv), *d_dout = upload(ref.dout), *d_att_ref = upload(ref.att_x), *d_ref_out = upload(ref.out);
    floatX *d_out = device_alloc<floatX>(NC), *d_att = device_alloc<floatX>(ATT), *d_qkvr = device_alloc<floatX>(3 * NC);
    floatX *d_preatt = device_alloc<floatX>(ATT), *d_y = device_alloc<floatX>(NC), *d_dqkv = device_alloc<floatX>(3 * NC);
    floatX *d_dqkvr = device_alloc<floatX>(3 * NC), *d_dy = device_alloc<floatX>(NC), *d_datt = device_alloc<floatX>(ATT);
    float *d_lse = device_alloc<float>(s.rows()), *d_ref_lse = upload_f32(ref.lse), *d_D = device_alloc<float>(s.rows());
    // Useful FLOPs (every version counted alike): the causal half of the two T x T x hs GEMMs of
    // the forward; the backward has four.
    const double flops = 4.0 * s.B * s.NH * (double)s.T * s.T * (s.C / s.NH) / 2;

    std::vector<DevVersion> versions = {
        {1, "attention_forward",
         [&] {
             poison(d_out, NC); poison(d_att, ATT);
             attention_forward(d_out, d_att, d_qkvr, d_preatt, d_y, d_qkv, s.B, s.T, s.C, s.NH);
             check_close("attention_forward/out", download(d_out, NC).data(), ref.out.data(), NC, DEV_TOL);
             check_close("attention_forward/att", download(d_att, ATT).data(), ref.att.data(), ATT, DEV_TOL);
         },
         [&] { attention_forward(d_out, d_att, d_qkvr, d_preatt, d_y, d_qkv, s.B, s.T, s.C, s.NH); }, 0, flops},
        {2, "attention_backward",
         [&] {
             poison(d_dqkv, 3 * NC);
             attention_backward(d_dqkv, d_qkvr, d_dqkvr, d_dy, d_datt, d_dout, d_qkv, d_att_ref, s.B, s.T, s.C, s.NH);
             check_close("attention_backward/dqkv", download(d_dqkv, 3 * NC).data(), ref.dqkv.data(), 3 * NC, DEV_TOL);
         },
         [&] { attention_backward(d_dqkv, d_qkvr, d_dqkvr, d_dy, d_datt, d_dout, d_qkv, d_att_ref, s.B, s.T, s.C, s.NH); },
         0, 2 * flops},
    };
    const AttentionCase odd = {2, 100, 128, 2}; // T not a multiple of the tile
    const AttentionReference odd_ref(odd);
    if (flash) {
        versions.push_back({3, "flash_attention_forward",
                            [&] {
                                check_flash_forward(odd, odd_ref, nullptr);
                                attention_forward(d_out, d_att, d_qkvr, d_preatt, d_y, d_qkv, s.B, s.T, s.C, s.NH);
                                const std::vector<float> unfused = download(d_out, NC);
                                check_flash_forward(s, ref, &unfused);
                            },
                            [&] { flash_attention_forward(d_out, d_lse, d_qkv, s.B, s.T, s.C, s.NH); }, 0, flops});
        versions.push_back({4, "flash_attention_backward",
                            [&] {
                                check_flash_backward(odd, odd_ref, nullptr);
                                attention_backward(d_dqkv, d_qkvr, d_dqkvr, d_dy, d_datt, d_dout, d_qkv, d_att_ref, s.B,
                                                   s.T, s.C, s.NH);
                                const std::vector<float> unfused = download(d_dqkv, 3 * NC);
                                check_flash_backward(s, ref, &unfused);
                            },
                            [&] {
                                flash_attention_backward(d_dqkv, d_D, d_dout, d_qkv, d_ref_out, d_ref_lse, s.B, s.T, s.C, s.NH);
                            },
                            0, 2 * flops});
    } else {
        test_skip("flash_attention", "needs the bf16 build, head size 64 and compute capability 8.0+");
    }
    return dev_main("attention.cu", argc, argv, versions);
}
