// Named-tensor files: the format of the PyTorch oracle's debug state (test/gpt2_oracle.py
// writes it, the C++ and CUDA tests read it) and of checkpoint state files. Little-endian:
//
//   header: 256 x int32: [0] magic 20261123, [1] version (2; 1 is read too), [2] number of
//           records, [3],[4] (version 2) checksum lo, hi, rest 0
//   each record:
//     int32 name_length, name bytes (no terminator)
//     int32 dtype: 0 = float32, 1 = int32, 2 = bytes (a UTF-8 string)
//     int32 ndim, int32 dims[ndim]
//     the elements, row-major
//   and nothing after the last record.
//
// Checksum (version 2): record r is two chunks, its metadata (name_length .. dims) with
// index 2r and its elements with index 2r+1; a chunk of n bytes read as little-endian
// uint64 words w_i (the last one zero-padded) adds
//   sum_i splitmix64(w_i + i*0xD1B54A32D192ED03 + splitmix64(index)) + splitmix64(n + splitmix64(index))
// and the checksum is the sum over all chunks mod 2^64. A flipped bit changes one word,
// and splitmix64 is a bijection, so it changes the sum; the terms are independent, so
// the chunks hash in parallel. test/named_tensors.py computes the same with numpy.
//
// Loading checks every length against the bytes left in the file before it allocates
// anything, so a corrupt header cannot ask for gigabytes.
//
// Record names used by the debug state are documented in test/gpt2_oracle.py.
#pragma once
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "rng.h"
#include "utils.h"

enum { NAMED_TENSORS_MAGIC = 20261123, NAMED_TENSORS_VERSION = 2 };
enum class TensorDtype : int32_t { Float32 = 0, Int32 = 1, Bytes = 2 };

struct NamedTensor {
    TensorDtype dtype = TensorDtype::Float32;
    std::vector<int> dims;
    std::vector<float> f32;   // dtype Float32
    std::vector<int32_t> i32; // dtype Int32
    std::string bytes;        // dtype Bytes
    size_t numel() const {
        size_t n = 1;
        for (int d : dims) n *= (size_t)d;
        return n;
    }
};

namespace named_tensors_detail {
inline uint64_t chunk_checksum(const void* data, size_t n, uint64_t index) {
    const uint64_t salt = splitmix64(index);
    const unsigned char* p = (const unsigned char*)data;
    const size_t words = n / 8;
    uint64_t sum = 0;
#pragma omp parallel for reduction(+ : sum) if (words > (1u << 20))
    for (size_t i = 0; i < words; i++) {
        uint64_t w;
        memcpy(&w, p + 8 * i, 8);
        sum += splitmix64(w + i * 0xD1B54A32D192ED03ull + salt);
    }
    if (n % 8) {
        uint64_t w = 0;
        memcpy(&w, p + 8 * words, n % 8);
        sum += splitmix64(w + words * 0xD1B54A32D192ED03ull + salt);
    }
    return sum + splitmix64(n + salt);
}
const int kMaxNameLength = 4096, kMaxDims = 8;
} // namespace named_tensors_detail

class NamedTensorFile {
public:
    std::map<std::string, NamedTensor> records;

    void load(const std::string& path) {
        using namespace named_tensors_detail;
        FILE* f = open_or_fail(path.c_str(), "rb");
        const long size = file_size_or_fail(f, path.c_str());
        int32_t header[256];
        if (size < (long)sizeof header) fail_usage("'%s' is truncated: %ld bytes, shorter than the named-tensor header", path.c_str(), size);
        read_exact(f, header, sizeof header, path.c_str());
        if (header[0] != NAMED_TENSORS_MAGIC) fail_usage("'%s' is not a named-tensor file (bad magic %d)", path.c_str(), header[0]);
        if (header[1] != 1 && header[1] != NAMED_TENSORS_VERSION)
            fail_usage("'%s': unsupported named-tensor version %d", path.c_str(), header[1]);
        long left = size - (long)sizeof header;  // bytes not yet read
        // Reads n bytes of the rest of the file, or fails naming what did not fit.
        auto take = [&](void* dst, long n, const char* what, const std::string& record) {
            if (n < 0 || n > left)
                fail_usage("'%s' is corrupt: %s of record '%s' needs %ld bytes, %ld are left", path.c_str(), what,
                           record.c_str(), n, left);
            read_exact(f, dst, (size_t)n, path.c_str());
            left -= n;
        };
        if (header[2] < 0 || header[2] > left / 12)
            fail_usage("'%s' is corrupt: %d records cannot fit in %ld bytes", path.c_str(), header[2], left);
        uint64_t checksum = 0;
        for (int r = 0; r < header[2]; r++) {
            const std::string at = "#" + std::to_string(r);
            int32_t len;
            take(&len, 4, "the name length", at);
            if (len < 1 || len > kMaxNameLength)
                fail_usage("'%s' is corrupt: record %d has name length %d (want 1..%d)", path.c_str(), r, len, kMaxNameLength);
            std::string name(len, '\0');
            take(&name[0], len, "the name", at);
            NamedTensor t;
            int32_t dtype, ndim;
            take(&dtype, 4, "the dtype", name);
            take(&ndim, 4, "the rank", name);
            if (dtype < 0 || dtype > 2) fail_usage("'%s': record '%s' has unknown dtype %d", path.c_str(), name.c_str(), dtype);
            if (ndim < 0 || ndim > kMaxDims) fail_usage("'%s' is corrupt: record '%s' has %d dims", path.c_str(), name.c_str(), ndim);
            t.dtype = (TensorDtype)dtype;
            t.dims.resize(ndim);
            if (ndim) take(t.dims.data(), 4L * ndim, "the dims", name);
            const long elem = t.dtype == TensorDtype::Bytes ? 1 : 4;
            long bytes = elem;
            for (int d : t.dims) {
                if (d < 0) fail_usage("'%s' is corrupt: record '%s' has a negative dim %d", path.c_str(), name.c_str(), d);
                if (d && bytes > left / d) bytes = left + 1;  // more than the file holds: take() names it
                else bytes *= d;
            }
            std::string meta((const char*)&len, 4);
            meta += name;
            meta.append((const char*)&dtype, 4).append((const char*)&ndim, 4).append((const char*)t.dims.data(), 4 * ndim);
            if (bytes > left) take(nullptr, bytes, "the elements", name);
            const size_t n = (size_t)(bytes / elem);
            void* dst;
            if (t.dtype == TensorDtype::Float32) { t.f32.resize(n); dst = t.f32.data(); }
            else if (t.dtype == TensorDtype::Int32) { t.i32.resize(n); dst = t.i32.data(); }
            else { t.bytes.resize(n); dst = &t.bytes[0]; }
            take(dst, bytes, "the elements", name);
            checksum += chunk_checksum(meta.data(), meta.size(), 2 * (uint64_t)r) + chunk_checksum(dst, bytes, 2 * (uint64_t)r + 1);
            records[name] = std::move(t);
        }
        fclose(f);
        if (left != 0) fail_usage("'%s' is corrupt: %ld bytes after the last record", path.c_str(), left);
        const uint64_t stored = (uint64_t)(uint32_t)header[3] | ((uint64_t)(uint32_t)header[4] << 32);
        if (header[1] == 2 && checksum != stored)
            fail_usage("'%s' is corrupt: checksum %016llx, the header says %016llx (a changed byte?)", path.c_str(),
                       (unsigned long long)checksum, (unsigned long long)stored);
    }

