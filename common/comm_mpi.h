// Open MPI behind the Comm interface (common/comm.h): host memory, MPI_COMM_WORLD, blocking
// collectives. train_gpt2cpu's transport, and the NCCL trainer's bootstrap (rank, size and
// a broadcast of the ncclUniqueId). Plain C++, so a .cu file can include it.
//
// make_host_comm(dist) picks the implementation:
//   launched by mpirun/srun (OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_SIZE in the environment)
//   and built with MPI (-DUSE_MPI, the Makefile finds mpicxx): MpiComm;
//   -pn 1 and no launcher: SingleProcessComm;
//   anything else (-pn > 1 without mpirun, or mpirun with a build without MPI): a one-line
//   error, never N independent single-process runs writing one output directory.
// MpiComm installs fail_hook() (common/utils.h): every error line names the rank, and the
// failing rank ends the whole job with MPI_Abort, so no rank waits forever in a collective.
// A rank that stops responding (SIGSTOP, a hung filesystem) would still hang the others: MPI
// has no timeout. So every collective is non-blocking, polled with MPI_Test against a deadline
// of GPT2_COMM_TIMEOUT seconds (default 600); past it the waiting ranks ping each other on a
// duplicate communicator, and the lowest rank that answers ends the job with one line naming the
// ranks that did not (MpiComm::wait). Cost: a poll loop instead of MPI's own; every 1,024 polls a
// look at the clock, and past 10 ms a probe for pings and a sched_yield (no extra message).
// An error every rank hits alike should be one line, rank 0's: QuietStderrUnlessRank0 (before
// the ranks meet, e.g. flag parsing) and SameOnEveryRank (after) see to it.
#pragma once
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>
#include <cstdlib>
#include <memory>
#include <string>

#include "comm.h"
#include "launch_env.h"
#include "utils.h"

#ifdef USE_MPI
#include <mpi.h>

class MpiComm : public Comm {
public:
    MpiComm() {
        int initialized = 0;
        MPI_Initialized(&initialized);
        if (!initialized) {
            int provided = 0;
            MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided); // only the main thread calls MPI
            owns_init_ = true;
        }
        MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
        MPI_Comm_size(MPI_COMM_WORLD, &size_);
        // Ranks on the same host: the local rank (GPU choice for NCCL).
        MPI_Comm local;
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
        MPI_Comm_rank(local, &local_rank_);
        MPI_Comm_free(&local);
        // Errors in MPI itself come back as codes (checked below), so they get our one line too.
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        MPI_Comm_dup(MPI_COMM_WORLD, &watch_); // the timeout's pings, apart from the collectives' traffic
        timeout_s_ = comm_timeout_seconds();
        if (size_ > 1) {
            fail_hook().rank = rank_;
            fail_hook().end_job = [](int code) { MPI_Abort(MPI_COMM_WORLD, code); };
        }
    }
    ~MpiComm() override {
        if (owns_init_) {
            int finalized = 0;
            MPI_Finalized(&finalized);
            if (!finalized) {
                MPI_Comm_free(&watch_);
                MPI_Finalize();
            }
        }
    }
    const char* backend() const override { return "mpi"; }
    void all_reduce_sum(void* buf, size_t count, CommDtype t) override {
        MPI_Request req;
        check(MPI_Iallreduce(MPI_IN_PLACE, buf, to_int(count), mpi_type(t), MPI_SUM, MPI_COMM_WORLD, &req), "MPI_Allreduce");
        wait(&req, "MPI_Allreduce");
    }
    void all_reduce_max(void* buf, size_t count, CommDtype t) override {
        MPI_Request req;
        check(MPI_Iallreduce(MPI_IN_PLACE, buf, to_int(count), mpi_type(t), MPI_MAX, MPI_COMM_WORLD, &req), "MPI_Allreduce");
        wait(&req, "MPI_Allreduce");
    }
    // One MPI_Reduce per block, rooted at the rank that receives it, rather than
    // MPI_Reduce_scatter_block: Open MPI's default for that (a reduce of the whole buffer to
    // rank 0, then a scatter) holds a whole-buffer temporary on rank 0, which undid ZeRO-1's
    // memory saving there (measured: scripts/bench_zero1_memory.sh). The reduces send the same
    // bytes, (N-1)/N of the buffer per rank, with segment-sized temporaries.
    void reduce_scatter_sum(const void* send, void* recv, size_t count, CommDtype t) override {
        const size_t bytes = count * comm_dtype_bytes(t);
        for (int r = 0; r < size_; r++) {
            MPI_Request req;
            check(MPI_Ireduce((const char*)send + (size_t)r * bytes, r == rank_ ? recv : nullptr, to_int(count), mpi_type(t), MPI_SUM, r,
                              MPI_COMM_WORLD, &req),
                  "MPI_Reduce");
            wait(&req, "MPI_Reduce");
        }
    }
    void all_gather(const void* send, void* recv, size_t count, CommDtype t) override {
        // in place (send is this rank's part of recv): MPI wants MPI_IN_PLACE for that
        const bool in_place = send == (const char*)recv + (size_t)rank_ * count * comm_dtype_bytes(t);
        MPI_Request req;
        check(MPI_Iallgather(in_place ? MPI_IN_PLACE : send, to_int(count), mpi_type(t), recv, to_int(count), mpi_type(t),
                             MPI_COMM_WORLD, &req),
              "MPI_Allgather");
        wait(&req, "MPI_Allgather");
    }
    void broadcast(void* buf, size_t count, CommDtype t, int root) override {
        MPI_Request req;
        check(MPI_Ibcast(buf, to_int(count), mpi_type(t), root, MPI_COMM_WORLD, &req), "MPI_Bcast");
        wait(&req, "MPI_Bcast");
    }
    void barrier() override {
        MPI_Request req;
        check(MPI_Ibarrier(MPI_COMM_WORLD, &req), "MPI_Barrier");
        wait(&req, "MPI_Barrier");
    }
    [[noreturn]] void abort_job(int code) override {
        fflush(stdout);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, code);
        exit(code); // not reached
    }

