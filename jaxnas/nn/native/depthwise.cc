// Depthwise k x k convolution for XLA:CPU, forward and backward, as XLA FFI handlers.
//
// Why: XLA:CPU runs a grouped convolution (feature_group_count = C) and, worse, the kernel
// gradient of a depthwise conv written as shifted slices, 10-50x slower than the forward pass
// (docs/performance.md). These loops touch each activation once per tap from cache and
// vectorise over the channel axis (NHWC: channels are contiguous).
//
// Layout: x (..., N, H, W, C), kernel (..., K, K, C), y (..., N, Ho, Wo, C), float32,
// row-major; the leading axes (a population under vmap) form G groups with their own kernels. Padding is
// PyTorch's symmetric dilation * (K - 1) / 2. Work is split over the G * N images between
// the calling thread and XLA's intra-op thread pool.
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
    return ffi::Error::InvalidArgument("depthwise: x must be (..., N, H, W, C), kernel (..., K, K, C)");
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

// The kernel of group `grp` repeated along an output row: tiled[(i * K + j) * Wo * C + e] =
// kernel[i, j, e % C]. With stride 1 an output row and the input pixels a tap reads are both
// contiguous runs of Wo * C floats, so every tap becomes one long multiply-add loop.
void TileKernel(const Geometry& geo, const float* kernel, std::vector<float>& tiled) {
  const int64_t taps = geo.k * geo.k, row = geo.wo * geo.c;
  tiled.resize(taps * row);
  for (int64_t t = 0; t < taps; ++t) {
    for (int64_t ow = 0; ow < geo.wo; ++ow) {
      std::memcpy(tiled.data() + t * row + ow * geo.c, kernel + t * geo.c, sizeof(float) * geo.c);
    }
  }
}

// Valid output columns [lo, hi) of tap column j at stride 1 (the input column ow - pad + j d).
inline void ColumnRange(const Geometry& geo, int64_t j, int64_t& lo, int64_t& hi) {
  const int64_t shift = j * geo.dilation - geo.pad;
  lo = std::max<int64_t>(0, -shift);
  hi = std::min<int64_t>(geo.wo, geo.w - shift);
}

ffi::Error DepthwiseForwardImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x,
                                ffi::Buffer<ffi::F32> kernel, ffi::ResultBuffer<ffi::F32> y,
                                int64_t stride, int64_t dilation) {
  Geometry geo;
  if (ffi::Error err = MakeGeometry(x, kernel, stride, dilation, geo); err.failure()) return err;
  const float* xs = x.typed_data();
  const float* ks = kernel.typed_data();
  float* ys = y->typed_data();
  const int64_t c = geo.c;
  std::vector<std::vector<float>> tiled(geo.stride == 1 ? geo.g : 0);
  for (int64_t grp = 0; grp < static_cast<int64_t>(tiled.size()); ++grp) {
    TileKernel(geo, ks + grp * geo.k * geo.k * c, tiled[grp]);
  }
  ParallelFor(pool, geo.g * geo.n, [&](int64_t image) {
    const int64_t grp = image / geo.n;
    const float* xi = xs + image * geo.h * geo.w * c;
    const float* kg = ks + grp * geo.k * geo.k * c;
    float* yi = ys + image * geo.ho * geo.wo * c;
    std::memset(yi, 0, sizeof(float) * geo.ho * geo.wo * c);
    if (geo.stride == 1) {
      const int64_t row = geo.wo * c;
      for (int64_t oh = 0; oh < geo.ho; ++oh) {
        for (int64_t i = 0; i < geo.k; ++i) {
          const int64_t ih = oh - geo.pad + i * geo.dilation;
          if (ih < 0 || ih >= geo.h) continue;
          for (int64_t j = 0; j < geo.k; ++j) {
            int64_t lo, hi;
            ColumnRange(geo, j, lo, hi);
            if (lo >= hi) continue;
            const float* __restrict in = xi + (ih * geo.w + lo + j * geo.dilation - geo.pad) * c;
            const float* __restrict wt = tiled[grp].data() + (i * geo.k + j) * row + lo * c;
            float* __restrict o = yi + (oh * geo.wo + lo) * c;
            const int64_t len = (hi - lo) * c;
            for (int64_t e = 0; e < len; ++e) o[e] += in[e] * wt[e];
          }
        }
      }
      return;
    }
    for (int64_t oh = 0; oh < geo.ho; ++oh) {
      for (int64_t ow = 0; ow < geo.wo; ++ow) {
        float* out = yi + (oh * geo.wo + ow) * c;
        for (int64_t i = 0; i < geo.k; ++i) {
          const int64_t ih = oh * geo.stride - geo.pad + i * geo.dilation;
          if (ih < 0 || ih >= geo.h) continue;
          for (int64_t j = 0; j < geo.k; ++j) {
            const int64_t iw = ow * geo.stride - geo.pad + j * geo.dilation;
            if (iw < 0 || iw >= geo.w) continue;
            const float* __restrict in = xi + (ih * geo.w + iw) * c;
            const float* __restrict wt = kg + (i * geo.k + j) * c;
            float* __restrict o = out;
            for (int64_t ch = 0; ch < c; ++ch) o[ch] += in[ch] * wt[ch];
          }
        }
      }
    }
  });
  return ffi::Error::Success();
}

