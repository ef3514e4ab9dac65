"""gankit: train and evaluate the GAN families of compare_gan, Improved-GAN, StarGAN, AdaGAN and WGAN-GP."""
__version__ = "0.1.0"
