"""Ranking metrics: ROC AUC, Average Precision and Cumulative Lift, weighted, from one sort of the scores.

Each score vector is sorted once (``np.argsort``, descending); samples with equal scores form a
*tie group*. Per group the positive and negative weights come from cumulative sums taken at the group
ends (binary) or from ``np.bincount`` over the group index (multiclass), so everything after the sort
is ``O(n)`` vectorised numpy with no loop over samples (multiclass: a loop over the ``k`` columns).

ROC AUC (binary)
    The weighted Mann–Whitney statistic: over all (positive i, negative j) pairs,
    ``Σ w_i·w_j·([s_i > s_j] + ½·[s_i == s_j]) / (W_pos·W_neg)`` — ties get half credit, which equals the
    trapezoidal area under the (weighted) ROC curve.

ROC AUC (multiclass)
    One-vs-one macro average of Hand & Till (2001) over the ``c`` classes present in ``y_true`` (with a
    positive total weight): ``1/(c(c-1)) · Σ_{j≠k} AUC(j|k)``, i.e. the mean over pairs ``{j, k}`` of
    ``(AUC(j|k) + AUC(k|j)) / 2``, where ``AUC(j|k)`` is the binary AUC of the class-``j`` scores
    ``P[:, j]`` with class ``j`` positive and class ``k`` negative, on the samples of classes ``j`` and ``k``.
    One sort of column ``j`` yields ``AUC(j|k)`` for every ``k`` at once: each sample ``r`` concedes the
    class-``j`` weight ranked above it plus half of the class-``j`` weight tied with it, and a
    ``np.bincount`` over the classes of the samples sums those credits per class ``k``.

Average Precision
    Over the distinct score thresholds in descending order, ``AP = Σ_n (R_n - R_{n-1})·P_n`` with
    ``R_0 = 0``, the (weighted) precision ``P_n`` and recall ``R_n`` of predicting positive every score
    ``>= threshold_n``; no interpolation. Multiclass: the unweighted mean, over the classes present in
    ``y_true``, of the one-vs-rest AP of column ``j`` (class ``j`` positive, all other samples negative).

Cumulative Lift (binary)
    Rows sorted by score descending, ties in their original row order (a stable, deterministic order);
    the top ``k = max(int(lift_ratio·n), 1)`` **rows** (``n`` counts rows, whatever their weights) give
    ``lift = (Σ_top w·y / Σ_top w) / (Σ w·y / Σ w)``, the positive rate of the top rows over the overall
    positive rate (without weights: ``(positives in top k / k) / (positives / n)``).

Undefined cases return ``NaN`` with a :class:`~trainrig.metrics.MetricWarning`: ROC AUC without a
positive or without a negative sample (multiclass: fewer than two classes), Average Precision of a
class without positive samples (binary: no positive), Cumulative Lift without positives or when the
top rows weigh nothing. "Without" means without positive weight.
"""

from __future__ import annotations

import math

import numpy as np

from trainrig.metrics._warnings import warn

__all__ = ["binary_ranking_metrics", "multiclass_ranking_metrics"]


def _descending_order(scores: np.ndarray) -> np.ndarray:
    """Indices sorting ``scores`` descending (ties in arbitrary order: only groups of ties matter)."""
    return np.argsort(scores)[::-1]


def _group_ends(sorted_scores: np.ndarray) -> np.ndarray | None:
    """Index of the last element of each run of equal values in ``sorted_scores`` (``None``: no ties)."""
    last = np.empty(sorted_scores.shape[0], dtype=bool)
    np.not_equal(sorted_scores[1:], sorted_scores[:-1], out=last[:-1])
    last[-1] = True
    return None if last.all() else np.flatnonzero(last)


def _precision(tp: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """``tp / predicted`` with 0 where nothing is predicted (then no recall step weighs the value)."""
    return np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)


def _top_rows(
    order: np.ndarray,
    ends: np.ndarray | None,
    cum_pos: np.ndarray,
    cum_all: np.ndarray,
    pos_w: np.ndarray,
    w: np.ndarray,
    k: int,
) -> tuple[float, float]:
    """Positive weight and total weight of the first ``k`` rows by descending score, ties in row order.

    Whole tie groups before the cut come from the cumulative sums; of the group the cut goes through,
    the members with the smallest row indices are taken (as a stable descending sort would order them).
    """
    if ends is None:  # no ties: the first k rows
        return float(cum_pos[k - 1]), float(cum_all[k - 1])
    group = int(np.searchsorted(ends, k - 1))  # the first group ending at or after row k - 1
    start = int(ends[group - 1]) + 1 if group else 0
    end = int(ends[group]) + 1
    if end == k:
        return float(cum_pos[group]), float(cum_all[group])
    before_pos = float(cum_pos[group - 1]) if group else 0.0
    before_all = float(cum_all[group - 1]) if group else 0.0
    taken = np.sort(order[start:end])[: k - start]
    return before_pos + float(pos_w[taken].sum()), before_all + float(w[taken].sum())


