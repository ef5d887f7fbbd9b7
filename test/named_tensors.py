"""Named-tensor files in Python (numpy): the format of common/named_tensors.h.

Little-endian throughout:
  header: 256 x int32: [0] magic 20261123, [1] version 2 (1 is read too), [2] number of
          records, [3], [4] checksum lo, hi (version 2), rest 0
  each record: int32 name_length, name bytes, int32 dtype (0 float32, 1 int32, 2 bytes),
               int32 ndim, int32 dims[ndim], the elements row-major
  The checksum is defined in common/named_tensors.h; chunk_checksum() below is the same sum.

write_named_tensors(path, records) takes an ordered mapping name -> value, where a value
is a numpy float32 or int32 array (any other float/int dtype is refused, so nothing is
converted silently) or a Python bytes/str (stored as dtype 2 with dims [length]).
read_named_tensors(path) returns a dict name -> numpy array (float32/int32) or bytes.
"""
import struct

import numpy as np

MAGIC = 20261123
VERSION = 2
DTYPE_FLOAT32, DTYPE_INT32, DTYPE_BYTES = 0, 1, 2
HEADER_INTS = 256


class NamedTensorError(Exception):
    pass


_POSITION = np.uint64(0xD1B54A32D192ED03)


def _splitmix64(x):
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def chunk_checksum(chunk, index):
    """The checksum term of one chunk (common/named_tensors.h), an int mod 2^64."""
    salt = _splitmix64(np.uint64(index))
    padded = bytes(chunk) + b"\0" * (-len(chunk) % 8)
    words = np.frombuffer(padded, dtype="<u8")
    with np.errstate(over="ignore"):
        terms = _splitmix64(words + np.arange(len(words), dtype=np.uint64) * _POSITION + salt)
        total = int(terms.sum(dtype=np.uint64)) if len(words) else 0
    return (total + int(_splitmix64(np.uint64(len(chunk)) + salt))) % (1 << 64)


def _encode(name, value):
    """Returns (dtype code, dims, payload bytes) of one record."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    if isinstance(value, (bytes, bytearray)):
        return DTYPE_BYTES, [len(value)], bytes(value)
    if not isinstance(value, np.ndarray):
        raise NamedTensorError("record '%s': want a numpy array or bytes, got %s" % (name, type(value).__name__))
    if value.dtype == np.float32:
        code = DTYPE_FLOAT32
    elif value.dtype == np.int32:
        code = DTYPE_INT32
    else:
        raise NamedTensorError("record '%s': dtype %s is neither float32 nor int32" % (name, value.dtype))
    little = value.astype(value.dtype.newbyteorder("<"), copy=False)
    return code, list(value.shape), np.ascontiguousarray(little).tobytes()


def write_named_tensors(path, records):
    body, checksum = [], 0
    for r, (name, value) in enumerate(records.items()):
        code, dims, payload = _encode(name, value)
        name_bytes = name.encode("utf-8")
        meta = struct.pack("<i", len(name_bytes)) + name_bytes + struct.pack("<ii", code, len(dims)) + \
            struct.pack("<%di" % len(dims), *dims)
        checksum = (checksum + chunk_checksum(meta, 2 * r) + chunk_checksum(payload, 2 * r + 1)) % (1 << 64)
        body += [meta, payload]
    header = np.zeros(HEADER_INTS, dtype="<u4")
    header[0], header[1], header[2] = MAGIC, VERSION, len(records)
    header[3], header[4] = checksum & 0xFFFFFFFF, checksum >> 32
    with open(path, "wb") as f:
        f.write(header.tobytes())
        for chunk in body:
            f.write(chunk)


def read_named_tensors(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 4 * HEADER_INTS:
        raise NamedTensorError("'%s' is too short for a named-tensor header" % path)
    header = np.frombuffer(data, dtype="<i4", count=HEADER_INTS)
    if header[0] != MAGIC:
        raise NamedTensorError("'%s' is not a named-tensor file (bad magic %d)" % (path, header[0]))
    if header[1] not in (1, VERSION):
        raise NamedTensorError("'%s': unsupported named-tensor version %d" % (path, header[1]))
    pos = 4 * HEADER_INTS

    def take(nbytes):
        nonlocal pos
        if pos + nbytes > len(data):
            raise NamedTensorError("'%s' ends inside a record" % path)
        chunk = data[pos:pos + nbytes]
        pos += nbytes
        return chunk

    records, checksum = {}, 0
    for r in range(int(header[2])):
        meta_start = pos
        (name_len,) = struct.unpack("<i", take(4))
        name = take(name_len).decode("utf-8")
        code, ndim = struct.unpack("<ii", take(8))
        dims = list(struct.unpack("<%di" % ndim, take(4 * ndim)))
        count = int(np.prod(dims, dtype=np.int64)) if dims else 1
        data_start = pos
        size = count * (1 if code == DTYPE_BYTES else 4)
        checksum = (checksum + chunk_checksum(data[meta_start:data_start], 2 * r) +
                    chunk_checksum(data[data_start:data_start + size], 2 * r + 1)) % (1 << 64)
        if code == DTYPE_FLOAT32:
            records[name] = np.frombuffer(take(4 * count), dtype="<f4").astype(np.float32).reshape(dims)
        elif code == DTYPE_INT32:
            records[name] = np.frombuffer(take(4 * count), dtype="<i4").astype(np.int32).reshape(dims)
        elif code == DTYPE_BYTES:
            records[name] = bytes(take(count))
        else:
            raise NamedTensorError("'%s': record '%s' has unknown dtype %d" % (path, name, code))
    if pos != len(data):
        raise NamedTensorError("'%s' has %d stray bytes after the last record" % (path, len(data) - pos))
    stored = int(header[3].astype(np.uint32)) | (int(header[4].astype(np.uint32)) << 32)
    if header[1] == 2 and checksum != stored:
        raise NamedTensorError("'%s': checksum mismatch (a changed byte?)" % path)
    return records
