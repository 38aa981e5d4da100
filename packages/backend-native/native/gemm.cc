// Batched GEMM with optional bias and activation. One thread pool: OpenMP (libgomp, which oneDNN
// also uses). OpenBLAS is kept at one thread and called from each OpenMP worker on a slice of the
// output, so its own pthread pool never runs; alternatively oneDNN's sgemm (same OpenMP pool).
#include <omp.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cmath>

#include "dnnl.h"
#include "expf.h"
#include "kernels.h"
#include "parallel.h"

extern "C" {
// OpenBLAS (declared here so only the runtime library is needed, not a particular cblas.h).
enum CBLAS_ORDER_ { RowMajor_ = 101 };
enum CBLAS_TRANSPOSE_ { NoTrans_ = 111, Trans_ = 112 };
void cblas_sgemm(int order, int transA, int transB, int M, int N, int K, float alpha, const float* A, int lda,
                 const float* B, int ldb, float beta, float* C, int ldc);
void openblas_set_num_threads(int n);
}

namespace trellis {

static std::atomic<int64_t> g_bytes{0};
int64_t allocated_bytes() { return g_bytes.load(); }
void track_alloc(int64_t delta) { g_bytes += delta; }

static int g_threads = 1;
int num_threads() { return g_threads; }
// 0 OpenBLAS split over the OpenMP pool, 1 oneDNN sgemm, 2 OpenBLAS's own threads, 3 auto (default):
// oneDNN sgemm for a few large matrices (where it measured 5-30% faster), OpenBLAS otherwise.
static int g_gemm_impl = 3;
void set_num_threads(int n) {
  g_threads = std::max(1, n);
  omp_set_num_threads(g_threads);
  openblas_set_num_threads(g_gemm_impl == 2 ? g_threads : 1);
}

void set_gemm_impl(int impl) {
  g_gemm_impl = impl;
  openblas_set_num_threads(g_gemm_impl == 2 ? g_threads : 1);
}
int gemm_impl() { return g_gemm_impl; }

static inline float act1(float v, int act, float alpha) {
  switch (act) {
    case kRelu: return v > 0.f ? v : 0.f;
    case kRelu6: return std::min(std::max(v, 0.f), 6.f);
    case kElu: return v > 0.f ? v : std::expm1(v);
    case kLeakyRelu: return v > 0.f ? v : alpha * v;
    default: return v;
  }
}

// The activation over x[lo, hi) in place: relu and sigmoid as vector loops (sigmoid through expf.h,
// bit for bit std::exp), the others per element. The one place both GEMM paths apply an activation.
static inline void activate_span(float* x, int64_t lo, int64_t hi, int act, float alpha) {
  if (act == kLinear) return;
  if (act == kRelu) {
    for (int64_t j = lo; j < hi; j++) x[j] = x[j] > 0.f ? x[j] : 0.f;
  } else if (act == kSigmoid) {
    sigmoid_span(x, x, lo, hi);
  } else {
    for (int64_t j = lo; j < hi; j++) x[j] = act1(x[j], act, alpha);
  }
}

// Bias + activation over rows [m0, m1) and columns [n0, n1) of a row-major [*, N] matrix.
static void epilogue(float* C, int64_t N, int64_t m0, int64_t m1, int64_t n0, int64_t n1, const float* bias,
                     int64_t biasLen, int act, float alpha) {
  if (bias == nullptr && act == kLinear) return;
  for (int64_t i = m0; i < m1; i++) {
    float* row = C + i * N;
    if (bias != nullptr) {
      if (biasLen == 1) {
        const float b = bias[0];
        for (int64_t j = n0; j < n1; j++) row[j] += b;
      } else {
        for (int64_t j = n0; j < n1; j++) row[j] += bias[j];
      }
    }
    activate_span(row, n0, n1, act, alpha);
  }
}

void apply_act(float* x, int64_t n, int act, float alpha) {
  if (act == kLinear) return;
  for_spans(n, n > 65536, [&](int64_t lo, int64_t hi) { activate_span(x, lo, hi, act, alpha); });
}

// Holds off asynchronous signals on the calling thread for its lifetime. oneDNN 2.6's sgemm
// corrupts the heap when a signal handler runs in the calling thread during the call: `node
// --cpu-prof` (V8's sampling profiler sends SIGPROF to the JS thread every ~1 ms) aborted with
// "corrupted size vs. prev_size" within a second of 128×256×128 matmuls; with SIGPROF held off
// until the call returns it does not (test/signals.test.ts). The signals are delivered right after.
class AsyncSignalsHeld {
 public:
  AsyncSignalsHeld() {
    sigset_t all;
    sigfillset(&all);
    for (int sync : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS}) sigdelset(&all, sync);
    pthread_sigmask(SIG_BLOCK, &all, &old_);
  }
  ~AsyncSignalsHeld() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  AsyncSignalsHeld(const AsyncSignalsHeld&) = delete;
  AsyncSignalsHeld& operator=(const AsyncSignalsHeld&) = delete;

 private:
  sigset_t old_;
};

