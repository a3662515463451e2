"""jaxnas.data.augment on real Fashion-MNIST / MNIST batches."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas.data import (
    augment_batch,
    cutout,
    dataset_info,
    load_dataset,
    normalize,
    preprocess_eval,
    random_crop,
    random_flip,
)
from jaxnas.errors import ConfigError

B = 64


@pytest.fixture(scope="module")
def batch(shared_data):
    ds = load_dataset("fashion_mnist", "test", data_dir=shared_data)
    return ds.images[:B], ds.info


def _find_offsets(tagged_in, out, padding):
    """Offsets (y, x) of each output window inside the zero-padded, uniquely tagged input."""
    padded = np.pad(tagged_in, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    size = out.shape[1]
    offsets = []
    for img, o in zip(padded, out):
        hits = [(y, x) for y in range(img.shape[0] - size + 1) for x in range(img.shape[1] - size + 1)
                if np.array_equal(img[y:y + size, x:x + size], o)]
        assert len(hits) == 1, hits
        offsets.append(hits[0])
    return offsets


def test_random_crop_is_a_window_of_the_padded_image(batch):
    images, _ = batch
    key = jax.random.key(3)
    # tag every pixel with a unique positive value so each window has one match; same shape
    # as the real batch, so the same key picks the same offsets for it
    tagged = np.arange(1, images.size + 1, dtype=np.int32).reshape(images.shape)
    out_tagged = np.asarray(random_crop(key, jnp.asarray(tagged), 32, 4))
    assert out_tagged.shape == (B, 32, 32, 1)
    offsets = _find_offsets(tagged, out_tagged, 4)
    assert {y for y, _ in offsets} == set(range(5)) and {x for _, x in offsets} == set(range(5))

    out = random_crop(key, jnp.asarray(images), 32, 4)
    assert out.shape == (B, 32, 32, 1) and out.dtype == jnp.uint8
    padded = np.pad(images, ((0, 0), (4, 4), (4, 4), (0, 0)))
    for i, (y, x) in enumerate(offsets):
        np.testing.assert_array_equal(np.asarray(out[i]), padded[i, y:y + 32, x:x + 32])


def test_random_crop_same_size_and_bad_size(batch):
    images, _ = batch
    tagged = np.arange(1, images.size + 1, dtype=np.int32).reshape(images.shape)
    out = np.asarray(random_crop(jax.random.key(0), jnp.asarray(tagged), 28, 4))
    offsets = _find_offsets(tagged, out, 4)
    assert max(max(o) for o in offsets) <= 8 and len(set(offsets)) > 10
    with pytest.raises(ConfigError, match="size=40"):
        random_crop(jax.random.key(0), jnp.asarray(images), 40, 4)
    with pytest.raises(ConfigError, match="B, H, W, C"):
        random_crop(jax.random.key(0), jnp.asarray(images[0]), 28, 4)


def test_random_flip(batch):
    images, _ = batch
    out = np.asarray(random_flip(jax.random.key(1), jnp.asarray(images)))
    mirrored = images[:, :, ::-1]
    is_same = np.array([np.array_equal(o, i) for o, i in zip(out, images)])
    is_flip = np.array([np.array_equal(o, m) for o, m in zip(out, mirrored)])
    assert np.all(is_same | is_flip)
    # real garments are not mirror-symmetric pixel for pixel, so the two cases are distinct
    assert not np.any(is_same & is_flip)
    assert 10 < is_flip.sum() < B - 10


def test_cutout_zeroes_one_clipped_square(batch):
    images, info = batch
    x = normalize(jnp.asarray(images), info.mean, info.std)
    assert not np.any(np.asarray(x) == 0.0)  # (v/255 - mean)/std is never exactly 0 here
    out = np.asarray(cutout(jax.random.key(7), x, 16))
    x = np.asarray(x)
    clipped = 0
    for o, orig in zip(out, x):
        zero = o[..., 0] == 0.0
        rows, cols = np.flatnonzero(zero.any(1)), np.flatnonzero(zero.any(0))
        # the zero set is exactly the rectangle rows x cols, everything else untouched
        assert zero[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()
        assert zero.sum() == len(rows) * len(cols)
        np.testing.assert_array_equal(o[~zero], orig[~zero])
        for idx in (rows, cols):
            assert np.array_equal(idx, np.arange(idx.min(), idx.max() + 1))
            # a 16-wide square centred in the image; shorter only where clipped at a border
            assert 8 <= len(idx) <= 16
            if len(idx) < 16:
                assert idx.min() == 0 or idx.max() == 27
                clipped += 1
    assert clipped > 0
    np.testing.assert_array_equal(np.asarray(cutout(jax.random.key(7), jnp.asarray(x), 0)), x)


def test_normalize_values(batch):
    images, info = batch
    out = normalize(jnp.asarray(images), info.mean, info.std)
    assert out.dtype == jnp.float32
    expected = (images.astype(np.float64) / 255.0 - 0.2860402) / 0.3530236
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-5, atol=1e-5)
    rgb = np.stack([images[..., 0]] * 3, -1)
    c10 = dataset_info("cifar10")
    out3 = np.asarray(normalize(jnp.asarray(rgb), c10.mean, c10.std))
    for c in range(3):
        np.testing.assert_allclose(out3[..., c], (rgb[..., c] / 255.0 - c10.mean[c]) / c10.std[c],
                                   rtol=1e-5, atol=1e-5)
    with pytest.raises(ConfigError, match="channels"):
        normalize(jnp.asarray(images), c10.mean, c10.std)


def test_augment_batch_shapes_determinism_and_jit(batch):
    images, info = batch
    key = jax.random.key(11)
    out = augment_batch(key, jnp.asarray(images), info, cutout_size=16)
    assert out.shape == (B, 32, 32, 1) and out.dtype == jnp.float32  # 28 -> 32 (docs/algorithms.md)
    np.testing.assert_array_equal(np.asarray(augment_batch(key, jnp.asarray(images), info,
                                                           cutout_size=16)), np.asarray(out))
    other = augment_batch(jax.random.key(12), jnp.asarray(images), info, cutout_size=16)
    assert not np.array_equal(np.asarray(other), np.asarray(out))
    jitted = jax.jit(augment_batch, static_argnames=("info", "crop_size", "padding", "flip",
                                                     "cutout_size"))
    np.testing.assert_allclose(np.asarray(jitted(key, images, info, cutout_size=16)),
                               np.asarray(out), atol=1e-6)
    # zero padding happens on uint8 pixels, i.e. before normalisation (torchvision order)
    no_cut = np.asarray(augment_batch(key, jnp.asarray(images), info, flip=False))
    black = (0.0 - info.mean[0]) / info.std[0]
    assert np.isclose(no_cut, black).mean() > 0.1 and not np.any(no_cut == 0.0)
    assert np.any(np.asarray(out) == 0.0)  # cutout after normalisation writes exact zeros


def test_augment_batch_flip_policy(shared_data, batch):
    images, info = batch
    kw = dict(crop_size=28, padding=0, cutout_size=0)
    key = jax.random.key(5)
    # Fashion-MNIST allows flips: some images come back mirrored
    out = np.asarray(augment_batch(key, jnp.asarray(images), info, **kw))
    assert not np.array_equal(out, np.asarray(preprocess_eval(jnp.asarray(images), info)))
    # MNIST does not: with crop and cutout off, training preprocessing equals evaluation's
    mnist = load_dataset("mnist", "test", data_dir=shared_data)
    m_imgs = jnp.asarray(mnist.images[:B])
    np.testing.assert_array_equal(np.asarray(augment_batch(key, m_imgs, mnist.info, **kw)),
                                  np.asarray(preprocess_eval(m_imgs, mnist.info)))
    assert not mnist.info.allow_flip


def test_preprocess_eval_keeps_resolution(batch):
    images, info = batch
    out = preprocess_eval(jnp.asarray(images), info)
    assert out.shape == (B, 28, 28, 1) and out.dtype == jnp.float32
