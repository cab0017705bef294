"""The paper's networks, one module per architecture (as in torchvision), each with its ``predict_*`` function.

* :mod:`.blocks`: pre-activation residual blocks, pyramid max-pooling, the classification MLP;
* :mod:`.unet_backbone`: the shared 7-level U-Net backbone and its segmentation head;
* :mod:`.unet`: the lesion segmenters 2D U-Net (also 2D U-Net+) and 3D U-Net;
* :mod:`.lungs`: the lung segmentation network and the left/right split;
* :mod:`.resnet50`: the ResNet50 identification baseline;
* :mod:`.multitask`: Multitask-Latent and Multitask-Spatial-l.
"""
