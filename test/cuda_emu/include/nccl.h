// Stand-in for NCCL's nccl.h under the CPU emulator (test tool): the collectives train_gpt2cu
// uses, on host memory ("device" memory is host memory here). Two transports:
//   under mpirun (MPI initialized with more than one process, built with USE_MPI): over
//     MPI_COMM_WORLD; the unique id is all zeros and not used.
//   otherwise (separate processes, train_gpt2cu -pi fs|tcp): a star of TCP connections on
//     127.0.0.1 through rank 0. ncclGetUniqueId (rank 0) listens on a free port and puts a random
//     token and the port in the id; ncclCommInitRank(Config) connects every rank to it (a wrong
//     token is refused), and init completes once all ranks joined.
// Reductions gather every rank's buffer and add in rank order in fp64 (bf16 rounded once), so
// every rank gets the same bits, on both transports. Collectives block the calling thread;
// group calls are no-ops (all ranks issue the same sequence).
// Non-blocking init (ncclConfig_t.blocking = 0): ncclCommInitRankConfig returns ncclInProgress
// and ncclCommGetAsyncError says ncclInProgress until every rank joined. ncclCommAbort wakes a
// blocked init or collective (which then returns ncclSystemError) and leaks the communicator
// (the caller exits anyway). Failure model of NCCL's shm/P2P transports: a dead peer is NOT
// noticed, so a collective waiting for it blocks until ncclCommAbort, and
// ncclCommGetAsyncError keeps saying ncclSuccess; only the trainer's watchdog ends the wait.
// Test hook: NCCL_EMU_HANG_COLLECTIVE=N makes this process's N-th collective (1-based) never
// complete (a hung transport) until ncclCommAbort.
#pragma once
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

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
// NCCL's config (the fields the trainer sets); NCCL_CONFIG_UNDEF_INT: NCCL's default (blocking).
#define NCCL_CONFIG_UNDEF_INT INT_MIN
typedef struct { size_t size; unsigned int magic, version; int blocking; } ncclConfig_t;
#define NCCL_CONFIG_INITIALIZER {sizeof(ncclConfig_t), 0xcafebeef, 0, NCCL_CONFIG_UNDEF_INT}
struct ncclEmuComm {
    int rank, size;
    bool sockets = false;          // false: MPI_COMM_WORLD
    uint64_t token = 0;            // sockets: the id's token
    int port = 0, listen_fd = -1;  // rank 0 listens at 127.0.0.1:port until all joined
    std::vector<int> fds;          // rank 0: fds[r] to rank r; other ranks: fds[0]
    int wake[2] = {-1, -1};        // ncclCommAbort writes here: every wait polls it
    std::atomic<int> state{0};     // ncclSuccess, ncclInProgress (init), or the init's error
    std::atomic<bool> aborted{false};
    std::thread init;              // non-blocking init
    long collectives = 0;          // for NCCL_EMU_HANG_COLLECTIVE
};
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
// ---- the socket transport (star through rank 0)
struct IdLayout { char magic[8]; uint64_t token; int32_t port; }; // in ncclUniqueId.internal
constexpr char kIdMagic[8] = {'E', 'M', 'U', 'N', 'C', 'C', 'L', '1'};
inline int& pending_listen_fd() { // rank 0's socket from ncclGetUniqueId, taken by its init
    static int fd = -1;
    return fd;
}
// Waits until fd is ready for `events`; false once the communicator is aborted.
inline bool wait_fd(ncclComm_t c, int fd, short events, int timeout_ms = -1) {
    for (;;) {
        if (c->aborted) return false;
        pollfd p[2] = {{fd, events, 0}, {c->wake[0], POLLIN, 0}};
        const int k = poll(p, 2, timeout_ms);
        if (c->aborted) return false;
        if (k > 0 || timeout_ms >= 0) return k > 0;
        if (k < 0 && errno != EINTR) return false;
    }
}
// A dead peer is not noticed (shm/P2P): wait for ncclCommAbort.
inline bool wait_for_abort(ncclComm_t c) {
    while (!c->aborted) {
        pollfd p{c->wake[0], POLLIN, 0};
        poll(&p, 1, -1);
    }
    return false;
}
// Whole transfers on non-blocking sockets; false only after ncclCommAbort.
inline bool send_bytes(ncclComm_t c, int fd, const void* p, size_t n) {
    const char* b = (const char*)p;
    while (n > 0) {
        const ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
        if (k > 0) { b += k, n -= (size_t)k; continue; }
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            if (!wait_fd(c, fd, POLLOUT)) return false;
            continue;
        }
        return wait_for_abort(c); // the peer is gone
    }
    return true;
}
inline bool recv_bytes(ncclComm_t c, int fd, void* p, size_t n) {
    char* b = (char*)p;
    while (n > 0) {
        const ssize_t k = recv(fd, b, n, 0);
        if (k > 0) { b += k, n -= (size_t)k; continue; }
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            if (!wait_fd(c, fd, POLLIN)) return false;
            continue;
        }
        return wait_for_abort(c); // EOF: the peer is gone
    }
    return true;
}
inline void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }
// Rank 0 accepts size-1 ranks that send {token, rank}, then acks each; rank r connects (retrying
// while nobody listens) and waits for the ack: init ends when every rank joined.
inline int socket_init(ncclComm_t c) {
    const int32_t ack = 1;
    if (c->rank == 0) {
        int joined = 1;
        while (joined < c->size) {
            if (!wait_fd(c, c->listen_fd, POLLIN)) return ncclSystemError;
            const int fd = accept(c->listen_fd, nullptr, nullptr);
            if (fd < 0) continue;
            set_nonblocking(fd);
            struct { uint64_t token; int32_t rank; } hello;
            if (!recv_bytes(c, fd, &hello, sizeof hello)) return ncclSystemError;
            if (hello.token != c->token || hello.rank <= 0 || hello.rank >= c->size || c->fds[hello.rank] >= 0) {
                close(fd); // another job's rank, or a stray connection
                continue;
            }
            c->fds[hello.rank] = fd;
            joined++;
        }
        close(c->listen_fd);
        c->listen_fd = -1;
        for (int r = 1; r < c->size; r++)
            if (!send_bytes(c, c->fds[r], &ack, sizeof ack)) return ncclSystemError;
        return ncclSuccess;
    }
    for (;;) {
        const int fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sa.sin_port = htons((uint16_t)c->port);
        if (fd >= 0 && connect(fd, (sockaddr*)&sa, sizeof sa) == 0) {
            set_nonblocking(fd);
            c->fds[0] = fd;
            break;
        }
        if (fd >= 0) close(fd);
        pollfd p{c->wake[0], POLLIN, 0};
        poll(&p, 1, 100); // rank 0 not listening (yet, or any more: then until ncclCommAbort)
        if (c->aborted) return ncclSystemError;
    }
    struct { uint64_t token; int32_t rank; } hello{c->token, c->rank};
    int32_t got = 0;
    if (!send_bytes(c, c->fds[0], &hello, sizeof hello) || !recv_bytes(c, c->fds[0], &got, sizeof got)) return ncclSystemError;
    return ncclSuccess;
}

