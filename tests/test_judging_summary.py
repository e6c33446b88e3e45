"""JudgeSummary holds the client's TransportStats (composed, not copied) and writes the same flat dict."""

import json

from gsnr_bench.judging.client import TransportStats
from gsnr_bench.judging.stage import JudgeSummary

# the keys JudgeSummary.to_dict() gave when it copied the transport's counts field by field (DONE files hold them)
KEYS_BEFORE = (
    "judge judge_model prompt_version prompt_sha256 order combine comparisons resumed retried judged failed win tie "
    "lose failed_total pending budget_stopped calls cache_hits requests retries rate_limited server_errors timeouts "
    "connection_errors gave_up retry_after_s prompt_tokens completion_tokens cost cost_spent usage_estimated "
    "usage_rule spent_total max_cost diagnostics left complete"
).split()


def test_summary_reads_and_writes_the_transport_counts_flat():
    s = JudgeSummary("ref", "m", "v1", "0" * 64, "both", "lenient")
    s.transport = TransportStats(requests=5, retries=2, rate_limited=1, timeouts=1, retry_after_waits=[0.25, 0.5])
    d = s.to_dict()
    assert sorted(d) == sorted(KEYS_BEFORE)
    assert (d["requests"], d["retries"], d["rate_limited"], d["timeouts"], d["retry_after_s"]) == (5, 2, 1, 1, 0.75)
    assert (s.requests, s.retries, s.gave_up, s.retry_after_s) == (5, 2, 0, 0.75)
    json.dumps(d)  # nothing that JSON cannot write (the waits one by one stay out)
    assert not hasattr(s, "no_such_count")
