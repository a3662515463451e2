// Depthwise k x k convolution for XLA:CPU, forward and backward, as XLA FFI handlers.
//
// Why: XLA:CPU runs a grouped convolution (feature_group_count = C) and, worse, the kernel
// gradient of a depthwise conv written as shifted slices, 10-50x slower than the forward pass
// (docs/performance.md). These loops touch each activation once per tap from cache and
// vectorise over the channel axis (NHWC: channels are contiguous).
//
// Layout: x (..., N, H, W, C), kernel (..., K, K, C), y (..., N, Ho, Wo, C), float32,
// row-major; the leading axes (a population under vmap) form G groups with their own
// kernels. Padding is PyTorch's symmetric dilation * (K - 1) / 2. Work is split over the
// G * N images between the calling thread and XLA's intra-op thread pool.
//
// Built at first use by jaxnas/nn/native/__init__.py (g++ -O3 -march=native).

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

struct Geometry {
  int64_t g, n, h, w, c, k, ho, wo, stride, dilation, pad;
};

ffi::Error MakeGeometry(ffi::Buffer<ffi::F32>& x, ffi::Buffer<ffi::F32>& kernel, int64_t stride,
                        int64_t dilation, Geometry& geo) {
  // x (..., N, H, W, C) and kernel (..., K, K, C): the leading axes (a population under vmap)
  // flatten to G groups, each with its own kernel.
  auto xd = x.dimensions();
  auto kd = kernel.dimensions();
  if (xd.size() < 4 || kd.size() < 3 || xd.size() - 4 != kd.size() - 3) {
    return ffi::Error::InvalidArgument(
        "depthwise: x must be (..., N, H, W, C), kernel (..., K, K, C)");
  }
  geo.g = 1;
  for (size_t a = 0; a + 4 < xd.size(); ++a) {
    if (xd[a] != kd[a]) return ffi::Error::InvalidArgument("depthwise: leading axes differ");
    geo.g *= xd[a];
  }
  const size_t r = xd.size() - 4, q = kd.size() - 3;
  geo.n = xd[r];
  geo.h = xd[r + 1];
  geo.w = xd[r + 2];
  geo.c = xd[r + 3];
  geo.k = kd[q];
  if (kd[q + 1] != geo.k || kd[q + 2] != geo.c || stride < 1 || dilation < 1) {
    return ffi::Error::InvalidArgument("depthwise: kernel shape or stride/dilation mismatch");
  }
  geo.stride = stride;
  geo.dilation = dilation;
  geo.pad = dilation * (geo.k - 1) / 2;
  geo.ho = (geo.h + 2 * geo.pad - dilation * (geo.k - 1) - 1) / stride + 1;
  geo.wo = (geo.w + 2 * geo.pad - dilation * (geo.k - 1) - 1) / stride + 1;
  return ffi::Error::Success();
}

// Runs body(i) for i in [0, units) on the caller and the pool's workers. Units are claimed
// from an atomic counter, so a task that starts late (its pool busy) finds nothing left and
// returns without touching body: the caller never waits on a task that has not started.
template <typename Body>
void ParallelFor(ffi::ThreadPool& pool, int64_t units, const Body& body) {
  struct Shared {
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> done{0};
  };
  int64_t workers = std::min<int64_t>(pool.num_threads(), units - 1);
  if (workers <= 0) {
    for (int64_t i = 0; i < units; ++i) body(i);
    return;
  }
  auto shared = std::make_shared<Shared>();
  auto run = [shared, units, &body]() {
    for (int64_t i; (i = shared->next.fetch_add(1)) < units;) {
      body(i);
      shared->done.fetch_add(1, std::memory_order_release);
    }
  };
  for (int64_t t = 0; t < workers; ++t) {
    // A late task only touches `shared` (kept alive by the copy) and stops at once.
    pool.Schedule([shared, units, run]() {
      if (shared->next.load() < units) run();
    });
  }
  run();
  while (shared->done.load(std::memory_order_acquire) < units) std::this_thread::yield();
}

