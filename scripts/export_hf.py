#!/usr/bin/env python3
"""Exports an llm.c model file (this project's or llm.c's) as a Hugging Face GPT-2 folder.

    /usr/bin/python3 scripts/export_hf.py MODEL.bin OUTDIR [--dtype fp32|bf16]

MODEL.bin: version 3 (fp32) or 5 (bf16), padded vocabulary or not (a checkpoint's
model_NNNNNNNN.bin, or llm.c's gpt2_124M.bin). OUTDIR gets config.json, model.safetensors and
generation_config.json as GPT2LMHeadModel.save_pretrained writes them (lm_head tied to wte, the
padded rows of wte dropped), and, when the vocabulary is GPT-2's 50257, the tokenizer files
built from data/gpt2_tokenizer.bin (scripts/hf_tokenizer.py). --dtype defaults to the model
file's own precision; fp32 -> bf16 rounds to nearest even. Offline: nothing is downloaded.
Bad input is one line on stderr and exit code 2. See docs/huggingface.md.
"""
import json
import os

import numpy as np

from cli_errors import OneLineParser, prepare_out_dir, require
from hf_gpt2 import GPT2_EOT, convert, hf_config, read_model_file, to_hf

TORCH_DTYPE = {"fp32": "float32", "bf16": "bfloat16"}


def write_safetensors(path, hf, dtype):
    """model.safetensors with save_pretrained's keys and metadata {"format": "pt"}."""
    torch = require("torch", "writing model.safetensors")
    require("safetensors", "writing model.safetensors")
    from safetensors.torch import save_file
    tensors = {}
    for key, value in hf.items():
        # torch 1.13 has no uint16: bf16 bits travel as int16, then are viewed as bfloat16
        t = torch.from_numpy(value.view(np.int16)).view(torch.bfloat16) if dtype == "bf16" else torch.from_numpy(value)
        tensors["transformer." + key] = t
    save_file(tensors, path, metadata={"format": "pt"})


def main(argv=None):
    p = OneLineParser(prog="export_hf.py", description=__doc__.split("\n")[0])
    p.add_argument("model", help="llm.c model file (version 3 fp32 or 5 bf16)")
    p.add_argument("out_dir", help="Hugging Face folder to write")
    p.add_argument("--dtype", choices=["fp32", "bf16"], help="weights in model.safetensors (default: the model file's)")
    args = p.parse_args(argv)
    cfg, file_dtype, tensors = read_model_file(args.model)
    dtype = args.dtype or file_dtype
    prepare_out_dir(args.out_dir)

    hf = {k: convert(v, file_dtype, dtype).reshape(v.shape) for k, v in to_hf(cfg, tensors).items()}
    write_safetensors(os.path.join(args.out_dir, "model.safetensors"), hf, dtype)
    import transformers
    config = dict(hf_config(cfg), torch_dtype=TORCH_DTYPE[dtype], transformers_version=transformers.__version__)
    with open(os.path.join(args.out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    generation = {"_from_model_config": True, "bos_token_id": GPT2_EOT, "eos_token_id": GPT2_EOT,
                  "transformers_version": transformers.__version__}
    with open(os.path.join(args.out_dir, "generation_config.json"), "w") as f:
        json.dump(generation, f, indent=2, sort_keys=True)
        f.write("\n")
    if cfg["V"] == GPT2_EOT + 1:
        from hf_tokenizer import write_tokenizer
        write_tokenizer(args.out_dir, cfg["maxT"])
        tokenizer_note = ""
    else:
        tokenizer_note = f"; no tokenizer files: the vocabulary is {cfg['V']}, not GPT-2's 50257"
    dropped = cfg["Vp"] - cfg["V"]
    print(f"wrote {args.out_dir}: {', '.join(sorted(os.listdir(args.out_dir)))} (L={cfg['L']} C={cfg['C']} NH={cfg['NH']} "
          f"V={cfg['V']} maxT={cfg['maxT']}, {dtype}{f', {dropped} padded rows of wte dropped' if dropped else ''}{tokenizer_note})")


if __name__ == "__main__":
    main()
