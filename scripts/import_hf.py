#!/usr/bin/env python3
"""Imports a Hugging Face GPT-2 (folder or .safetensors file) as an llm.c model file, so that
`./train_gpt2cpu -e OUT.bin` (or train_gpt2cu) fine-tunes it.

    /usr/bin/python3 scripts/import_hf.py HF_DIR_OR_FILE OUT.bin [--dtype fp32|bf16] [--padded-vocab N]

HF_DIR_OR_FILE: a folder with config.json and model.safetensors (save_pretrained's, or the
hub's gpt2 downloaded by hand), or a .safetensors file alone (its shape then comes from a
config.json beside it, else from the tensors with GPT-2's head size 64). Keys with or without
the "transformer." prefix (the hub's original gpt2 has none); the attention-mask buffers
h.N.attn.bias / h.N.attn.masked_bias are skipped; an lm_head.weight must equal wte (the trainers
tie them). OUT.bin: version 3 (fp32) or 5 (bf16); --dtype defaults to bf16 for bf16 weights,
else fp32 (fp16 weights widen exactly to fp32). wte is padded with zero rows to --padded-vocab
(default: the vocabulary rounded up to a multiple of 128, as llm.c pads 50257 to 50304).
Offline. Bad input is one line on stderr and exit code 2. See docs/huggingface.md.
"""
import json
import os
import re

import numpy as np

from cli_errors import OneLineParser, fail, require
from hf_gpt2 import convert, from_hf, hf_shapes, shape_problem, write_model_file

MASK_BUFFER = re.compile(r"h\.\d+\.attn\.(bias|masked_bias)$")
GPT2_HEAD_SIZE = 64


def find_files(source):
    """(model.safetensors path, config.json path or None)."""
    if not os.path.exists(source):
        fail(f"'{source}' does not exist (want a Hugging Face folder or a .safetensors file)")
    if os.path.isdir(source):
        if not os.access(source, os.R_OK | os.X_OK):
            fail(f"folder '{source}' is not readable")
        weights = os.path.join(source, "model.safetensors")
        if not os.path.isfile(weights):
            other = [f for f in ("model.safetensors.index.json", "pytorch_model.bin") if os.path.exists(os.path.join(source, f))]
            fail(f"folder '{source}' has no model.safetensors" + (f" (only {other[0]}, which is not read)" if other else ""))
        config = os.path.join(source, "config.json")
        if not os.path.isfile(config):
            fail(f"folder '{source}' has no config.json")
        return weights, config
    if not source.endswith(".safetensors"):
        fail(f"'{source}' is neither a folder nor a .safetensors file")
    beside = os.path.join(os.path.dirname(source) or ".", "config.json")
    return source, beside if os.path.isfile(beside) else None


def read_config(path):
    """The model shape from a GPT-2 config.json, refusing what the trainers cannot run."""
    try:
        with open(path) as f:
            c = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"cannot read config '{path}': {getattr(e, 'strerror', None) or e}")
    if not isinstance(c, dict) or c.get("model_type") != "gpt2":
        fail(f"'{path}' is not a GPT-2 config (model_type {c.get('model_type') if isinstance(c, dict) else None!r}, want 'gpt2')")
    missing = [k for k in ("n_layer", "n_head", "n_embd", "n_positions", "vocab_size") if not isinstance(c.get(k), int)]
    if missing:
        fail(f"'{path}': GPT-2 config without an integer {missing[0]}")
    C = c["n_embd"]
    unsupported = [
        (c.get("activation_function", "gelu_new") not in ("gelu_new", "gelu_pytorch_tanh"),
         f"activation_function {c.get('activation_function')!r} (the trainers have GELU's tanh form, gelu_new)"),
        (c.get("n_inner") not in (None, 4 * C), f"n_inner {c.get('n_inner')} (the trainers' MLP is 4 x n_embd = {4 * C})"),
        (c.get("layer_norm_epsilon", 1e-5) != 1e-5, f"layer_norm_epsilon {c.get('layer_norm_epsilon')} (the trainers use 1e-5)"),
        (not c.get("scale_attn_weights", True), "scale_attn_weights false"),
        (c.get("scale_attn_by_inverse_layer_idx", False), "scale_attn_by_inverse_layer_idx true"),
    ]
    for bad, what in unsupported:
        if bad:
            fail(f"'{path}': a GPT-2 variant the trainers cannot run: {what}")
    return dict(maxT=c["n_positions"], V=c["vocab_size"], L=c["n_layer"], NH=c["n_head"], C=C)