// The kernel repeated along an image row: tiled[(i * K + j) * W * C + e] = kernel[i, j, e % C]
// (kernel[K-1-i, K-1-j] if `flip`). At stride 1 an output row and the input pixels a tap
// reads are both contiguous runs of W * C floats, so a tap is one long multiply-add.
void TileKernel(const Geometry& geo, const float* kernel, bool flip, std::vector<float>& tiled) {
  const int64_t k = geo.k, row = geo.wo * geo.c;
  tiled.resize(k * k * row);
  for (int64_t i = 0; i < k; ++i) {
    for (int64_t j = 0; j < k; ++j) {
      const float* src = kernel + (flip ? (k - 1 - i) * k + (k - 1 - j) : i * k + j) * geo.c;
      for (int64_t ow = 0; ow < geo.wo; ++ow) {
        std::memcpy(tiled.data() + (i * k + j) * row + ow * geo.c, src, sizeof(float) * geo.c);
      }
    }
  }
}

// TileKernel of every group's kernel; none when the stride is not 1 (the general path reads
// the kernel directly).
std::vector<std::vector<float>> TileGroups(const Geometry& geo, const float* kernels, bool flip) {
  std::vector<std::vector<float>> tiled(geo.stride == 1 ? geo.g : 0);
  for (int64_t grp = 0; grp < static_cast<int64_t>(tiled.size()); ++grp) {
    TileKernel(geo, kernels + grp * geo.k * geo.k * geo.c, flip, tiled[grp]);
  }
  return tiled;
}

// One output pixel at any stride, bounds-checked: out[c] = sum of the valid taps.
inline void Pixel(const Geometry& geo, const float* image, const float* kernel, int64_t oh,
                  int64_t ow, float* __restrict out) {
  const int64_t c = geo.c;
  std::memset(out, 0, sizeof(float) * c);
  for (int64_t i = 0; i < geo.k; ++i) {
    const int64_t ih = oh * geo.stride - geo.pad + i * geo.dilation;
    if (ih < 0 || ih >= geo.h) continue;
    for (int64_t j = 0; j < geo.k; ++j) {
      const int64_t iw = ow * geo.stride - geo.pad + j * geo.dilation;
      if (iw < 0 || iw >= geo.w) continue;
      const float* __restrict in = image + (ih * geo.w + iw) * c;
      const float* __restrict wt = kernel + (i * geo.k + j) * c;
      for (int64_t ch = 0; ch < c; ++ch) out[ch] += in[ch] * wt[ch];
    }
  }
}

// out[e] (+)= sum_j in[e + j * step] * wt[j * wrow + e] for e < len: the K taps of one kernel
// row in one pass, so the output is loaded and stored once per kernel row, not once per tap.
template <int64_t K>
inline void RowTaps(float* __restrict out, const float* __restrict in,
                    const float* __restrict wt, int64_t step, int64_t wrow, int64_t len,
                    bool first) {
  const float* __restrict ins[K];
  const float* __restrict wts[K];
  for (int64_t j = 0; j < K; ++j) {
    ins[j] = in + j * step;
    wts[j] = wt + j * wrow;
  }
  if (first) {
    for (int64_t e = 0; e < len; ++e) {
      float s = 0.0f;
      for (int64_t j = 0; j < K; ++j) s += ins[j][e] * wts[j][e];
      out[e] = s;
    }
  } else {
    for (int64_t e = 0; e < len; ++e) {
      float s = out[e];
      for (int64_t j = 0; j < K; ++j) s += ins[j][e] * wts[j][e];
      out[e] = s;
    }
  }
}

inline void RowTapsAny(int64_t k, float* out, const float* in, const float* wt, int64_t step,
                       int64_t wrow, int64_t len, bool first) {
  switch (k) {
    case 1: return RowTaps<1>(out, in, wt, step, wrow, len, first);
    case 3: return RowTaps<3>(out, in, wt, step, wrow, len, first);
    case 5: return RowTaps<5>(out, in, wt, step, wrow, len, first);
    case 7: return RowTaps<7>(out, in, wt, step, wrow, len, first);
    default:
      for (int64_t j = 0; j < k; ++j) {
        RowTaps<1>(out, in + j * step, wt + j * wrow, 0, 0, len, first && j == 0);
      }
  }
}

// One image copied into `padded` with a zero border of `pad` pixels on each side.
void PadImage(const Geometry& geo, const float* image, std::vector<float>& padded) {
  const int64_t c = geo.c, p = geo.pad, wp = geo.w + 2 * p;
  padded.assign((geo.h + 2 * p) * wp * c, 0.0f);
  for (int64_t ih = 0; ih < geo.h; ++ih) {
    std::memcpy(padded.data() + ((ih + p) * wp + p) * c, image + ih * geo.w * c,
                sizeof(float) * geo.w * c);
  }
}

