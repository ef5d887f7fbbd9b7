// Token + position embedding. Forward: out[n,:] = wte[inp[n],:] + wpe[n % T,:].
// Backward is deterministic without float atomics:
//   dwpe[t,c] += sum over b of dout[b,t,c]      one thread per (t,c), b ascending
//   dwte[v,c] += sum over positions with token v  the host groups positions by token
//     (counting sort, positions ascending inside a bucket); one block per distinct token
//     sums its bucket in order.
#pragma once
#include <vector>

#include "common.cuh"

__global__ void encoder_forward_kernel(floatX* out, const int* inp, const floatX* wte, const floatX* wpe, int N, int T,
                                       int C) {
    const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)N * C) return;
    const int n = (int)(idx / C), c = (int)(idx % C);
    const float v = to_float(wte[(size_t)inp[n] * C + c]) + to_float(wpe[(size_t)(n % T) * C + c]);
    out[idx] = from_float<floatX>(v);
}

inline void encoder_forward(floatX* out, const int* inp, const floatX* wte, const floatX* wpe, int B, int T, int C) {
    const long long total = (long long)B * T * C;
    encoder_forward_kernel<<<ceil_div(total, 256), 256>>>(out, inp, wte, wpe, B * T, T, C);
    cudaCheckLaunch();
}

__global__ void encoder_backward_wpe_kernel(floatX* dwpe, const floatX* dout, int B, int T, int C) {
    const int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= T * C) return;
    float sum = to_float(dwpe[idx]);
    for (int b = 0; b < B; b++) sum += to_float(dout[(size_t)b * T * C + idx]);
    dwpe[idx] = from_float<floatX>(sum);
}

// bucket k covers positions[starts[k] .. starts[k+1]) which all hold token tokens[k].
__global__ void encoder_backward_wte_kernel(floatX* dwte, const floatX* dout, const int* tokens, const int* starts,
                                            const int* positions, int C) {
    const int k = blockIdx.x;
    const int begin = starts[k], end = starts[k + 1];
    floatX* row = dwte + (size_t)tokens[k] * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float sum = to_float(row[c]);
        for (int i = begin; i < end; i++) sum += to_float(dout[(size_t)positions[i] * C + c]);
        row[c] = from_float<floatX>(sum);
    }
}

// Host-side grouping of positions by token, and its device copy.
struct EncoderBuckets {
    int num_buckets = 0;
    int* d_tokens = nullptr;    // (N) distinct tokens, first num_buckets used
    int* d_starts = nullptr;    // (N+1)
    int* d_positions = nullptr; // (N)
    std::vector<int> tokens, starts, positions;

    void allocate(int N) {
        cudaCheck(cudaMalloc(&d_tokens, N * sizeof(int)));
        cudaCheck(cudaMalloc(&d_starts, (N + 1) * sizeof(int)));
        cudaCheck(cudaMalloc(&d_positions, N * sizeof(int)));
    }
    void release() {
        cudaCheck(cudaFree(d_tokens));
        cudaCheck(cudaFree(d_starts));
        cudaCheck(cudaFree(d_positions));
        d_tokens = d_starts = d_positions = nullptr;
    }
    // host_inputs: the N token ids of the batch the backward pass belongs to.
    void build(const int* host_inputs, int N, int V) {
        std::vector<int> count(V + 1, 0);
        for (int n = 0; n < N; n++) count[host_inputs[n] + 1]++;
        for (int v = 0; v < V; v++) count[v + 1] += count[v];
        positions.assign(N, 0);
        std::vector<int> fill(count.begin(), count.end() - 1);
        for (int n = 0; n < N; n++) positions[fill[host_inputs[n]]++] = n; // ascending n in each bucket
        tokens.clear();
        starts.clear();
        for (int v = 0; v < V; v++)
            if (count[v + 1] > count[v]) { tokens.push_back(v); starts.push_back(count[v]); }
        starts.push_back(N);
        num_buckets = (int)tokens.size();
        cudaCheck(cudaMemcpy(d_tokens, tokens.data(), num_buckets * sizeof(int), cudaMemcpyHostToDevice));
        cudaCheck(cudaMemcpy(d_starts, starts.data(), (num_buckets + 1) * sizeof(int), cudaMemcpyHostToDevice));
        cudaCheck(cudaMemcpy(d_positions, positions.data(), N * sizeof(int), cudaMemcpyHostToDevice));
    }
};

// Accumulates into dwte, dwpe. buckets must have been built from this batch's inputs.
inline void encoder_backward(floatX* dwte, floatX* dwpe, const floatX* dout, const EncoderBuckets& buckets, int B,
                             int T, int C) {
    encoder_backward_wpe_kernel<<<ceil_div((long long)T * C, 256), 256>>>(dwpe, dout, B, T, C);
    cudaCheckLaunch();
    if (buckets.num_buckets > 0) {
        encoder_backward_wte_kernel<<<buckets.num_buckets, 256>>>(dwte, dout, buckets.d_tokens, buckets.d_starts,
                                                                  buckets.d_positions, C);
        cudaCheckLaunch();
    }
}
