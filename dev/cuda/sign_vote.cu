// Majority vote of packed signs (optim/sign_vote.cuh) against a CPU reference written here, for
// each wire format (--vote-bits 1, 2, 8): 3 "ranks" (three gradients, each rank's own Signum
// momentum), rank 0 Byzantine (negated), exact zeros and two-against-one / tied votes included.
// Pack, count and apply are checked separately: the packed words, the int8 signs and the votes
// exactly, the master weights to fp32 rounding. The int8 all-reduce is summed on the host.
// v4 (--vote-noise, --byzantine-mode omniscient): the fp32 values a rank signs (signum's
// momentum), each tensor's ||.||_inf, and the 2-bit words of values + c linf_k xi (xi from
// vote_noise_key's stream, the same OPTIM_HD function as the CPU) and of -sign(values) against
// the CPU reference, word for word (an FMA-contracted x + b xi may move a sign a GPU's rounding
// away from 0: at most 1e-6 of the words may differ on a GPU, none under emulation).
#include "../../optim/sign_vote.cuh"
#include "dev_common.cuh"

// The sign a rank sends: 1 bit has no 0 (sign(0) = +1).
static int sent_sign(float x, int bits) { return bits == 1 ? (x < 0.0f ? -1 : 1) : (x > 0.0f) - (x < 0.0f); }