// A stride-1 depthwise conv of one image (H x W x C -> H x W x C, odd K) with `tiled`, the
// TileKernel of its kernel. The image is first copied into a zero-bordered buffer, so every
// output row is K branch-free passes of RowTaps over W * C contiguous floats.
void Stride1Image(const Geometry& geo, const float* image, const float* tiled, float* out) {
  const int64_t c = geo.c, k = geo.k, row = geo.wo * c, wp = geo.w + 2 * geo.pad;
  thread_local std::vector<float> padded;
  PadImage(geo, image, padded);
  for (int64_t oh = 0; oh < geo.ho; ++oh) {
    float* o = out + oh * row;
    for (int64_t i = 0; i < k; ++i) {
      RowTapsAny(k, o, padded.data() + (oh + i * geo.dilation) * wp * c, tiled + i * k * row,
                 geo.dilation * c, row, row, i == 0);
    }
  }
}

// Stride-1 kernel gradient of one image: dk[t, c] = sum over pixels of dy * the tap's input,
// from the zero-bordered input `xp`. Channels go in blocks of B with the K * K sums of a block
// in registers, so each product costs one load of the input.
template <int64_t K, int64_t B>
inline void KernelGradBlock(const Geometry& geo, const float* __restrict xp,
                            const float* __restrict g, int64_t c0, int64_t width,
                            float* __restrict dk) {
  const int64_t c = geo.c, wp = geo.w + 2 * geo.pad, d = geo.dilation;
  const int64_t nb = B > 0 ? B : width;
  float acc[K * K][B > 0 ? B : 16] = {};
  for (int64_t oh = 0; oh < geo.ho; ++oh) {
    for (int64_t ow = 0; ow < geo.wo; ++ow) {
      const float* gv = g + (oh * geo.wo + ow) * c + c0;
      const float* base = xp + (oh * wp + ow) * c + c0;
      for (int64_t i = 0; i < K; ++i) {
        for (int64_t j = 0; j < K; ++j) {
          const float* in = base + (i * d * wp + j * d) * c;
          for (int64_t b = 0; b < nb; ++b) acc[i * K + j][b] += gv[b] * in[b];
        }
      }
    }
  }
  for (int64_t t = 0; t < K * K; ++t) {
    for (int64_t b = 0; b < nb; ++b) dk[t * c + c0 + b] = acc[t][b];
  }
}

template <int64_t K>
void KernelGradImage(const Geometry& geo, const float* xp, const float* g, float* dk) {
  int64_t c0 = 0;
  for (; c0 + 16 <= geo.c; c0 += 16) KernelGradBlock<K, 16>(geo, xp, g, c0, 16, dk);
  if (c0 < geo.c) KernelGradBlock<K, 0>(geo, xp, g, c0, geo.c - c0, dk);  // the last < 16
}

// Any K: per tap, a row-long accumulator of dy * x, summed over columns last.
void KernelGradImageAny(const Geometry& geo, const float* xp, const float* g, float* dk) {
  const int64_t c = geo.c, k = geo.k, row = geo.wo * c, wp = geo.w + 2 * geo.pad;
  thread_local std::vector<float> acc;
  acc.assign(k * k * row, 0.0f);
  for (int64_t oh = 0; oh < geo.ho; ++oh) {
    const float* __restrict gg = g + oh * row;
    for (int64_t i = 0; i < k; ++i) {
      for (int64_t j = 0; j < k; ++j) {
        const float* __restrict in =
            xp + ((oh + i * geo.dilation) * wp + j * geo.dilation) * c;
        float* __restrict a = acc.data() + (i * k + j) * row;
        for (int64_t e = 0; e < row; ++e) a[e] += gg[e] * in[e];
      }
    }
  }
  std::memset(dk, 0, sizeof(float) * k * k * c);
  for (int64_t t = 0; t < k * k; ++t) {
    for (int64_t ow = 0; ow < geo.wo; ++ow) {
      for (int64_t ch = 0; ch < c; ++ch) dk[t * c + ch] += acc[t * row + ow * c + ch];
    }
  }
}

