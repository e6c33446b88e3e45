"""Stage keys and selector caches follow the content of their inputs, never their paths: a model retrained in
place gets a new fingerprint (unchanged files are only stat-ed), and the scores stage key follows the proxy."""

from __future__ import annotations

from gsnr_bench.core.config import build_config
from gsnr_bench.run.store import RunStore

from run_dirs import write_pool


# ------------------------------------------------------------------ 5. keys by content
def test_model_fingerprint_follows_content_and_caches_unchanged_files(tmp_path, monkeypatch):
    from gsnr_bench.run import fingerprint as fp

    model = tmp_path / "proxy"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"weights-1")
    cache = fp.StatCache(tmp_path / "hashes.json")
    k1 = fp.model_fingerprint(str(model), cache)
    cache.save()
    calls = []
    real = fp._sha256
    monkeypatch.setattr(fp, "_sha256", lambda p: calls.append(p) or real(p))
    again = fp.StatCache(tmp_path / "hashes.json")
    assert fp.model_fingerprint(str(model), again) == k1 and calls == []  # unchanged: stat only
    (model / "model.safetensors").write_bytes(b"weights-2")  # retrained in place, same path
    k2 = fp.model_fingerprint(str(model), again)
    assert k2 != k1 and [c.name for c in calls] == ["model.safetensors"]


def test_scores_stage_and_gsnr_cache_follow_the_proxy_content(tmp_path):
    from gsnr_bench.pipeline import Pipeline
    from gsnr_bench.selection.common import proxy_digest

    model = tmp_path / "proxy"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"weights-1")
    pool = write_pool(tmp_path)

    def key():
        cfg = build_config([], [], {"data": {"train": str(pool)}, "proxy": {"model": str(model)}})
        pipe = Pipeline(cfg, RunStore(tmp_path / "run"), quiet=True)
        with pipe.peeking():
            return pipe.scores("ifd-superfiltering").key, proxy_digest(str(model))

    k1 = key()
    assert key() == k1
    (model / "model.safetensors").write_bytes(b"weights-2")
    k2 = key()
    assert k2[0] != k1[0] and k2[1] != k1[1]
