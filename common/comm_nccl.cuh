// NcclComm: common/comm.h's interface on NCCL for train_gpt2cu. Buffers are device memory; every
// collective is enqueued on the trainer's stream (the legacy default stream, where all the
// trainer's kernels run), so it is ordered with them and the host does not wait.
//
// How the ranks meet (make_gpu_comm):
//   under mpirun (OMPI_COMM_WORLD_SIZE / PMI_SIZE set; build with USE_MPI): common/comm_mpi.h's
//     MpiComm gives rank, size and the local rank (ranks sharing the host) and broadcasts rank
//     0's ncclUniqueId; a failing rank ends the job by MPI_Abort (fail_hook).
//   -pi fs: -pn/-pr give size and rank; rank 0 writes the id to <-pf>/ncclUniqueId.bin (atomic
//     rename), the others poll for it; rank 0 deletes it once every rank has joined.
//   -pi tcp: rank 0 listens at -ps (host[:port], default port 12345), the others connect and
//     receive the id.
//   Both wait at most GPT2_DIST_TIMEOUT seconds (default 120) for the rendezvous and then fail
//   with one line naming the rank and what it waited for.
// Rank and size: -pn/-pr, or the launcher's environment (srun: SLURM_PROCID, SLURM_NTASKS), see
// common/launch_env.h. The device is local_rank % visible GPUs (choose_gpu); the local rank is
// MPI's under mpirun, else the launcher's (SLURM_LOCALID), else rank % -pg.
//
// Failure without MPI (fs/tcp): a rank that fails calls ncclCommAbort on its communicator and
// exits with the error line; a watchdog thread in every rank polls ncclCommGetAsyncError once a
// second and ends the rank (ncclCommAbort, exit 1, one line naming the rank) when NCCL reports an
// error (a peer's connection closed), or when no collective was enqueued for
// GPT2_COMM_TIMEOUT seconds (default 600: a peer died without NCCL noticing, or hangs).
// Guaranteed: no rank waits longer than that timeout after its last collective. Not guaranteed:
// which rank's line appears first, and a rank stuck inside a CUDA kernel that never ends
// (not a collective) is ended only by the timeout.
#pragma once
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cuda_runtime.h>

#include "comm.h"
#include "utils.h"

#include "comm_mpi.h" // MpiComm under USE_MPI; QuietStderrUnlessRank0 in every build
#include "launch_env.h"
#ifdef USE_NCCL
#include <nccl.h>
#endif


inline int dist_env_seconds(const char* name, int fallback) {
    const char* v = getenv(name);
    if (!v || !*v) return fallback;
    const int s = atoi(v);
    return s > 0 ? s : fallback;
}

#ifdef USE_MPI
// MPI only bootstraps NCCL in train_gpt2cu (common/comm_mpi.h's MpiComm: rank, size, local
// rank, the broadcast of NCCL's unique id, and MPI_Abort through fail_hook). Alive for the
// whole process; finalized at exit.
inline MpiComm& bootstrap_mpi() {
    static MpiComm comm;
    return comm;
}
#endif

#ifdef USE_NCCL
#define ncclCheck(call)                                                                                        \
    do {                                                                                                       \
        const ncclResult_t r_ = (call);                                                                        \
        if (r_ != ncclSuccess) fail_runtime("NCCL: %s (%s:%d)", ncclGetErrorString(r_), __FILE__, __LINE__);  \
    } while (0)

inline ncclDataType_t nccl_dtype(CommDtype t) {
    switch (t) {
        case CommDtype::F32: return ncclFloat32;
        case CommDtype::F64: return ncclFloat64;
        case CommDtype::BF16: return ncclBfloat16;
        case CommDtype::I8: return ncclInt8;
        case CommDtype::I32: return ncclInt32;
        case CommDtype::U32: return ncclUint32;
    }
    return ncclFloat32;
}