ffi::Error DepthwiseForwardImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x,
                                ffi::Buffer<ffi::F32> kernel, ffi::ResultBuffer<ffi::F32> y,
                                int64_t stride, int64_t dilation) {
  Geometry geo;
  if (ffi::Error err = MakeGeometry(x, kernel, stride, dilation, geo); err.failure()) return err;
  const float* xs = x.typed_data();
  const float* ks = kernel.typed_data();
  float* ys = y->typed_data();
  const int64_t c = geo.c, taps = geo.k * geo.k;
  const std::vector<std::vector<float>> tiled = TileGroups(geo, ks, false);
  ParallelFor(pool, geo.g * geo.n, [&](int64_t image) {
    const int64_t grp = image / geo.n;
    const float* xi = xs + image * geo.h * geo.w * c;
    const float* kg = ks + grp * taps * c;
    float* yi = ys + image * geo.ho * geo.wo * c;
    if (geo.stride == 1) {
      Stride1Image(geo, xi, tiled[grp].data(), yi);
      return;
    }
    for (int64_t oh = 0; oh < geo.ho; ++oh) {
      for (int64_t ow = 0; ow < geo.wo; ++ow) {
        Pixel(geo, xi, kg, oh, ow, yi + (oh * geo.wo + ow) * c);
      }
    }
  });
  return ffi::Error::Success();
}

// dx (..., N, H, W, C) and per-image kernel-gradient partial sums (..., N, K, K, C): the caller
// sums the N axis (a contiguous reduction XLA does fast), so no thread shares an accumulator.
// At stride 1, dx is the stride-1 conv of dy with the flipped kernel.
ffi::Error DepthwiseBackwardImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x,
                                 ffi::Buffer<ffi::F32> kernel, ffi::Buffer<ffi::F32> dy,
                                 ffi::ResultBuffer<ffi::F32> dx,
                                 ffi::ResultBuffer<ffi::F32> dkernel_partial, int64_t stride,
                                 int64_t dilation) {
  Geometry geo;
  if (ffi::Error err = MakeGeometry(x, kernel, stride, dilation, geo); err.failure()) return err;
  const float* xs = x.typed_data();
  const float* ks = kernel.typed_data();
  const float* gs = dy.typed_data();
  float* dxs = dx->typed_data();
  float* dks = dkernel_partial->typed_data();
  const int64_t c = geo.c, k = geo.k, taps = k * k;
  const std::vector<std::vector<float>> flipped_tiled = TileGroups(geo, ks, true);
  ParallelFor(pool, geo.g * geo.n, [&](int64_t image) {
    const int64_t grp = image / geo.n;
    const float* xi = xs + image * geo.h * geo.w * c;
    const float* gi = gs + image * geo.ho * geo.wo * c;
    const float* kg = ks + grp * taps * c;
    float* dxi = dxs + image * geo.h * geo.w * c;
    float* dki = dks + image * taps * c;
    if (geo.stride == 1) {  // both write every element of dxi and dki
      Stride1Image(geo, gi, flipped_tiled[grp].data(), dxi);
      thread_local std::vector<float> xp;
      PadImage(geo, xi, xp);
      switch (k) {
        case 1: KernelGradImage<1>(geo, xp.data(), gi, dki); break;
        case 3: KernelGradImage<3>(geo, xp.data(), gi, dki); break;
        case 5: KernelGradImage<5>(geo, xp.data(), gi, dki); break;
        default: KernelGradImageAny(geo, xp.data(), gi, dki);
      }
      return;
    }
    std::memset(dxi, 0, sizeof(float) * geo.h * geo.w * c);
    std::memset(dki, 0, sizeof(float) * taps * c);
    for (int64_t oh = 0; oh < geo.ho; ++oh) {
      for (int64_t ow = 0; ow < geo.wo; ++ow) {
        const float* __restrict g = gi + (oh * geo.wo + ow) * c;
        for (int64_t i = 0; i < k; ++i) {
          const int64_t ih = oh * geo.stride - geo.pad + i * geo.dilation;
          if (ih < 0 || ih >= geo.h) continue;
          for (int64_t j = 0; j < k; ++j) {
            const int64_t iw = ow * geo.stride - geo.pad + j * geo.dilation;
            if (iw < 0 || iw >= geo.w) continue;
            const int64_t off = (ih * geo.w + iw) * c;
            const float* __restrict in = xi + off;
            float* __restrict din = dxi + off;
            const float* __restrict wt = kg + (i * k + j) * c;
            float* __restrict dw = dki + (i * k + j) * c;
            for (int64_t ch = 0; ch < c; ++ch) {
              din[ch] += g[ch] * wt[ch];
              dw[ch] += g[ch] * in[ch];
            }
          }
        }
      }
    }
  });
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxnasDepthwiseForward, DepthwiseForwardImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("stride")
                                  .Attr<int64_t>("dilation"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxnasDepthwiseBackward, DepthwiseBackwardImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("stride")
                                  .Attr<int64_t>("dilation"));