// dx (..., N, H, W, C) and per-image kernel-gradient partial sums (..., N, K, K, C): the caller
// sums the N axis (a contiguous reduction XLA does fast), so no thread shares an accumulator.
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
  const int64_t c = geo.c;
  const int64_t taps = geo.k * geo.k;
  std::vector<std::vector<float>> tiled(geo.stride == 1 ? geo.g : 0);
  for (int64_t grp = 0; grp < static_cast<int64_t>(tiled.size()); ++grp) {
    TileKernel(geo, ks + grp * taps * c, tiled[grp]);
  }
  ParallelFor(pool, geo.g * geo.n, [&](int64_t image) {
    const int64_t grp = image / geo.n;
    const float* xi = xs + image * geo.h * geo.w * c;
    const float* gi = gs + image * geo.ho * geo.wo * c;
    const float* kg = ks + grp * taps * c;
    float* dxi = dxs + image * geo.h * geo.w * c;
    float* dki = dks + image * taps * c;
    std::memset(dxi, 0, sizeof(float) * geo.h * geo.w * c);
    std::memset(dki, 0, sizeof(float) * taps * c);
    if (geo.stride == 1) {
      // Per tap, a row-long accumulator of dy * x (summed over columns at the end) and dx
      // += dy * kernel: both contiguous loops over Wo * C floats.
      const int64_t row = geo.wo * c;
      thread_local std::vector<float> acc;
      acc.assign(taps * row, 0.0f);
      for (int64_t oh = 0; oh < geo.ho; ++oh) {
        const float* __restrict g = gi + oh * row;
        for (int64_t i = 0; i < geo.k; ++i) {
          const int64_t ih = oh - geo.pad + i * geo.dilation;
          if (ih < 0 || ih >= geo.h) continue;
          for (int64_t j = 0; j < geo.k; ++j) {
            int64_t lo, hi;
            ColumnRange(geo, j, lo, hi);
            if (lo >= hi) continue;
            const int64_t off = (ih * geo.w + lo + j * geo.dilation - geo.pad) * c;
            const float* __restrict in = xi + off;
            float* __restrict din = dxi + off;
            const float* __restrict wt = tiled[grp].data() + (i * geo.k + j) * row + lo * c;
            float* __restrict a = acc.data() + (i * geo.k + j) * row + lo * c;
            const float* __restrict gg = g + lo * c;
            const int64_t len = (hi - lo) * c;
            for (int64_t e = 0; e < len; ++e) {
              din[e] += gg[e] * wt[e];
              a[e] += gg[e] * in[e];
            }
          }
        }
      }
      for (int64_t t = 0; t < taps; ++t) {
        const float* a = acc.data() + t * row;
        float* __restrict dw = dki + t * c;
        for (int64_t ow = 0; ow < geo.wo; ++ow) {
          for (int64_t ch = 0; ch < c; ++ch) dw[ch] += a[ow * c + ch];
        }
      }
      return;
    }
    for (int64_t oh = 0; oh < geo.ho; ++oh) {
      for (int64_t ow = 0; ow < geo.wo; ++ow) {
        const float* __restrict g = gi + (oh * geo.wo + ow) * c;
        for (int64_t i = 0; i < geo.k; ++i) {
          const int64_t ih = oh * geo.stride - geo.pad + i * geo.dilation;
          if (ih < 0 || ih >= geo.h) continue;
          for (int64_t j = 0; j < geo.k; ++j) {
            const int64_t iw = ow * geo.stride - geo.pad + j * geo.dilation;
            if (iw < 0 || iw >= geo.w) continue;
            const int64_t off = (ih * geo.w + iw) * c;
            const float* __restrict in = xi + off;
            float* __restrict din = dxi + off;
            const float* __restrict wt = kg + (i * geo.k + j) * c;
            float* __restrict dw = dki + (i * geo.k + j) * c;
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
