// Max / average pooling and their gradients, NHWC, with tfjs's cpu-backend semantics: padded
// positions are skipped; max picks the first maximum in the window (a NaN never wins, so a window of
// NaN and −∞ gives −∞ and no gradient); the average divides by the number of in-bounds pixels, while
// its gradient divides by the full window size (as tfjs does). Channels are the inner loop, the max
// forward and the argmax written as selects the compiler vectorises; the batch is split over the
// OpenMP pool.
#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels.h"

namespace trellis {

void pool(int mode, const PoolParams& p, const float* a, const float* b, float* out) {
  const int64_t C = p.c;
  const int64_t inImg = p.h * p.w * C;
  const int64_t outImg = p.oh * p.ow * C;
  // stride ≥ window: no two windows share a pixel; `tiled`: they also cover every pixel, so the max
  // gradient's window writes reach all of dx and it needs no zeroing first
  const bool disjoint = p.sh >= p.kh && p.sw >= p.kw;
  const bool tiled = disjoint && p.sh == p.kh && p.sw == p.kw && p.pt == 0 && p.pl == 0 && p.oh * p.kh == p.h && p.ow * p.kw == p.w;
  if (mode == 3 || (mode == 2 && !tiled)) std::memset(out, 0, sizeof(float) * p.n * inImg);
  const float winScale = 1.f / (float)(p.kh * p.kw);
  const bool par = p.n > 1 && p.n * outImg * p.kh * p.kw > 65536;
#pragma omp parallel if (par)
  {
    std::vector<float> acc(C);
    std::vector<int32_t> pos(C);
#pragma omp for schedule(static)
    for (int64_t n = 0; n < p.n; n++) {
      for (int64_t yr = 0; yr < p.oh; yr++) {
        const int64_t r0 = yr * p.sh - p.pt;
        const int64_t rMin = std::max<int64_t>(0, r0), rMax = std::min<int64_t>(p.h, r0 + p.kh);
        for (int64_t yc = 0; yc < p.ow; yc++) {
          const int64_t c0 = yc * p.sw - p.pl;
          const int64_t cMin = std::max<int64_t>(0, c0), cMax = std::min<int64_t>(p.w, c0 + p.kw);
          const int64_t o = n * outImg + (yr * p.ow + yc) * C;
          if (mode == 0) {
            // The maximum alone, as a select the compiler vectorises: strict > from −∞, so the first
            // maximum wins and NaN never does, as in the argmax loop of mode 2.
            const float* x = a + n * inImg;
            float* __restrict y = out + o;
            for (int64_t d = 0; d < C; d++) y[d] = -std::numeric_limits<float>::infinity();
            for (int64_t r = rMin; r < rMax; r++)
              for (int64_t c = cMin; c < cMax; c++) {
                const float* __restrict px = x + (r * p.w + c) * C;
                for (int64_t d = 0; d < C; d++) y[d] = px[d] > y[d] ? px[d] : y[d];
              }
          } else if (mode == 2) {
            // b = x, a = dy.
            const float* x = b + n * inImg;
            float* __restrict best = acc.data();
            int32_t* __restrict at32 = pos.data();
            for (int64_t d = 0; d < C; d++) {
              best[d] = -std::numeric_limits<float>::infinity();
              at32[d] = -1;
            }
            for (int64_t r = rMin; r < rMax; r++) {
              for (int64_t c = cMin; c < cMax; c++) {
                const float* __restrict px = x + (r * p.w + c) * C;
                const int32_t at = (int32_t)((r * p.w + c) * C);
                for (int64_t d = 0; d < C; d++) {
                  const bool gt = px[d] > best[d];
                  best[d] = gt ? px[d] : best[d];
                  at32[d] = gt ? at + (int32_t)d : at32[d];
                }
              }
            }
            float* dx = out + n * inImg;
            const float* __restrict dy = a + o;
            if (disjoint) {
              // No other window touches these pixels, so dx takes `0 + dy` at the argmax (what the zeroed dx
              // plus dy gives) and 0 elsewhere: plain vector stores instead of a scalar scatter.
              for (int64_t r = rMin; r < rMax; r++)
                for (int64_t c = cMin; c < cMax; c++) {
                  const int32_t at = (int32_t)((r * p.w + c) * C);
                  float* __restrict g = dx + at;
                  for (int64_t d = 0; d < C; d++) g[d] = at32[d] == at + (int32_t)d ? 0.f + dy[d] : 0.f;
                }
            } else {
              for (int64_t d = 0; d < C; d++)
                if (at32[d] >= 0) dx[at32[d]] += dy[d];
            }
          } else if (mode == 1) {
            const float* x = a + n * inImg;
            std::fill(acc.begin(), acc.end(), 0.f);
            for (int64_t r = rMin; r < rMax; r++)
              for (int64_t c = cMin; c < cMax; c++) {
                const float* px = x + (r * p.w + c) * C;
                for (int64_t d = 0; d < C; d++) acc[d] += px[d];
              }
            const float inv = 1.f / (float)((rMax - rMin) * (cMax - cMin));
            for (int64_t d = 0; d < C; d++) out[o + d] = acc[d] * inv;
          } else {
            float* dx = out + n * inImg;
            const float* dy = a + o;
            for (int64_t r = rMin; r < rMax; r++)
              for (int64_t c = cMin; c < cMax; c++) {
                float* px = dx + (r * p.w + c) * C;
                for (int64_t d = 0; d < C; d++) px[d] += dy[d] * winScale;
              }
          }
        }
      }
    }
  }
}

}  // namespace trellis