def binary_ranking_metrics(
    y_true: np.ndarray, scores: np.ndarray, w: np.ndarray, total: float, lift_ratio: float
) -> dict[str, float]:
    """ROC AUC, Average Precision and Cumulative Lift of 0/1 ``y_true`` against ``scores``."""
    n = scores.shape[0]
    order = _descending_order(scores)
    pos_w = w * y_true  # weight of each positive, 0 for negatives
    sorted_pos = pos_w[order]
    sorted_w = w[order]
    ends = _group_ends(scores[order])
    cum_pos = np.cumsum(sorted_pos)
    cum_all = np.cumsum(sorted_w)
    if ends is None:  # no ties: one group a row
        group_pos = sorted_pos
        group_neg = sorted_w - sorted_pos
        cum_neg = cum_all - cum_pos
    else:  # cumulative sums at the group ends; the groups' weights are their differences
        cum_pos = cum_pos[ends]
        cum_all = cum_all[ends]
        cum_neg = cum_all - cum_pos
        group_pos = np.diff(cum_pos, prepend=0.0)
        group_neg = np.diff(cum_neg, prepend=0.0)
    total_pos = float(cum_pos[-1])
    total_neg = float(cum_neg[-1])

    if total_pos > 0 and total_neg > 0:
        # each positive beats the negatives of later (lower) groups and ties half of its own group's
        wins = group_pos @ (total_neg - cum_neg + 0.5 * group_neg)
        roc_auc = float(wins) / (total_pos * total_neg)
    else:
        missing = "positive" if total_pos <= 0 else "negative"
        warn(
            f"ROC AUC is undefined: y_true holds no {missing} sample with a positive weight (a single class); "
            "returning NaN."
        )
        roc_auc = math.nan

    if total_pos > 0:
        average_precision = float(group_pos @ _precision(cum_pos, cum_all)) / total_pos
        top_pos, top_all = _top_rows(order, ends, cum_pos, cum_all, pos_w, w, max(int(lift_ratio * n), 1))
        if top_all > 0:
            lift = (top_pos / top_all) / (total_pos / total)
        else:
            warn("Cumulative Lift is undefined: the top-ranked rows all have weight 0; returning NaN.")
            lift = math.nan
    else:
        warn("Average Precision is undefined: y_true holds no positive sample with a positive weight; returning NaN.")
        warn("Cumulative Lift is undefined: y_true holds no positive sample with a positive weight; returning NaN.")
        average_precision = lift = math.nan

    return {"ROC AUC": roc_auc, "Average Precision": average_precision, "Cumulative Lift": lift}


def multiclass_ranking_metrics(labels: np.ndarray, probabilities: np.ndarray, w: np.ndarray) -> dict[str, float]:
    """One-vs-one macro ROC AUC (Hand & Till) and one-vs-rest macro Average Precision."""
    n, k = probabilities.shape
    class_weight = np.bincount(labels, weights=w, minlength=k)
    present = np.flatnonzero(class_weight > 0)
    c = present.shape[0]
    # classes renumbered 0..c-1 among the present ones; absent (weightless) ones share bucket c
    compact = np.full(k, c, dtype=np.intp)
    compact[present] = np.arange(c)
    compact_labels = compact[labels]

    # auc[a, b] = AUC(present[a] | present[b]): class-a scores, class a positive against class b
    auc = np.zeros((c, c))
    average_precision = np.empty(c)
    class_total = class_weight[present]
    for a, j in enumerate(present):
        column = np.ascontiguousarray(probabilities[:, j])
        order = _descending_order(column)
        sorted_scores = column[order]
        sorted_labels = compact_labels[order]
        sorted_w = w[order]
        pos_w = np.where(sorted_labels == a, sorted_w, 0.0)
        new_group = sorted_scores[1:] != sorted_scores[:-1]
        if new_group.all():  # no ties: every sample is its own group
            group = None
            group_pos, group_all = pos_w, sorted_w
        else:
            group = np.zeros(n, dtype=np.intp)
            np.cumsum(new_group, out=group[1:])
            n_groups = int(group[-1]) + 1
            group_pos = np.bincount(group, weights=pos_w, minlength=n_groups)
            group_all = np.bincount(group, weights=sorted_w, minlength=n_groups)
        cum_pos = np.cumsum(group_pos)
        cum_all = np.cumsum(group_all)
        # what each sample r concedes to class a: the class-a weight scored above it, half of that tied with it
        credit = cum_pos - 0.5 * group_pos
        if group is not None:
            credit = credit[group]
        wins = np.bincount(sorted_labels, weights=sorted_w * credit, minlength=c + 1)[:c]
        auc[a] = wins / (class_total[a] * class_total)
        average_precision[a] = float(group_pos @ _precision(cum_pos, cum_all)) / class_total[a]

    if c >= 2:
        roc_auc = float(auc.sum() - np.trace(auc)) / (c * (c - 1))
    else:
        warn("ROC AUC is undefined: y_true holds a single class (one-vs-one needs two); returning NaN.")
        roc_auc = math.nan
    return {"ROC AUC": roc_auc, "Average Precision": float(average_precision.mean())}
