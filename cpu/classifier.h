// Softmax cross-entropy over the first V of Vp logit columns; the padded columns
// V..Vp-1 are not part of the vocabulary: probability 0, gradient 0.
#pragma once
#include <cmath>
#include <cstddef>

#include "../common/utils.h"
#include "vector_exp.h"

// losses(N), probs(N,Vp); returns the mean loss (summed in double, in row order).
inline float crossentropy_forward_cpu(float* losses, float* probs, const float* logits, const int* targets, int N,
                                      int V, int Vp) {
    for (int n = 0; n < N; n++)
        if (targets[n] < 0 || targets[n] >= V) fail_runtime("target %d at position %d is outside the vocabulary [0, %d)", targets[n], n, V);
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const float* l = logits + (size_t)n * Vp;
        float* p = probs + (size_t)n * Vp;
        float maxv = -INFINITY;
        for (int v = 0; v < V; v++) maxv = std::fmax(maxv, l[v]);
        double sum = 0;
        for (int v = 0; v < V; v++) {
            p[v] = std::exp(l[v] - maxv);
            sum += p[v];
        }
        const float inv = (float)(1.0 / sum);
        for (int v = 0; v < V; v++) p[v] *= inv;
        for (int v = V; v < Vp; v++) p[v] = 0.0f;
        // -log softmax[target] = log(sum) + max - logit[target]: exact even when the probability underflows
        losses[n] = (float)(std::log(sum) + (double)maxv - (double)l[targets[n]]);
    }
    double total = 0;
    for (int n = 0; n < N; n++) total += losses[n];
    return (float)(total / N);
}

// dlogits(N,Vp) += (probs - onehot(target)) * dloss over the V real columns.
inline void crossentropy_backward_cpu(float* dlogits, const float* probs, const int* targets, float dloss, int N, int V,
                                      int Vp) {
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const float* p = probs + (size_t)n * Vp;
        float* d = dlogits + (size_t)n * Vp;
        for (int v = 0; v < V; v++) d[v] += (p[v] - (v == targets[n] ? 1.0f : 0.0f)) * dloss;
    }
}

// Fused classifier (what the trainer uses): no (N,Vp) probability tensor. The forward keeps
// each row's max logit and 1/sum(exp(logit - max)); the backward recomputes the
// probabilities from them (the same vector_exp values the forward summed) and writes dlogits
// over the logits in place. vector_exp instead of std::exp and SIMD sums make it agree with
// crossentropy_forward_cpu to float rounding, not bit for bit (test/test_gradcheck.cpp).
// losses(N), row_max(N), row_inv_sum(N); returns the mean loss (summed in double, in row order).
inline float crossentropy_forward_fused_cpu(float* losses, float* row_max, float* row_inv_sum, const float* logits,
                                            const int* targets, int N, int V, int Vp) {
    for (int n = 0; n < N; n++)
        if (targets[n] < 0 || targets[n] >= V) fail_runtime("target %d at position %d is outside the vocabulary [0, %d)", targets[n], n, V);
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const float* l = logits + (size_t)n * Vp;
        float maxv = -INFINITY;
#pragma omp simd reduction(max : maxv)
        for (int v = 0; v < V; v++) maxv = l[v] > maxv ? l[v] : maxv;
        double sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int v = 0; v < V; v++) sum += vector_exp(l[v] - maxv);
        row_max[n] = maxv;
        row_inv_sum[n] = (float)(1.0 / sum);
        losses[n] = (float)(std::log(sum) + (double)maxv - (double)l[targets[n]]);
    }
    double total = 0;
    for (int n = 0; n < N; n++) total += losses[n];
    return (float)(total / N);
}

// logits(N,Vp) becomes dlogits = (softmax - onehot(target)) * dloss; padded columns 0.
inline void crossentropy_backward_fused_cpu(float* logits, const float* row_max, const float* row_inv_sum,
                                            const int* targets, float dloss, int N, int V, int Vp) {
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        float* l = logits + (size_t)n * Vp;
        const float maxv = row_max[n], scale = row_inv_sum[n] * dloss;
#pragma omp simd
        for (int v = 0; v < V; v++) l[v] = vector_exp(l[v] - maxv) * scale;
        l[targets[n]] -= dloss;
        for (int v = V; v < Vp; v++) l[v] = 0.0f;
    }
}
