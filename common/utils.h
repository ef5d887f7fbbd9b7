// Small host-side helpers shared by the CPU trainer, the CUDA trainer, tests and dev/cuda.
// Every fatal error is one line on stderr that names the problem, then a non-zero exit.
#pragma once
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <unistd.h>

// Exit codes: 2 for bad user input (flags, files), 1 for runtime failures.
enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

[[noreturn]] inline void fail_with(int code, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "error: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    fflush(stderr);
    exit(code);
}
#define fail_usage(...) fail_with(EXIT_USAGE, __VA_ARGS__)
#define fail_runtime(...) fail_with(EXIT_RUNTIME, __VA_ARGS__)

inline FILE* open_or_fail(const char* path, const char* mode) {
    FILE* f = fopen(path, mode);
    if (!f) fail_usage("cannot open '%s' (%s)", path, strerror(errno));
    return f;
}

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
// new one, never a half-written one (at worst a stray .tmp, which readers ignore).
inline void write_file_atomically(const std::string& path, const void* header, size_t header_bytes,
                                  const void* body, size_t body_bytes) {
    const std::string tmp = path + ".tmp";
    FILE* f = fopen(tmp.c_str(), "wb");
    if (!f) fail_runtime("cannot create '%s' (%s)", tmp.c_str(), strerror(errno));
    write_exact(f, header, header_bytes, tmp.c_str());
    write_exact(f, body, body_bytes, tmp.c_str());
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) fail_runtime("cannot flush '%s' (%s)", tmp.c_str(), strerror(errno));
    fclose(f);
    if (rename(tmp.c_str(), path.c_str()) != 0) fail_runtime("cannot rename '%s' to '%s' (%s)", tmp.c_str(), path.c_str(), strerror(errno));
}