// all[r * bytes ..] = rank r's send (count elements).
inline std::vector<char> gather_all(const void* send, size_t bytes, ncclComm_t c, bool* ok) {
    std::vector<char> all(bytes * c->size);
    *ok = true;
    const char* hang = getenv("NCCL_EMU_HANG_COLLECTIVE");
    if (++c->collectives == (hang ? atol(hang) : -1)) {
        *ok = wait_for_abort(c);
        return all;
    }
    if (c->sockets && c->size > 1) {
        if (c->rank == 0) {
            memcpy(all.data(), send, bytes);
            for (int r = 1; r < c->size && *ok; r++) *ok = recv_bytes(c, c->fds[r], all.data() + r * bytes, bytes);
            for (int r = 1; r < c->size && *ok; r++) *ok = send_bytes(c, c->fds[r], all.data(), all.size());
        } else {
            *ok = send_bytes(c, c->fds[0], send, bytes) && recv_bytes(c, c->fds[0], all.data(), all.size());
        }
        return all;
    }
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
    return r == ncclSuccess ? "no error" : r == ncclInvalidUsage ? "invalid usage (emulated NCCL)"
         : r == ncclInProgress ? "operation in progress (emulated NCCL)" : "emulated NCCL error";
}
inline int emu_mpi_world_size() {
    int size = 1;
#ifdef USE_MPI
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (initialized) MPI_Comm_size(MPI_COMM_WORLD, &size);
#endif
    return size;
}
// Under mpirun: all zeros (MPI_COMM_WORLD). Otherwise: listen on a free 127.0.0.1 port.
inline ncclResult_t ncclGetUniqueId(ncclUniqueId* id) {
    memset(id, 0, sizeof *id);
    if (emu_mpi_world_size() > 1) return ncclSuccess;
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (fd < 0 || bind(fd, (sockaddr*)&sa, sizeof sa) != 0 || listen(fd, 64) != 0 || getsockname(fd, (sockaddr*)&sa, &len) != 0) {
        fprintf(stderr, "emulated NCCL: cannot listen on 127.0.0.1 (%s)\n", strerror(errno));
        return ncclSystemError;
    }
    if (nccl_emu::pending_listen_fd() >= 0) close(nccl_emu::pending_listen_fd());
    nccl_emu::pending_listen_fd() = fd;
    nccl_emu::IdLayout l;
    memcpy(l.magic, nccl_emu::kIdMagic, sizeof l.magic);
    std::random_device rd;
    l.token = ((uint64_t)rd() << 32 | rd()) | 1; // never 0
    l.port = ntohs(sa.sin_port);
    memcpy(id->internal, &l, sizeof l);
    return ncclSuccess;
}
inline ncclResult_t ncclCommInitRankConfig(ncclComm_t* comm, int nranks, ncclUniqueId id, int rank, ncclConfig_t* config) {
    nccl_emu::IdLayout l;
    memcpy(&l, id.internal, sizeof l);
    const bool sockets = memcmp(l.magic, nccl_emu::kIdMagic, sizeof l.magic) == 0;
    if (!sockets) { // MPI_COMM_WORLD
        if (nranks != emu_mpi_world_size()) {
            fprintf(stderr, "emulated NCCL: %d ranks need mpirun -np %d or an id from ncclGetUniqueId without mpirun\n", nranks, nranks);
            return ncclInvalidUsage;
        }
        *comm = new ncclEmuComm;
        (*comm)->rank = rank, (*comm)->size = nranks;
        return ncclSuccess;
    }
    ncclEmuComm* c = new ncclEmuComm;
    c->rank = rank, c->size = nranks, c->sockets = true, c->token = l.token, c->port = l.port;
    c->fds.assign(nranks, -1);
    if (pipe(c->wake) != 0) return ncclSystemError;
    if (rank == 0) {
        c->listen_fd = nccl_emu::pending_listen_fd();
        nccl_emu::pending_listen_fd() = -1;
        if (c->listen_fd < 0) {
            fprintf(stderr, "emulated NCCL: rank 0 must call ncclGetUniqueId before ncclCommInitRank\n");
            return ncclInvalidUsage;
        }
    }
    *comm = c;
    const bool blocking = !config || config->blocking == NCCL_CONFIG_UNDEF_INT || config->blocking != 0;
    if (blocking) {
        c->state = nccl_emu::socket_init(c);
        return (ncclResult_t)c->state.load();
    }
    c->state = ncclInProgress;
    c->init = std::thread([c] { c->state = nccl_emu::socket_init(c); });
    return ncclInProgress;
}
inline ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId id, int rank) {
    return ncclCommInitRankConfig(comm, nranks, id, rank, nullptr);
}
inline ncclResult_t ncclCommDestroy(ncclComm_t comm) {
    if (!comm) return ncclSuccess;
    if (comm->init.joinable()) comm->init.join();
    for (int fd : comm->fds) if (fd >= 0) close(fd);
    for (int fd : {comm->listen_fd, comm->wake[0], comm->wake[1]}) if (fd >= 0) close(fd);
    delete comm;
    return ncclSuccess;
}
// Under MPI: MPI_Abort ends the job (as before). Sockets: wakes every wait on this communicator;
// the communicator is leaked (a thread may still be returning from a collective on it).
inline ncclResult_t ncclCommAbort(ncclComm_t comm) {
    if (!comm) return ncclSuccess;
    if (!comm->sockets) {
#ifdef USE_MPI
        if (comm->size > 1) MPI_Abort(MPI_COMM_WORLD, 1);
#endif
        delete comm;
        return ncclSuccess;
    }
    comm->aborted = true;
    const char byte = 1;
    if (write(comm->wake[1], &byte, 1) != 1) {}
    if (comm->init.joinable()) comm->init.detach();
    return ncclSuccess;
}
inline ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t* r) {
    *r = comm ? (ncclResult_t)comm->state.load() : ncclSuccess; // a dead peer is not an error here (shm/P2P)
    return ncclSuccess;
}
inline ncclResult_t ncclGroupStart() { return ncclSuccess; }
inline ncclResult_t ncclGroupEnd() { return ncclSuccess; }

