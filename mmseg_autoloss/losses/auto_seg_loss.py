"""AutoSegLoss: Auto Seg-Loss metric surrogates as an MMSeg loss.

Loss = ``loss_weight · (1 − relaxed metric)`` with statistics summed over the
batch per class (method.md §2). The math lives in
:mod:`mmseg_autoloss.surrogates`; this module only resolves the config and
checks the inputs.

Config::

    loss_decode=dict(type='AutoSegLoss', target_metric='mIoU', preset='voc_miou')
    loss_decode=[dict(type='CrossEntropyLoss', loss_weight=1.0),
                 dict(type='AutoSegLoss', target_metric='BF1', preset='voc_bf1',
                      loss_name='loss_bf1')]
"""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
from mmseg.registry import MODELS

from ..surrogates.parameterization import (PiecewiseG, build_g_functions, check_control_points,
                                           check_num_pieces, check_parameterization,
                                           check_target_metric, check_theta,
                                           control_points_to_theta, identity_theta,
                                           num_params_per_g, theta_to_control_points)
from ..surrogates.presets import get_preset
from ..surrogates.relaxed_metrics import CLASS_REDUCTIONS, relaxed_metric
from ..surrogates.target_metrics import get_target_metric
from ..utils.loss_config import (PRESET_OVERRIDABLE, check_weight, load_theta_file,
                                 merge_loss_settings)
from ..utils.validate import DEFAULT_MIX_WEIGHT, DEFAULT_TOL, check_share, check_tol
from .utils import check_seg_inputs, mean_cross_entropy, reject_unknown_keys

__all__ = ['AutoSegLoss', 'auto_seg_loss']


def auto_seg_loss(cls_score: torch.Tensor, label: torch.Tensor, target_metric: str,
                  gs: Optional[Sequence[PiecewiseG]] = None, weight: Optional[torch.Tensor] = None,
                  ignore_index: int = 255, class_reduction: str = 'all', eps: float = 1e-6,
                  tol: int = DEFAULT_TOL, drop_bg: bool = False, compile: bool = False,
                  sync: bool = False) -> torch.Tensor:
    """``1 − relaxed metric`` of ``softmax(cls_score)``, computed in float32.

    Args:
        cls_score (Tensor): Logits (N, C, H, W).
        label (Tensor): Labels (N, H, W), integer.
        target_metric (str): Metric name.
        gs (sequence, optional): The metric's g functions (identity if None).
        weight (Tensor, optional): Per-pixel weights (N, H, W).
        ignore_index (int): Ignored label value.
        class_reduction (str): 'all' or 'present'.
        eps (float): Denominator epsilon.
        tol (int): Boundary tolerance (BIoU, BF1).
        drop_bg (bool): Background option (BIoU, BF1).
        compile (bool): ``torch.compile`` the surrogate (see :func:`relaxed_metric`).
        sync (bool): Sum the statistics over the DDP ranks.

    Returns:
        Tensor: 0-d loss.
    """
    metric = relaxed_metric(cls_score, label, target_metric, gs, ignore_index=ignore_index,
                            weight=weight, class_reduction=class_reduction, eps=eps, tol=tol,
                            drop_bg=drop_bg, check_inputs=False, from_logits=True,
                            compile=compile, sync=sync)
    return 1 - metric