    bool has(const std::string& name) const { return records.count(name) != 0; }

    const NamedTensor& get(const std::string& name) const {
        auto it = records.find(name);
        if (it == records.end()) fail_usage("named-tensor file has no record '%s'", name.c_str());
        return it->second;
    }
    const std::vector<float>& f32(const std::string& name) const { return get(name).f32; }
    const std::vector<int32_t>& i32(const std::string& name) const { return get(name).i32; }
    const std::string& str(const std::string& name) const { return get(name).bytes; }

    void put_f32(const std::string& name, std::vector<int> dims, const float* data) {
        NamedTensor t;
        t.dtype = TensorDtype::Float32;
        t.dims = std::move(dims);
        t.f32.assign(data, data + t.numel());
        records[name] = std::move(t);
    }

    void put_i32(const std::string& name, std::vector<int> dims, const int32_t* data) {
        NamedTensor t;
        t.dtype = TensorDtype::Int32;
        t.dims = std::move(dims);
        t.i32.assign(data, data + t.numel());
        records[name] = std::move(t);
    }
    void put_str(const std::string& name, const std::string& value) {
        NamedTensor t;
        t.dtype = TensorDtype::Bytes;
        t.dims = {(int)value.size()};
        t.bytes = value;
        records[name] = std::move(t);
    }

    // The whole file as bytes, in the format above.
    std::string serialize() const {
        std::string out;
        auto put = [&](const void* p, size_t n) { out.append((const char*)p, n); };
        int32_t header[256] = {NAMED_TENSORS_MAGIC, NAMED_TENSORS_VERSION, (int32_t)records.size()};
        put(header, sizeof header);
        uint64_t checksum = 0, r = 0;
        for (const auto& kv : records) {
            const NamedTensor& t = kv.second;
            int32_t len = (int32_t)kv.first.size(), dtype = (int32_t)t.dtype, ndim = (int32_t)t.dims.size();
            const size_t meta_start = out.size();
            put(&len, 4);
            put(kv.first.data(), len);
            put(&dtype, 4);
            put(&ndim, 4);
            put(t.dims.data(), 4 * ndim);
            const size_t data_start = out.size();
            if (t.dtype == TensorDtype::Float32) put(t.f32.data(), 4 * t.f32.size());
            else if (t.dtype == TensorDtype::Int32) put(t.i32.data(), 4 * t.i32.size());
            else put(t.bytes.data(), t.bytes.size());
            checksum += named_tensors_detail::chunk_checksum(out.data() + meta_start, data_start - meta_start, 2 * r) +
                        named_tensors_detail::chunk_checksum(out.data() + data_start, out.size() - data_start, 2 * r + 1);
            r++;
        }
        header[3] = (int32_t)(uint32_t)checksum;
        header[4] = (int32_t)(uint32_t)(checksum >> 32);
        memcpy(&out[0], header, sizeof header);
        return out;
    }

    void save(const std::string& path) const {
        const std::string bytes = serialize();
        FILE* f = open_or_fail(path.c_str(), "wb");
        write_exact(f, bytes.data(), bytes.size(), path.c_str());
        fclose(f);
    }
    // Temporary file, fsync, rename (write_file_atomically): what checkpoints use.
    void save_atomically(const std::string& path) const {
        std::string error;
        if (!try_save_atomically(path, &error)) fail_runtime("%s", error.c_str());
    }
    bool try_save_atomically(const std::string& path, std::string* error) const {
        const std::string bytes = serialize();
        return try_write_file_atomically(path, nullptr, 0, bytes.data(), bytes.size(), error);
    }
};
