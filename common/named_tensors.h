// Named-tensor files: the format of the PyTorch oracle's debug state (test/gpt2_oracle.py
// writes it, the C++ and CUDA tests read it). Little-endian throughout:
//
//   header: 256 x int32: [0] magic 20261123, [1] version 1, [2] number of records, rest 0
//   each record:
//     int32 name_length, name bytes (no terminator)
//     int32 dtype: 0 = float32, 1 = int32, 2 = bytes (a UTF-8 string)
//     int32 ndim, int32 dims[ndim]
//     the elements, row-major
//
// Record names used by the debug state are documented in test/gpt2_oracle.py.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "utils.h"

enum { NAMED_TENSORS_MAGIC = 20261123, NAMED_TENSORS_VERSION = 1 };
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

class NamedTensorFile {
public:
    std::map<std::string, NamedTensor> records;

    void load(const std::string& path) {
        FILE* f = open_or_fail(path.c_str(), "rb");
        int32_t header[256];
        read_exact(f, header, sizeof header, path.c_str());
        if (header[0] != NAMED_TENSORS_MAGIC) fail_usage("'%s' is not a named-tensor file (bad magic %d)", path.c_str(), header[0]);
        if (header[1] != NAMED_TENSORS_VERSION) fail_usage("'%s': unsupported named-tensor version %d", path.c_str(), header[1]);
        for (int r = 0; r < header[2]; r++) {
            int32_t len;
            read_exact(f, &len, 4, path.c_str());
            std::string name(len, '\0');
            read_exact(f, &name[0], len, path.c_str());
            NamedTensor t;
            int32_t dtype, ndim;
            read_exact(f, &dtype, 4, path.c_str());
            read_exact(f, &ndim, 4, path.c_str());
            t.dtype = (TensorDtype)dtype;
            t.dims.resize(ndim);
            if (ndim) read_exact(f, t.dims.data(), 4 * ndim, path.c_str());
            const size_t n = t.numel();
            if (t.dtype == TensorDtype::Float32) { t.f32.resize(n); read_exact(f, t.f32.data(), 4 * n, path.c_str()); }
            else if (t.dtype == TensorDtype::Int32) { t.i32.resize(n); read_exact(f, t.i32.data(), 4 * n, path.c_str()); }
            else if (t.dtype == TensorDtype::Bytes) { t.bytes.resize(n); read_exact(f, &t.bytes[0], n, path.c_str()); }
            else fail_usage("'%s': record '%s' has unknown dtype %d", path.c_str(), name.c_str(), dtype);
            records[name] = std::move(t);
        }
        fclose(f);
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
        for (const auto& kv : records) {
            const NamedTensor& t = kv.second;
            int32_t len = (int32_t)kv.first.size(), dtype = (int32_t)t.dtype, ndim = (int32_t)t.dims.size();
            put(&len, 4);
            put(kv.first.data(), len);
            put(&dtype, 4);
            put(&ndim, 4);
            put(t.dims.data(), 4 * ndim);
            if (t.dtype == TensorDtype::Float32) put(t.f32.data(), 4 * t.f32.size());
            else if (t.dtype == TensorDtype::Int32) put(t.i32.data(), 4 * t.i32.size());
            else put(t.bytes.data(), t.bytes.size());
        }
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
        const std::string bytes = serialize();
        write_file_atomically(path, nullptr, 0, bytes.data(), bytes.size());
    }
};
