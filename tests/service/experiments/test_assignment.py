"""Assignment: the same variant in every process and after restarts, shares within binomial error."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from scipy import stats

from service.experiments.assignment import assign, bounds, position

SHARES = [0.45, 0.45, 0.1]


def test_assignment_is_the_same_in_another_process_with_another_hash_seed():
    users = [f"user-{k}" for k in range(200)] + ["", "ü ñ", "x" * 256]
    here = [assign("spring", u, bounds(SHARES)) for u in users]
    code = ("import sys, json; from service.experiments.assignment import assign, bounds; "
            "users = json.load(sys.stdin); print(json.dumps([assign('spring', u, bounds([0.45, 0.45, 0.1])) "
            "for u in users]))")
    for seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", code], input=json.dumps(users), capture_output=True, text=True,
                             check=True, env={"PYTHONHASHSEED": seed, "PATH": ""})
        assert json.loads(out.stdout) == here


def test_the_position_is_the_documented_blake2b_of_salt_and_user():
    import hashlib
    digest = hashlib.blake2b("spring\x1fu1".encode(), digest_size=8).digest()
    assert position("spring", "u1") == int.from_bytes(digest, "big") / 2 ** 64
    assert 0 <= position("spring", "u1") < 1


def test_shares_match_within_binomial_error_on_100000_ids():
    ends = bounds(SHARES)
    counts = np.bincount([assign("spring", f"customer-{k}", ends) for k in range(100_000)], minlength=3)
    for count, share in zip(counts, SHARES):
        sd = np.sqrt(100_000 * share * (1 - share))
        assert abs(count - 100_000 * share) < 4 * sd  # a 4-sigma band: fails about once in 15,000 seeds
    assert stats.chisquare(counts, np.array(SHARES) * 100_000).pvalue > 0.001


def test_another_salt_reshuffles_and_the_same_salt_keeps_everyone():
    ends = bounds([0.5, 0.5])
    users = [f"c{k}" for k in range(2000)]
    first = [assign("a", u, ends) for u in users]
    assert first == [assign("a", u, ends) for u in users]
    other = [assign("b", u, ends) for u in users]
    agree = sum(x == y for x, y in zip(first, other)) / len(users)
    assert 0.45 < agree < 0.55  # independent halves agree about half the time


def test_the_last_slice_ends_at_one_whatever_the_rounding():
    ends = bounds([0.1, 0.2, 0.3, 0.4])
    assert ends[-1] == 1.0 and assign("s", "u", ends) in range(4)
