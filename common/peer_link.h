// PeerLink: how the ranks of a job started without mpirun (train_gpt2cu -pi fs|tcp) learn, beside
// NCCL, that a peer is gone or that the job ends. NCCL's shm/P2P transports never notice a dead
// peer (a collective waiting for it waits forever), so every rank's watchdog (common/comm_nccl.cuh)
// beats here 4 times a second and reads what the peers said:
//   a rank that ends the job (an error line, a non-finite step) announces its exit code first, so
//     the others exit with the same code without a line of their own;
//   a rank that stops beating for kPeerSilenceS seconds, or whose connection closes without a
//     goodbye (tcp), is lost: the first rank to see it names it in one line and ends the job;
//   each beat carries how many collectives the rank has enqueued, so a rank whose collective is
//     pending can tell a peer that has not reached it yet (busy: rank 0 writing a checkpoint)
//     from a hang (every rank reached it).
// Two transports, after the rendezvous of the same name:
//   FsPeerLink (-pi fs): files in the -pf folder named by the job's random token
//     (gpt2_<token>.rank<R>: "beat enqueued", rewritten atomically; gpt2_<token>.end: "code rank",
//     created with O_EXCL, so one rank wins). A rank that leaves normally removes its file; the
//     .end file of a failed job stays (a few bytes).
//   TcpPeerLink (-pi tcp): the rendezvous connections, kept open (a star through rank 0); rank 0
//     relays an announced end to the others and sends each the fewest collectives any rank enqueued.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

// A peer silent this long is lost (a healthy rank beats 4 times a second, even inside a collective).
constexpr int kPeerSilenceS = 15;

struct PeerEvent {
    enum Kind { None, Lost, Ended } kind = None;
    int rank = -1;   // Lost: the lost rank; Ended: the rank that announced
    int code = 0;    // Ended: its exit code
    bool closed = false; // Lost: its connection closed (tcp) rather than its beat stopped
};

inline double peer_now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

class PeerLink {
public:
    virtual ~PeerLink() {}
    // From the watchdog, 4 times a second: this rank is alive and has enqueued `enqueued` collectives.
    virtual void beat(long enqueued) = 0;
    // What the peers said since the last call: an announced end first, then a lost rank.
    virtual PeerEvent poll() = 0;
    // The fewest collectives any rank still in the job had enqueued, as last heard.
    virtual long min_enqueued() const = 0;
    // This rank ends the job with *code; false when another rank announced first (*code: its code).
    virtual bool announce_end(int* code) = 0;
    // This rank leaves normally.
    virtual void leave() = 0;
};

class FsPeerLink : public PeerLink {
public:
    FsPeerLink(const std::string& dir, uint64_t token, int rank, int size) : rank_(rank), size_(size) {
        char t[32];
        snprintf(t, sizeof t, "%016llx", (unsigned long long)token);
        prefix_ = dir + "/gpt2_" + t;
        enq_.assign(size, 0), beats_.assign(size, -1), left_.assign(size, false), seen_.assign(size, false);
        heard_.assign(size, peer_now_s());
    }
    void beat(long enqueued) override {
        enq_[rank_] = enqueued;
        const std::string path = rank_path(rank_), tmp = path + ".tmp";
        FILE* f = fopen(tmp.c_str(), "w");
        if (!f) return; // a full or vanished folder: the peers will call this rank lost
        fprintf(f, "%ld %ld\n", ++beat_, enqueued);
        if (fclose(f) == 0) rename(tmp.c_str(), path.c_str());
    }
    PeerEvent poll() override {
        PeerEvent e;
        if (read_end(&e.code, &e.rank) && e.rank != rank_) {
            e.kind = PeerEvent::Ended;
            return e;
        }
        const double now = peer_now_s();
        for (int r = 0; r < size_; r++) {
            if (r == rank_ || left_[r]) continue;
            long beat = 0, enq = 0;
            FILE* f = fopen(rank_path(r).c_str(), "r");
            const bool read = f && fscanf(f, "%ld %ld", &beat, &enq) == 2;
            if (f) fclose(f);
            if (read && beat != beats_[r]) beats_[r] = beat, enq_[r] = enq, heard_[r] = now, seen_[r] = true;
            if (!f && seen_[r]) left_[r] = true; // removed: it left normally
            else if (now - heard_[r] > kPeerSilenceS) {
                e.kind = PeerEvent::Lost, e.rank = r;
                return e;
            }
        }
        return e;
    }
    long min_enqueued() const override {
        long m = enq_[rank_];
        for (int r = 0; r < size_; r++) if (!left_[r] && enq_[r] < m) m = enq_[r];
        return m;
    }
    bool announce_end(int* code) override {
        const std::string path = prefix_ + ".end";
        const int fd = open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
        if (fd < 0) {
            int c = 0, who = 0;
            for (int i = 0; i < 20 && !read_end(&c, &who); i++) usleep(10 * 1000); // the winner is writing it
            if (read_end(&c, &who)) *code = c;
            return false;
        }
        const std::string line = std::to_string(*code) + " " + std::to_string(rank_) + "\n";
        if (write(fd, line.data(), line.size()) != (ssize_t)line.size()) {}
        close(fd);
        return true;
    }
    void leave() override { remove(rank_path(rank_).c_str()); }

private:
    std::string rank_path(int r) const { return prefix_ + ".rank" + std::to_string(r); }
    bool read_end(int* code, int* who) const {
        FILE* f = fopen((prefix_ + ".end").c_str(), "r");
        if (!f) return false;
        const bool ok = fscanf(f, "%d %d", code, who) == 2;
        fclose(f);
        return ok;
    }
    int rank_, size_;
    long beat_ = 0;
    std::string prefix_;
    std::vector<long> enq_, beats_;
    std::vector<double> heard_;
    std::vector<bool> left_, seen_;
};

