"""GPT-2 weights between llm.c model files and Hugging Face's GPT2LMHeadModel: the part that
scripts/export_hf.py and scripts/import_hf.py share.

llm.c model file (common/model_file.h): 256 little-endian int32 header [0] magic 20240326,
[1] version (3 = fp32, 5 = bf16), [2] maxT, [3] V, [4] L, [5] NH, [6] C, [7] Vp, then the 16
tensors of common/gpt2_layout.h in order, matrices (out, in) as nn.Linear stores them, per-layer
tensors stacked along dim 0; rows V..Vp-1 of wte are padding (zero).

Hugging Face (what GPT2LMHeadModel.save_pretrained writes, transformers 4.46): keys
transformer.wte.weight (V, C), transformer.wpe.weight, transformer.h.{i}.ln_1.weight, ...,
transformer.ln_f.bias; the attention and MLP matrices are Conv1D weights, stored (in, out), the
transpose of ours; lm_head.weight is tied to wte and not written.

Weights are numpy arrays: fp32 as float32, bf16 as its uint16 bit patterns (numpy has no
bfloat16), so bf16 passes through unrounded. Bad input ends the program with one line on
stderr and exit code 2 (scripts/cli_errors.py).
"""
import os

import numpy as np

from cli_errors import fail, require

MODEL_FILE_MAGIC = 20240326
VERSION_OF_DTYPE = {"fp32": 3, "bf16": 5}
DTYPE_OF_VERSION = {3: "fp32", 5: "bf16"}
HEADER_INTS = 256
GPT2_EOT = 50256
# The 16 tensors of common/gpt2_layout.h in file order: (name, HF key after transformer. with {i}
# for a layer, or None for wte/wpe handled by name, whether it is a Conv1D weight (transposed)).
LAYER_TENSORS = [
    ("ln1w", "h.{i}.ln_1.weight", False), ("ln1b", "h.{i}.ln_1.bias", False),
    ("qkvw", "h.{i}.attn.c_attn.weight", True), ("qkvb", "h.{i}.attn.c_attn.bias", False),
    ("attprojw", "h.{i}.attn.c_proj.weight", True), ("attprojb", "h.{i}.attn.c_proj.bias", False),
    ("ln2w", "h.{i}.ln_2.weight", False), ("ln2b", "h.{i}.ln_2.bias", False),
    ("fcw", "h.{i}.mlp.c_fc.weight", True), ("fcb", "h.{i}.mlp.c_fc.bias", False),
    ("fcprojw", "h.{i}.mlp.c_proj.weight", True), ("fcprojb", "h.{i}.mlp.c_proj.bias", False),
]
TENSOR_NAMES = ["wte", "wpe"] + [t[0] for t in LAYER_TENSORS] + ["lnfw", "lnfb"]


def layout_shapes(cfg):
    """Name -> shape of the 16 tensors (common/gpt2_layout.h), vectors without the trailing 1."""
    L, C, Vp, T = cfg["L"], cfg["C"], cfg["Vp"], cfg["maxT"]
    return {"wte": (Vp, C), "wpe": (T, C), "ln1w": (L, C), "ln1b": (L, C), "qkvw": (L, 3 * C, C),
            "qkvb": (L, 3 * C), "attprojw": (L, C, C), "attprojb": (L, C), "ln2w": (L, C), "ln2b": (L, C),
            "fcw": (L, 4 * C, C), "fcb": (L, 4 * C), "fcprojw": (L, C, 4 * C), "fcprojb": (L, C),
            "lnfw": (C,), "lnfb": (C,)}


def shape_problem(cfg):
    """common/gpt2_layout.h's gpt2_config_problem: an empty string when the shape is possible."""
    if cfg["L"] < 1:
        return "number of layers must be at least 1"
    if cfg["C"] < 1:
        return "width (channels) must be at least 1"
    if cfg["NH"] < 1 or cfg["C"] % cfg["NH"]:
        return f"heads ({cfg['NH']}) must divide the width ({cfg['C']})"
    if cfg["V"] < 1 or cfg["Vp"] < cfg["V"]:
        return "padded vocab must be >= vocab"
    if cfg["maxT"] < 1:
        return "max sequence length must be at least 1"
    return ""


# ---------------------------------------------------------------- bf16 bits

