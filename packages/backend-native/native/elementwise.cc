// Elementwise binary / unary ops and leading- or trailing-axis sums: the optimizer updates and the
// bias / batch-statistics reductions, which the cpu backend runs through a generic broadcasting
// loop. Broadcast forms: same size, a scalar operand, an operand repeating along the inner
// (trailing) axes, or one constant along the inner axes (one value per outer row).
#include <algorithm>
#include <cmath>
#include <vector>

#include <omp.h>

#include "channel_sums.h"
#include "expf.h"
#include "kernels.h"
#include "parallel.h"

namespace trellis {

// The common row length of the broadcasting operands (modes 2 and 3), or 0 when there is none
// or they disagree (then the generic per-element index path runs).
static int64_t row_broadcast(int modeA, int modeB, int64_t innerA, int64_t innerB) {
  const bool ra = modeA >= 2, rb = modeB >= 2;
  if (ra && rb) return innerA == innerB && innerA > 0 ? innerA : 0;
  if (ra) return innerA > 0 ? innerA : 0;
  if (rb) return innerB > 0 ? innerB : 0;
  return 0;
}

// Elementwise binary ops are memory-bound: below this many outputs a second thread does not pay for
// waking it (Add of 200,704 floats: 35 µs on one thread, 69 µs on two; 800 k: 142 vs 106 µs;
// T=1 / T=2 node packages/backend-native/bench/elementwise-sizes.mjs).
static constexpr int64_t kBinaryParallelMin = 600000;

template <typename F>
static void binary_loop(const float* a, const float* b, float* out, int64_t total, int modeA, int modeB,
                        int64_t innerA, int64_t innerB, F f) {
  // mode: 0 = full (index i), 1 = scalar, 2 = repeats with period inner (i % inner),
  //       3 = one value per row of length inner (i / inner).
  auto idx = [](int mode, int64_t i, int64_t inner) -> int64_t {
    switch (mode) {
      case 0: return i;
      case 1: return 0;
      case 2: return i % inner;
      default: return i / inner;
    }
  };
  const bool parallel = total > kBinaryParallelMin;
  if (modeA == 0 && modeB == 0) {
    for_spans(total, parallel, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; i++) out[i] = f(a[i], b[i]);
    });
  } else if (modeA == 0 && modeB == 1) {
    const float bv = b[0];
    for_spans(total, parallel, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; i++) out[i] = f(a[i], bv);
    });
  } else if (modeA == 1 && modeB == 0) {
    const float av = a[0];
    for_spans(total, parallel, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; i++) out[i] = f(av, b[i]);
    });
  } else if (modeA == 1 && modeB == 1) {
    // Two scalars (e.g. a Mean's gradient spread over its input): one value, filled.
    const float v = f(a[0], b[0]);
    for_spans(total, parallel, [&](int64_t lo, int64_t hi) { std::fill(out + lo, out + hi, v); });
  } else if (row_broadcast(modeA, modeB, innerA, innerB) > 0) {
    // Every broadcasting operand repeats along (mode 2) or is constant over (mode 3) rows of the
    // same length R: per row, each operand is a vector or a scalar, and the inner loop vectorises.
    const int64_t R = row_broadcast(modeA, modeB, innerA, innerB);
    const int64_t rows = total / R;
    for_spans(rows, parallel, [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; r++) {
        float* o = out + r * R;
        const bool va = modeA == 0 || modeA == 2, vb = modeB == 0 || modeB == 2;
        const float* ap = modeA == 0 ? a + r * R : a;
        const float* bp = modeB == 0 ? b + r * R : b;
        const float as = modeA == 1 ? a[0] : modeA == 3 ? a[r] : 0.f;
        const float bs = modeB == 1 ? b[0] : modeB == 3 ? b[r] : 0.f;
        if (va && vb) {
          for (int64_t j = 0; j < R; j++) o[j] = f(ap[j], bp[j]);
        } else if (va) {
          for (int64_t j = 0; j < R; j++) o[j] = f(ap[j], bs);
        } else if (vb) {
          for (int64_t j = 0; j < R; j++) o[j] = f(as, bp[j]);
        } else {
          const float v = f(as, bs);
          for (int64_t j = 0; j < R; j++) o[j] = v;
        }
      }
    });
  } else {
    for_spans(total, total > 200000, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; i++) out[i] = f(a[idx(modeA, i, innerA)], b[idx(modeB, i, innerB)]);
    });
  }
}