// ---- the unique-id rendezvous without MPI
inline void write_unique_id_file(const std::string& dir, const ncclUniqueId& id) {
    const std::string path = dir + "/ncclUniqueId.bin", tmp = path + ".tmp";
    FILE* f = fopen(tmp.c_str(), "wb");
    if (!f || fwrite(&id, sizeof id, 1, f) != 1 || fclose(f) != 0)
        fail_runtime("-pi fs: cannot write '%s' (%s)", tmp.c_str(), strerror(errno));
    if (rename(tmp.c_str(), path.c_str()) != 0) fail_runtime("-pi fs: cannot rename '%s' (%s)", tmp.c_str(), strerror(errno));
}
inline ncclUniqueId read_unique_id_file(const std::string& dir, int timeout_s) {
    const std::string path = dir + "/ncclUniqueId.bin";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    for (;;) {
        FILE* f = fopen(path.c_str(), "rb");
        if (f) {
            ncclUniqueId id;
            const bool ok = fread(&id, sizeof id, 1, f) == 1;
            fclose(f);
            if (ok) return id;
        }
        if (std::chrono::steady_clock::now() > deadline)
            fail_runtime("-pi fs: no NCCL id from rank 0 in '%s' after %d s (is rank 0 running, with the same -pf on a "
                         "shared filesystem?)", path.c_str(), timeout_s);
        usleep(100 * 1000);
    }
}

// -ps host[:port] -> host and port (default 12345, llm.c's).
inline void split_server_address(const std::string& addr, std::string* host, int* port) {
    if (addr.empty()) fail_usage("-pi tcp needs -ps with rank 0's address (host[:port])");
    const size_t colon = addr.rfind(':');
    *host = colon == std::string::npos ? addr : addr.substr(0, colon);
    *port = colon == std::string::npos ? 12345 : atoi(addr.c_str() + colon + 1);
    if (*port <= 0 || *port > 65535) fail_usage("-ps '%s': the port must be 1..65535", addr.c_str());
}
inline bool send_all(int fd, const void* p, size_t n) {
    const char* c = (const char*)p;
    while (n > 0) {
        const ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
        if (k <= 0) return false;
        c += k, n -= (size_t)k;
    }
    return true;
}
inline bool recv_all(int fd, void* p, size_t n, int timeout_ms) {
    char* c = (char*)p;
    while (n > 0) {
        pollfd pfd{fd, POLLIN, 0};
        const int ready = poll(&pfd, 1, timeout_ms);
        if (ready < 0 && errno == EINTR) continue; // a stop signal (common/stop_request.h) is only a flag
        if (ready <= 0) return false;
        const ssize_t k = recv(fd, c, n, 0);
        if (k <= 0) return false;
        c += k, n -= (size_t)k;
    }
    return true;
}
// Rank 0: accepts size-1 connections and sends each the id.
inline void serve_unique_id(const std::string& addr, int size, const ncclUniqueId& id, int timeout_s) {
    std::string host;
    int port = 0;
    split_server_address(addr, &host, &port);
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_ANY);
    sa.sin_port = htons((uint16_t)port);
    if (fd < 0 || bind(fd, (sockaddr*)&sa, sizeof sa) != 0 || listen(fd, size) != 0)
        fail_runtime("-pi tcp: rank 0 cannot listen on port %d (%s)", port, strerror(errno));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    for (int joined = 1; joined < size;) {
        const int left_ms = (int)std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        pollfd pfd{fd, POLLIN, 0};
        const int ready = left_ms <= 0 ? 0 : poll(&pfd, 1, left_ms);
        if (ready < 0 && errno == EINTR) continue; // a stop signal is only a flag: wait on to the deadline
        if (ready <= 0)
            fail_runtime("-pi tcp: only %d of %d ranks connected to port %d within %d s", joined, size, port, timeout_s);
        const int c = accept(fd, nullptr, nullptr);
        if (c < 0) continue;
        if (send_all(c, &id, sizeof id)) joined++;
        close(c);
    }
    close(fd);
}
inline ncclUniqueId fetch_unique_id(const std::string& addr, int timeout_s) {
    std::string host;
    int port = 0;
    split_server_address(addr, &host, &port);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    for (;;) {
        addrinfo hints{}, *res = nullptr;
        hints.ai_family = AF_INET;
        hints.ai_socktype = SOCK_STREAM;
        if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) == 0) {
            const int fd = socket(AF_INET, SOCK_STREAM, 0);
            ncclUniqueId id;
            const bool ok = fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0 && recv_all(fd, &id, sizeof id, 10000);
            if (fd >= 0) close(fd);
            freeaddrinfo(res);
            if (ok) return id;
        }
        if (std::chrono::steady_clock::now() > deadline)
            fail_runtime("-pi tcp: cannot get the NCCL id from rank 0 at %s:%d within %d s", host.c_str(), port, timeout_s);
        usleep(200 * 1000);
    }
}

