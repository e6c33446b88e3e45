"""IFD: batched, length-bucketed scores equal the batch-size-1 definition; filters; bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gsnr_bench.core.errors import DataError
from gsnr_bench.domain.records import Example
from gsnr_bench.selection.base import SelectionContext
from gsnr_bench.selection.ifd import CherryIfd, SuperfilteringIfd
from gsnr_bench.selection.losses import length_batches, mean_losses, mean_losses_bs1
from gsnr_bench.selection.proxy import load_proxy

from tiny_models import build_tiny_proxy, tiny_pool


@pytest.fixture(scope="module")
def proxy_dir(tmp_path_factory):
    return str(build_tiny_proxy(tmp_path_factory.mktemp("proxy"), n_layer=2, n_embd=32, seed=2))


def _ctx(pool, proxy, tmp_path, **kw):
    return SelectionContext(pool=pool, params={}, seed=0, workdir=tmp_path, proxy=proxy, **kw)


def test_length_batches_cover_everything_under_budget():
    lengths = [5, 50, 7, 33, 2, 49, 12]
    batches = length_batches(lengths, max_tokens=100, max_batch=3)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) <= 3 and len(b) * max(lengths[i] for i in b) <= 100 or len(b) == 1


@pytest.mark.parametrize("cls", [SuperfilteringIfd, CherryIfd])
def test_batched_losses_equal_batch_size_one(proxy_dir, cls, tmp_path):
    tok, model, pad, _ = load_proxy(proxy_dir)
    pool = tiny_pool(14, seed=7)
    sel = cls(max_length=256, max_tokens=600, max_batch=5)
    cond, alone = sel.encode(tok, pool, 256)
    for enc in (cond, alone):
        batched = mean_losses(model, enc, pad_id=pad, max_tokens=600, max_batch=5)
        ref = mean_losses_bs1(model, enc)
        np.testing.assert_allclose(batched, ref, rtol=1e-5)
    res = sel.score(_ctx(pool, proxy_dir, tmp_path))
    l_c = np.array(res.columns["loss_cond"], dtype=float)
    l_a = np.array(res.columns["loss_alone"], dtype=float)
    ref_c, ref_a = mean_losses_bs1(model, cond), mean_losses_bs1(model, alone)
    np.testing.assert_allclose(l_c, ref_c, rtol=1e-5)
    np.testing.assert_allclose(l_a, ref_a, rtol=1e-5)
    ifd = np.exp(ref_c) / np.exp(ref_a) if cls is SuperfilteringIfd else ref_c / ref_a
    ok = np.isfinite(ifd)
    assert ok.sum() >= 8  # most examples fit in 256 tokens; the rest are skipped with a count
    np.testing.assert_allclose(np.array(res.scores)[ok], ifd[ok], rtol=1e-5)
    assert res.notes.get("skipped_prompt_too_long", 0) == int((~ok).sum())
    keep = ok & (np.nan_to_num(ifd, nan=9) < 1 if cls is SuperfilteringIfd else np.nan_to_num(ifd, nan=9) <= 1)
    assert res.eligible == keep.tolist()
    assert res.notes["filtered_ifd"] == int((ok & ~keep).sum())


def test_superfiltering_alone_text_is_bare_output(proxy_dir):
    tok, *_ = load_proxy(proxy_dir)
    ex = Example("a", "write a poem", "", "the quick fox")
    cond, alone = SuperfilteringIfd().encode(tok, [ex], 64)
    out_ids = tok("the quick fox", add_special_tokens=False)["input_ids"]
    assert alone.ids[0].tolist() == out_ids and alone.start[0] == 1
    assert cond.ids[0][cond.start[0] :].tolist() == out_ids
    assert tok.decode(cond.ids[0][: cond.start[0]]) == "write a poem\n"


def test_bad_input_is_skipped_with_counts_never_nan(proxy_dir, tmp_path):
    pool = tiny_pool(6, seed=1) + [
        Example("empty", "write a poem", "", ""),
        Example("long", "the " * 200, "", "one two"),
    ]
    res = SuperfilteringIfd(max_length=64).score(_ctx(pool, proxy_dir, tmp_path))
    by_id = dict(zip(res.ids, zip(res.scores, res.eligible)))
    assert by_id["empty"] == (0.0, False) and by_id["long"] == (0.0, False)
    assert res.notes["skipped_empty_response"] == 1 and res.notes["skipped_prompt_too_long"] == 1
    assert all(math.isfinite(s) for s in res.scores)
    assert res.columns["ifd"][res.ids.index("empty")] is None
    with pytest.raises(DataError, match="duplicate ids"):
        SuperfilteringIfd().score(_ctx(pool + [pool[0]], proxy_dir, tmp_path))


@pytest.mark.parametrize("cls", [SuperfilteringIfd, CherryIfd])
def test_chunked_scoring_equals_whole_pool(proxy_dir, cls, tmp_path):
    """Tokenising and scoring the pool a chunk at a time (bounded memory) gives the whole pool's result."""
    pool = tiny_pool(14, seed=7)
    whole = cls(max_length=256, max_tokens=600, max_batch=5).score(_ctx(pool, proxy_dir, tmp_path))
    chunked = cls(max_length=256, max_tokens=600, max_batch=5, chunk=4).score(_ctx(pool, proxy_dir, tmp_path))
    assert chunked.ids == whole.ids and chunked.eligible == whole.eligible and chunked.notes == whole.notes
    np.testing.assert_allclose(chunked.scores, whole.scores, rtol=1e-5)
    assert chunked.columns["n_answer_tokens"] == whole.columns["n_answer_tokens"]


@pytest.mark.parametrize("cls", [SuperfilteringIfd, CherryIfd])
def test_every_ineligible_record_has_a_reason(cls):
    """Issue 22: the health row once explained 108 of ifd-superfiltering's 120 unscorable records (a record whose
    answer-alone text failed while the pair did not was counted nowhere)."""
    from gsnr_bench.analysis.health import health_of
    from gsnr_bench.selection.encoding import EMPTY, OK, TOO_LONG, EncodedSummary
    from gsnr_bench.selection.ranking import rank_order, score_rows

    pool = [Example(f"e{i}", "q", "", "a") for i in range(6)]
    cond = EncodedSummary([OK, OK, EMPTY, OK, OK, TOO_LONG], [3] * 6)
    alone = EncodedSummary([OK, TOO_LONG, EMPTY, OK, OK, OK], [3] * 6)
    l_cond = np.array([1.0, 1.0, np.nan, 2.0, np.inf, 1.0])
    l_alone = np.array([2.0, 1.0, np.nan, 1.0, 1.0, 1.0])
    res = cls().result(pool, cond, alone, l_cond, l_alone)
    h = health_of(cls.name, score_rows(res, rank_order(res, 0)), res.notes)
    assert h["ineligible"] == 5  # e1 alone too long, e2 empty, e3 filtered (IFD > 1), e4 non-finite, e5 too long
    assert sum(h["ineligible_why"].values()) == h["ineligible"] and "unexplained" not in h["ineligible_why"]
    assert h["ineligible_why"]["skipped_alone_prompt_too_long"] == 1


def test_health_shows_unexplained_ineligible_records():
    from gsnr_bench.analysis.health import display_row, health_of

    rows = [{"id": "a", "eligible": True}, {"id": "b", "eligible": False}, {"id": "c", "eligible": False}]
    h = health_of("mine", rows, {"skipped_empty_response": 1})
    assert h["ineligible_why"] == {"skipped_empty_response": 1, "unexplained": 1}
    assert display_row(h)["why ineligible"] == "skipped_empty_response 1, unexplained 1"
