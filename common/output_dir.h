// The -o directory of a run, shared by both trainers: created with its parents, held under
// an exclusive lock for the run's lifetime, and never mixed with another run's checkpoints.
//
// - Lock: DIR/.lock is flock()ed (released by the kernel when the process ends, however it
//   ends) and holds the owner's pid. A second trainer on the same DIR stops with one line
//   instead of writing a "complete" checkpoint pair whose halves come from two runs.
// - A fresh run (-y 0) into a DIR that holds checkpoints is refused: a later -y 1 would
//   silently resume the other run. --overwrite deletes them (and their logs) first.
#pragma once
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "checkpoint.h"
#include "utils.h"

namespace output_dir_detail {
// model_*.bin, state_*.bin and their .tmp files: everything a checkpoint write leaves; and the
// DONE_* marker of a finished run (a fresh run must not inherit it).
inline std::vector<std::string> checkpoint_files(const std::string& dir) {
    std::vector<std::string> names;
    DIR* d = opendir(dir.c_str());
    if (!d) return names;
    while (struct dirent* e = readdir(d)) {
        const std::string name = e->d_name;
        if (((name.rfind("model_", 0) == 0 || name.rfind("state_", 0) == 0) && name.find(".bin") != std::string::npos) ||
            name.rfind("DONE_", 0) == 0)
            names.push_back(name);
    }
    closedir(d);
    return names;
}
} // namespace output_dir_detail

// Call before anything is written into dir. resume: -y 1; overwrite: --overwrite.
inline void claim_output_dir(const std::string& dir, bool resume, bool overwrite) {
    make_directories_or_fail(dir);
    const std::string lock_path = dir + "/.lock";
    const int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) fail_usage("cannot create the lock file '%s' (%s)", lock_path.c_str(), strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = {0};
        const ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        fail_usage("output directory '%s' is in use by another run (pid %s); give each run its own -o", dir.c_str(),
                   n > 0 ? pid : "unknown");
    }
    // The descriptor stays open (and locked) until the process exits.
    const std::string me = std::to_string((long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, me.data(), me.size(), 0) != (ssize_t)me.size())
        fail_usage("cannot write the lock file '%s' (%s)", lock_path.c_str(), strerror(errno));
    if (resume) return;
    const std::vector<std::string> old = output_dir_detail::checkpoint_files(dir);
    if (old.empty()) return;
    if (!overwrite) {
        const int latest = latest_checkpoint_step(dir);
        fail_usage("output directory '%s' already holds checkpoints of another run (%s); resume it with -y 1, or pass "
                   "--overwrite to delete them and start fresh", dir.c_str(),
                   latest >= 0 ? ("latest step " + std::to_string(latest)).c_str() : "incomplete ones");
    }
    for (const std::string& name : old)
        if (unlink((dir + "/" + name).c_str()) != 0 && errno != ENOENT)
            fail_usage("--overwrite: cannot delete '%s/%s' (%s)", dir.c_str(), name.c_str(), strerror(errno));
    printf("--overwrite: deleted %zu checkpoint file(s) of an earlier run in %s\n", old.size(), dir.c_str());
}