inline ncclResult_t ncclAllReduce(const void* send, void* recv, size_t count, ncclDataType_t t, ncclRedOp_t op, ncclComm_t c,
                                  cudaStream_t) {
    bool ok;
    const std::vector<char> all = nccl_emu::gather_all(send, count * nccl_emu::dtype_bytes(t), c, &ok);
    if (!ok) return ncclSystemError;
    nccl_emu::reduce_into(recv, all, count, 0, count, t, op, c->size);
    return ncclSuccess;
}
inline ncclResult_t ncclReduceScatter(const void* send, void* recv, size_t count, ncclDataType_t t, ncclRedOp_t op,
                                      ncclComm_t c, cudaStream_t) {
    const size_t total = count * c->size;
    bool ok;
    const std::vector<char> all = nccl_emu::gather_all(send, total * nccl_emu::dtype_bytes(t), c, &ok);
    if (!ok) return ncclSystemError;
    nccl_emu::reduce_into(recv, all, total, (size_t)c->rank * count, count, t, op, c->size);
    return ncclSuccess;
}
inline ncclResult_t ncclAllGather(const void* send, void* recv, size_t count, ncclDataType_t t, ncclComm_t c, cudaStream_t) {
    const size_t bytes = count * nccl_emu::dtype_bytes(t);
    bool ok;
    const std::vector<char> all = nccl_emu::gather_all(send, bytes, c, &ok);
    if (!ok) return ncclSystemError;
    memcpy(recv, all.data(), all.size());
    return ncclSuccess;
}
// Sockets: every rank's buffer goes round (simple, and the root's bytes arrive unchanged).
inline ncclResult_t ncclBroadcast(const void* send, void* recv, size_t count, ncclDataType_t t, int root, ncclComm_t c,
                                  cudaStream_t) {
    const size_t bytes = count * nccl_emu::dtype_bytes(t);
    if (send != recv && c->rank == root) memmove(recv, send, bytes);
    if (c->sockets) {
        bool ok;
        const std::vector<char> all = nccl_emu::gather_all(recv, bytes, c, &ok);
        if (!ok) return ncclSystemError;
        memcpy(recv, all.data() + (size_t)root * bytes, bytes);
        return ncclSuccess;
    }
    const char* hang = getenv("NCCL_EMU_HANG_COLLECTIVE");
    if (++c->collectives == (hang ? atol(hang) : -1)) {
        nccl_emu::wait_for_abort(c);
        return ncclSystemError;
    }
#ifdef USE_MPI
    if (c->size > 1) MPI_Bcast(recv, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD);
#endif
    return ncclSuccess;
}