static inline void sgemm1(bool tA, bool tB, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                          const float* B, int64_t ldb, float* C, int64_t ldc) {
  cblas_sgemm(RowMajor_, tA ? Trans_ : NoTrans_, tB ? Trans_ : NoTrans_, (int)M, (int)N, (int)K, 1.f, A, (int)lda,
              B, (int)ldb, 0.f, C, (int)ldc);
}

// Below this many multiply-adds a GEMM runs on the calling thread alone: waking the (passive) OpenMP
// workers costs more than the second core saves. Measured on the 2-core build machine (tfjs call
// included): 832×32×32 60 µs on one thread vs 113 µs on two, 128×256×128 96 vs 118, 64×784×128
// (6.4 M) 144 vs 126, 64×512×512 378 vs 239 (packages/backend-native README).
static constexpr double kParallelMinWork = 5e6;

// A tall product with few output columns over a deep K (k-means' point-centre products: 5,000 x 6,272
// embeddings times 10 centres) runs on oneDNN's sgemm on any number of threads: OpenBLAS (with the
// kernels it runs on the build machine) took twice as long there, 20 vs 10 ms for that product, 2.3 vs
// 1.1 ms for 700 of its rows (one thread). No layer of the project's models has this shape (K >= 2,048
// with at most 16 outputs), so their results do not change.
static inline bool skinny(int64_t M, int64_t N, int64_t K) { return N <= 16 && K >= 2048 && M >= 64; }

void matmul(const float* A, const float* B, float* C, int64_t batch, int64_t M, int64_t N, int64_t K,
            bool transA, bool transB, int64_t strideA, int64_t strideB, const float* bias, int64_t biasLen,
            int act, float alpha) {
  const int64_t lda = transA ? M : K;
  const int64_t ldb = transB ? K : N;
  if (K == 0) {
    std::fill(C, C + batch * M * N, 0.f);
    for (int64_t b = 0; b < batch; b++) epilogue(C + b * M * N, N, 0, M, 0, N, bias, biasLen, act, alpha);
    return;
  }
  const double work = (double)batch * M * N * K;
  const int T = g_threads;
  const bool onednn = g_gemm_impl == 1 || (g_gemm_impl == 3 && ((T > 1 && batch < T && work >= kParallelMinWork) || skinny(M, N, K)));
  if (onednn) {
    const AsyncSignalsHeld held;
    for (int64_t b = 0; b < batch; b++) {
      float* Cb = C + b * M * N;
      dnnl_sgemm(transA ? 'T' : 'N', transB ? 'T' : 'N', M, N, K, 1.f, A + b * strideA, lda, B + b * strideB, ldb,
                 0.f, Cb, N);
      epilogue(Cb, N, 0, M, 0, N, bias, biasLen, act, alpha);
    }
    return;
  }
  if (T <= 1 || work < kParallelMinWork || g_gemm_impl == 2) {
    // impl 2: OpenBLAS threads the call itself (its pool runs while the OpenMP workers sleep).
    for (int64_t b = 0; b < batch; b++) {
      float* Cb = C + b * M * N;
      sgemm1(transA, transB, M, N, K, A + b * strideA, lda, B + b * strideB, ldb, Cb, N);
      epilogue(Cb, N, 0, M, 0, N, bias, biasLen, act, alpha);
    }
    return;
  }
  if (batch >= T) {
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < batch; b++) {
      float* Cb = C + b * M * N;
      sgemm1(transA, transB, M, N, K, A + b * strideA, lda, B + b * strideB, ldb, Cb, N);
      epilogue(Cb, N, 0, M, 0, N, bias, biasLen, act, alpha);
    }
    return;
  }
  // Few large matrices: split each output over the pool, by columns when N is the larger side.
  const bool byCols = N >= M;
  const int64_t extent = byCols ? N : M;
  const int64_t align = byCols ? 16 : 4;
  for (int64_t b = 0; b < batch; b++) {
    const float* Ab = A + b * strideA;
    const float* Bb = B + b * strideB;
    float* Cb = C + b * M * N;
#pragma omp parallel num_threads(T)
    {
      const int t = omp_get_thread_num();
      const int nt = omp_get_num_threads();
      int64_t chunk = (extent + nt - 1) / nt;
      chunk = ((chunk + align - 1) / align) * align;
      const int64_t s0 = std::min(extent, t * chunk);
      const int64_t s1 = std::min(extent, s0 + chunk);
      if (s1 > s0) {
        if (byCols) {
          const float* Bs = transB ? Bb + s0 * K : Bb + s0;
          sgemm1(transA, transB, M, s1 - s0, K, Ab, lda, Bs, ldb, Cb + s0, N);
          epilogue(Cb, N, 0, M, s0, s1, bias, biasLen, act, alpha);
        } else {
          const float* As = transA ? Ab + s0 : Ab + s0 * K;
          sgemm1(transA, transB, s1 - s0, N, K, As, lda, Bb, ldb, Cb + s0 * N, N);
          epilogue(Cb, N, s0, s1, 0, N, bias, biasLen, act, alpha);
        }
      }
    }
  }
}

}  // namespace trellis