void binary(int op, const float* a, const float* b, float* out, int64_t total, int modeA, int modeB, int64_t innerA,
            int64_t innerB) {
  switch (op) {
    case 0: binary_loop(a, b, out, total, modeA, modeB, innerA, innerB, [](float x, float y) { return x + y; }); break;
    case 1: binary_loop(a, b, out, total, modeA, modeB, innerA, innerB, [](float x, float y) { return x - y; }); break;
    case 2: binary_loop(a, b, out, total, modeA, modeB, innerA, innerB, [](float x, float y) { return x * y; }); break;
    case 3: binary_loop(a, b, out, total, modeA, modeB, innerA, innerB, [](float x, float y) { return x / y; }); break;
    case 4:
      binary_loop(a, b, out, total, modeA, modeB, innerA, innerB,
                  [](float x, float y) { return (std::isnan(x) || std::isnan(y)) ? NAN : std::max(x, y); });
      break;
    case 5:
      binary_loop(a, b, out, total, modeA, modeB, innerA, innerB,
                  [](float x, float y) { return (std::isnan(x) || std::isnan(y)) ? NAN : std::min(x, y); });
      break;
    case 6:
      binary_loop(a, b, out, total, modeA, modeB, innerA, innerB, [](float x, float y) { return (x - y) * (x - y); });
      break;
    case 7: binary_loop(a, b, out, total, modeA, modeB, innerA, innerB, [](float x, float y) { return 2.f * x * y; }); break;
    case 8:
      binary_loop(a, b, out, total, modeA, modeB, innerA, innerB, [](float x, float y) { return y > 0.f ? x : 0.f; });
      break;
    // The Sigmoid gradient dy · (y · (1 − y)) from the output y, in tfjs's order of operations.
    case 9:
      binary_loop(a, b, out, total, modeA, modeB, innerA, innerB, [](float x, float y) { return x * (y * (1.f - y)); });
      break;
    default: break;
  }
}

template <typename F>
static void unary_loop(const float* x, float* out, int64_t n, F f) {
  for_spans(n, n > 200000, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++) out[i] = f(x[i]);
  });
}

void unary(int op, const float* x, float* out, int64_t n, float alpha) {
  switch (op) {
    case 0: unary_loop(x, out, n, [](float v) { return std::sqrt(v); }); break;
    case 1: unary_loop(x, out, n, [](float v) { return v * v; }); break;
    case 2: unary_loop(x, out, n, [](float v) { return 1.f / std::sqrt(v); }); break;
    case 3: unary_loop(x, out, n, [](float v) { return -v; }); break;
    // Exp and Sigmoid: vectorised, bit for bit std::exp's results (expf.h).
    case 4: for_spans(n, n > 200000, [&](int64_t lo, int64_t hi) { exp_only_span(x, out, lo, hi); }); break;
    case 5: unary_loop(x, out, n, [](float v) { return std::log(v); }); break;
    case 6: unary_loop(x, out, n, [](float v) { return std::isnan(v) ? v : (v > 0.f ? v : 0.f); }); break;
    case 7: unary_loop(x, out, n, [](float v) { return std::fabs(v); }); break;
    case 8: unary_loop(x, out, n, [alpha](float v) { return std::isnan(v) ? NAN : (v > 0.f ? 1.f : alpha); }); break;
    case 9: unary_loop(x, out, n, [](float v) { return 1.f / v; }); break;
    // In float32 (tfjs-backend-cpu rounds a float64 result once: within a few ulp of ours).
    case 10: for_spans(n, n > 200000, [&](int64_t lo, int64_t hi) { sigmoid_span(x, out, lo, hi); }); break;
    case 11: unary_loop(x, out, n, [](float v) { return std::tanh(v); }); break;
    default: break;
  }
}

// One Adam step for one element, with tfjs's AdamOptimizer arithmetic in float32:
//   m' = m·b1 + g·(1−b1); v' = v·b2 + g²·(1−b2);
//   value' = value + (m' / (1−b1^t)) / (sqrt(v' / (1−b2^t)) + eps) · (−lr)
struct AdamConstants {
  float b1, omb1, b2, omb2, oneMinusAcc1, oneMinusAcc2, eps, negLr;
};
struct AdamResult {
  float value, m, v;
};
static inline AdamResult adam_at(float value, float m, float v, float g, AdamConstants c) {
  const float nm = m * c.b1 + g * c.omb1;
  const float nv = v * c.b2 + (g * g) * c.omb2;
  return {(nm / c.oneMinusAcc1) / (std::sqrt(nv / c.oneMinusAcc2) + c.eps) * c.negLr + value, nm, nv};
}

// The update of n elements into separate outputs, and the same written over value, m and v (each
// element read, then overwritten). The pointers of each never alias one another: without saying so
// the compiler keeps the divisions and the square root scalar, ten times slower.
static inline void adam_span(const float* __restrict value, const float* __restrict m, const float* __restrict v,
                             const float* __restrict g, float* __restrict outValue, float* __restrict outM,
                             float* __restrict outV, int64_t n, AdamConstants c) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) {
    const AdamResult r = adam_at(value[i], m[i], v[i], g[i], c);
    outValue[i] = r.value;
    outM[i] = r.m;
    outV[i] = r.v;
  }
}
static inline void adam_span_inplace(float* __restrict value, float* __restrict m, float* __restrict v,
                                     const float* __restrict g, int64_t n, AdamConstants c) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) {
    const AdamResult r = adam_at(value[i], m[i], v[i], g[i], c);
    value[i] = r.value;
    m[i] = r.m;
    v[i] = r.v;
  }
}