private:
    // BF16 travels as 16-bit integers: MPI has no bf16 sum, so only all_gather and broadcast
    // take it (a sum of bf16 is refused).
    static MPI_Datatype mpi_type(CommDtype t) {
        switch (t) {
            case CommDtype::F32: return MPI_FLOAT;
            case CommDtype::F64: return MPI_DOUBLE;
            case CommDtype::BF16: return MPI_UINT16_T;
            case CommDtype::I8: return MPI_INT8_T;
            case CommDtype::I32: return MPI_INT32_T;
            case CommDtype::U32: return MPI_UINT32_T;
        }
        return MPI_BYTE;
    }
    // MPI counts are int: a larger buffer is a programming error here, named, not wrapped.
    static int to_int(size_t count) {
        if (count > (size_t)2147483647) fail_runtime("MPI collective of %zu elements exceeds MPI's int count", count);
        return (int)count;
    }
    static void check(int rc, const char* what) {
        if (rc == MPI_SUCCESS) return;
        char msg[MPI_MAX_ERROR_STRING];
        int len = 0;
        MPI_Error_string(rc, msg, &len);
        fail_runtime("%s failed: %.*s", what, len, msg);
    }

    // ---- the timeout (see the top)
    enum { kPing = 1, kPong = 2 };
    static double seconds_since(std::chrono::steady_clock::time_point t) {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    }
    // Polls req until the collective completes. Past 10 ms: answers other ranks' pings and yields
    // every 1,024 polls; past GPT2_COMM_TIMEOUT, or when a ping shows another rank timed out,
    // finds who is missing (timed_out).
    void wait(MPI_Request* req, const char* what) {
        const auto start = std::chrono::steady_clock::now();
        for (long polls = 1;; polls++) {
            int done = 0;
            check(MPI_Test(req, &done, MPI_STATUS_IGNORE), what);
            if (done) return;
            if (polls % 1024) continue; // MPI_Test drives the collective: poll it, look at the clock now and then
            const double waited = seconds_since(start);
            if (waited < 0.01) continue;
            if (answer_pings() || waited > timeout_s_) timed_out(what, waited);
            sched_yield(); // a long wait leaves the core to others (oversubscribed ranks)
        }
    }
    // Answers every pending ping with a pong; true when there was one (another rank timed out).
    bool answer_pings() {
        bool pinged = false;
        int flag = 0;
        MPI_Status st;
        while (MPI_Iprobe(MPI_ANY_SOURCE, kPing, watch_, &flag, &st) == MPI_SUCCESS && flag) {
            int token = 0;
            MPI_Recv(&token, 1, MPI_INT, st.MPI_SOURCE, kPing, watch_, MPI_STATUS_IGNORE);
            MPI_Send(&rank_, 1, MPI_INT, st.MPI_SOURCE, kPong, watch_); // one int: sent eagerly, never blocks
            pinged = true;
        }
        return pinged;
    }
    // Pings every other rank and collects pongs for 2 s: a rank that is waiting in a collective
    // answers; one that never arrived (stopped, hung, dead, or still computing) does not. The
    // lowest rank that answers (every answering rank computes the same) prints the one line and
    // ends the job; the others keep answering until it does (30 s at most, then their own line).
    [[noreturn]] void timed_out(const char* what, double waited) {
        std::vector<int> answered(size_, 0), tokens(size_, rank_);
        answered[rank_] = 1;
        std::vector<MPI_Request> pings;
        for (int r = 0; r < size_; r++) {
            if (r == rank_) continue;
            pings.emplace_back();
            MPI_Isend(&tokens[r], 1, MPI_INT, r, kPing, watch_, &pings.back());
        }
        const auto asked = std::chrono::steady_clock::now();
        while (seconds_since(asked) < 2.0 && std::count(answered.begin(), answered.end(), 1) < size_) {
            int flag = 0;
            MPI_Status st;
            if (MPI_Iprobe(MPI_ANY_SOURCE, kPong, watch_, &flag, &st) == MPI_SUCCESS && flag) {
                int who = 0;
                MPI_Recv(&who, 1, MPI_INT, st.MPI_SOURCE, kPong, watch_, MPI_STATUS_IGNORE);
                answered[st.MPI_SOURCE] = 1;
                continue;
            }
            answer_pings();
            usleep(1000);
        }
        std::string missing;
        int missing_count = 0;
        for (int r = 0; r < size_; r++)
            if (!answered[r]) missing += (missing.empty() ? "" : ", ") + std::to_string(r), missing_count++;
        const int reporter = (int)(std::find(answered.begin(), answered.end(), 1) - answered.begin());
        if (reporter != rank_) { // the reporter ends the job; keep answering its pings meanwhile
            const auto since = std::chrono::steady_clock::now();
            while (seconds_since(since) < 30.0) {
                answer_pings();
                usleep(1000);
            }
        }
        if (missing_count == 0)
            fail_runtime("%s has waited %.0f s (GPT2_COMM_TIMEOUT=%d) though every rank answers: the ranks are in different "
                         "collectives (a bug, or ranks with different settings)", what, waited, timeout_s_);
        fail_runtime("%s has waited %.0f s (GPT2_COMM_TIMEOUT=%d) for %s %s, which never arrived (stopped, hung or dead); "
                     "ending the job", what, waited, timeout_s_, missing_count > 1 ? "ranks" : "rank", missing.c_str());
    }

    bool owns_init_ = false;
    MPI_Comm watch_ = MPI_COMM_NULL;
    int timeout_s_ = 600;
};
// A stretch of start-up that every rank runs identically (flags against the model, batch
// plan, memory plan): an error there would print one line per rank. While one of these is
// active, a rank > 0 writes its stderr to a temporary file and, on an error, waits up to 30
// seconds for rank 0 (which hits the same error) to end the job with the one line; only
// if rank 0 does not (the error was this rank's own), it prints its line and ends the job.
class SameOnEveryRank {
public:
    explicit SameOnEveryRank(const Comm& comm) {
        if (comm.size() == 1 || comm.rank() == 0) return;
        fflush(stderr);
        captured_() = tmpfile();
        saved_fd_() = dup(2);
        if (!captured_() || saved_fd_() < 0) return;
        dup2(fileno(captured_()), 2);
        previous_ = fail_hook().end_job;
        fail_hook().end_job = &end_job_after_rank0;
        active_ = true;
    }
    ~SameOnEveryRank() { end(); }
    void end() {
        if (!active_) return;
        active_ = false;
        fflush(stderr);
        dup2(saved_fd_(), 2);
        close(saved_fd_());
        fclose(captured_());
        captured_() = nullptr;
        fail_hook().end_job = previous_;
    }

private:
    static FILE*& captured_() { static FILE* f = nullptr; return f; }
    static int& saved_fd_() { static int fd = -1; return fd; }
    static void end_job_after_rank0(int code) {
        // rank 0 ends the job first when the error is the same on every rank; it may reach the same
        // point seconds later (a loaded machine: 5 s was too short once), so wait long enough for that.
        // The whole 30 s: mpirun ends the job with SIGTERM first, which the stop handler
        // (common/stop_request.h) only records, and which cuts a sleep() short.
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (std::chrono::steady_clock::now() < until) sleep(1);
        fflush(stderr);
        dup2(saved_fd_(), 2);
        rewind(captured_());
        char line[4096];
        while (fgets(line, sizeof line, captured_())) fputs(line, stderr);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, code);
    }
    void (*previous_)(int) = nullptr;
    bool active_ = false;
};
#else
// Without MPI there is one process: nothing to coordinate.
class SameOnEveryRank {
public:
    explicit SameOnEveryRank(const Comm&) {}
    void end() {}
};
#endif // USE_MPI

