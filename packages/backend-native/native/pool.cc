// Max / average pooling and their gradients, NHWC, with tfjs's cpu-backend semantics: padded
// positions are skipped; max picks the first maximum in the window; the average divides by the
// number of in-bounds pixels, while its gradient divides by the full window size (as tfjs does).
// Channels are the inner loop (the max forward as a vectorised select; the max gradient keeps its
// branches, which measured faster here than select-based versions for C = 16); the batch is split over
// the OpenMP pool.
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
  if (mode >= 2) std::memset(out, 0, sizeof(float) * p.n * inImg);
  const float winScale = 1.f / (float)(p.kh * p.kw);
  const bool par = p.n > 1 && p.n * outImg * p.kh * p.kw > 65536;
#pragma omp parallel if (par)
  {
    std::vector<float> acc(C);
    std::vector<int64_t> pos(C);
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
            std::fill(acc.begin(), acc.end(), -std::numeric_limits<float>::infinity());
            std::fill(pos.begin(), pos.end(), -1);
            for (int64_t r = rMin; r < rMax; r++) {
              for (int64_t c = cMin; c < cMax; c++) {
                const float* px = x + (r * p.w + c) * C;
                const int64_t at = (r * p.w + c) * C;
                for (int64_t d = 0; d < C; d++) {
                  if (px[d] > acc[d]) {
                    acc[d] = px[d];
                    pos[d] = at + d;
                  }
                }
              }
            }
            float* dx = out + n * inImg;
            const float* dy = a + o;
            for (int64_t d = 0; d < C; d++)
              if (pos[d] >= 0) dx[pos[d]] += dy[d];
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