class NcclComm : public Comm {
public:
    // The device must already be set (make_gpu_comm does it). mpi: the id comes by MPI broadcast.
    NcclComm(int rank, int size, int local_rank, const DistConfig& d, bool mpi) {
        rank_ = rank, size_ = size, local_rank_ = local_rank;
        const int timeout_s = dist_env_seconds("GPT2_DIST_TIMEOUT", 120);
        ncclUniqueId id;
        if (rank == 0) ncclCheck(ncclGetUniqueId(&id));
        if (mpi) {
#ifdef USE_MPI
            bootstrap_mpi().broadcast(&id, sizeof id, CommDtype::I8, 0);
#endif
        } else if (d.init_method == "fs") {
            if (rank == 0) write_unique_id_file(d.fs_path, id);
            else id = read_unique_id_file(d.fs_path, timeout_s);
        } else if (d.init_method == "tcp") {
            if (rank == 0) serve_unique_id(d.server_ip, size, id, timeout_s);
            else id = fetch_unique_id(d.server_ip, timeout_s);
        } else {
            fail_usage("-pn %d without mpirun needs -pi fs or -pi tcp (or launch with mpirun -np %d)", size, size);
        }
        ncclCheck(ncclCommInitRank(&comm_, size, id, rank));
        if (!mpi && d.init_method == "fs") {
            barrier(); // every rank (all of them take part) has read the file
            if (rank == 0) remove((d.fs_path + "/ncclUniqueId.bin").c_str());
        }
        if (!mpi) start_watchdog();
    }
    ~NcclComm() override {
        stop_ = true;
        if (watchdog_.joinable()) watchdog_.join();
        if (comm_) ncclCommDestroy(comm_);
        if (scratch_) cudaFree(scratch_);
        if (live() == this) live() = nullptr;
    }
    const char* backend() const override { return "nccl"; }

    void all_reduce_sum(void* buf, size_t count, CommDtype t) override {
        touch();
        ncclCheck(ncclAllReduce(buf, buf, count, nccl_dtype(t), ncclSum, comm_, stream()));
    }
    void all_reduce_max(void* buf, size_t count, CommDtype t) override {
        touch();
        ncclCheck(ncclAllReduce(buf, buf, count, nccl_dtype(t), ncclMax, comm_, stream()));
    }
    void reduce_scatter_sum(const void* send, void* recv, size_t count, CommDtype t) override {
        touch();
        ncclCheck(ncclReduceScatter(send, recv, count, nccl_dtype(t), ncclSum, comm_, stream()));
    }
    void all_gather(const void* send, void* recv, size_t count, CommDtype t) override {
        touch();
        ncclCheck(ncclAllGather(send, recv, count, nccl_dtype(t), comm_, stream()));
    }
    void broadcast(void* buf, size_t count, CommDtype t, int root) override {
        touch();
        ncclCheck(ncclBroadcast(buf, buf, count, nccl_dtype(t), root, comm_, stream()));
    }
    // A one-float all-reduce, then the host waits for it.
    void barrier() override {
        if (!scratch_) cudaCheck(cudaMalloc(&scratch_, sizeof(float)));
        all_reduce_sum(scratch_, 1, CommDtype::F32);
        cudaCheck(cudaStreamSynchronize(stream()));
    }
    [[noreturn]] void abort_job(int code) override {
        stop_ = true; // the watchdog no longer polls the communicator
        if (watchdog_.joinable() && watchdog_.get_id() != std::this_thread::get_id()) watchdog_.join();
        if (comm_) ncclCommAbort(comm_);
        comm_ = nullptr;
        exit(code);
    }
    // Several collectives as one NCCL group (the broadcasts of Muon's matrices).
    void group_start() { ncclCheck(ncclGroupStart()); }
    void group_end() { ncclCheck(ncclGroupEnd()); }

