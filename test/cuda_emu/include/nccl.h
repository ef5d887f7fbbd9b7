// Stand-in for NCCL's nccl.h under the CPU emulator (test tool): the collectives train_gpt2cu
// uses, implemented over MPI_COMM_WORLD on host memory ("device" memory is host memory here).
// Only under mpirun (the communicator is MPI_COMM_WORLD; the unique id is not used), built with
// USE_MPI; without MPI only a communicator of one rank exists. Reductions gather every rank's
// buffer and add in rank order in fp64 (bf16 rounded once), so every rank gets the same bits.
// Every call is blocking; group calls are no-ops (all ranks issue the same sequence).
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "cuda_bf16.h"
#include "cuda_runtime.h"
#ifdef USE_MPI
#include <mpi.h>
#endif

typedef enum { ncclSuccess = 0, ncclUnhandledCudaError = 1, ncclSystemError = 2, ncclInternalError = 3, ncclInvalidArgument = 4,
               ncclInvalidUsage = 5, ncclRemoteError = 6, ncclInProgress = 7 } ncclResult_t;
typedef enum { ncclInt8 = 0, ncclUint8 = 1, ncclInt32 = 2, ncclUint32 = 3, ncclInt64 = 4, ncclUint64 = 5, ncclFloat16 = 6,
               ncclFloat32 = 7, ncclFloat64 = 8, ncclBfloat16 = 9 } ncclDataType_t;
typedef enum { ncclSum = 0, ncclProd = 1, ncclMax = 2, ncclMin = 3, ncclAvg = 4 } ncclRedOp_t;
typedef struct { char internal[128]; } ncclUniqueId;
struct ncclEmuComm { int rank, size; };
typedef ncclEmuComm* ncclComm_t;

namespace nccl_emu {
inline size_t dtype_bytes(ncclDataType_t t) {
    switch (t) {
        case ncclInt8: case ncclUint8: return 1;
        case ncclFloat16: case ncclBfloat16: return 2;
        case ncclInt64: case ncclUint64: case ncclFloat64: return 8;
        default: return 4;
    }
}
inline double load(const void* p, size_t i, ncclDataType_t t) {
    switch (t) {
        case ncclInt8: return ((const int8_t*)p)[i];
        case ncclUint8: return ((const uint8_t*)p)[i];
        case ncclInt32: return ((const int32_t*)p)[i];
        case ncclUint32: return ((const uint32_t*)p)[i];
        case ncclInt64: return (double)((const int64_t*)p)[i];
        case ncclUint64: return (double)((const uint64_t*)p)[i];
        case ncclBfloat16: return __bfloat162float(((const __nv_bfloat16*)p)[i]);
        case ncclFloat64: return ((const double*)p)[i];
        default: return ((const float*)p)[i];
    }
}
inline void store(void* p, size_t i, double v, ncclDataType_t t) {
    switch (t) {
        case ncclInt8: ((int8_t*)p)[i] = (int8_t)v; break;
        case ncclUint8: ((uint8_t*)p)[i] = (uint8_t)v; break;
        case ncclInt32: ((int32_t*)p)[i] = (int32_t)v; break;
        case ncclUint32: ((uint32_t*)p)[i] = (uint32_t)v; break;
        case ncclInt64: ((int64_t*)p)[i] = (int64_t)v; break;
        case ncclUint64: ((uint64_t*)p)[i] = (uint64_t)v; break;
        case ncclBfloat16: ((__nv_bfloat16*)p)[i] = __float2bfloat16((float)v); break;
        case ncclFloat64: ((double*)p)[i] = v; break;
        default: ((float*)p)[i] = (float)v; break;
    }
}
// all[r * bytes ..] = rank r's send (count elements).
inline std::vector<char> gather_all(const void* send, size_t bytes, ncclComm_t c) {
    std::vector<char> all(bytes * c->size);
#ifdef USE_MPI
    if (c->size > 1) {
        MPI_Allgather(send, (int)bytes, MPI_BYTE, all.data(), (int)bytes, MPI_BYTE, MPI_COMM_WORLD);
        return all;
    }
#endif
    memcpy(all.data(), send, bytes);
    return all;
}
// recv[0..count) = op over ranks of all[r][first .. first + count).
inline void reduce_into(void* recv, const std::vector<char>& all, size_t total, size_t first, size_t count,
                        ncclDataType_t t, ncclRedOp_t op, int size) {
    const size_t stride = total * dtype_bytes(t);
    for (size_t i = 0; i < count; i++) {
        double acc = load(all.data(), first + i, t);
        for (int r = 1; r < size; r++) {
            const double v = load(all.data() + r * stride, first + i, t);
            acc = op == ncclMax ? (v > acc ? v : acc) : op == ncclMin ? (v < acc ? v : acc) : acc + v;
        }
        if (op == ncclAvg) acc /= size;
        store(recv, i, acc, t);
    }
}
} // namespace nccl_emu

