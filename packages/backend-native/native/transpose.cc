// Transpose: pure data movement, so the output is the same bit for bit as any other way of moving
// the values (the JavaScript loop it replaces ran 2–3 ns per element; the cpu backend's per-element
// index arithmetic more).
#include <cstring>

#include "kernels.h"

namespace trellis {

void transpose(const float* x, float* out, int rank, const int64_t* shape, const int64_t* perm) {
  if (rank < 1 || rank > kMaxTransposeRank) return;
  int64_t xStride[kMaxTransposeRank], outShape[kMaxTransposeRank], step[kMaxTransposeRank], idx[kMaxTransposeRank];
  int64_t total = 1;
  for (int d = rank - 1; d >= 0; d--) {
    xStride[d] = total;
    total *= shape[d];
  }
  if (total == 0) return;
  for (int d = 0; d < rank; d++) {
    outShape[d] = shape[perm[d]];
    step[d] = xStride[perm[d]];  // x's stride along output axis d
    idx[d] = 0;
  }
  // Runs of the innermost output axis, in output order; an odometer over the outer axes moves the
  // source offset.
  const int64_t inner = outShape[rank - 1];
  const int64_t innerStep = step[rank - 1];
  int64_t src = 0;
  for (int64_t o = 0; o < total; o += inner) {
    if (innerStep == 1) {
      std::memcpy(out + o, x + src, sizeof(float) * (size_t)inner);
    } else {
      const float* s = x + src;
      float* d = out + o;
      for (int64_t j = 0; j < inner; j++) d[j] = s[j * innerStep];
    }
    for (int d = rank - 2; d >= 0; d--) {
      src += step[d];
      if (++idx[d] < outShape[d]) break;
      src -= step[d] * outShape[d];
      idx[d] = 0;
    }
  }
}

}  // namespace trellis
