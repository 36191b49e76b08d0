"""Whole-tensor soft-confusion kernels for ``torch.compile`` (opt-in).

Plain torch, no mmseg import. The eager :class:`~.relaxed_metrics._SoftConfusion`
is bound by PyTorch's one-kernel-per-op execution: the softmax, the two-piece
g with its derivative and the weighted sums cost ~30 passes over the logits.
Written as one expression per direction, the compiler fuses each into a few
loops (about half the time on one CPU core, ``benchmarks/loss_speed.py``).
Same statistics, same formula (:func:`~.parameterization.evaluate_packed`);
the piece constants are tensor inputs, so one compiled graph serves every θ.

Compilation needs a C++ compiler on CPU (Triton on CUDA) and takes seconds
per graph and input shape the first time in a process (inductor's on-disk
cache shortens later runs). After torch._dynamo's recompile limit (8 shapes
or dtypes per function), further ones run the same code eagerly.
"""
from typing import Any, Callable, Dict, Optional, Tuple

import torch

from .parameterization import evaluate_packed

__all__ = ['confusion_forward', 'confusion_backward', 'label_class_grad', 'compiled']


def confusion_forward(scores: torch.Tensor, label: torch.Tensor, w: torch.Tensor,
                      consts: torch.Tensor, thresholds: torch.Tensor, from_logits: bool,
                      need_grad: bool
                      ) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor], torch.Tensor]:
    """Probabilities, Σ w·g_or(ỹ) per (image, class), g_or'·w and ỹ at the labels.

    The label-class g's (N·P values) are a separate call of
    ``compiled(evaluate_packed)``: fused in here they slow the large loop.

    Args:
        scores (Tensor): Logits (``from_logits``) or probabilities (N, C, P).
        label (Tensor): Safe labels (N, 1, P), int64.
        w (Tensor): Pixel weights (N, P).
        consts, thresholds (Tensor): g_or from :meth:`PiecewiseG.packed`.
        from_logits (bool): Take the softmax over C first.
        need_grad (bool): Also return g_or'·w.

    Returns:
        tuple: ỹ (N, C, P), or_sum (N, C), g_or'·w (N, C, P) or None,
        ỹ at the label (N, 1, P).
    """
    probs = torch.softmax(scores, 1) if from_logits else scores
    value, deriv = evaluate_packed(probs, consts, thresholds)
    w = w.unsqueeze(1)
    or_sum = (value * w).sum(-1)
    der_w = deriv * w if need_grad else None
    return probs, or_sum, der_w, probs.gather(1, label)


def label_class_grad(g_inter: torch.Tensor, g_union: torch.Tensor, a_der: torch.Tensor,
                     o_der: torch.Tensor, w: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """The label class's gradient besides the union term (eager and fused).

    ``w·(g_and'·∂inter − g_or'·∂union)``: + the AND term, − the OR term
    that the union counted as 1 there.

    Args:
        g_inter, g_union (Tensor): ∂loss/∂inter, ∂loss/∂union (N, C).
        a_der, o_der (Tensor): g_and', g_or' at the label class (N, 1, P).
        w (Tensor): Pixel weights (N, 1, P).
        label (Tensor): Safe labels (N, 1, P).

    Returns:
        Tensor: (N, 1, P).
    """
    lab = label[:, 0]
    return (g_inter.gather(1, lab).unsqueeze(1) * a_der -
            g_union.gather(1, lab).unsqueeze(1) * o_der) * w


def confusion_backward(probs: Optional[torch.Tensor], der_w: torch.Tensor,
                       g_inter: torch.Tensor, g_union: torch.Tensor, a_der: torch.Tensor,
                       o_der: torch.Tensor, w: torch.Tensor, label: torch.Tensor
                       ) -> torch.Tensor:
    """Gradient of the scores from ∂loss/∂inter and ∂loss/∂union.

    ``g_or'·w·∂union`` everywhere; at the label class also
    :func:`label_class_grad`; then the softmax Jacobian
    ``p ⊙ (∂ − Σ_c p_c ∂_c)`` when ``probs`` is given (from logits).

    Args:
        probs (Tensor, optional): ỹ (N, C, P) for the softmax Jacobian.
        der_w (Tensor): g_or'·w (N, C, P).
        g_inter, g_union (Tensor): ∂loss/∂inter, ∂loss/∂union (N, C).
        a_der, o_der (Tensor): g_and', g_or' at the label class (N, 1, P).
        w (Tensor): Pixel weights (N, 1, P).
        label (Tensor): Safe labels (N, 1, P).

    Returns:
        Tensor: (N, C, P).
    """
    at_gt = label_class_grad(g_inter, g_union, a_der, o_der, w, label)
    grad = (der_w * g_union.unsqueeze(-1)).scatter_add(1, label, at_gt)
    if probs is None:
        return grad
    return probs * (grad - (probs * grad).sum(1, keepdim=True))


_COMPILED: Dict[Tuple[Callable, tuple], Callable] = {}


def compiled(fn: Callable, options: Optional[Dict[str, Any]] = None) -> Callable:
    """``torch.compile`` of ``fn`` (built once per process and ``options``,
    inductor settings), whose failures name the cause and the way back to
    the eager path."""
    key = (fn, tuple(sorted((options or {}).items())))
    if key not in _COMPILED:
        # Static shapes: a kernel per input shape (a training run has one);
        # dynamic kernels measured ~35% slower. Past dynamo's recompile
        # limit, new shapes run the same function eagerly.
        compiled_fn = torch.compile(fn, dynamic=False, options=options)

        def run(*args):
            try:
                return compiled_fn(*args)
            except Exception as err:  # backend errors surface at the first call
                raise RuntimeError(
                    f'compile=True: torch.compile could not build {fn.__name__} '
                    f'({type(err).__name__}: {str(err)[:500]}). It needs a working C++ '
                    f'compiler on CPU (Triton on CUDA); set compile=False to run eagerly.'
                ) from err

        _COMPILED[key] = run
    return _COMPILED[key]
