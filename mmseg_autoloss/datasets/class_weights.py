"""Class weights from label frequencies (SegNet's median-frequency balancing)."""
from typing import Iterable, List

import cv2
import numpy as np


def class_pixel_counts(label_paths: Iterable[str], num_classes: int,
                       ignore_index: int = 255) -> np.ndarray:
    """Per label map, the pixel count of each class: an (N, C) int64 array
    (``ignore_index`` pixels left out)."""
    rows = []
    for path in label_paths:
        label = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if label is None:
            raise FileNotFoundError(f'cannot read label map {path!r}')
        flat = label[label != ignore_index].ravel().astype(np.int64)
        if flat.size and (flat.max() >= num_classes or flat.min() < 0):
            raise ValueError(f'label map {path!r} has value {int(flat.max())} outside '
                             f'[0, {num_classes - 1}] that is not ignore_index={ignore_index}')
        rows.append(np.bincount(flat, minlength=num_classes))
    if not rows:
        raise ValueError('class_pixel_counts: no label maps given')
    return np.stack(rows)


def median_frequency_weights(counts: np.ndarray) -> List[float]:
    """SegNet's class weights (Eigen & Fergus, 2015): ``freq_c`` is class
    c's pixels over the (non-ignored) pixels of the images where c occurs,
    and ``w_c = median(freq) / freq_c``.

    Args:
        counts: (N, C) pixel counts per image and class
            (:func:`class_pixel_counts`).

    Returns:
        list[float]: One weight per class; a class absent everywhere gets 0.
    """
    counts = np.asarray(counts, dtype=np.float64)
    present = counts > 0
    image_pixels = counts.sum(axis=1, keepdims=True)
    denom = (image_pixels * present).sum(axis=0)
    freq = np.divide(counts.sum(axis=0), denom, out=np.zeros(counts.shape[1]), where=denom > 0)
    median = np.median(freq[freq > 0])
    weights = np.divide(median, freq, out=np.zeros_like(freq), where=freq > 0)
    return [float(w) for w in weights]
