// Minimal test reporting shared by every C++/CUDA test. Each check prints one line,
//   PASS <name> ...   FAIL <name>: <why>   SKIP <name>: <why>
// and test/run_tests.sh counts those lines for the closing "N passed, N failed, N skipped".
// A test program exits 1 when any of its checks failed.
#pragma once
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <string>

// Under the CPU emulator of CUDA (test/cuda_emu) every verdict name starts with "emu/", so an
// emulated result is never mistaken for a GPU result.
#if defined(CUDA_EMULATION)
#define TEST_NAME_PREFIX "emu/"
#else
#define TEST_NAME_PREFIX ""
#endif

struct TestTally { int passed = 0, failed = 0, skipped = 0; };
inline TestTally& test_tally() { static TestTally t; return t; }

inline void test_report(const char* verdict, const std::string& name, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    printf("%s " TEST_NAME_PREFIX "%s%s%s\n", verdict, name.c_str(), msg[0] ? (verdict[0] == 'P' ? " " : ": ") : "", msg);
    fflush(stdout);
}
inline bool test_pass(const std::string& name, const std::string& detail = "") { test_tally().passed++; test_report("PASS", name, "%s", detail.c_str()); return true; }
inline bool test_fail(const std::string& name, const std::string& why) { test_tally().failed++; test_report("FAIL", name, "%s", why.c_str()); return false; }
inline void test_skip(const std::string& name, const std::string& why) { test_tally().skipped++; test_report("SKIP", name, "%s", why.c_str()); }
inline bool test_expect(bool ok, const std::string& name, const std::string& why_if_not) {
    return ok ? test_pass(name) : test_fail(name, why_if_not);
}

// Relative error ||out - ref|| / ||ref|| in double; NaN or Inf anywhere gives +inf.
// A reference that is all zeros gives +inf too, since no comparison against it can fail.
template <typename A, typename B>
inline double relative_error(const A* out, const B* ref, size_t n) {
    double diff = 0, norm = 0;
    for (size_t i = 0; i < n; i++) {
        const double o = (double)out[i], r = (double)ref[i];
        if (!std::isfinite(o) || !std::isfinite(r)) return INFINITY;
        diff += (o - r) * (o - r);
        norm += r * r;
    }
    if (norm == 0) return INFINITY;
    return std::sqrt(diff / norm);
}

// Checks relative error under tol; the line names the tensor and its error either way.
template <typename A, typename B>
inline bool check_close(const std::string& name, const A* out, const B* ref, size_t n, double tol) {
    const double err = relative_error(out, ref, n);
    char buf[160];
    snprintf(buf, sizeof buf, "rel err %.3e (tol %.1e, n=%zu)", err, tol, n);
    return err < tol ? test_pass(name, buf) : test_fail(name, buf);
}

inline int test_exit_code() {
    const TestTally& t = test_tally();
    fprintf(stderr, "[%d passed, %d failed, %d skipped in this program]\n", t.passed, t.failed, t.skipped);
    return t.failed ? 1 : 0;
}
