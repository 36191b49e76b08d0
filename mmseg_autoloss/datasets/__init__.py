from .camvid import CamVidDataset
from .synthetic import class_names, class_palette, generate_synthetic_dataset, make_sample
from .synthetic_dataset import CheckedSegDatasetMixin, SyntheticShapesDataset

__all__ = ['class_names', 'class_palette', 'generate_synthetic_dataset', 'make_sample',
           'CheckedSegDatasetMixin', 'SyntheticShapesDataset', 'CamVidDataset']
