"""On-device data augmentation: pure JAX, batched (B, H, W, C), jit-able, explicit keys.

Mirrors the EG-NAS / DARTS torchvision pipeline (docs/algorithms.md):
``RandomCrop(32, padding=4) -> RandomHorizontalFlip -> ToTensor + Normalize -> Cutout(16)``.
On the 28x28 MNIST family RandomCrop(32, padding=4) takes a 32x32 window of the 36x36 padded
image, so training runs at 32x32 while evaluation stays at 28x28 (the authors' quirk; the
networks are fully convolutional with global pooling, so both work).

Every function draws one random choice per example with ``jax.random`` from the given key,
with no Python loop over images. Sizes (``size``, ``padding``, ``cutout`` length) are static.
To jit ``augment_batch`` directly, mark ``info`` and the keyword sizes static, e.g.
``jax.jit(augment_batch, static_argnames=("info", "crop_size", "padding", "flip",
"cutout_size"))``; ``DatasetInfo`` is a frozen (hashable) dataclass.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

from jaxnas.errors import ConfigError
from jaxnas.data.info import DatasetInfo


def _check_batch(images: jax.Array, where: str) -> None:
    if images.ndim != 4:
        raise ConfigError(f"{where} needs a (B, H, W, C) batch; got shape {images.shape}")


def random_crop(key: jax.Array, images: jax.Array, size: int, padding: int = 4) -> jax.Array:
    """Zero-pad each side by ``padding`` then take a random ``size`` x ``size`` window per image.

    Like torchvision ``RandomCrop(size, padding)``: the window's top-left corner is uniform
    over every position that fits in the padded image. Output dtype equals the input's.
    """
    _check_batch(images, "random_crop")
    b, h, w, c = images.shape
    hp, wp = h + 2 * padding, w + 2 * padding
    if padding < 0 or size <= 0 or size > hp or size > wp:
        raise ConfigError(
            f"random_crop size={size}, padding={padding} does not fit images of {h}x{w} "
            f"(needs 0 < size <= {min(hp, wp)}, padding >= 0)"
        )
    padded = jnp.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    ky, kx = jax.random.split(key)
    ys = jax.random.randint(ky, (b,), 0, hp - size + 1)
    xs = jax.random.randint(kx, (b,), 0, wp - size + 1)

    def crop_one(img, y, x):
        return jax.lax.dynamic_slice(img, (y, x, 0), (size, size, c))

    return jax.vmap(crop_one)(padded, ys, xs)


def random_flip(key: jax.Array, images: jax.Array) -> jax.Array:
    """Flip each image left-right with probability 1/2."""
    _check_batch(images, "random_flip")
    flip = jax.random.bernoulli(key, 0.5, (images.shape[0],))
    return jnp.where(flip[:, None, None, None], images[:, :, ::-1, :], images)


def cutout(key: jax.Array, images: jax.Array, size: int) -> jax.Array:
    """Zero a ``size`` x ``size`` square per image at a uniformly random centre (DARTS Cutout).

    As in the DARTS/EG-NAS ``Cutout``: centre (y, x) uniform over the image, square rows
    ``clip(y - size//2, 0, H) : clip(y + size//2, 0, H)`` (same for columns), so squares near
    the border are clipped. Apply after normalisation (zero = the mean colour then).
    ``size=0`` returns the images unchanged.
    """
    _check_batch(images, "cutout")
    if size < 0:
        raise ConfigError(f"cutout size={size} must be >= 0")
    if size == 0:
        return images
    b, h, w, _ = images.shape
    ky, kx = jax.random.split(key)
    cy = jax.random.randint(ky, (b,), 0, h)
    cx = jax.random.randint(kx, (b,), 0, w)
    half = size // 2
    rows = jnp.arange(h)[None, :]
    cols = jnp.arange(w)[None, :]
    in_rows = (rows >= (cy - half)[:, None]) & (rows < (cy + half)[:, None])  # (B, H)
    in_cols = (cols >= (cx - half)[:, None]) & (cols < (cx + half)[:, None])  # (B, W)
    hole = in_rows[:, :, None] & in_cols[:, None, :]  # (B, H, W)
    return jnp.where(hole[..., None], jnp.zeros((), images.dtype), images)


def normalize(images: jax.Array, mean: Sequence[float], std: Sequence[float]) -> jax.Array:
    """uint8 [0, 255] -> float32 ``(x / 255 - mean) / std`` per channel (ToTensor + Normalize)."""
    mean_arr = jnp.asarray(mean, jnp.float32)
    std_arr = jnp.asarray(std, jnp.float32)
    if images.shape[-1] != mean_arr.shape[0] or std_arr.shape != mean_arr.shape:
        raise ConfigError(
            f"normalize got {images.shape[-1]} channels but mean {tuple(mean)} / std {tuple(std)}"
        )
    return (images.astype(jnp.float32) / 255.0 - mean_arr) / std_arr


def augment_batch(
    key: jax.Array,
    images: jax.Array,
    info: DatasetInfo,
    *,
    crop_size: int | None = None,
    padding: int = 4,
    flip: bool | None = None,
    cutout_size: int = 0,
) -> jax.Array:
    """Training-time preprocessing of a uint8 (B, H, W, C) batch -> float32, authors' order.

    crop (``crop_size`` defaults to ``info.train_crop_size`` = 32, the authors' setting; pass
    ``padding=0, crop_size=info.image_size`` to skip cropping) -> flip (default
    ``info.allow_flip``) -> normalise with ``info.mean``/``info.std`` -> cutout (``cutout_size``,
    0 = off; the papers use 16).
    """
    _check_batch(images, "augment_batch")
    crop_size = info.train_crop_size if crop_size is None else crop_size
    flip = info.allow_flip if flip is None else flip
    k_crop, k_flip, k_cut = jax.random.split(key, 3)
    x = images
    if padding > 0 or crop_size != images.shape[1] or crop_size != images.shape[2]:
        x = random_crop(k_crop, x, crop_size, padding)
    if flip:
        x = random_flip(k_flip, x)
    x = normalize(x, info.mean, info.std)
    if cutout_size:
        x = cutout(k_cut, x, cutout_size)
    return x


def preprocess_eval(images: jax.Array, info: DatasetInfo) -> jax.Array:
    """Evaluation preprocessing: normalise only, at the stored resolution."""
    _check_batch(images, "preprocess_eval")
    return normalize(images, info.mean, info.std)


__all__ = [
    "augment_batch",
    "cutout",
    "normalize",
    "preprocess_eval",
    "random_crop",
    "random_flip",
]
