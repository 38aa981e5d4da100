// Splitting a loop over the OpenMP team without entering a parallel region it does not need.
// Entering one costs ≈ 1.4 µs per call even when its `if` clause is false (AMD EPYC, GCC 12,
// libgomp: an Add of one float took 1.9 µs through `omp parallel for … if (…)`, 0.3 µs without) —
// more than the whole op on a bias-sized tensor, and a training step calls dozens of them.
#pragma once
#include <cstdint>

#include <omp.h>

#include "kernels.h"

namespace trellis {

// Runs body(t, nt) once per thread of a team of T threads (t = 0 … nt − 1; nt may be below T when
// OpenMP gives fewer). T ≤ 1 runs body(0, 1) on the calling thread, with no OpenMP region.
template <typename Body>
inline void run_team(int T, Body body) {
  if (T <= 1) {
    body(0, 1);
    return;
  }
#pragma omp parallel num_threads(T)
  body(omp_get_thread_num(), omp_get_num_threads());
}

// Runs body(lo, hi) over contiguous spans that cover [0, n) in order: one span on the calling
// thread unless `parallel`, else one per thread of a team of num_threads().
template <typename Body>
inline void for_spans(int64_t n, bool parallel, Body body) {
  run_team(parallel ? num_threads() : 1, [&](int t, int nt) { body(n * t / nt, n * (t + 1) / nt); });
}

}  // namespace trellis