def read_weights(path):
    """{key without 'transformer.': numpy array} (float32, or uint16 bf16 bits) and the dtype."""
    torch = require("torch", "reading safetensors")
    require("safetensors", "reading safetensors")
    from safetensors import safe_open
    try:
        with safe_open(path, framework="pt") as f:
            raw = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error type for a bad header or size
        fail(f"'{path}' is not a readable safetensors file: {' '.join(str(e).split())}")
    dtypes = {t.dtype for t in raw.values()}
    if not dtypes <= {torch.float32, torch.bfloat16, torch.float16}:
        fail(f"'{path}': weights of dtype {sorted(map(str, dtypes))}, want float32, bfloat16 or float16")
    dtype = "bf16" if dtypes == {torch.bfloat16} else "fp32"
    prefixed = any(k.startswith("transformer.") for k in raw)
    weights = {}
    for key, t in raw.items():
        name = key[len("transformer."):] if prefixed and key.startswith("transformer.") else key
        if MASK_BUFFER.match(name):
            continue
        if dtype == "bf16":
            weights[name] = t.view(torch.int16).numpy().view(np.uint16)
        else:
            weights[name] = t.float().numpy()
    return weights, dtype


def shape_from_tensors(weights, path):
    """The shape of a lone safetensors file without a config.json: GPT-2's head size 64."""
    if "wte.weight" not in weights or "wpe.weight" not in weights:
        fail(f"'{path}' has no wte.weight / wpe.weight: not a GPT-2 model")
    (V, C), maxT = weights["wte.weight"].shape, weights["wpe.weight"].shape[0]
    layers = {int(m.group(1)) for m in (re.match(r"h\.(\d+)\.", k) for k in weights) if m}
    if C % GPT2_HEAD_SIZE:
        fail(f"'{path}': width {C} is not a multiple of GPT-2's head size {GPT2_HEAD_SIZE}; give the folder with its config.json")
    return dict(maxT=maxT, V=V, L=len(layers), NH=C // GPT2_HEAD_SIZE, C=C)


def main(argv=None):
    p = OneLineParser(prog="import_hf.py", description=__doc__.split("\n")[0])
    p.add_argument("source", help="Hugging Face GPT-2 folder or .safetensors file")
    p.add_argument("out", help="llm.c model file to write")
    p.add_argument("--dtype", choices=["fp32", "bf16"], help="model file precision (default: bf16 for bf16 weights, else fp32)")
    p.add_argument("--padded-vocab", type=int, metavar="N", help="rows of wte in the model file (default: V rounded up to a multiple of 128)")
    args = p.parse_args(argv)
    weights_path, config_path = find_files(args.source)
    if os.path.isdir(args.out):
        fail(f"output '{args.out}' is a directory")
    weights, hf_dtype = read_weights(weights_path)
    cfg = read_config(config_path) if config_path else shape_from_tensors(weights, weights_path)
    cfg["Vp"] = args.padded_vocab if args.padded_vocab is not None else -(-cfg["V"] // 128) * 128
    if cfg["Vp"] < cfg["V"]:
        fail(f"--padded-vocab {cfg['Vp']} is below the vocabulary size {cfg['V']}")
    problem = shape_problem(cfg)
    if problem:
        fail(f"'{config_path or weights_path}': bad model shape: {problem}")

    if "lm_head.weight" in weights:
        head = weights.pop("lm_head.weight")
        if "wte.weight" in weights and not np.array_equal(head, weights["wte.weight"]):
            fail(f"'{weights_path}': lm_head.weight differs from wte.weight (an untied head; the trainers tie them)")
    want = hf_shapes(cfg)
    for key, shape in want.items():
        if key not in weights:
            fail(f"'{weights_path}' lacks {key} (for L={cfg['L']} C={cfg['C']} V={cfg['V']} maxT={cfg['maxT']})")
        if weights[key].shape != shape:
            fail(f"'{weights_path}': {key} has shape {tuple(weights[key].shape)}, want {shape}")
    extra = sorted(set(weights) - set(want))
    if extra:
        fail(f"'{weights_path}' has {len(extra)} tensor(s) a GPT-2 LM head model does not, e.g. {extra[0]}")

    dtype = args.dtype or hf_dtype
    tensors = {k: convert(v, hf_dtype, dtype).reshape(v.shape) for k, v in from_hf(cfg, weights, hf_dtype).items()}
    write_model_file(args.out, cfg, dtype, tensors)
    print(f"wrote {args.out}: L={cfg['L']} C={cfg['C']} NH={cfg['NH']} V={cfg['V']} Vp={cfg['Vp']} maxT={cfg['maxT']}, "
          f"{dtype} (version {3 if dtype == 'fp32' else 5})")


if __name__ == "__main__":
    main()
