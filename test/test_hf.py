"""Hugging Face export and import (scripts/export_hf.py, scripts/import_hf.py) against
transformers itself and the CPU trainer's forward pass, offline (no hub).

    /usr/bin/python3 test/test_hf.py BUILD_DIR SHARED_DATA

- export: random d2 (padded vocabulary 50304) and d4 (unpadded, Vp == V) model files load with
  GPT2LMHeadModel.from_pretrained (no missing or unexpected key, lm_head tied), and its logits
  equal the CPU trainer's (BUILD_DIR/test_hf_logits on the model file) within 1e-5 relative;
- the exported tokenizer (fast and slow) encodes the test texts as data/gpt2_bpe.py does;
- export then import is bit-identical: fp32, bf16 (v5 file), bf16 through fp32, unpadded;
- a model made by transformers from a GPT2Config imports (folder, and a lone prefix-free
  .safetensors file with the attention-mask buffers, as the hub's gpt2 has) and gives
  transformers' logits in the CPU trainer; train_gpt2cpu runs a step from it;
- bad input (model file, HF folder, config, dtype, padded vocab) is one line and exit 2.
"""
import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "test"))
sys.path.insert(0, os.path.join(REPO, "scripts"))
sys.path.insert(0, os.path.join(REPO, "data"))
from verdicts import check, report, summary  # noqa: E402

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

TOL_FP32 = 1e-5
TEXTS = [
    "Hello world! It's a test, isn't it? We'll see: 3.14159 and 1,000,000 cats.",
    "  leading spaces,\ttabs\t\tand\n\n\nnewlines   \n  trailing   ",
    "Unicode: naïve café, Ελληνικά, русский, 日本語のテキスト, emoji 🙂👍🏽, combining é.",
    "numbers 0 00 007 12345678901234567890 -42 +3e10 1/2 ½",
    "code: def f(x):\n    return x**2  # comment\n\tif a != b: pass",
    "contractions: I'm you're they've he'd she'll it's DON'T",
    " " * 40 + "x" + "\n" * 5 + "y" + " \u3000 " + "z",
]


