// Majority vote of packed signs (optim/sign_vote.cuh) against a CPU reference: 3 "ranks"
// (three gradients, each rank's own Signum momentum), rank 0 Byzantine (negated), exact zeros
// and two-against-one / tied votes included. Pack, count and apply are checked separately:
// the packed words and the votes exactly, the master weights to fp32 rounding.
#include "../../optim/sign_vote.cuh"
#include "dev_common.cuh"

static int sign_of(float x) { return (x > 0.0f) - (x < 0.0f); }

int main(int argc, char** argv) {
    DEV_SKIP_WITHOUT_DEVICE("sign_vote.cu");
    const int R = 3;
    const size_t n = DEV_SIZE(124475904, 100003); // d12's parameters (emulated: a ragged tail)
    const size_t W = sign_vote_words(n);
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

    // CPU reference: momentum, signs, Byzantine rank 0, the vote, the update
    std::vector<std::vector<uint32_t>> words_ref(R, std::vector<uint32_t>(W, 0));
    std::vector<std::vector<float>> m_ref = m0;
    std::vector<int> vote_ref(n);
    for (size_t i = 0; i < n; i++) {
        int sum = 0;
        for (int r = 0; r < R; r++) {
            m_ref[r][i] = beta * m_ref[r][i] + (1.0f - beta) * (g[r][i] * scale);
            const int s = (r == 0 ? -1 : 1) * sign_of(m_ref[r][i]);
            if (s > 0) words_ref[r][2 * (i / 32)] |= 1u << (i % 32);
            if (s < 0) words_ref[r][2 * (i / 32) + 1] |= 1u << (i % 32);
            sum += s;
        }
        vote_ref[i] = (sum > 0) - (sum < 0);
    }
    std::vector<float> master_ref = master0;
    for (size_t i = 0; i < n; i++) {
        const int k = tensor_of(i);
        master_ref[i] -= lr[k] * wd[k] * master_ref[i];
        master_ref[i] -= lr[k] * (float)vote_ref[i];
    }
    size_t ties = 0;
    for (int v : vote_ref) ties += v == 0;

    floatX* d_grads[R];
    float* d_m[R];
    for (int r = 0; r < R; r++) d_grads[r] = upload(g[r]), d_m[r] = device_alloc<float>(n);
    uint32_t* d_words = device_alloc<uint32_t>(R * W);
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
    std::vector<DevVersion> versions = {
        {1, "pack_count_apply",
         [&] {
             for (int r = 0; r < R; r++) {
                 cudaCheck(cudaMemcpy(d_m[r], m0[r].data(), n * sizeof(float), cudaMemcpyHostToDevice));
                 sign_vote_pack(d_words + r * W, d_grads[r], d_scale, table_for(d_m[r]), n, true, r == 0);
             }
             std::vector<uint32_t> words(R * W);
             cudaCheck(cudaMemcpy(words.data(), d_words, words.size() * sizeof(uint32_t), cudaMemcpyDeviceToHost));
             size_t bad = 0;
             for (int r = 0; r < R; r++)
                 for (size_t w = 0; w < W; w++) bad += words[r * W + w] != words_ref[r][w];
             test_expect(bad == 0, "sign_vote/pack", (std::to_string(bad) + " packed words differ").c_str());
             const std::vector<float> m1 = download_f32(d_m[1], n);
             check_close("sign_vote/signum_momentum", m1.data(), m_ref[1].data(), n, 1e-6);

             sign_vote_count(d_vote, d_words, R, n);
             std::vector<int8_t> vote(n);
             cudaCheck(cudaMemcpy(vote.data(), d_vote, n, cudaMemcpyDeviceToHost));
             size_t wrong = 0;
             for (size_t i = 0; i < n; i++) wrong += vote[i] != vote_ref[i];
             test_expect(wrong == 0 && ties > 0, "sign_vote/count",
                         (std::to_string(wrong) + " votes differ, " + std::to_string(ties) + " ties").c_str());

             cudaCheck(cudaMemcpy(d_master, master0.data(), n * sizeof(float), cudaMemcpyHostToDevice));
             sign_vote_apply(d_master, d_params, d_vote, table_for(nullptr), n, 7);
             const std::vector<float> master = download_f32(d_master, n);
             check_close("sign_vote/apply", master.data(), master_ref.data(), n, 1e-6);
         },
         [&] {
             sign_vote_pack(d_words, d_grads[0], d_scale, table_for(d_m[0]), n, true, false);
             sign_vote_count(d_vote, d_words, R, n);
             sign_vote_apply(d_master, d_params, d_vote, table_for(nullptr), n, 7);
         },
         (double)n * (sizeof(floatX) + 8 + R / 4.0 + 1 + 1 + 8 + sizeof(floatX))},
    };
    return dev_main("sign_vote.cu", argc, argv, versions);
}
