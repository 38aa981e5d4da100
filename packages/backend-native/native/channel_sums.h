// Deterministic per-column sums over rows, shared by the reductions (moments, Sum/Mean over
// leading axes).
#pragma once
#include <cstdint>
#include <vector>

#include <omp.h>

#include "kernels.h"
#include "parallel.h"

namespace trellis {

// Per-channel sums of f(row, c) over x's rows: float partials over blocks of 256 rows folded into
// doubles, one set per thread, combined in thread order (deterministic for a thread count).
template <typename F>
inline void channel_sums(int64_t rows, int64_t C, double* out, F f) {
  const int T = rows * C > 32768 ? num_threads() : 1;
  std::vector<double> part((size_t)C * T, 0.0);
  run_team(T, [&](int t, int nt) {
    const int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
    std::vector<float> acc(C, 0.f);
    double* pd = part.data() + (size_t)C * t;
    int64_t inBlock = 0;
    if (C == 1) {
      // One channel (a full Sum or Mean, e.g. an MSE loss): the same blocks with a scalar accumulator;
      // through the channel loop below the per-row overhead cost 3.8 ns per element.
      // Each block's float sum is a chain of dependent adds (latency-bound, ≈ 2.5 cycles an element);
      // eight whole blocks side by side are eight independent chains, folded in block order after: the
      // same additions in the same order, so the same value.
      constexpr int64_t kLanes = 8;
      int64_t r = r0;
      for (; r + 256 * kLanes <= r1; r += 256 * kLanes) {
        float lane[kLanes] = {};
        for (int64_t i = 0; i < 256; i++)
          for (int64_t k = 0; k < kLanes; k++) lane[k] += f(r + k * 256 + i, 0);
        for (int64_t k = 0; k < kLanes; k++) pd[0] += lane[k];
      }
      float one = 0.f;
      for (; r < r1; r++) {
        one += f(r, 0);
        if (++inBlock == 256 || r + 1 == r1) {
          pd[0] += one;
          one = 0.f;
          inBlock = 0;
        }
      }
      return;
    }
    for (int64_t r = r0; r < r1; r++) {
      for (int64_t c = 0; c < C; c++) acc[c] += f(r, c);
      if (++inBlock == 256 || r + 1 == r1) {
        for (int64_t c = 0; c < C; c++) {
          pd[c] += acc[c];
          acc[c] = 0.f;
        }
        inBlock = 0;
      }
    }
  });
  for (int64_t c = 0; c < C; c++) {
    double s = 0;
    for (int t = 0; t < T; t++) s += part[(size_t)C * t + c];
    out[c] = s;
  }
}

}  // namespace trellis