int main(int argc, char** argv) {
    DEV_SKIP_WITHOUT_DEVICE("sign_vote.cu");
    const int R = 3;
    const size_t n = DEV_SIZE(124475904, 100003); // d12's parameters (emulated: a ragged tail)
    // two tensors with their own lr and weight decay; the second starts off a 32-boundary
    const size_t split = n / 3 + 5;
    std::vector<std::vector<float>> g(R), m0(R);
    for (int r = 0; r < R; r++) {
        g[r] = random_vector(n, 10 + r, -1.0f, 1.0f);
        m0[r] = random_vector(n, 20 + r, -0.1f, 0.1f);
        // exact zeros (momentum too: its sign is 0), one rank's at i % 7 == r and every rank's at i % 11 == 0
        for (size_t i = 0; i < n; i++)
            if (i % 7 == (size_t)r || i % 11 == 0) g[r][i] = 0.0f, m0[r][i] = 0.0f;
    }
    const std::vector<float> master0 = random_vector(n, 30, -1.0f, 1.0f);
    const float lr[2] = {1e-2f, 3e-3f}, wd[2] = {0.1f, 0.0f}, beta = 0.9f;
    const float scale = 0.5f; // the clip scale
    auto tensor_of = [&](size_t i) { return i < split ? 0 : 1; };

    // CPU reference momentum (the same for every format)
    std::vector<std::vector<float>> m_ref = m0;
    for (int r = 0; r < R; r++)
        for (size_t i = 0; i < n; i++) m_ref[r][i] = beta * m_ref[r][i] + (1.0f - beta) * (g[r][i] * scale);

    floatX* d_grads[R];
    float* d_m[R];
    for (int r = 0; r < R; r++) d_grads[r] = upload(g[r]), d_m[r] = device_alloc<float>(n);
    const size_t W2 = sign_vote_words(n, 2);
    uint32_t* d_words = device_alloc<uint32_t>(R * W2);
    int8_t* d_vote = device_alloc<int8_t>(n);
    float* d_master = device_alloc<float>(n);
    floatX* d_params = device_alloc<floatX>(n);
    float* d_scale = upload_f32({scale});
    auto table_for = [&](float* momentum) {
        SignVoteTable t;
        t.beta = beta;
        t.tensors[t.count++] = {0, split, momentum, lr[0], wd[0]};
        t.tensors[t.count++] = {split, n - split, momentum ? momentum + split : nullptr, lr[1], wd[1]};
        return t;
    };

    auto check_format = [&](int bits) {
        const std::string tag = "sign_vote/" + std::string(bits == 8 ? "int8" : bits == 1 ? "1bit" : "2bit");
        const size_t W = bits == 8 ? 0 : sign_vote_words(n, bits);
        // reference: every rank's signs (rank 0 negated), its words, the vote, the update
        std::vector<std::vector<uint32_t>> words_ref(R, std::vector<uint32_t>(W, 0));
        std::vector<std::vector<int8_t>> signs_ref(R, std::vector<int8_t>(n));
        std::vector<int> vote_ref(n);
        size_t ties = 0;
        for (size_t i = 0; i < n; i++) {
            int sum = 0;
            for (int r = 0; r < R; r++) {
                const int s = (r == 0 ? -1 : 1) * sent_sign(m_ref[r][i], bits);
                signs_ref[r][i] = (int8_t)s;
                if (bits == 1 && s < 0) words_ref[r][i / 32] |= 1u << (i % 32);
                if (bits == 2 && s > 0) words_ref[r][2 * (i / 32)] |= 1u << (i % 32);
                if (bits == 2 && s < 0) words_ref[r][2 * (i / 32) + 1] |= 1u << (i % 32);
                sum += s;
            }
            vote_ref[i] = (sum > 0) - (sum < 0);
            ties += sum == 0;
        }
        std::vector<float> master_ref = master0;
        for (size_t i = 0; i < n; i++) {
            const int k = tensor_of(i);
            master_ref[i] -= lr[k] * wd[k] * master_ref[i];
            master_ref[i] -= lr[k] * (float)vote_ref[i];
        }

        size_t bad = 0;
        std::vector<int8_t> sums(n, 0);
        for (int r = 0; r < R; r++) {
            cudaCheck(cudaMemcpy(d_m[r], m0[r].data(), n * sizeof(float), cudaMemcpyHostToDevice));
            sign_vote_pack(d_words + r * W, d_vote, d_grads[r], d_scale, table_for(d_m[r]), n, bits, true, r == 0);
            if (bits == 8) { // this rank's int8 signs, summed here as the all-reduce would
                std::vector<int8_t> mine(n);
                cudaCheck(cudaMemcpy(mine.data(), d_vote, n, cudaMemcpyDeviceToHost));
                for (size_t i = 0; i < n; i++) bad += mine[i] != signs_ref[r][i], sums[i] = (int8_t)(sums[i] + mine[i]);
            }
        }
        if (bits != 8) {
            std::vector<uint32_t> words(R * W);
            cudaCheck(cudaMemcpy(words.data(), d_words, words.size() * sizeof(uint32_t), cudaMemcpyDeviceToHost));
            for (int r = 0; r < R; r++)
                for (size_t w = 0; w < W; w++) bad += words[r * W + w] != words_ref[r][w];
        }
        test_expect(bad == 0, (tag + "/pack").c_str(), (std::to_string(bad) + (bits == 8 ? " int8 signs" : " packed words") + " differ").c_str());
        const std::vector<float> m1 = download_f32(d_m[1], n);
        check_close((tag + "/signum_momentum").c_str(), m1.data(), m_ref[1].data(), n, 1e-6);

        if (bits == 8) {
            cudaCheck(cudaMemcpy(d_vote, sums.data(), n, cudaMemcpyHostToDevice));
        } else {
            sign_vote_count(d_vote, d_words, R, n, bits);
            std::vector<int8_t> vote(n);
            cudaCheck(cudaMemcpy(vote.data(), d_vote, n, cudaMemcpyDeviceToHost));
            size_t wrong = 0;
            for (size_t i = 0; i < n; i++) wrong += vote[i] != vote_ref[i];
            // 3 ranks: a tie needs one sign 0, which 1 bit cannot send
            test_expect(wrong == 0 && (ties > 0 || bits == 1), (tag + "/count").c_str(),
                        (std::to_string(wrong) + " votes differ, " + std::to_string(ties) + " ties").c_str());
        }
        cudaCheck(cudaMemcpy(d_master, master0.data(), n * sizeof(float), cudaMemcpyHostToDevice));
        sign_vote_apply(d_master, d_params, d_vote, table_for(nullptr), n, 7);
        const std::vector<float> master = download_f32(d_master, n);
        check_close((tag + "/apply").c_str(), master.data(), master_ref.data(), n, 1e-6);
    };
    auto timed = [&](int bits) {
        sign_vote_pack(d_words, d_vote, d_grads[0], d_scale, table_for(d_m[0]), n, bits, true, false);
        if (bits != 8) sign_vote_count(d_vote, d_words, R, n, bits);
        sign_vote_apply(d_master, d_params, d_vote, table_for(nullptr), n, 7);
    };
    // traffic: grads and momentum in, momentum out, words (R ranks read) or int8, votes, master and params
    auto bytes = [&](int bits) {
        const double packed = bits == 8 ? 2.0 : R * bits / 8.0;
        return (double)n * (sizeof(floatX) + 8 + packed + 1 + 1 + 8 + sizeof(floatX));
    };
    float* d_values = device_alloc<float>(n);
    float* d_linf = device_alloc<float>(2);
    const float c = 0.1f;
    const uint64_t key = vote_noise_key(42, 1, 3);
    auto check_noise = [&]() {
        const std::string tag = "sign_vote/noise";
        poison(d_values, n);
        cudaCheck(cudaMemcpy(d_m[1], m0[1].data(), n * sizeof(float), cudaMemcpyHostToDevice));
        sign_vote_values(d_values, d_grads[1], d_scale, table_for(d_m[1]), n, true);
        const std::vector<float> values = download_f32(d_values, n);
        check_close((tag + "/values").c_str(), values.data(), m_ref[1].data(), n, 1e-6);
        sign_vote_linf(d_linf, d_values, table_for(d_m[1]), n);
        const std::vector<float> linf = download_f32(d_linf, 2);
        float linf_ref[2] = {0.0f, 0.0f};
        for (size_t i = 0; i < n; i++) linf_ref[tensor_of(i)] = std::max(linf_ref[tensor_of(i)], std::fabs(values[i]));
        test_expect(linf[0] == linf_ref[0] && linf[1] == linf_ref[1], (tag + "/linf").c_str(),
                    ("got " + std::to_string(linf[0]) + ", " + std::to_string(linf[1]) + "; want " + std::to_string(linf_ref[0]) + ", " +
                     std::to_string(linf_ref[1])).c_str());
        // CPU reference: sign(values + c linf_k xi) packed as 2 bits; the omniscient -sign(values)
        std::vector<float> noisy(n);
        size_t moved = 0;
        for (size_t i = 0; i < n; i++) {
            noisy[i] = vote_noisy_value(values[i], c * linf_ref[tensor_of(i)], key, i);
            moved += sent_sign(noisy[i], 2) != sent_sign(values[i], 2);
        }
        const size_t W = sign_vote_words(n, 2);
        for (int negate = 0; negate < 2; negate++) {
            std::vector<uint32_t> ref(W);
            sign_vote_pack(negate ? values.data() : noisy.data(), n, 2, negate, ref.data());
            SignVoteNoise noise;
            if (!negate) noise = SignVoteNoise{d_linf, c, key};
            sign_vote_pack(d_words, nullptr, d_grads[0], d_scale, table_for(nullptr), n, 2, false, negate, d_values, noise);
            std::vector<uint32_t> words(W);
            cudaCheck(cudaMemcpy(words.data(), d_words, W * sizeof(uint32_t), cudaMemcpyDeviceToHost));
            size_t bad = 0;
            for (size_t w = 0; w < W; w++) bad += words[w] != ref[w];
#if defined(CUDA_EMULATION)
            const size_t allowed = 0;
#else
            const size_t allowed = W / 1000000;
#endif
            const std::string name = tag + (negate ? "/omniscient_pack" : "/noisy_pack");
            test_expect(bad <= allowed && (negate || moved > n / 10), name.c_str(),
                        (std::to_string(bad) + " of " + std::to_string(W) + " words differ (at most " + std::to_string(allowed) + "); the noise moved " +
                         std::to_string(moved) + " of " + std::to_string(n) + " signs").c_str());
        }
    };
    std::vector<DevVersion> versions = {
        {1, "1bit_pack_count_apply", [&] { check_format(1); }, [&] { timed(1); }, bytes(1)},
        {2, "2bit_pack_count_apply", [&] { check_format(2); }, [&] { timed(2); }, bytes(2)},
        {3, "int8_pack_apply", [&] { check_format(8); }, [&] { timed(8); }, bytes(8)},
        {4, "noisy_2bit_pack", check_noise,
         [&] {
             sign_vote_linf(d_linf, d_values, table_for(nullptr), n);
             sign_vote_pack(d_words, nullptr, d_grads[0], d_scale, table_for(nullptr), n, 2, false, false, d_values, SignVoteNoise{d_linf, c, key});
         },
         (double)n * (4 + 4 + 2.0 / 8)},
    };
    return dev_main("sign_vote.cu", argc, argv, versions);
}