def rel_err(out, ref):
    import numpy as np
    out, ref = np.asarray(out, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if not np.all(np.isfinite(out)):
        return float("inf")
    return float(np.linalg.norm(out - ref) / np.linalg.norm(ref))


def run_cli(script, *args):
    """(rc, stdout, stderr) of scripts/SCRIPT run as a program."""
    p = subprocess.run([sys.executable, os.path.join(REPO, "scripts", script), *map(str, args)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p.returncode, p.stdout, p.stderr


def run_main(module, *args):
    """(rc, stdout, stderr) of module.main(args) in this process (the scripts' main with fail()'s
    exit), without a Python start each."""
    out, err = io.StringIO(), io.StringIO()
    rc = 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            module.main([str(a) for a in args])
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 1
    return rc, out.getvalue(), err.getvalue()


def expect_one_line_error(name, result, pattern):
    """result: (rc, stdout, stderr) of run_main or run_cli."""
    import re
    rc, _, err = result
    lines = err.splitlines()
    ok = rc == 2 and len(lines) == 1 and re.search(pattern, err, re.I) is not None
    check(name, ok, f"({lines[0] if len(lines) == 1 else ''})" if ok else f"exit {rc}, {len(lines)} stderr line(s): {err[:300]!r}")


def random_model(cfg, seed):
    """Every tensor random (LayerNorm gains near 1, biases nonzero), wte's padding rows zero."""
    import numpy as np
    from hf_gpt2 import layout_shapes
    rng = np.random.default_rng(seed)
    t = {}
    for name, shape in layout_shapes(cfg).items():
        x = rng.standard_normal(shape) * (0.1 if name.endswith("w") and name.startswith("ln") else 0.05)
        t[name] = (x + (1.0 if name in ("ln1w", "ln2w", "lnfw") else 0.0)).astype(np.float32)
    t["wte"] = t["wte"] * 4  # logits of a visible spread
    t["wte"][cfg["V"]:] = 0
    return t


def trainer_logits(build, model_file, inputs, work):
    """The CPU trainer's logits (B,T,V) on inputs, through build/test_hf_logits."""
    import numpy as np
    from named_tensors import read_named_tensors, write_named_tensors
    fin, fout = os.path.join(work, "inputs.bin"), os.path.join(work, "logits.bin")
    write_named_tensors(fin, {"inputs": np.ascontiguousarray(inputs, dtype=np.int32)})
    p = subprocess.run([os.path.join(build, "test_hf_logits"), model_file, fin, fout], stderr=subprocess.PIPE, text=True)
    if p.returncode:
        raise RuntimeError(f"test_hf_logits failed: {p.stderr.strip()}")
    return read_named_tensors(fout)["logits"]


def bf16_round_nearest_even(x):
    """fp32 -> bf16 bits in numpy, independent of the scripts' torch conversion (finite x)."""
    import numpy as np
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def same_bytes(name, a, b):
    if not os.path.isfile(b):
        check(name, False, f"{b} was not written")
        return
    with open(a, "rb") as f:
        da = f.read()
    with open(b, "rb") as f:
        db = f.read()
    if da == db:
        check(name, True, f"{len(da)} bytes identical")
        return
    import numpy as np
    differ = f", {int(np.count_nonzero(np.frombuffer(da, np.uint8) != np.frombuffer(db, np.uint8)))} bytes differ" if len(da) == len(db) else ""
    check(name, False, f"{len(da)} vs {len(db)} bytes{differ}")


def main():
    if len(sys.argv) != 3:
        print("usage: test_hf.py BUILD_DIR SHARED_DATA", file=sys.stderr)
        return 2
    build, shared = sys.argv[1], sys.argv[2]
    try:
        import numpy as np
        import regex
        import torch
        import transformers
        from safetensors import safe_open
    except ImportError as e:
        report("SKIP", "hf", f"{e.name} is not installed (scripts/setup.sh installs requirements.txt)")
        return 0
    if not os.access(os.path.join(build, "test_hf_logits"), os.X_OK):
        report("FAIL", "hf", f"{build}/test_hf_logits is not built (make {build}/test_hf_logits)")
        return 1
    transformers.logging.set_verbosity_error()
    # requirements.txt's pins are what this test runs on (scripts/setup.sh installs them)
    from importlib.metadata import version
    with open(os.path.join(REPO, "requirements.txt")) as f:
        pins = dict(line.split("#")[0].strip().split("==") for line in f if "==" in line.split("#")[0])
    used = {name: version(name) for name in ("transformers", "tokenizers", "safetensors")}
    unmet = [f"{n} {v} (pinned {pins.get(n)})" for n, v in used.items() if pins.get(n) != v]
    check("hf/pinned_packages", not unmet, f"{', '.join(f'{n} {v}' for n, v in used.items())} as pinned, on torch {torch.__version__}"
          if not unmet else f"installed versions differ from requirements.txt: {', '.join(unmet)}")
    import export_hf
    import import_hf
    from gpt2_bpe import GPT2BPE
    from hf_gpt2 import write_model_file
    from tokenizer_file import read_tokenizer_file
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2Tokenizer, GPT2TokenizerFast

    work = tempfile.mkdtemp(prefix="test_hf.")
    try:
        rng = np.random.default_rng(7)
        # ---- export: d2 with the padded vocabulary, d4 unpadded (llm.c's script slices wte[:V]
        # of a Vp == V model to nothing); the CPU trainer's logits against transformers'.
        shapes = {"d2": dict(maxT=64, V=50257, L=2, NH=4, C=64, Vp=50304),
                  "d4": dict(maxT=64, V=50257, L=4, NH=4, C=128, Vp=50257)}
        files = {}
        for seed, (name, cfg) in enumerate(shapes.items()):
            files[name] = os.path.join(work, f"{name}.bin")
            write_model_file(files[name], cfg, "fp32", random_model(cfg, seed + 1))
            out = os.path.join(work, f"{name}_hf")
            # the program itself once; then its main in this process (Python's start and the
            # tokenizer, built once per process, cost seconds)
            rc, stdout, stderr = run_cli("export_hf.py", files[name], out) if name == "d2" else run_main(export_hf, files[name], out)
            check(f"hf/export/{name}/runs", rc == 0, stdout.strip() if rc == 0 else f"exit {rc}: {stderr.strip()[-300:]}")
            if rc != 0:
                continue
            model, info = GPT2LMHeadModel.from_pretrained(out, output_loading_info=True)
            keys_ok = not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
            tied = model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()
            check(f"hf/export/{name}/keys", keys_ok and tied and model.config.vocab_size == cfg["V"],
                  f"missing {info['missing_keys'][:3]}, unexpected {info['unexpected_keys'][:3]}, tied {tied}, vocab {model.config.vocab_size}")
            inputs = rng.integers(0, cfg["V"], size=(2, cfg["maxT"]))
            with torch.no_grad():
                hf_logits = model.eval()(torch.from_numpy(inputs)).logits.numpy()
            ours = trainer_logits(build, files[name], inputs, work)
            err = rel_err(hf_logits, ours)
            check(f"hf/export/{name}/logits", err < TOL_FP32 and hf_logits.shape == ours.shape,
                  f"rel err {err:.2e} (tol {TOL_FP32:g}) over {hf_logits.shape} logits, Vp {cfg['Vp']}, spread {ours.std():.2f}")

        # ---- the tokenizer files against the built-in encoder on the committed table
        token_bytes, eot = read_tokenizer_file(os.path.join(REPO, "data", "gpt2_tokenizer.bin"))
        bpe = GPT2BPE(token_bytes, eot, regex)
        with open(os.path.join(REPO, "data", "tinyshakespeare", "input.txt"), encoding="utf-8") as f:
            shakespeare = f.read()[:20000]
        texts = TEXTS + [shakespeare]
        d2_hf = os.path.join(work, "d2_hf")
        for kind, cls in (("fast", GPT2TokenizerFast), ("slow", GPT2Tokenizer)):
            if not os.path.isfile(os.path.join(d2_hf, "tokenizer.json")):
                check(f"hf/tokenizer/{kind}", False, f"{d2_hf} has no tokenizer files")
                continue
            tok = cls.from_pretrained(d2_hf)
            bad = [i for i, t in enumerate(texts) if tok.encode(t) != bpe.encode_ordinary(t)]
            n = sum(len(bpe.encode_ordinary(t)) for t in texts)
            check(f"hf/tokenizer/{kind}", not bad and len(tok) == 50257,
                  f"{len(texts)} texts, {n} tokens equal to data/gpt2_bpe.py's" if not bad else
                  f"text {bad[0]} differs: {tok.encode(texts[bad[0]])[:12]} vs {bpe.encode_ordinary(texts[bad[0]])[:12]}, vocab {len(tok)}")
            # HF reads <|endoftext|> in text as the special token (encode_ordinary: as text)
            got = tok.encode("end.<|endoftext|>Next")
            want = bpe.encode_ordinary("end.") + [eot] + bpe.encode_ordinary("Next")
            check(f"hf/tokenizer/{kind}/endoftext", got == want and tok.eos_token_id == eot, f"{got} vs {want}, eos {tok.eos_token_id}")

        # ---- round trips: export then import gives the same bytes
        run_cli("import_hf.py", d2_hf, os.path.join(work, "d2_back.bin"))  # the program itself once
        same_bytes("hf/round_trip/fp32_padded", files["d2"], os.path.join(work, "d2_back.bin"))
        run_main(import_hf, os.path.join(work, "d4_hf"), os.path.join(work, "d4_back.bin"), "--padded-vocab", 50257)
        same_bytes("hf/round_trip/fp32_unpadded", files["d4"], os.path.join(work, "d4_back.bin"))
        d2 = shapes["d2"]
        from hf_gpt2 import read_model_file
        _, _, t32 = read_model_file(files["d2"])
        v5 = os.path.join(work, "d2_bf16.bin")
        write_model_file(v5, d2, "bf16", {k: bf16_round_nearest_even(v).reshape(v.shape) for k, v in t32.items()})
        run_main(export_hf, v5, os.path.join(work, "bf16_hf"))
        with safe_open(os.path.join(work, "bf16_hf", "model.safetensors"), "pt") as f:
            dt = f.get_tensor("transformer.wte.weight").dtype
        run_main(import_hf, os.path.join(work, "bf16_hf"), os.path.join(work, "bf16_back.bin"))
        same_bytes("hf/round_trip/bf16", v5, os.path.join(work, "bf16_back.bin"))
        check("hf/round_trip/bf16_safetensors", dt == torch.bfloat16, f"model.safetensors of a v5 file holds {dt}")
        run_main(export_hf, v5, os.path.join(work, "bf16_as_fp32_hf"), "--dtype", "fp32")
        run_main(import_hf, os.path.join(work, "bf16_as_fp32_hf"), os.path.join(work, "bf16_via_fp32.bin"), "--dtype", "bf16")
        same_bytes("hf/round_trip/bf16_via_fp32", v5, os.path.join(work, "bf16_via_fp32.bin"))
        # fp32 -> bf16 on export rounds to nearest even: the same bytes as the v5 file made above
        run_main(export_hf, files["d2"], os.path.join(work, "fp32_as_bf16_hf"), "--dtype", "bf16")
        run_main(import_hf, os.path.join(work, "fp32_as_bf16_hf"), os.path.join(work, "fp32_as_bf16.bin"))
        same_bytes("hf/round_trip/fp32_to_bf16", v5, os.path.join(work, "fp32_as_bf16.bin"))

        # ---- a model made by transformers (random weights, no download) in the CPU trainer
        torch.manual_seed(3)
        config = GPT2Config(n_layer=2, n_embd=128, n_head=2, n_positions=64, vocab_size=50257)
        made = GPT2LMHeadModel(config).eval()
        with torch.no_grad():
            for name, p in made.named_parameters():
                if p.dim() == 1:  # LayerNorm gains and every bias: random, not 1 and 0
                    p.add_(0.1 * torch.randn_like(p))
        made_dir = os.path.join(work, "made_hf")
        made.save_pretrained(made_dir)
        made_bin = os.path.join(work, "made.bin")
        rc, out, err = run_main(import_hf, made_dir, made_bin)
        check("hf/import/transformers_model/runs", rc == 0, (out + err).strip())
        inputs = rng.integers(0, 50257, size=(2, 64))
        with torch.no_grad():
            want = made(torch.from_numpy(inputs)).logits.numpy()
        err = rel_err(trainer_logits(build, made_bin, inputs, work), want)
        check("hf/import/transformers_model/logits", err < TOL_FP32, f"rel err {err:.2e} (tol {TOL_FP32:g}) over {want.shape} logits")
        # and back out: save_pretrained's own model.safetensors, byte for byte, and its config.json
        back = os.path.join(work, "made_back_hf")
        run_main(export_hf, made_bin, back)
        same_bytes("hf/round_trip/save_pretrained_safetensors", os.path.join(made_dir, "model.safetensors"), os.path.join(back, "model.safetensors"))
        import json
        with open(os.path.join(made_dir, "config.json")) as f:
            want_config = json.load(f)
        with open(os.path.join(back, "config.json")) as f:
            got_config = json.load(f)
        differ = sorted(k for k in set(want_config) | set(got_config) if want_config.get(k) != got_config.get(k))
        check("hf/round_trip/save_pretrained_config", not differ, f"{len(got_config)} fields equal" if not differ else
              f"fields differ: {[(k, want_config.get(k), got_config.get(k)) for k in differ][:4]}")
        # the hub's gpt2 layout: a lone file, keys without "transformer.", mask buffers, lm_head.weight
        from safetensors.torch import save_file
        state = {k[len("transformer."):]: v.contiguous() for k, v in made.state_dict().items() if k.startswith("transformer.")}
        for i in range(config.n_layer):
            state[f"h.{i}.attn.bias"] = torch.tril(torch.ones(64, 64)).view(1, 1, 64, 64)
        state["lm_head.weight"] = made.lm_head.weight.detach().clone()
        state["wte.weight"] = state["wte.weight"].clone()
        os.makedirs(os.path.join(work, "lone"))
        lone = os.path.join(work, "lone", "gpt2.safetensors")
        save_file(state, lone, metadata={"format": "pt"})
        lone_bin = os.path.join(work, "lone.bin")
        run_main(import_hf, lone, lone_bin)
        same_bytes("hf/import/lone_file_no_prefix", made_bin, lone_bin)

        # ---- train_gpt2cpu starts from the imported model (the -e gpt2_124M.bin path)
        trainer = os.path.join(REPO, "train_gpt2cpu")
        ts = os.path.join(shared, "tinyshakespeare")
        if not os.access(trainer, os.X_OK):
            report("SKIP", "hf/import/trainer_step", "train_gpt2cpu is not built")
        else:
            p = subprocess.run([trainer, "-e", made_bin, "-b", "2", "-t", "32", "-x", "1", "-v", "0", "-s", "0",
                                "-i", os.path.join(ts, "tiny_shakespeare_train.bin"), "-j", os.path.join(ts, "tiny_shakespeare_val.bin")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
            step = [line for line in p.stdout.splitlines() if line.startswith("step")]
            check("hf/import/trainer_step", p.returncode == 0 and step, step[0] if step else f"exit {p.returncode}: {p.stdout[-300:]}")

        # ---- bad input: one line, exit 2
        junk = os.path.join(work, "junk.bin")
        with open(junk, "wb") as f:
            f.write(os.urandom(4096))
        short = os.path.join(work, "short.bin")
        with open(files["d2"], "rb") as f:
            head = f.read(1024 + 4000)
        with open(short, "wb") as f:
            f.write(head)
        expect_one_line_error("hf/bad/export_missing_model", run_cli("export_hf.py", os.path.join(work, "nope.bin"), os.path.join(work, "o1")), "cannot read model file .*nope.bin")
        expect_one_line_error("hf/bad/export_not_a_model", run_main(export_hf, junk, os.path.join(work, "o2")), "not an llm.c model file")
        expect_one_line_error("hf/bad/export_truncated", run_main(export_hf, short, os.path.join(work, "o3")), "truncated")
        expect_one_line_error("hf/bad/export_dtype", run_main(export_hf, files["d2"], os.path.join(work, "o4"), "--dtype", "fp16"), "--dtype.*fp16")
        expect_one_line_error("hf/bad/export_out_is_file", run_main(export_hf, files["d2"], junk), "is a file")
        expect_one_line_error("hf/bad/import_missing", run_cli("import_hf.py", os.path.join(work, "nowhere"), os.path.join(work, "x.bin")), "does not exist")
        empty = os.path.join(work, "empty_dir")
        os.makedirs(empty)
        expect_one_line_error("hf/bad/import_no_weights", run_main(import_hf, empty, os.path.join(work, "x.bin")), "no model.safetensors")
        llama = os.path.join(work, "llama")
        shutil.copytree(made_dir, llama)
        with open(os.path.join(llama, "config.json"), "w") as f:
            f.write('{"model_type": "llama", "hidden_size": 128}')
        expect_one_line_error("hf/bad/import_not_gpt2", run_main(import_hf, llama, os.path.join(work, "x.bin")), "not a GPT-2 config")
        with open(os.path.join(llama, "config.json"), "w") as f:
            f.write(made.config.to_json_string().replace('"gelu_new"', '"relu"'))
        expect_one_line_error("hf/bad/import_gpt2_variant", run_main(import_hf, llama, os.path.join(work, "x.bin")), "relu")
        with open(os.path.join(llama, "config.json"), "w") as f:
            f.write("{not json")
        expect_one_line_error("hf/bad/import_config_unreadable", run_main(import_hf, llama, os.path.join(work, "x.bin")), "cannot read config")
        bad_weights = os.path.join(work, "bad_weights")
        shutil.copytree(made_dir, bad_weights)
        shutil.copy(junk, os.path.join(bad_weights, "model.safetensors"))
        expect_one_line_error("hf/bad/import_weights_unreadable", run_main(import_hf, bad_weights, os.path.join(work, "x.bin")), "not a readable safetensors")
        expect_one_line_error("hf/bad/import_dtype", run_main(import_hf, made_dir, os.path.join(work, "x.bin"), "--dtype", "int8"), "--dtype.*int8")
        expect_one_line_error("hf/bad/import_padded_vocab", run_main(import_hf, made_dir, os.path.join(work, "x.bin"), "--padded-vocab", 50000), "padded-vocab 50000 is below")
        if os.geteuid() == 0:
            report("SKIP", "hf/bad/import_unreadable_folder", "running as root, whom file permissions do not stop")
        else:
            locked = os.path.join(work, "locked")
            shutil.copytree(made_dir, locked)
            os.chmod(locked, 0)
            expect_one_line_error("hf/bad/import_unreadable_folder", run_main(import_hf, locked, os.path.join(work, "x.bin")), "not readable")
            os.chmod(locked, 0o755)
        check("hf/bad/no_output_left", not os.path.exists(os.path.join(work, "x.bin")), "no x.bin written by the refused imports")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return summary("test_hf.py")


if __name__ == "__main__":
    sys.exit(main())