inline const char* ncclGetErrorString(ncclResult_t r) {
    return r == ncclSuccess ? "no error" : r == ncclInvalidUsage ? "invalid usage (emulated NCCL)" : "emulated NCCL error";
}
inline ncclResult_t ncclGetUniqueId(ncclUniqueId* id) {
    memset(id, 0, sizeof *id);
    return ncclSuccess;
}
inline ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId, int rank) {
    int mpi_size = 1;
#ifdef USE_MPI
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (initialized) MPI_Comm_size(MPI_COMM_WORLD, &mpi_size);
#endif
    if (nranks != mpi_size) {
        fprintf(stderr, "emulated NCCL: %d ranks need mpirun -np %d (the stand-in runs over MPI_COMM_WORLD)\n", nranks, nranks);
        return ncclInvalidUsage;
    }
    *comm = new ncclEmuComm{rank, nranks};
    return ncclSuccess;
}
inline ncclResult_t ncclCommDestroy(ncclComm_t comm) { delete comm; return ncclSuccess; }
inline ncclResult_t ncclCommAbort(ncclComm_t comm) {
#ifdef USE_MPI
    if (comm && comm->size > 1) MPI_Abort(MPI_COMM_WORLD, 1);
#endif
    delete comm;
    return ncclSuccess;
}
inline ncclResult_t ncclCommGetAsyncError(ncclComm_t, ncclResult_t* r) { *r = ncclSuccess; return ncclSuccess; }
inline ncclResult_t ncclGroupStart() { return ncclSuccess; }
inline ncclResult_t ncclGroupEnd() { return ncclSuccess; }

inline ncclResult_t ncclAllReduce(const void* send, void* recv, size_t count, ncclDataType_t t, ncclRedOp_t op, ncclComm_t c,
                                  cudaStream_t) {
    const std::vector<char> all = nccl_emu::gather_all(send, count * nccl_emu::dtype_bytes(t), c);
    nccl_emu::reduce_into(recv, all, count, 0, count, t, op, c->size);
    return ncclSuccess;
}
inline ncclResult_t ncclReduceScatter(const void* send, void* recv, size_t count, ncclDataType_t t, ncclRedOp_t op,
                                      ncclComm_t c, cudaStream_t) {
    const size_t total = count * c->size;
    const std::vector<char> all = nccl_emu::gather_all(send, total * nccl_emu::dtype_bytes(t), c);
    nccl_emu::reduce_into(recv, all, total, (size_t)c->rank * count, count, t, op, c->size);
    return ncclSuccess;
}
inline ncclResult_t ncclAllGather(const void* send, void* recv, size_t count, ncclDataType_t t, ncclComm_t c, cudaStream_t) {
    const size_t bytes = count * nccl_emu::dtype_bytes(t);
    const std::vector<char> all = nccl_emu::gather_all(send, bytes, c);
    memcpy(recv, all.data(), all.size());
    return ncclSuccess;
}
inline ncclResult_t ncclBroadcast(const void* send, void* recv, size_t count, ncclDataType_t t, int root, ncclComm_t c,
                                  cudaStream_t) {
    const size_t bytes = count * nccl_emu::dtype_bytes(t);
    if (send != recv && c->rank == root) memmove(recv, send, bytes);
#ifdef USE_MPI
    if (c->size > 1) MPI_Bcast(recv, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD);
#endif
    return ncclSuccess;
}
