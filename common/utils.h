// Small host-side helpers shared by the CPU trainer, the CUDA trainer, tests and dev/cuda.
// Every fatal error is one line on stderr that names the problem, then a non-zero exit.
#pragma once
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

// Exit codes: 2 for bad user input (flags, files), 1 for runtime failures.
enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

// Set by a multi-process run (common/comm.h): every error line names the failing rank, and
// end_job ends all processes of the job (MPI_Abort), so no other rank waits forever.
struct FailHook {
    int rank = -1;                      // -1: a single-process run, no rank in the line
    void (*end_job)(int code) = nullptr; // nullptr: exit(code)
};
inline FailHook& fail_hook() {
    static FailHook hook;
    return hook;
}

[[noreturn]] inline void fail_with(int code, const char* fmt, ...) {
    // the whole line in one write: under mpirun, MPI_Abort's banner travels another way and
    // could otherwise land between the prefix and the message
    char line[4096];
    int n = fail_hook().rank >= 0 ? snprintf(line, sizeof line, "error: rank %d: ", fail_hook().rank) : snprintf(line, sizeof line, "error: ");
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
    line[n] = '\n';
    fwrite(line, 1, n + 1, stderr);
    fflush(stderr);
    fflush(stdout);
    if (fail_hook().end_job) fail_hook().end_job(code);
    exit(code);
}
#define fail_usage(...) fail_with(EXIT_USAGE, __VA_ARGS__)
#define fail_runtime(...) fail_with(EXIT_RUNTIME, __VA_ARGS__)

// Every input file goes through here: fopen succeeds on a directory on Linux (the reads
// fail later, which would read as "truncated"), so a directory is named as one.
inline FILE* open_or_fail(const char* path, const char* mode) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) fail_usage("'%s' is a directory, not a file", path);
    FILE* f = fopen(path, mode);
    if (!f) fail_usage("cannot open '%s' (%s)", path, strerror(errno));
    return f;
}

// Creates dir and its missing parents (mkdir -p), or fails naming the reason.
inline void make_directories_or_fail(const std::string& dir) {
    for (size_t i = 1; i <= dir.size(); i++) {
        if (i < dir.size() && dir[i] != '/') continue;
        const std::string prefix = dir.substr(0, i);
        struct stat st;
        if (stat(prefix.c_str(), &st) == 0) {
            if (!S_ISDIR(st.st_mode)) fail_usage("cannot create output directory '%s' ('%s' is not a directory)", dir.c_str(), prefix.c_str());
            continue;
        }
        const int stat_errno = errno;
        // stat failed but the name exists: a symlink to nowhere (mkdir would say only EEXIST)
        char target[4096];
        const ssize_t n = readlink(prefix.c_str(), target, sizeof target - 1);
        if (n >= 0)
            fail_usage("cannot create output directory '%s': '%s' is a symlink to '%.*s', which does not resolve (%s)", dir.c_str(),
                       prefix.c_str(), (int)n, target, strerror(stat_errno));
        if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST)
            fail_usage("cannot create output directory '%s' (%s)", dir.c_str(), strerror(errno));
    }
}

// stdout line-buffered even when redirected: progress and plan lines reach a log file in
// order with the error lines on stderr, and a killed run loses nothing already printed.
inline void line_buffer_stdout() { setvbuf(stdout, nullptr, _IOLBF, 0); }

inline void read_exact(FILE* f, void* dst, size_t bytes, const char* path) {
    if (fread(dst, 1, bytes, f) != bytes) fail_usage("'%s' is truncated (wanted %zu more bytes)", path, bytes);
}

inline void write_exact(FILE* f, const void* src, size_t bytes, const char* path) {
    if (fwrite(src, 1, bytes, f) != bytes) fail_runtime("write to '%s' failed (%s)", path, strerror(errno));
}

inline long file_size_or_fail(FILE* f, const char* path) {
    if (fseek(f, 0, SEEK_END) != 0) fail_usage("cannot seek '%s'", path);
    long size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) fail_usage("cannot seek '%s'", path);
    return size;
}

// Writes header then body to path atomically: a temporary file path + ".tmp" is written,
// flushed to disk, then renamed over path, so a crash leaves either the old file or the
// new one, never a half-written one (at worst a stray .tmp, which readers ignore). On a
// failure (disk full, no permission) the .tmp is removed and *error says why; the old file
// at path, if any, is untouched.
inline bool try_write_file_atomically(const std::string& path, const void* header, size_t header_bytes,
                                      const void* body, size_t body_bytes, std::string* error) {
    const std::string tmp = path + ".tmp";
    auto failed = [&](const char* what, FILE* f) {
        *error = std::string(what) + " '" + tmp + "' (" + strerror(errno) + ")";
        if (f) fclose(f);
        unlink(tmp.c_str());
        return false;
    };
    FILE* f = fopen(tmp.c_str(), "wb");
    if (!f) return failed("cannot create", nullptr);
    if (header_bytes && fwrite(header, 1, header_bytes, f) != header_bytes) return failed("write failed to", f);
    if (body_bytes && fwrite(body, 1, body_bytes, f) != body_bytes) return failed("write failed to", f);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) return failed("cannot flush", f);
    if (fclose(f) != 0) return failed("cannot close", nullptr);
    if (rename(tmp.c_str(), path.c_str()) != 0) {
        *error = "cannot rename '" + tmp + "' to '" + path + "' (" + strerror(errno) + ")";
        unlink(tmp.c_str());
        return false;
    }
    return true;
}
inline void write_file_atomically(const std::string& path, const void* header, size_t header_bytes,
                                  const void* body, size_t body_bytes) {
    std::string error;
    if (!try_write_file_atomically(path, header, header_bytes, body, body_bytes, &error)) fail_runtime("%s", error.c_str());
}
