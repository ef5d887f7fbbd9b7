// The cost of MpiComm's timeout (common/comm_mpi.h): its polled non-blocking all-reduce against a
// blocking MPI_Allreduce of the same buffer, interleaved, on a 1-float buffer (latency) and on
// d2's gradient (3,385,088 floats).
//   mpicxx -std=c++17 -O2 -DUSE_MPI -I. dev/bench_mpi_comm.cpp -o build/bench_mpi_comm
//   mpirun --oversubscribe -np 2 build/bench_mpi_comm
#include <chrono>
#include <cstdio>
#include <vector>

#include "common/comm_mpi.h"

int main() {
    MpiComm comm;
    for (size_t n : {(size_t)1, (size_t)3385088}) {
        std::vector<float> buf(n, 1.0f);
        const int iters = n == 1 ? 2000 : 40, reps = 5;
        double blocking_ms = 0, polled_ms = 0;
        for (int rep = 0; rep < reps; rep++) {
            MPI_Barrier(MPI_COMM_WORLD);
            const auto t0 = std::chrono::steady_clock::now();
            for (int i = 0; i < iters; i++) MPI_Allreduce(MPI_IN_PLACE, buf.data(), (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            const auto t1 = std::chrono::steady_clock::now();
            MPI_Barrier(MPI_COMM_WORLD);
            const auto t2 = std::chrono::steady_clock::now();
            for (int i = 0; i < iters; i++) comm.all_reduce_sum(buf.data(), n, CommDtype::F32);
            const auto t3 = std::chrono::steady_clock::now();
            blocking_ms += std::chrono::duration<double, std::milli>(t1 - t0).count();
            polled_ms += std::chrono::duration<double, std::milli>(t3 - t2).count();
        }
        if (comm.rank() == 0)
            printf("all-reduce of %zu floats on %d ranks: blocking MPI_Allreduce %.1f us, MpiComm (polled MPI_Iallreduce) %.1f us per call "
                   "(%d x %d calls each, interleaved)\n", n, comm.size(), 1e3 * blocking_ms / (reps * iters), 1e3 * polled_ms / (reps * iters),
                   iters, reps);
    }
}
