"""welch_verdict against Welch's test written out (Welch-Satterthwaite df)."""
import math

import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats

from mmseg_autoloss.utils.stats import welch_verdict


def _welch_p(a, b):
    va = sum((x - sum(a) / len(a)) ** 2 for x in a) / (len(a) - 1) / len(a)
    vb = sum((x - sum(b) / len(b)) ** 2 for x in b) / (len(b) - 1) / len(b)
    t = (sum(a) / len(a) - sum(b) / len(b)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return 2 * stats.t.sf(abs(t), df)


values = st.lists(st.floats(0, 100, allow_nan=False), min_size=2, max_size=6)


@settings(max_examples=60, deadline=None)
@given(values, values)
def test_p_value_is_welchs_and_a_win_needs_a_significant_lead(a, b):
    if max(a) - min(a) < 1e-3 or max(b) - min(b) < 1e-3:
        return  # no spread: decided by the means (below)
    v = welch_verdict(a, b)
    assert v.p == pytest.approx(_welch_p(a, b), rel=1e-6, abs=1e-12)
    assert v.diff == pytest.approx(sum(a) / len(a) - sum(b) / len(b))
    expect = 'tie' if v.p >= 0.05 else ('win' if v.diff > 0 else 'lose')
    assert v.word == expect
    # swapping the groups swaps win and lose, same p
    w = welch_verdict(b, a)
    assert w.p == pytest.approx(v.p) and w.word == {'win': 'lose', 'lose': 'win'}.get(
        v.word, v.word)


def test_degenerate_groups():
    assert welch_verdict([60.0, 60.0], [50.0, 50.0]).word == 'win'
    assert welch_verdict([50.0, 50.0], [50.0, 50.0]).word == 'tie'
    one = welch_verdict([61.0], [50.0, 51.0])
    assert one.word == 'n/a' and math.isnan(one.p) and str(one) == '+10.50'
    assert str(welch_verdict([60.0, 61.0, 59.0], [50.0, 51.0, 49.0])).startswith('+10.00 (win, p=')
    with pytest.raises(ValueError, match='runs in both groups'):
        welch_verdict([], [1.0])
