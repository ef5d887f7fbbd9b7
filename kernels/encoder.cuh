// Token + position embedding. Forward: out[n,:] = wte[inp[n],:] + wpe[n % T,:].
// Backward is deterministic without float atomics:
//   dwpe[t,c] += sum over b of dout[b,t,c]      one thread per (t,c), b ascending
//   dwte[v,c] += sum over positions with token v  the host groups positions by token
//     (counting sort, positions ascending inside a bucket); one block per bucket of at most
//     ENCODER_ROWS_PER_CHUNK rows sums it in order; a larger bucket is split into chunks of
//     that many rows whose fp32 partial sums a second kernel adds in chunk order.
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

// Rows of one token a single block sums before its bucket is split: a frequent token (about
// 10% of Tiny Shakespeare is "\n": ~6.5k rows of a 64 x 1024 batch) would otherwise serialize
// its whole bucket in one block.
constexpr int ENCODER_ROWS_PER_CHUNK = 64;

// chunk k covers positions[starts[k] .. starts[k+1]), which all hold token tokens[k]; ascending
// positions. slots[k] < 0: the token's only chunk, added to its dwte row directly; else the
// chunk's sum goes to partial row slots[k], and the reduce kernel adds the token's partials.
__global__ void encoder_backward_wte_kernel(floatX* dwte, float* partial, const floatX* dout, const int* tokens,
                                            const int* starts, const int* slots, const int* positions, int C) {
    const int k = blockIdx.x;
    const int begin = starts[k], end = starts[k + 1], slot = slots[k];
    floatX* row = dwte + (size_t)tokens[k] * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float sum = slot < 0 ? to_float(row[c]) : 0.0f;
        for (int i = begin; i < end; i++) sum += to_float(dout[(size_t)positions[i] * C + c]);
        if (slot < 0) row[c] = from_float<floatX>(sum);
        else partial[(size_t)slot * C + c] = sum;
    }
}

// split token j: dwte[split_tokens[j]] += partial rows split_slots[j] .. split_slots[j+1], in order.
__global__ void encoder_backward_wte_reduce_kernel(floatX* dwte, const float* partial, const int* split_tokens,
                                                   const int* split_slots, int C) {
    const int j = blockIdx.x;
    floatX* row = dwte + (size_t)split_tokens[j] * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float sum = 0.0f;
        for (int s = split_slots[j]; s < split_slots[j + 1]; s++) sum += partial[(size_t)s * C + c];
        row[c] = from_float<floatX>(to_float(row[c]) + sum);
    }
}

// Host-side grouping of positions by token (counting sort), buckets over rows_per_chunk split
// into chunks, and the device copies. The same inputs give the same chunks and the same
// summation order on every run: deterministic.
struct EncoderBuckets {
    int rows_per_chunk = ENCODER_ROWS_PER_CHUNK;
    int num_chunks = 0, num_split = 0;
    int *d_tokens = nullptr, *d_starts = nullptr, *d_slots = nullptr; // per chunk (max_chunks, +1 for starts)
    int* d_positions = nullptr;                                       // (N)
    int *d_split_tokens = nullptr, *d_split_slots = nullptr;          // per split token (max_slots, +1)
    float* d_partial = nullptr;                                       // (max_slots, C)
    std::vector<int> tokens, starts, slots, positions, split_tokens, split_slots;