def bf16_bits_to_f32(bits):
    """Exact: the bf16 bits are the top half of the fp32 bits."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16_bits(x):
    """Round to nearest even, as torch's .to(torch.bfloat16) (and the CUDA trainer's
    __float2bfloat16) does."""
    torch = require("torch", "bf16 conversion")
    return torch.from_numpy(np.array(x, dtype=np.float32)).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)


def convert(x, from_dtype, to_dtype):
    if from_dtype == to_dtype:
        return x
    return bf16_bits_to_f32(x) if from_dtype == "bf16" else f32_to_bf16_bits(x)


# ---------------------------------------------------------------- llm.c model files

def read_model_file(path):
    """Returns (cfg, dtype, tensors): cfg {maxT, V, L, NH, C, Vp}, dtype fp32|bf16, tensors name ->
    array in layout shape (float32, or uint16 bf16 bits). Fails with one line on a bad file."""
    if os.path.isdir(path):
        fail(f"'{path}' is a directory, not an llm.c model file")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        fail(f"cannot read model file '{path}': {e.strerror}")
    if len(data) < 4 * HEADER_INTS:
        fail(f"'{path}' has {len(data)} bytes, too short for an llm.c model file header")
    h = np.frombuffer(data, dtype="<i4", count=HEADER_INTS)
    if h[0] != MODEL_FILE_MAGIC:
        fail(f"'{path}' is not an llm.c model file (magic {h[0]}, want {MODEL_FILE_MAGIC})")
    if int(h[1]) not in DTYPE_OF_VERSION:
        fail(f"'{path}': unsupported model file version {h[1]} (want 3 = fp32 or 5 = bf16)")
    cfg = dict(maxT=int(h[2]), V=int(h[3]), L=int(h[4]), NH=int(h[5]), C=int(h[6]), Vp=int(h[7]))
    problem = shape_problem(cfg)
    if problem:
        fail(f"'{path}': bad model shape in header: {problem}")
    dtype = DTYPE_OF_VERSION[int(h[1])]
    shapes = layout_shapes(cfg)
    n = sum(int(np.prod(s)) for s in shapes.values())
    elem = 4 if dtype == "fp32" else 2
    if len(data) != 4 * HEADER_INTS + n * elem:
        fail(f"'{path}' has {len(data)} bytes, want {4 * HEADER_INTS + n * elem} for this model (truncated or wrong shape)")
    flat = np.frombuffer(data, dtype="<f4" if dtype == "fp32" else "<u2", offset=4 * HEADER_INTS)
    tensors, at = {}, 0
    for name in TENSOR_NAMES:
        size = int(np.prod(shapes[name]))
        tensors[name] = flat[at:at + size].reshape(shapes[name])
        at += size
    return cfg, dtype, tensors


def write_model_file(path, cfg, dtype, tensors):
    """Writes an llm.c model file (version 3 or 5) atomically: a temporary file beside the
    target, then a rename, as common/model_file.h does."""
    header = np.zeros(HEADER_INTS, dtype="<i4")
    header[:8] = [MODEL_FILE_MAGIC, VERSION_OF_DTYPE[dtype], cfg["maxT"], cfg["V"], cfg["L"], cfg["NH"], cfg["C"], cfg["Vp"]]
    shapes = layout_shapes(cfg)
    want = np.float32 if dtype == "fp32" else np.uint16
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(header.tobytes())
            for name in TENSOR_NAMES:
                t = tensors[name]
                assert t.shape == shapes[name] and t.dtype == want, (name, t.shape, t.dtype)
                f.write(np.ascontiguousarray(t).astype(t.dtype.newbyteorder("<"), copy=False).tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        fail(f"cannot write '{path}': {e.strerror}")


# ---------------------------------------------------------------- the key mapping

def to_hf(cfg, tensors):
    """Layout tensors -> {HF key without 'transformer.': array in HF shape}; padded rows of wte
    dropped (rows [:V], never an empty slice when Vp == V)."""
    out = {"wte.weight": tensors["wte"][:cfg["V"]], "wpe.weight": tensors["wpe"]}
    for name, key, conv1d in LAYER_TENSORS:
        for i in range(cfg["L"]):
            out[key.format(i=i)] = tensors[name][i].T if conv1d else tensors[name][i]
    out["ln_f.weight"], out["ln_f.bias"] = tensors["lnfw"], tensors["lnfb"]
    return {k: np.array(v, order="C") for k, v in out.items()}  # copies: writable, contiguous


def from_hf(cfg, hf, dtype):
    """{HF key without 'transformer.': array} -> layout tensors, wte padded with zero rows to Vp.
    The caller has checked that every key is there with its HF shape."""
    zero = np.zeros((cfg["Vp"] - cfg["V"], cfg["C"]), dtype=hf["wte.weight"].dtype)
    tensors = {"wte": np.concatenate([hf["wte.weight"], zero]), "wpe": hf["wpe.weight"]}
    for name, key, conv1d in LAYER_TENSORS:
        layers = [hf[key.format(i=i)] for i in range(cfg["L"])]
        tensors[name] = np.stack([w.T for w in layers] if conv1d else layers)
    tensors["lnfw"], tensors["lnfb"] = hf["ln_f.weight"], hf["ln_f.bias"]
    return {k: np.array(v, order="C") for k, v in tensors.items()}


def hf_shapes(cfg):
    """HF key (without 'transformer.') -> shape, for checking a file before mapping it."""
    C = cfg["C"]
    per_layer = {"ln_1.weight": (C,), "ln_1.bias": (C,), "attn.c_attn.weight": (C, 3 * C),
                 "attn.c_attn.bias": (3 * C,), "attn.c_proj.weight": (C, C), "attn.c_proj.bias": (C,),
                 "ln_2.weight": (C,), "ln_2.bias": (C,), "mlp.c_fc.weight": (C, 4 * C), "mlp.c_fc.bias": (4 * C,),
                 "mlp.c_proj.weight": (4 * C, C), "mlp.c_proj.bias": (C,)}
    shapes = {"wte.weight": (cfg["V"], C), "wpe.weight": (cfg["maxT"], C), "ln_f.weight": (C,), "ln_f.bias": (C,)}
    for i in range(cfg["L"]):
        shapes.update({f"h.{i}.{k}": s for k, s in per_layer.items()})
    return shapes


def hf_config(cfg):
    """config.json's fields as GPT2LMHeadModel.save_pretrained writes them for this shape."""
    return {
        "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
        "bos_token_id": GPT2_EOT, "embd_pdrop": 0.1, "eos_token_id": GPT2_EOT, "initializer_range": 0.02,
        "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_embd": cfg["C"],
        "n_head": cfg["NH"], "n_inner": None, "n_layer": cfg["L"], "n_positions": cfg["maxT"],
        "reorder_and_upcast_attn": False, "resid_pdrop": 0.1, "scale_attn_by_inverse_layer_idx": False,
        "scale_attn_weights": True, "summary_activation": None, "summary_first_dropout": 0.1,
        "summary_proj_to_labels": True, "summary_type": "cls_index", "summary_use_proj": True,
        "use_cache": True, "vocab_size": cfg["V"],  # tie_word_embeddings: true by default, so not written
    }
