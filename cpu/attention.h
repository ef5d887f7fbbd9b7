// Causal multi-head self-attention.
// qkv (B,T,3C) holds [q | k | v] along the last dim; head h uses channels h*hs..(h+1)*hs-1
// of each, hs = C/NH. preatt and att are (B,NH,T,T): the scaled scores q.k/sqrt(hs) and
// their softmax over t2 <= t; masked entries (t2 > t) are 0 in both. out is (B,T,C).
// Threads own (batch, head) pairs, which touch disjoint data, so results are deterministic.
#pragma once
#include <cmath>
#include <cstddef>

inline void attention_forward_cpu(float* out, float* preatt, float* att, const float* qkv, int B, int T, int C,
                                  int NH) {
    const int hs = C / NH;
    const float scale = 1.0f / std::sqrt((float)hs);
    const size_t C3 = (size_t)3 * C;
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            const float* head = qkv + (size_t)b * T * C3 + (size_t)h * hs; // q of (b, t=0, h)
            for (int t = 0; t < T; t++) {
                const float* q = head + t * C3;
                float* pre = preatt + (((size_t)b * NH + h) * T + t) * T;
                float* a = att + (((size_t)b * NH + h) * T + t) * T;
                float maxv = -INFINITY;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float* k = head + t2 * C3 + C;
                    float dot = 0.0f;
                    for (int i = 0; i < hs; i++) dot += q[i] * k[i];
                    pre[t2] = dot * scale;
                    maxv = std::fmax(maxv, pre[t2]);
                }
                double sum = 0;
                for (int t2 = 0; t2 <= t; t2++) {
                    a[t2] = std::exp(pre[t2] - maxv);
                    sum += a[t2];
                }
                const float inv = (float)(1.0 / sum);
                for (int t2 = 0; t2 <= t; t2++) a[t2] *= inv;
                for (int t2 = t + 1; t2 < T; t2++) pre[t2] = a[t2] = 0.0f;

                float* o = out + ((size_t)b * T + t) * C + (size_t)h * hs;
                for (int i = 0; i < hs; i++) o[i] = 0.0f;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float* v = head + t2 * C3 + 2 * C;
                    for (int i = 0; i < hs; i++) o[i] += a[t2] * v[i];
                }
            }
        }
    }
}

// dqkv accumulates; dpreatt and datt are scratch (overwritten, masked entries 0).
//   datt = dout . v,  dv += att * dout,  dpreatt = att * (datt - sum_t2 att * datt),
//   dq += scale * dpreatt @ k,  dk += scale * dpreatt^T q.
inline void attention_backward_cpu(float* dqkv, float* dpreatt, float* datt, const float* dout, const float* qkv,
                                   const float* att, int B, int T, int C, int NH) {
    const int hs = C / NH;
    const float scale = 1.0f / std::sqrt((float)hs);
    const size_t C3 = (size_t)3 * C;
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            const float* head = qkv + (size_t)b * T * C3 + (size_t)h * hs;
            float* dhead = dqkv + (size_t)b * T * C3 + (size_t)h * hs;
            for (int t = 0; t < T; t++) {
                const size_t row = (((size_t)b * NH + h) * T + t) * T;
                const float* a = att + row;
                float* da = datt + row;
                float* dp = dpreatt + row;
                const float* d = dout + ((size_t)b * T + t) * C + (size_t)h * hs;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float* v = head + t2 * C3 + 2 * C;
                    float* dv = dhead + t2 * C3 + 2 * C;
                    float dot = 0.0f;
                    for (int i = 0; i < hs; i++) {
                        dot += d[i] * v[i];
                        dv[i] += a[t2] * d[i];
                    }
                    da[t2] = dot;
                }
                double weighted = 0;
                for (int t2 = 0; t2 <= t; t2++) weighted += (double)a[t2] * da[t2];
                for (int t2 = 0; t2 <= t; t2++) dp[t2] = a[t2] * (da[t2] - (float)weighted);
                for (int t2 = t + 1; t2 < T; t2++) da[t2] = dp[t2] = 0.0f;

                const float* q = head + t * C3;
                float* dq = dhead + t * C3;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float* k = head + t2 * C3 + C;
                    float* dk = dhead + t2 * C3 + C;
                    const float g = dp[t2] * scale;
                    for (int i = 0; i < hs; i++) {
                        dq[i] += g * k[i];
                        dk[i] += g * q[i];
                    }
                }
            }
        }
    }
}