@MODELS.register_module()
class AutoSegLoss(nn.Module):
    """Auto Seg-Loss surrogate of a segmentation metric (Li et al., ICLR 2021).

    Exactly one of ``theta`` / ``control_points`` / ``preset`` / ``theta_file``
    sets the g functions; none gives the identity g (the naive surrogate,
    Eq. 8). ``None`` fields are taken from the preset or file when it has them,
    else from the defaults in brackets; an explicit value that contradicts the
    file, or a preset's metric/parameterization/pieces, is an error (a preset's
    ``tol``/``drop_bg`` may be changed). ``tools/train.py --loss-params``
    follows the same rule (:func:`~mmseg_autoloss.utils.loss_config.merge_loss_settings`).

    Args:
        target_metric (str): 'mIoU', 'FWIoU', 'mAcc', 'gAcc', 'BIoU', 'BF1',
            'mDice', 'mIoU_I' or 'mIoU_C' ['mIoU'].
        parameterization (str): 'bezier' or 'linear' ['bezier'].
        num_pieces (int): Pieces per g [2; BF1: 1].
        theta (list[float]): Free parameters in [0, 1],
            ``METRIC_NUM_G[metric] · 2(2n−1)`` numbers (AND then OR; BF1
            g1..g4).
        control_points (list[float]): Absolute control points, same layout.
        preset (str): A name of :data:`~mmseg_autoloss.surrogates.PRESETS`,
            e.g. 'voc_miou'.
        theta_file (str): A ``best_loss.json`` written by the search.
        tol (int): Boundary tolerance in pixels for BIoU/BF1 [5].
        drop_bg (bool): BIoU: background boundaries do not form the band;
            BF1: background left out of the class mean [False].
        class_reduction (str): 'all' (authors) or 'present' classes (as
            the JDT losses average) ['all'].
        ce_weight (float): w in [0, 1] of the convex mix
            ``w·CE + (1 − w)·(1 − relaxed metric)``: a mix, not an added
            term, so the loss's scale (and the effective learning rate)
            stays put as w moves; JDTLosses default to 0.25 CE [0].
        mix_metric (str): A second target metric whose naive surrogate
            (identity g, Eq. 8; the loss's ``tol``/``drop_bg``) is mixed in:
            the surrogate term becomes ``(1 − b)·(1 − relaxed metric) +
            b·(1 − relaxed mix_metric)``, e.g. mIoU with a BF1 or BIoU share
            for sharper boundaries (Auto Seg-Loss Sec. 5) [None].
        mix_weight (float): b in [0, 1], the share of ``mix_metric``
            [``DEFAULT_MIX_WEIGHT`` (0.5) with a ``mix_metric``, else 0].
        eps (float): Denominator epsilon.
        loss_weight (float): Multiplier of the loss.
        loss_name (str): Key in the loss dict; must start with 'loss_'.
        ignore_index (int): Ignored label; the value MMSeg passes to
            ``forward`` takes precedence.
        compile (bool): Run the surrogate through ``torch.compile`` (the
            same code as the eager path; compiles once per metric, input
            shape and dtype in a process). Needs a C++ compiler on CPU,
            Triton on CUDA [False].
        sync_stats (bool): Under DDP, sum the per-class statistics over all
            ranks (autograd-aware all-reduce), so every rank optimizes the
            metric of the global batch rather than of its own images. Off
            by default, as in the authors' release [False].
        check_labels (bool): Check the label values on every call (a host
            read, i.e. a device sync); otherwise only the first call checks
            [False].
    """

    def __init__(self,
                 target_metric: Optional[str] = None,
                 parameterization: Optional[str] = None,
                 num_pieces: Optional[int] = None,
                 theta: Optional[Sequence[float]] = None,
                 control_points: Optional[Sequence[float]] = None,
                 preset: Optional[str] = None,
                 theta_file: Optional[str] = None,
                 tol: Optional[int] = None,
                 drop_bg: Optional[bool] = None,
                 class_reduction: Optional[str] = None,
                 ce_weight: Optional[float] = None,
                 mix_metric: Optional[str] = None,
                 mix_weight: Optional[float] = None,
                 eps: float = 1e-6,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_autoseg',
                 ignore_index: int = 255,
                 compile: bool = False,
                 sync_stats: bool = False,
                 check_labels: bool = False,
                 **kwargs):
        super().__init__()
        reject_unknown_keys('AutoSegLoss', kwargs)
        given = {k: v for k, v in dict(theta=theta, control_points=control_points,
                                        preset=preset, theta_file=theta_file).items()
                 if v is not None}
        if len(given) > 1:
            raise ValueError(f'AutoSegLoss: give at most one of theta, control_points, preset, '
                             f'theta_file; got {sorted(given)}')
        src = None
        explicit = dict(target_metric=target_metric, parameterization=parameterization,
                        num_pieces=num_pieces, tol=tol, drop_bg=drop_bg,
                        class_reduction=class_reduction, ce_weight=ce_weight,
                        mix_metric=mix_metric, mix_weight=mix_weight)
        # One rule for preset/file vs explicit keys, shared with --loss-params.
        if preset is not None:
            src = get_preset(preset)
            explicit = merge_loss_settings(explicit, src, f'preset {preset!r}',
                                           PRESET_OVERRIDABLE, owner='AutoSegLoss')
        elif theta_file is not None:
            src, explicit = load_theta_file(theta_file, explicit)
        defaults = dict(target_metric='mIoU', parameterization='bezier', num_pieces=None,
                        tol=None, drop_bg=False, class_reduction='all', ce_weight=0.0,
                        mix_metric=None, mix_weight=None)
        res = {k: defaults[k] if v is None else v for k, v in explicit.items()}

        try:
            self.target_metric = check_target_metric(res['target_metric'])
            self.parameterization = check_parameterization(res['parameterization'])
            n = res['num_pieces']
            entry = get_target_metric(self.target_metric)
            self.num_pieces = check_num_pieces(entry.num_pieces if n is None else n)
        except (TypeError, ValueError) as err:
            raise ValueError(f'AutoSegLoss: {err}') from None
        # the metric's own default tol; unused by a metric without boundary
        tol = res['tol'] if res['tol'] is not None else (
            DEFAULT_TOL if entry.tol is None else entry.tol)
        self.tol = check_tol(tol, 'AutoSegLoss: ')
        if not isinstance(res['drop_bg'], bool):
            raise ValueError(f"AutoSegLoss: drop_bg must be a bool, got {res['drop_bg']!r}")
        self.drop_bg = res['drop_bg']
        class_reduction = res['class_reduction']
        if class_reduction not in CLASS_REDUCTIONS:
            raise ValueError(f'AutoSegLoss: class_reduction={class_reduction!r} is not '
                             f'supported; valid: {list(CLASS_REDUCTIONS)}')
        self.class_reduction = class_reduction
        self.ce_weight = check_share(res['ce_weight'], 'AutoSegLoss: ')
        self._build_mix(res['mix_metric'], res['mix_weight'])
        if not eps > 0:
            raise ValueError(f'AutoSegLoss: eps must be > 0, got {eps!r}')
        self.eps = float(eps)
        self.loss_weight = check_weight('AutoSegLoss', loss_weight)
        if not isinstance(loss_name, str) or not loss_name.startswith('loss_'):
            raise ValueError(f"AutoSegLoss: loss_name must start with 'loss_' (MMSeg sums "
                             f'only such keys into the total loss), got {loss_name!r}')
        self._loss_name = loss_name
        self.ignore_index = ignore_index
        if not isinstance(compile, bool):
            raise TypeError(f'AutoSegLoss: compile must be True or False, got {compile!r}')
        # not ``self.compile``: that would shadow nn.Module.compile()
        self.use_compile = compile
        for key, val in (('sync_stats', sync_stats), ('check_labels', check_labels)):
            if not isinstance(val, bool):
                raise TypeError(f'AutoSegLoss: {key} must be True or False, got {val!r}')
        self.sync_stats, self.check_labels = sync_stats, check_labels
        self._labels_checked = False

        num_g = entry.num_g
        if src is not None:
            theta_t = torch.tensor(src['theta'], dtype=torch.float64)
            points = torch.tensor(src['control_points'], dtype=torch.float64)
        elif control_points is not None:
            # Absolute points are the exact source: θ is only defined up to
            # the degenerate points, where any θ draws the same curve.
            points = self._checked(check_control_points, control_points, num_g,
                                   'control_points').to(torch.float64)
            theta_t = control_points_to_theta(points, self.num_pieces)
        else:
            theta_t = (self._checked(check_theta, theta, num_g, 'theta') if theta is not None
                       else torch.tensor(identity_theta(self.target_metric, self.num_pieces)))
            theta_t = theta_t.to(torch.float64)
            points = theta_to_control_points(theta_t, self.num_pieces)
        # A buffer, not a Parameter: the network's optimizer must not move θ.
        self.register_buffer('theta', theta_t.float(), persistent=False)
        self.register_buffer('control_points', points.float(), persistent=False)
        self.gs: List[PiecewiseG] = build_g_functions(num_g, self.num_pieces,
                                                      self.parameterization,
                                                      control_points=points)

    def _build_mix(self, mix_metric: Optional[str], mix_weight: Optional[float]) -> None:
        """The second metric (its naive surrogate: identity g) and its share b."""
        if mix_metric is None:
            if mix_weight not in (None, 0):
                raise ValueError(f'AutoSegLoss: mix_weight={mix_weight!r} needs a mix_metric '
                                 '(the metric whose surrogate it weighs)')
            self.mix_metric, self.mix_weight = None, 0.0
            return
        try:
            self.mix_metric = check_target_metric(mix_metric)
        except ValueError as err:
            raise ValueError(f'AutoSegLoss: mix_metric: {err}') from None
        self.mix_weight = check_share(DEFAULT_MIX_WEIGHT if mix_weight is None else mix_weight,
                                      'AutoSegLoss: ', 'mix_weight')

    def _checked(self, fn, values, num_g: int, name: str) -> torch.Tensor:
        t = values if isinstance(values, torch.Tensor) else torch.as_tensor(
            values, dtype=torch.float64)
        expected = num_g * num_params_per_g(self.num_pieces)
        if t.numel() != expected:
            hint = ''
            per = t.numel() / num_g / 2
            if t.numel() % (2 * num_g) == 0 and per % 2 == 1:
                hint = f' (that length fits num_pieces={int((per + 1) // 2)})'
            raise ValueError(
                f'AutoSegLoss: {name} has {t.numel()} numbers, expected {expected} for '
                f'target_metric={self.target_metric!r} with num_pieces={self.num_pieces} '
                f'({num_g} g function(s) x 2(2n-1)){hint}')
        try:
            return fn(t, self.num_pieces, num_g, name=name)
        except ValueError as err:
            raise ValueError(f'AutoSegLoss: {err}') from None

    def forward(self,
                cls_score: torch.Tensor,
                label: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                ignore_index: Optional[int] = None,
                **kwargs) -> torch.Tensor:
        """Loss of logits (N, C, H, W) against labels (N, H, W).

        ``avg_factor`` / ``reduction_override`` of MMSeg's loss protocol are
        accepted and have no effect: the surrogate is one batch-level number.
        """
        ignore = self.ignore_index if ignore_index is None else ignore_index
        check_seg_inputs(cls_score, label, ignore, 'AutoSegLoss',
                         check_values=self.check_labels or not self._labels_checked)
        self._labels_checked = True
        loss = auto_seg_loss(cls_score, label, self.target_metric, self.gs, weight=weight,
                             ignore_index=ignore, class_reduction=self.class_reduction,
                             eps=self.eps, tol=self.tol, drop_bg=self.drop_bg,
                             compile=self.use_compile, sync=self.sync_stats)
        if self.mix_weight:
            # gs=None: the identity g of every operation (Eq. 8)
            mix = auto_seg_loss(cls_score, label, self.mix_metric, None, weight=weight,
                                ignore_index=ignore, class_reduction=self.class_reduction,
                                eps=self.eps, tol=self.tol, drop_bg=self.drop_bg,
                                compile=self.use_compile, sync=self.sync_stats)
            loss = (1 - self.mix_weight) * loss + self.mix_weight * mix
        if self.ce_weight:
            loss = (1 - self.ce_weight) * loss + self.ce_weight * mean_cross_entropy(
                cls_score, label, ignore, weight)
        return self.loss_weight * loss

    @property
    def loss_name(self) -> str:
        """Key of this loss in the loss dict (starts with 'loss_')."""
        return self._loss_name

    def extra_repr(self) -> str:
        return (f'target_metric={self.target_metric!r}, parameterization='
                f'{self.parameterization!r}, num_pieces={self.num_pieces}, '
                f'theta={[round(v, 4) for v in self.theta.tolist()]}, tol={self.tol}, '
                f'drop_bg={self.drop_bg}, class_reduction={self.class_reduction!r}, '
                f'ce_weight={self.ce_weight}, mix_metric={self.mix_metric!r}, '
                f'mix_weight={self.mix_weight}, '
                f'loss_weight={self.loss_weight}, compile={self.use_compile}, '
                f'sync_stats={self.sync_stats}')
