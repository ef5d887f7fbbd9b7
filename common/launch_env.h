// Rank, world size and local rank from the launcher's environment, and the GPU a rank uses.
// Pure functions (the environment comes in as a lookup), so test/test_train_config.cpp checks
// every case on the host; common/comm_mpi.h and common/comm_nccl.cuh call them with getenv.
//
// Launchers, first found wins (docs/clusters.md):
//   Open MPI's mpirun: OMPI_COMM_WORLD_RANK, _SIZE, _LOCAL_RANK
//   PMI (MPICH's mpiexec, srun --mpi=pmi2): PMI_RANK, PMI_SIZE (local rank: MPI_LOCALRANKID if set)
//   Slurm's srun: SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID
// mpirun inside a Slurm allocation sets both OMPI_* and SLURM_*; SLURM_PROCID then describes
// the batch step, not the MPI rank, so OMPI_/PMI_ win and SLURM_* are not compared with them.
// -pn/-pr given on the command line must agree with the launcher's values (else one error line);
// without a launcher they are the only source. The local rank is the launcher's, else rank % -pg.
#pragma once
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <functional>
#include <string>

#include "comm.h"

// name -> value, or nullptr when unset (getenv in the trainers, a map in the tests)
using EnvLookup = std::function<const char*(const char*)>;
inline EnvLookup process_env() { return [](const char* name) -> const char* { return getenv(name); }; }

struct LaunchRanks {
    int rank = 0, size = 1, local_rank = 0;
    std::string launcher;  // "OMPI", "PMI", "SLURM", or "" (flags or defaults)
    std::string size_from; // what gave the size, for error lines: "SLURM_NTASKS=4", "-pn 4"
};

namespace launch_env_detail {
struct LauncherVars { const char* name; const char* rank; const char* size; const char* local_rank; };
// value of `var` as a whole number >= 0, or an error naming it
inline bool read_count(const EnvLookup& env, const char* var, int* out, std::string* error) {
    const char* v = env(var);
    if (!v) { *error = std::string(var) + " is unset"; return false; }
    errno = 0;
    char* end = nullptr;
    const long x = strtol(v, &end, 10);
    if (end == v || *end != '\0' || errno != 0 || x < 0 || x > INT_MAX) {
        *error = std::string(var) + "='" + v + "' is not a whole number >= 0";
        return false;
    }
    *out = (int)x;
    return true;
}
} // namespace launch_env_detail

// Fills *out from the launcher's environment and the flags in d; false with a one-line *error
// (e.g. "-pr 1 contradicts SLURM_PROCID=3") when they disagree or a variable is malformed.
inline bool resolve_launch_ranks(const DistConfig& d, const EnvLookup& env, LaunchRanks* out, std::string* error) {
    using namespace launch_env_detail;
    static const LauncherVars launchers[] = {
        {"OMPI", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"},
        {"PMI", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"},
        {"SLURM", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"},
    };
    LaunchRanks r;
    for (const LauncherVars& l : launchers) {
        if (!env(l.rank) && !env(l.size)) continue;
        if (!read_count(env, l.rank, &r.rank, error) || !read_count(env, l.size, &r.size, error)) return false;
        if (r.size < 1) { *error = std::string(l.size) + "=0: a job has at least one process"; return false; }
        if (r.rank >= r.size) {
            *error = std::string(l.rank) + "=" + env(l.rank) + " is not below " + l.size + "=" + env(l.size);
            return false;
        }
        if (d.num_processes_given && d.num_processes != r.size) {
            *error = "-pn " + std::to_string(d.num_processes) + " contradicts " + l.size + "=" + env(l.size) + " (leave -pn out under a launcher)";
            return false;
        }
        if (d.process_rank_given && d.process_rank != r.rank) {
            *error = "-pr " + std::to_string(d.process_rank) + " contradicts " + l.rank + "=" + env(l.rank) + " (leave -pr out under a launcher)";
            return false;
        }
        r.launcher = l.name;
        r.size_from = std::string(l.size) + "=" + env(l.size);
        if (env(l.local_rank)) {
            if (!read_count(env, l.local_rank, &r.local_rank, error)) return false;
        } else {
            r.local_rank = r.rank % d.gpus_per_node;
        }
        *out = r;
        return true;
    }
    r.rank = d.process_rank, r.size = d.num_processes;
    if (r.rank >= r.size) {
        *error = "-pr " + std::to_string(r.rank) + " is not below -pn " + std::to_string(r.size);
        return false;
    }
    r.local_rank = r.rank % d.gpus_per_node;
    r.size_from = "-pn " + std::to_string(r.size);
    *out = r;
    return true;
}

// The CUDA device of a rank among `devices` visible ones: local_rank % devices, so one GPU per
// rank (Slurm's --gpus-per-task=1, or CUDA_VISIBLE_DEVICES per rank: one visible) is device 0,
// and all the node's GPUs visible to every rank is the local rank. -1 with *error when none.
inline int choose_gpu(int local_rank, int devices, std::string* error) {
    if (devices < 1) { *error = "train_gpt2cu needs a CUDA GPU and found none (use train_gpt2cpu for the CPU)"; return -1; }
    if (local_rank < 0) { *error = "local rank " + std::to_string(local_rank) + " is negative"; return -1; }
    return local_rank % devices;
}