inline bool built_with_mpi() {
#ifdef USE_MPI
    return true;
#else
    return false;
#endif
}

// While it lives, the stderr of a process that a launcher started as rank > 0 goes to
// /dev/null (for what every rank does identically, before the ranks have met).
struct QuietStderrUnlessRank0 {  // e.g. around parse_train_args, before make_host_comm
    int saved = -1;
    QuietStderrUnlessRank0() {
        const char* r = getenv("OMPI_COMM_WORLD_RANK");
        if (!r) r = getenv("PMI_RANK");
        if (!r) r = getenv("SLURM_PROCID"); // srun without MPI (common/launch_env.h)
        if (!r || atoi(r) == 0) return;
        fflush(stderr);
        saved = dup(2);
        const int null = open("/dev/null", O_WRONLY);
        if (saved >= 0 && null >= 0) dup2(null, 2);
        if (null >= 0) close(null);
    }
    ~QuietStderrUnlessRank0() {
        if (saved < 0) return;
        fflush(stderr);
        dup2(saved, 2);
        close(saved);
    }
};

// The host-memory communicator of this process (see the top). trainer: the binary's name,
// for the error lines.
inline std::unique_ptr<Comm> make_host_comm(const DistConfig& dist, const char* trainer = "train_gpt2cpu") {
    const int launched = launcher_world_size();
    LaunchRanks ranks;
    std::string error;
    if (!resolve_launch_ranks(dist, process_env(), &ranks, &error)) fail_usage("%s", error.c_str());
    if (launched == 0) {
        if (ranks.launcher == "SLURM" && ranks.size > 1) {
            const QuietStderrUnlessRank0 quiet; // every task hits this: rank 0's line only
            fail_usage("%s: srun started %d tasks without MPI's environment; %s's processes meet through MPI: use "
                       "srun --mpi=pmi2 (or pmix) or mpirun -np %d %s ...", ranks.size_from.c_str(), ranks.size, trainer,
                       ranks.size, trainer);
        }
        if (dist.num_processes > 1)
            fail_usage("-pn %d: %s's processes meet through MPI; launch them with mpirun -np %d %s ... (-pn, -pr and "
                       "-pi fs|tcp without mpirun are train_gpt2cu's NCCL bootstrap)", dist.num_processes, trainer,
                       dist.num_processes, trainer);
        return std::unique_ptr<Comm>(new SingleProcessComm());
    }
#ifdef USE_MPI
    std::unique_ptr<Comm> comm(new MpiComm());
    if (dist.num_processes > 1 && dist.num_processes != comm->size())
        fail_usage("-pn %d disagrees with the %d processes mpirun started (leave -pn out under mpirun)", dist.num_processes,
                   comm->size());
    if (dist.process_rank != 0 && dist.process_rank != comm->rank())
        fail_usage("-pr %d disagrees with this process's MPI rank %d (leave -pr out under mpirun)", dist.process_rank, comm->rank());
    return comm;
#else
    if (launched > 1) {
        const QuietStderrUnlessRank0 quiet; // every process hits this: rank 0's line only
        fail_usage("%s was built without MPI (single process only) but a launcher started %d processes; install "
                   "libopenmpi-dev (scripts/setup.sh --build) and rebuild (make)", trainer, launched);
    }
    return std::unique_ptr<Comm>(new SingleProcessComm());
#endif
}
