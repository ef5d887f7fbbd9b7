// NcclComm: common/comm.h's interface on NCCL for train_gpt2cu. Buffers are device memory; every
// collective is enqueued on the trainer's stream (the legacy default stream, where all the
// trainer's kernels run), so it is ordered with them and the host does not wait.
//
// How the ranks meet (make_gpu_comm):
//   under mpirun (OMPI_COMM_WORLD_SIZE / PMI_SIZE set; build with USE_MPI): common/comm_mpi.h's
//     MpiComm gives rank, size and the local rank (ranks sharing the host) and broadcasts rank
//     0's ncclUniqueId; a failing rank ends the job by MPI_Abort (fail_hook).
//   -pi fs: -pn/-pr give size and rank; rank 0 removes a stale <-pf>/ncclUniqueId.bin, then
//     writes its id there under a random job token with a beat it advances 5 times a second
//     until every rank joined (atomic renames); the others wait for a file whose beat advances,
//     so a stale file (a killed job's: its beat stands still) cannot mislead them. Rank 0 deletes
//     it once every rank has joined.
//   -pi tcp: rank 0 listens at -ps (host[:port], default port 12345), the others connect, send
//     their rank and receive the id; the connections stay open (common/peer_link.h).
//   Both wait at most GPT2_DIST_TIMEOUT seconds (default 120) for the rendezvous, and then for
//   NCCL's init (non-blocking, ncclCommAbort at the deadline), and fail with one line naming
//   the rank and what it waited for.
// Rank and size: -pn/-pr, or the launcher's environment (srun: SLURM_PROCID, SLURM_NTASKS), see
// common/launch_env.h. The device is local_rank % visible GPUs (choose_gpu); the local rank is
// MPI's under mpirun, else the launcher's (SLURM_LOCALID), else rank % -pg.
//
// Failure without MPI (fs/tcp): NCCL's shm/P2P transports never notice a dead peer, so the ranks
// also talk through a PeerLink (common/peer_link.h: files in -pf, or the tcp rendezvous's
// connections). A rank that fails prints its line, announces its exit code there, calls
// ncclCommAbort and exits; every other rank's watchdog thread (4 times a second) sees the
// announcement and exits with the same code, without a line. The watchdog also ends the job
// (one line naming the rank, ncclCommAbort, exit 1) when
//   a peer is lost (its connection closed without a goodbye, or no beat for kPeerSilenceS = 15 s);
//   NCCL reports an asynchronous error;
//   a collective has been pending (enqueued, and the CUDA event recorded after it not complete)
//     for GPT2_COMM_TIMEOUT seconds (default 600) counted from the moment EVERY rank had enqueued
//     it (the beats carry each rank's count). Counting from this rank's own enqueue instead would
//     end a healthy job whose rank 0 alone spends longer than the timeout on a checkpoint or an
//     evaluation while the others already wait in the next collective. Rank 0 fires first; the
//     others wait 5 s longer, so the line is usually rank 0's.
// Not guaranteed: a rank alive but stuck outside collectives (a kernel that never ends) is not
// ended by the others (it has not reached their collective); when two ranks fail at once both
// may print a line.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdarg>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

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
#include "peer_link.h"
#ifdef USE_NCCL
#include <nccl.h>
#endif



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
// -pi fs: <-pf>/ncclUniqueId.bin holds rank 0's id under a random job token, and a beat rank 0
// advances while it waits for the ranks to join: a file whose beat stands still is a dead job's.
struct UniqueIdFile {
    char magic[8];
    uint64_t token; // the job's: names its PeerLink files (common/peer_link.h)
    uint64_t beat;
    ncclUniqueId id;
};
constexpr char kUniqueIdFileMagic[8] = {'G', 'P', 'T', '2', 'N', 'C', 'I', 'D'};
inline std::string unique_id_path(const std::string& dir) { return dir + "/ncclUniqueId.bin"; }
inline void write_unique_id_file(const std::string& dir, const UniqueIdFile& file) {
    const std::string path = unique_id_path(dir), tmp = path + ".tmp";
    FILE* f = fopen(tmp.c_str(), "wb");
    if (!f || fwrite(&file, sizeof file, 1, f) != 1 || fclose(f) != 0)
        fail_runtime("-pi fs: cannot write '%s' (%s)", tmp.c_str(), strerror(errno));
    if (rename(tmp.c_str(), path.c_str()) != 0) fail_runtime("-pi fs: cannot rename '%s' (%s)", tmp.c_str(), strerror(errno));
}
// Rank 0: a fresh token; any file already there is stale (a job that was killed), so it goes first.
inline UniqueIdFile new_unique_id_file(const std::string& dir, const ncclUniqueId& id) {
    remove(unique_id_path(dir).c_str());
    UniqueIdFile file;
    memcpy(file.magic, kUniqueIdFileMagic, sizeof file.magic);
    std::random_device rd;
    file.token = (uint64_t)rd() << 32 | rd();
    file.beat = 0;
    file.id = id;
    write_unique_id_file(dir, file);
    return file;
}
// Other ranks: waits for a file of this format whose beat advances (rank 0 is alive and waiting).
inline UniqueIdFile read_unique_id_file(const std::string& dir, int timeout_s) {
    const std::string path = unique_id_path(dir);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    UniqueIdFile first{};
    bool have_first = false;
    for (;;) {
        FILE* f = fopen(path.c_str(), "rb");
        if (f) {
            UniqueIdFile file;
            const bool ok = fread(&file, sizeof file, 1, f) == 1 && memcmp(file.magic, kUniqueIdFileMagic, sizeof file.magic) == 0;
            fclose(f);
            if (ok && have_first && file.token == first.token && file.beat != first.beat) return file;
            if (ok && (!have_first || file.token != first.token)) first = file, have_first = true;
        }
        if (std::chrono::steady_clock::now() > deadline)
            fail_runtime("-pi fs: no NCCL id from rank 0 in '%s' after %d s (is rank 0 running, with the same -pf on a "
                         "shared filesystem?%s)", path.c_str(), timeout_s, have_first ? " the file there is stale: its beat stands still" : "");
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
// Rank 0: accepts size-1 connections, reads each rank's number and sends it the id; returns the
// connections (fds[r]: rank r's), kept for common/peer_link.h's TcpPeerLink.
inline std::vector<int> serve_unique_id(const std::string& addr, int size, const ncclUniqueId& id, int timeout_s) {
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
    std::vector<int> fds(size, -1);
    for (int joined = 1; joined < size;) {
        const int left_ms = (int)std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        pollfd pfd{fd, POLLIN, 0};
        const int ready = left_ms <= 0 ? 0 : poll(&pfd, 1, left_ms);
        if (ready < 0 && errno == EINTR) continue; // a stop signal is only a flag: wait on to the deadline
        if (ready <= 0)
            fail_runtime("-pi tcp: only %d of %d ranks connected to port %d within %d s", joined, size, port, timeout_s);
        const int c = accept(fd, nullptr, nullptr);
        if (c < 0) continue;
        int32_t r = -1;
        if (recv_all(c, &r, sizeof r, 10000) && r > 0 && r < size && fds[r] < 0 && send_all(c, &id, sizeof id)) {
            fds[r] = c;
            joined++;
        } else {
            close(c);
        }
    }
    close(fd);
    return fds;
}
// Rank `rank` > 0: the id, and *conn: the connection to rank 0 (kept open).
inline ncclUniqueId fetch_unique_id(const std::string& addr, int rank, int timeout_s, int* conn) {
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
            const int32_t r = rank;
            const bool ok = fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0 && send_all(fd, &r, sizeof r) &&
                            recv_all(fd, &id, sizeof id, 10000);
            freeaddrinfo(res);
            if (ok) {
                *conn = fd;
                return id;
            }
            if (fd >= 0) close(fd);
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
        const int timeout_s = env_seconds("GPT2_DIST_TIMEOUT", 120);
        ncclUniqueId id;
        if (rank == 0) ncclCheck(ncclGetUniqueId(&id));
        UniqueIdFile id_file{};
        std::vector<int> conns; // -pi tcp: the rendezvous connections, kept for the PeerLink
        if (mpi) {
#ifdef USE_MPI
            bootstrap_mpi().broadcast(&id, sizeof id, CommDtype::I8, 0);
#endif
        } else if (d.init_method == "fs") {
            id_file = rank == 0 ? new_unique_id_file(d.fs_path, id) : read_unique_id_file(d.fs_path, timeout_s);
            id = id_file.id;
        } else if (d.init_method == "tcp") {
            if (rank == 0) conns = serve_unique_id(d.server_ip, size, id, timeout_s);
            else conns.assign(1, -1), id = fetch_unique_id(d.server_ip, rank, timeout_s, &conns[0]);
        } else {
            fail_usage("-pn %d without mpirun needs -pi fs or -pi tcp (or launch with mpirun -np %d)", size, size);
        }
        const bool fs_rank0 = !mpi && d.init_method == "fs" && rank == 0;
        init_communicator(id, timeout_s, [&] { // rank 0 of -pi fs: the beat that marks its file live
            if (!fs_rank0) return;
            id_file.beat++;
            write_unique_id_file(d.fs_path, id_file);
        });
        if (fs_rank0) remove(unique_id_path(d.fs_path).c_str()); // every rank has joined
        if (!mpi) {
            if (d.init_method == "fs") link_.reset(new FsPeerLink(d.fs_path, id_file.token, rank, size));
            else link_.reset(new TcpPeerLink(conns, rank, size));
            start_watchdog();
        }
    }
    ~NcclComm() override {
        stop_ = true;
        if (watchdog_.joinable()) watchdog_.join();
        if (link_) link_->leave();
        if (comm_) ncclCommDestroy(comm_);
        if (scratch_) cudaFree(scratch_);
        for (cudaEvent_t e : free_events_) cudaEventDestroy(e);
        if (live() == this) live() = nullptr;
    }
    const char* backend() const override { return "nccl"; }

    void all_reduce_sum(void* buf, size_t count, CommDtype t) override {
        enqueue("all-reduce", [&] { return ncclAllReduce(buf, buf, count, nccl_dtype(t), ncclSum, comm_, stream()); });
    }
    void all_reduce_max(void* buf, size_t count, CommDtype t) override {
        enqueue("all-reduce", [&] { return ncclAllReduce(buf, buf, count, nccl_dtype(t), ncclMax, comm_, stream()); });
    }
    void reduce_scatter_sum(const void* send, void* recv, size_t count, CommDtype t) override {
        enqueue("reduce-scatter", [&] { return ncclReduceScatter(send, recv, count, nccl_dtype(t), ncclSum, comm_, stream()); });
    }
    void all_gather(const void* send, void* recv, size_t count, CommDtype t) override {
        enqueue("all-gather", [&] { return ncclAllGather(send, recv, count, nccl_dtype(t), comm_, stream()); });
    }
    void broadcast(void* buf, size_t count, CommDtype t, int root) override {
        enqueue("broadcast", [&] { return ncclBroadcast(buf, buf, count, nccl_dtype(t), root, comm_, stream()); });
    }
    // A one-float all-reduce, then the host waits for it.
    void barrier() override {
        if (!scratch_) cudaCheck(cudaMalloc(&scratch_, sizeof(float)));
        all_reduce_sum(scratch_, 1, CommDtype::F32);
        cudaCheck(cudaStreamSynchronize(stream()));
    }
    // The error line is printed: tell the peers the job ends with `code` (they exit with it, quietly).
    [[noreturn]] void abort_job(int code) override {
        stop_ = true; // the watchdog no longer polls the communicator
        if (watchdog_.joinable() && watchdog_.get_id() != std::this_thread::get_id()) watchdog_.join();
        int announced = code;
        if (link_) link_->announce_end(&announced);
        if (comm_) ncclCommAbort(comm_);
        comm_ = nullptr;
        exit(code);
    }
    // Several collectives as one NCCL group (the broadcasts of Muon's matrices); their event is
    // recorded after the group (it is enqueued at ncclGroupEnd).
    void group_start() {
        ncclCheck(ncclGroupStart());
        in_group_ = true;
    }
    void group_end() {
        in_group_ = false;
        check(ncclGroupEnd(), "group");
        record_after_enqueue();
    }

    // fail_hook's end_job without MPI: abort this rank's communicator so peers see an error.
    static NcclComm*& live() {
        static NcclComm* c = nullptr;
        return c;
    }

private:
    static cudaStream_t stream() { return 0; } // the trainer's kernels run on the legacy default stream
    static double now_s() { return peer_now_s(); }

    // Non-blocking init, polled until every rank joined or GPT2_DIST_TIMEOUT: then ncclCommAbort.
    template <class WhileWaiting>
    void init_communicator(const ncclUniqueId& id, int timeout_s, WhileWaiting while_waiting) {
        ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
        config.blocking = 0;
        ncclResult_t r = ncclCommInitRankConfig(&comm_, size_, id, rank_, &config);
        const double deadline = now_s() + timeout_s;
        for (double next_beat = 0; r == ncclInProgress;) {
            if (now_s() > deadline) {
                ncclCommAbort(comm_);
                comm_ = nullptr;
                fail_runtime("NCCL init: not all %d ranks joined within %d s (GPT2_DIST_TIMEOUT; is every rank running?)", size_,
                             timeout_s);
            }
            if (now_s() >= next_beat) while_waiting(), next_beat = now_s() + 0.2;
            usleep(20 * 1000);
            if (ncclCommGetAsyncError(comm_, &r) != ncclSuccess) break;
        }
        if (r != ncclSuccess) fail_runtime("NCCL init: %s", ncclGetErrorString(r));
    }
    // A non-blocking communicator's calls may answer ncclInProgress: wait for the real result. After
    // the watchdog aborted the communicator (it is ending the process), a collective it woke
    // waits here rather than print a second line.
    void check(ncclResult_t r, const char* what) {
        while (r == ncclInProgress && comm_ && ncclCommGetAsyncError(comm_, &r) == ncclSuccess) std::this_thread::yield();
        if (r == ncclSuccess) return;
        while (aborting_) pause();
        fail_runtime("NCCL %s: %s", what, ncclGetErrorString(r));
    }
    // One collective: counted and timed from its enqueue; a CUDA event after it says when it completed.
    template <class Call>
    void enqueue(const char* what, Call call) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            pending_.push_back({++enqueued_, now_s(), nullptr});
        }
        check(call(), what);
        if (!in_group_) record_after_enqueue();
    }
    void record_after_enqueue() {
        if (!link_) return; // no watchdog (mpirun): nothing reads the events
        std::lock_guard<std::mutex> lock(mu_);
        cudaEvent_t e = nullptr;
        if (!free_events_.empty()) e = free_events_.back(), free_events_.pop_back();
        else cudaCheck(cudaEventCreate(&e));
        cudaCheck(cudaEventRecord(e, stream()));
        for (auto it = pending_.rbegin(); it != pending_.rend() && !it->done; ++it) it->done = e;
    }
    // The oldest collective not complete (0: none), and when it was enqueued.
    long oldest_pending() {
        std::lock_guard<std::mutex> lock(mu_);
        while (!pending_.empty() && pending_.front().done && cudaEventQuery(pending_.front().done) == cudaSuccess) {
            const cudaEvent_t e = pending_.front().done;
            while (!pending_.empty() && pending_.front().done == e) pending_.pop_front();
            free_events_.push_back(e);
        }
        return pending_.empty() ? 0 : pending_.front().seq;
    }
    // The watchdog's way out: one line (unless another rank already announced the end), exit 1.
    [[noreturn]] void end_job_from_watchdog(const char* fmt, ...) {
        aborting_ = true;
        int code = EXIT_RUNTIME;
        if (link_->announce_end(&code)) {
            va_list ap;
            va_start(ap, fmt);
            fprintf(stderr, "error: rank %d: ", rank_);
            vfprintf(stderr, fmt, ap);
            fprintf(stderr, "\n");
            va_end(ap);
        }
        quiet_exit(code);
    }
    [[noreturn]] void quiet_exit(int code) {
        aborting_ = true;
        fflush(stderr);
        fflush(stdout);
        ncclCommAbort(comm_);
        _exit(code);
    }
    void start_watchdog() {
        live() = this;
        fail_hook().end_job = [](int code) {
            if (live()) live()->abort_job(code);
            exit(code);
        };
        int device = 0;
        cudaGetDevice(&device);
        const int timeout_s = comm_timeout_seconds();
        watchdog_ = std::thread([this, timeout_s, device] {
            cudaSetDevice(device); // for cudaEventQuery on this thread
            long watched = 0;          // the oldest pending collective
            double all_reached_s = -1; // when every rank had enqueued it (-1: not yet)
            const double grace_s = rank_ == 0 ? 0 : 5; // rank 0 names a hang; the others only if it does not
            while (!stop_) {
                std::this_thread::sleep_for(std::chrono::milliseconds(250));
                if (stop_) break;
                link_->beat(enqueued_);
                const PeerEvent e = link_->poll();
                if (e.kind == PeerEvent::Ended) quiet_exit(e.code); // rank e.rank printed the line
                if (e.kind == PeerEvent::Lost)
                    end_job_from_watchdog("lost rank %d (%s); ending the job", e.rank,
                                          e.closed ? "its connection closed without a goodbye: killed, or it crashed"
                                                   : "no sign of life for 15 s: killed, or its node failed");
                ncclResult_t async = ncclSuccess;
                if (ncclCommGetAsyncError(comm_, &async) == ncclSuccess && async != ncclSuccess && async != ncclInProgress)
                    end_job_from_watchdog("NCCL reports '%s'; ending the job", ncclGetErrorString(async));
                const long oldest = oldest_pending();
                if (oldest != watched) watched = oldest, all_reached_s = -1;
                if (watched && all_reached_s < 0 && link_->min_enqueued() >= watched) all_reached_s = now_s();
                if (watched && all_reached_s >= 0 && now_s() - all_reached_s > timeout_s + grace_s)
                    end_job_from_watchdog("collective %ld pending for %d s after every rank reached it (GPT2_COMM_TIMEOUT; a "
                                          "rank or the transport hangs); ending the job", watched, timeout_s);
            }
        });
    }

    struct Pending {
        long seq;             // 1-based count of this rank's collectives
        double enqueued_s;
        cudaEvent_t done;     // recorded after it; nullptr while its call (or group) is in progress
    };
    ncclComm_t comm_ = nullptr;
    float* scratch_ = nullptr;
    std::unique_ptr<PeerLink> link_; // without mpirun
    std::thread watchdog_;
    std::atomic<bool> stop_{false}, aborting_{false};
    std::atomic<long> enqueued_{0};
    bool in_group_ = false;
    std::mutex mu_; // pending_ and free_events_, between the trainer's thread and the watchdog
    std::deque<Pending> pending_;
    std::vector<cudaEvent_t> free_events_;
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
