# What the tiny CPU proxies share: BN instead of SyncBN, 64x64 inputs, the
# synthetic shapes' 6 classes, no pretrained weights, and (for the ResNet
# models) a ResNetV1c-18 with 16 base channels.
tiny_norm_cfg = dict(type='BN', requires_grad=True)
num_classes = 6
tiny_preprocessor = dict(size=(64, 64))
tiny_resnet = dict(depth=18, stem_channels=16, base_channels=16, norm_cfg=tiny_norm_cfg)