    // fail_hook's end_job without MPI: abort this rank's communicator so peers see an error.
    static NcclComm*& live() {
        static NcclComm* c = nullptr;
        return c;
    }

private:
    static cudaStream_t stream() { return 0; } // the trainer's kernels run on the legacy default stream
    void touch() { last_enqueue_s_ = now_s(); }
    static double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
    void start_watchdog() {
        live() = this;
        fail_hook().end_job = [](int code) {
            if (live()) live()->abort_job(code);
            exit(code);
        };
        last_enqueue_s_ = now_s();
        const int timeout_s = dist_env_seconds("GPT2_COMM_TIMEOUT", 600);
        watchdog_ = std::thread([this, timeout_s] {
            while (!stop_) {
                std::this_thread::sleep_for(std::chrono::seconds(1));
                ncclResult_t async = ncclSuccess;
                if (comm_ && ncclCommGetAsyncError(comm_, &async) == ncclSuccess && async != ncclSuccess && async != ncclInProgress) {
                    fprintf(stderr, "error: rank %d: NCCL reports '%s' (another rank probably failed); ending this rank\n", rank_,
                            ncclGetErrorString(async));
                    fflush(stderr);
                    ncclCommAbort(comm_);
                    _exit(EXIT_RUNTIME);
                }
                if (now_s() - last_enqueue_s_ > timeout_s) {
                    fprintf(stderr, "error: rank %d: no collective for %d s (GPT2_COMM_TIMEOUT; another rank probably failed "
                                    "or hangs); ending this rank\n", rank_, timeout_s);
                    fflush(stderr);
                    ncclCommAbort(comm_);
                    _exit(EXIT_RUNTIME);
                }
            }
        });
    }

    ncclComm_t comm_ = nullptr;
    float* scratch_ = nullptr;
    std::thread watchdog_;
    std::atomic<bool> stop_{false};
    std::atomic<double> last_enqueue_s_{0.0};
};
#endif // USE_NCCL

// The trainer's communicator, chosen from the launch: one process without -pi fs|tcp is
// SingleProcessComm (the trainer then never calls a collective: it behaves exactly as a build
// without NCCL); mpirun with several processes, or -pn N / -pi fs|tcp, is NcclComm. Sets the
// CUDA device to choose_gpu's (local rank % visible GPUs).
inline std::unique_ptr<Comm> make_gpu_comm(const DistConfig& d) {
    LaunchRanks launch; // -pn/-pr, or the launcher's OMPI_/PMI_/SLURM_ variables (common/launch_env.h)
    std::string error;
    if (!resolve_launch_ranks(d, process_env(), &launch, &error)) fail_usage("%s", error.c_str());
    int rank = launch.rank, size = launch.size;
    const bool mpi = launcher_world_size() > 0; // mpirun, or a PMI launcher such as srun
    if (mpi) {
#ifdef USE_MPI
        rank = bootstrap_mpi().rank();
        size = bootstrap_mpi().size();
        if (d.num_processes > 1 && d.num_processes != size)
            fail_usage("-pn %d, but mpirun started %d processes", d.num_processes, size);
#else
        const char* n = getenv("OMPI_COMM_WORLD_SIZE");
        if (n && atoi(n) > 1) fail_usage("started by mpirun with %s processes, but this train_gpt2cu was built without MPI (make found no mpicxx)", n);
#endif
    }
    const bool explicit_rendezvous = !mpi && (d.init_method == "fs" || d.init_method == "tcp");
    if (size > 1 && !mpi && !explicit_rendezvous)
        fail_usage("%s without mpirun needs -pi fs (with -pf DIR) or -pi tcp (with -ps ADDR)", launch.size_from.c_str());
    if (size > 1 && !mpi) fail_hook().rank = rank;
#ifdef USE_MPI
    const int local_rank = mpi ? bootstrap_mpi().local_rank() : launch.local_rank;
#else
    const int local_rank = launch.local_rank;
#endif
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess) devices = 0;
    const int device = choose_gpu(local_rank, devices, &error);
    if (device < 0) fail_runtime("%s", error.c_str());
#ifdef CUDA_EMULATION
    // the emulator has one device per process: every rank uses device 0
#else
    cudaCheck(cudaSetDevice(device));
#endif
    if (size == 1 && !explicit_rendezvous) return std::unique_ptr<Comm>(new SingleProcessComm());
#ifdef USE_NCCL
    return std::unique_ptr<Comm>(new NcclComm(rank, size, local_rank, d, mpi));
#else
    (void)local_rank;
    fail_usage("%d processes need NCCL, and this train_gpt2cu was built without it (make found no nccl.h)", size);
#endif
}
