// Per-group update norms on the GPU (the train records' "update_norm", optim/param_groups.h's
// add_update_sq_per_group on the CPU): before the step the fp32 master weights this rank
// holds are copied aside (one device-to-device copy), after it every group's sum of squares of
// (after - before) is reduced over the elements this rank updates (GpuOptimizer::owned_pieces:
// its -z 1 shard, its Muon layers, or everything; elements every rank updates count on rank
// 0 only), and the caller sums the five values over the ranks. Deterministic: fixed grids,
// fp32 block partials summed in double on the host in a fixed order.
// Cost: 4 bytes of device memory per master weight this rank holds, and per step one copy and
// one read of them twice (about 3x the master weights' bytes; a fused element-wise step moves
// 12-28 bytes per parameter), so a few percent of the optimizer step, far less of the whole step.
#pragma once
#include <vector>

#include "../kernels/common.cuh"
#include "gpu_optimizer.cuh"

constexpr int UPDATE_NORM_BLOCKS = 64, UPDATE_NORM_THREADS = 256;

// partial[b]: block b's sum of (after[i] - before[i])^2 over its grid-stride share of n.
__global__ void update_sq_partial_kernel(float* partial, const float* after, const float* before, size_t n) {
    float s = 0.0f;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const float d = after[i] - before[i];
        s += d * d;
    }
    s = block_sum(s);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

class GpuUpdateNorms {
public:
    // count: the master weights this rank holds (GPT2Cuda::master_count).
    explicit GpuUpdateNorms(size_t count) : count_(count) { cudaCheck(cudaMalloc(&before_, count_ * sizeof(float))); }
    ~GpuUpdateNorms() {
        cudaFree(partial_);
        cudaFree(before_);
    }
    GpuUpdateNorms(const GpuUpdateNorms&) = delete;
    GpuUpdateNorms& operator=(const GpuUpdateNorms&) = delete;
    static size_t device_bytes(size_t count) { return count * sizeof(float); }

    void before_step(const float* master) {
        cudaCheck(cudaMemcpyAsync(before_, master, count_ * sizeof(float), cudaMemcpyDeviceToDevice));
    }
    // This rank's share of every group's sum of squares (indexed by OptimGroup); master holds
    // flat elements [master_begin, master_begin + count).
    void after_step(const GpuOptimizer& opt, const float* master, size_t master_begin, int rank, double (&sq)[NUM_OPTIM_GROUPS]) {
        struct Range { int group; size_t at, n; };
        std::vector<Range> ranges;
        for (size_t k = 0; k < opt.groups().size(); k++) {
            const ParamGroup& g = opt.groups()[k];
            for (const OwnedPiece& p : opt.owned_pieces(k))
                if (p.owner == rank || (p.owner < 0 && rank == 0))
                    ranges.push_back({(int)g.group, g.tensor.offset + p.begin - master_begin, p.end - p.begin});
        }
        const size_t need = ranges.size() * UPDATE_NORM_BLOCKS;
        if (need > partial_floats_) {
            cudaFree(partial_);
            cudaCheck(cudaMalloc(&partial_, need * sizeof(float)));
            partial_floats_ = need;
        }
        for (size_t j = 0; j < ranges.size(); j++)
            if (ranges[j].n > 0) {
                update_sq_partial_kernel<<<UPDATE_NORM_BLOCKS, UPDATE_NORM_THREADS>>>(partial_ + j * UPDATE_NORM_BLOCKS, master + ranges[j].at,
                                                                                      before_ + ranges[j].at, ranges[j].n);
                cudaCheckLaunch();
            } else {
                cudaCheck(cudaMemset(partial_ + j * UPDATE_NORM_BLOCKS, 0, UPDATE_NORM_BLOCKS * sizeof(float)));
            }
        std::vector<float> host(need);
        if (need > 0) cudaCheck(cudaMemcpy(host.data(), partial_, need * sizeof(float), cudaMemcpyDeviceToHost));
        for (size_t j = 0; j < ranges.size(); j++)
            for (int b = 0; b < UPDATE_NORM_BLOCKS; b++) sq[ranges[j].group] += host[j * UPDATE_NORM_BLOCKS + b];
    }

private:
    size_t count_;
    float* before_ = nullptr;
    float* partial_ = nullptr;
    size_t partial_floats_ = 0;
};