class TcpPeerLink : public PeerLink {
public:
    // fds: rank 0's connection to each rank r (fds[r]; fds[0] unused), or another rank's to rank 0 (fds[0]).
    TcpPeerLink(std::vector<int> fds, int rank, int size) : rank_(rank), size_(size), fds_(std::move(fds)) {
        fds_.resize(size, -1);
        for (int fd : fds_) if (fd >= 0) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        enq_.assign(size, 0), left_.assign(size, false), buf_.assign(size, std::string());
        heard_.assign(size, peer_now_s());
        for (int r = 0; r < size; r++) if (fds_[r] < 0) left_[r] = true; // no connection: not a peer here
    }
    ~TcpPeerLink() override {
        for (int fd : fds_) if (fd >= 0) close(fd);
    }
    void beat(long enqueued) override {
        enq_[rank_] = enqueued;
        if (rank_ != 0) send_to(0, {kBeat, (int32_t)enqueued, 0});
        else for (int r = 1; r < size_; r++) send_to(r, {kBeat, (int32_t)min_enqueued(), 0});
    }
    PeerEvent poll() override {
        PeerEvent e;
        const double now = peer_now_s();
        for (int r = 0; r < size_; r++) {
            if (left_[r]) continue;
            char chunk[256];
            for (;;) {
                const ssize_t k = recv(fds_[r], chunk, sizeof chunk, 0);
                if (k > 0) { buf_[r].append(chunk, (size_t)k); continue; }
                if (k == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) closed_ = r;
                break;
            }
            while (buf_[r].size() >= sizeof(Msg)) {
                Msg m;
                memcpy(&m, buf_[r].data(), sizeof m);
                buf_[r].erase(0, sizeof m);
                heard_[r] = now;
                if (m.type == kBeat) enq_[r] = m.a; // from rank 0: the fewest over all ranks
                else if (m.type == kBye) left_[r] = true;
                else if (m.type == kEnd) {
                    if (rank_ == 0) for (int o = 1; o < size_; o++) if (o != r) send_to(o, m); // relay
                    e.kind = PeerEvent::Ended, e.code = m.a, e.rank = m.b;
                    return e;
                }
            }
            if (closed_ == r && !left_[r]) {
                e.kind = PeerEvent::Lost, e.rank = r, e.closed = true;
                return e;
            }
            if (now - heard_[r] > kPeerSilenceS) {
                e.kind = PeerEvent::Lost, e.rank = r;
                return e;
            }
        }
        return e;
    }
    long min_enqueued() const override {
        if (rank_ != 0) return enq_[0] < enq_[rank_] ? enq_[0] : enq_[rank_];
        long m = enq_[0];
        for (int r = 1; r < size_; r++) if (!left_[r] && enq_[r] < m) m = enq_[r];
        return m;
    }
    bool announce_end(int* code) override {
        const Msg m{kEnd, *code, rank_};
        if (rank_ != 0) send_to(0, m); // rank 0 relays it
        else for (int r = 1; r < size_; r++) send_to(r, m);
        return true;
    }
    void leave() override {
        for (int r = 0; r < size_; r++) if (!left_[r]) send_to(r, {kBye, 0, 0});
    }

private:
    enum : int32_t { kBeat = 1, kEnd = 2, kBye = 3 };
    struct Msg { int32_t type, a, b; };
    void send_to(int r, Msg m) {
        if (fds_[r] >= 0) send(fds_[r], &m, sizeof m, MSG_NOSIGNAL); // 12 bytes; a failure shows as the peer's EOF
    }
    int rank_, size_, closed_ = -1;
    std::vector<int> fds_;
    std::vector<long> enq_;
    std::vector<double> heard_;
    std::vector<bool> left_;
    std::vector<std::string> buf_;
};