    // A bucket of n > R rows gives ceil(n/R) <= 2n/R chunks (each its slot): <= 2N/R slots,
    // and at most N + 2N/R chunks in all.
    static int max_slots(int N, int rows) { return 2 * N / rows + 1; }
    static int max_chunks(int N, int rows) { return N + max_slots(N, rows); }
    static size_t device_bytes(int N, int C, int rows = ENCODER_ROWS_PER_CHUNK) {
        const size_t chunks = max_chunks(N, rows), slots = max_slots(N, rows);
        return (3 * chunks + 1 + N + 2 * slots + 1) * sizeof(int) + slots * C * sizeof(float);
    }
    void allocate(int N, int C, int rows = ENCODER_ROWS_PER_CHUNK) {
        if (rows < 1) fail_runtime("EncoderBuckets: rows per chunk must be >= 1, got %d", rows);
        rows_per_chunk = rows;
        const size_t chunks = max_chunks(N, rows), slots = max_slots(N, rows);
        cudaCheck(cudaMalloc(&d_tokens, chunks * sizeof(int)));
        cudaCheck(cudaMalloc(&d_starts, (chunks + 1) * sizeof(int)));
        cudaCheck(cudaMalloc(&d_slots, chunks * sizeof(int)));
        cudaCheck(cudaMalloc(&d_positions, N * sizeof(int)));
        cudaCheck(cudaMalloc(&d_split_tokens, slots * sizeof(int)));
        cudaCheck(cudaMalloc(&d_split_slots, (slots + 1) * sizeof(int)));
        cudaCheck(cudaMalloc(&d_partial, slots * C * sizeof(float)));
    }
    void release() {
        for (int* p : {d_tokens, d_starts, d_slots, d_positions, d_split_tokens, d_split_slots}) cudaCheck(cudaFree(p));
        cudaCheck(cudaFree(d_partial));
        d_tokens = d_starts = d_slots = d_positions = d_split_tokens = d_split_slots = nullptr;
        d_partial = nullptr;
    }
    // host_inputs: the N token ids of the batch the backward pass belongs to.
    void build(const int* host_inputs, int N, int V) {
        std::vector<int> count(V + 1, 0);
        for (int n = 0; n < N; n++) count[host_inputs[n] + 1]++;
        for (int v = 0; v < V; v++) count[v + 1] += count[v];
        positions.assign(N, 0);
        std::vector<int> fill(count.begin(), count.end() - 1);
        for (int n = 0; n < N; n++) positions[fill[host_inputs[n]]++] = n; // ascending n in each bucket
        tokens.clear(), starts.clear(), slots.clear(), split_tokens.clear(), split_slots.clear();
        int slot = 0;
        for (int v = 0; v < V; v++) {
            const int begin = count[v], end = count[v + 1];
            if (end == begin) continue;
            if (end - begin <= rows_per_chunk) {
                tokens.push_back(v), starts.push_back(begin), slots.push_back(-1);
                continue;
            }
            split_tokens.push_back(v), split_slots.push_back(slot);
            for (int b = begin; b < end; b += rows_per_chunk) tokens.push_back(v), starts.push_back(b), slots.push_back(slot++);
        }
        starts.push_back(N);
        split_slots.push_back(slot);
        num_chunks = (int)tokens.size();
        num_split = (int)split_tokens.size();
        cudaCheck(cudaMemcpy(d_tokens, tokens.data(), num_chunks * sizeof(int), cudaMemcpyHostToDevice));
        cudaCheck(cudaMemcpy(d_starts, starts.data(), (num_chunks + 1) * sizeof(int), cudaMemcpyHostToDevice));
        cudaCheck(cudaMemcpy(d_slots, slots.data(), num_chunks * sizeof(int), cudaMemcpyHostToDevice));
        cudaCheck(cudaMemcpy(d_positions, positions.data(), N * sizeof(int), cudaMemcpyHostToDevice));
        if (num_split > 0) {
            cudaCheck(cudaMemcpy(d_split_tokens, split_tokens.data(), num_split * sizeof(int), cudaMemcpyHostToDevice));
            cudaCheck(cudaMemcpy(d_split_slots, split_slots.data(), (num_split + 1) * sizeof(int), cudaMemcpyHostToDevice));
        }
    }
};

// Accumulates into dwte, dwpe. buckets must have been built from this batch's inputs.
inline void encoder_backward(floatX* dwte, floatX* dwpe, const floatX* dout, const EncoderBuckets& buckets, int B,
                             int T, int C) {
    encoder_backward_wpe_kernel<<<ceil_div((long long)T * C, 256), 256>>>(dwpe, dout, B, T, C);
    cudaCheckLaunch();
    if (buckets.num_chunks > 0) {
        encoder_backward_wte_kernel<<<buckets.num_chunks, 256>>>(dwte, buckets.d_partial, dout, buckets.d_tokens,
                                                                 buckets.d_starts, buckets.d_slots, buckets.d_positions, C);
        cudaCheckLaunch();
    }
    if (buckets.num_split > 0) {
        encoder_backward_wte_reduce_kernel<<<buckets.num_split, 256>>>(dwte, buckets.d_partial, buckets.d_split_tokens,
                                                                       buckets.d_split_slots, C);
        cudaCheckLaunch();
    }
}