// Below this many elements one thread does the update. Above it every thread takes one contiguous
// span and runs the same vector loop on it. (The earlier `omp parallel for simd … if (…)` form of this
// loop compiled by GCC 12 ran 13× slower on one thread: 3.6 against 0.27 ns per element on 100,352
// floats, AMD EPYC with AVX-512.)
static constexpr int64_t kAdamParallelMin = 200000;

// The update over n elements into separate outputs.
void adam(const float* __restrict value, const float* __restrict m, const float* __restrict v,
          const float* __restrict g, float* __restrict outValue, float* __restrict outM, float* __restrict outV,
          int64_t n, float b1, float omb1, float b2, float omb2, float oneMinusAcc1, float oneMinusAcc2, float eps,
          float negLr) {
  const AdamConstants c{b1, omb1, b2, omb2, oneMinusAcc1, oneMinusAcc2, eps, negLr};
  for_spans(n, n > kAdamParallelMin, [&](int64_t lo, int64_t hi) {
    adam_span(value + lo, m + lo, v + lo, g + lo, outValue + lo, outM + lo, outV + lo, hi - lo, c);
  });
}

// The same update written over value, m and v (each element read, then overwritten).
void adam_inplace(float* __restrict value, float* __restrict m, float* __restrict v, const float* __restrict g,
                  int64_t n, float b1, float omb1, float b2, float omb2, float oneMinusAcc1, float oneMinusAcc2,
                  float eps, float negLr) {
  const AdamConstants c{b1, omb1, b2, omb2, oneMinusAcc1, oneMinusAcc2, eps, negLr};
  for_spans(n, n > kAdamParallelMin, [&](int64_t lo, int64_t hi) {
    adam_span_inplace(value + lo, m + lo, v + lo, g + lo, hi - lo, c);
  });
}

// One SGD step over [lo, hi) with tfjs's SGDOptimizer / MomentumOptimizer arithmetic in float32,
// every product and sum rounded on its own as tfjs's separate Mul and Add kernels round them:
//   plain (mode 0):     value' = negLr·g + value
//   momentum (mode 1):  acc' = momentum·acc + g;  value' = negLr·acc' + value
//   Nesterov (mode 2):  acc' as above;            value' = negLr·(g + acc'·momentum) + value
// The build's -march=native would otherwise contract `a·b + c` into one FMA (one rounding) and the
// weights would drift from tfjs's in the last bit. Each element's inputs are read before its outputs
// are written, so an output may be its own input (in place); `omp simd` vectorises the loop.
__attribute__((optimize("fp-contract=off"), noinline)) static void sgd_span(
    const float* value, const float* acc, const float* g, float* outValue, float* outAcc, int64_t lo, int64_t hi,
    float momentum, float negLr, int mode) {
  if (mode == 0) {
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
      const float v = value[i], gi = g[i];
      outValue[i] = negLr * gi + v;
    }
    return;
  }
  const bool nesterov = mode == 2;
#pragma omp simd
  for (int64_t i = lo; i < hi; i++) {
    const float v = value[i], a = acc[i], gi = g[i];
    const float na = momentum * a + gi;
    const float step = nesterov ? gi + na * momentum : na;
    outAcc[i] = na;
    outValue[i] = negLr * step + v;
  }
}

// The SGD update of n elements (acc / outAcc unused in mode 0); the threshold is Adam's.
void sgd(const float* value, const float* acc, const float* g, float* outValue, float* outAcc, int64_t n,
         float momentum, float negLr, int mode) {
  for_spans(n, n > kAdamParallelMin, [&](int64_t lo, int64_t hi) {
    sgd_span(value, acc, g, outValue, outAcc, lo, hi, momentum, negLr, mode);
  });
}

// x viewed as [outer, inner]. leading = true: out[j] = Σ_i x[i, j] (size inner);
// else out[i] = Σ_j x[i, j] (size outer). scale multiplies the result (1 / count for Mean).
void reduce_sum(const float* x, float* out, int64_t outer, int64_t inner, bool leading, float scale) {
  if (!leading) {
    for_spans(outer, outer * inner > 200000, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; i++) {
        const float* r = x + i * inner;
        double s = 0;
        float part = 0.f;
        for (int64_t j = 0; j < inner; j++) {
          part += r[j];
          if ((j & 255) == 255) {
            s += part;
            part = 0.f;
          }
        }
        out[i] = (float)((s + part) * scale);
      }
    });
    return;
  }
  std::vector<double> sums(inner);
  channel_sums(outer, inner, sums.data(), [x, inner](int64_t r, int64_t j) { return x[r * inner + j]; });
  for (int64_t j = 0; j < inner; j++) out[j] = (float)(sums[j] * scale);
}

}  // namespace trellis
