"""Comparing two groups of training runs (seeds) on one metric."""
import math
import statistics
from typing import NamedTuple, Sequence, Tuple

__all__ = ['Verdict', 'welch_verdict', 'mean_std', 'ALPHA']

ALPHA = 0.05  # a difference counts when Welch's two-sided p is below this


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    values = [float(v) for v in values]
    if not values:
        return math.nan, math.nan
    if len(values) == 1:
        return values[0], 0.0
    return statistics.mean(values), statistics.stdev(values)


class Verdict(NamedTuple):
    """``diff`` = mean(candidate) − mean(baseline); ``p`` Welch's two-sided
    p-value (NaN with fewer than 2 runs in a group); ``word`` 'win', 'lose',
    'tie' (p >= :data:`ALPHA`) or 'n/a' (no test possible)."""
    diff: float
    p: float
    word: str

    def __str__(self) -> str:
        if self.word == 'n/a':
            return f'{self.diff:+.2f}'
        return f'{self.diff:+.2f} ({self.word}, p={self.p:.2g})'


def welch_verdict(candidate: Sequence[float], baseline: Sequence[float],
                  alpha: float = ALPHA) -> Verdict:
    """Does ``candidate`` beat ``baseline``? Welch's t-test (scipy), unequal variances.

    Two groups without any spread are decided by their means (p 0 or 1),
    where the t statistic is undefined.
    """
    from scipy import stats
    a, b = [float(v) for v in candidate], [float(v) for v in baseline]
    if not a or not b:
        raise ValueError(f'welch_verdict needs runs in both groups, got {len(a)} and {len(b)}')
    diff = sum(a) / len(a) - sum(b) / len(b)
    if len(a) < 2 or len(b) < 2:
        return Verdict(diff, float('nan'), 'n/a')
    if max(a) == min(a) and max(b) == min(b):
        p = 0.0 if a[0] != b[0] else 1.0
    else:
        p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    word = 'tie' if not p < alpha else ('win' if diff > 0 else 'lose')
    return Verdict(diff, p, word)
