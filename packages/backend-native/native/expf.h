// Vectorised float exp, and the Sigmoid and Exp kernels built on it.
//
// std::exp(float) is glibc's scalar expf: 5–6 ns a value here, most of a Sigmoid kernel's time
// (an autoencoder's 128 × 784 sigmoid outputs took 0.29 ms a step). glibc computes it in double
// precision — x·32/ln2 split by the 1.5·2^52 rounding shift into k + r, 2^(k/32) from a 32-entry
// table with k's high bits added to the exponent, a cubic in r with fused multiply-adds, one final
// rounding to float — and every step of that is an IEEE operation. Written as the same operations
// over 8 values at a time (by hand below for AVX-512, and for AVX2 with FMA), each value comes out bit for bit as
// std::exp gives it (checked over every float by test/expf-exhaustive.cc against this machine's
// glibc 2.36), so no kernel result, and no trained weight, moves. A block holding any |x| ≥ 88 or
// NaN (overflow, underflow, errno paths) is left to std::exp.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#define TRELLIS_EXPF_8WIDE 1
#endif

// GCC 12's own avx512fintrin.h trips -Wmaybe-uninitialized on _mm512_cvtps_pd (its
// _mm512_undefined_pd placeholder) wherever the code below is inlined: a false alarm.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace trellis {

// 2^(i/32) rounded to double, minus i << 47 (the table index bits the shifted k adds back).
alignas(64) static constexpr uint64_t kExp2Table[32] = {
    0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51, 0x3fef72b83c7d517b,
    0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1, 0x3fef06fe0a31b715, 0x3feef1a7373aa9cb,
    0x3feedea64c123422, 0x3feece086061892d, 0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429,
    0x3feea47eb03a5585, 0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
    0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d, 0x3feee89f995ad3ad,
    0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069, 0x3fef5818dcfba487, 0x3fef7c97337b9b5f,
    0x3fefa4afa2a490da, 0x3fefd0765b6e4540};

// x·32/ln2, the rounding shift 1.5·2^52, and the cubic's coefficients (scaled to steps of 1/32).
static constexpr double kInvLn2N = 0x1.71547652b82fep+0 * 32, kShift = 0x1.8p+52;
static constexpr double kC0 = 0x1.c6af84b912394p-5 / 32 / 32 / 32, kC1 = 0x1.ebfce50fac4f3p-3 / 32 / 32, kC2 = 0x1.62e42ff0c52d6p-1 / 32;

// exp(x) for |x| < 88 (finite): the arithmetic described above, one value.
static inline float expf_core(float x) {
  const double z = kInvLn2N * static_cast<double>(x);
  double kd = z + kShift;
  uint64_t ki;
  std::memcpy(&ki, &kd, sizeof ki);
  kd -= kShift;
  const double r = z - kd;
  const uint64_t t = kExp2Table[ki % 32] + (ki << 47);
  double s;
  std::memcpy(&s, &t, sizeof s);
  const double p = std::fma(kC0, r, kC1);
  const double r2 = r * r;
  double y = std::fma(kC2, r, 1.0);
  y = std::fma(p, r2, y);
  return static_cast<float>(y * s);
}

// True when every value of the block is finite with |x| < 88 (expf_core's range).
// (A bitwise AND over the block, not a short-circuit &&, so the loop vectorises without OpenMP.)
static inline bool expf_block_in_range(const float* x, int64_t n, float sign) {
  int ok = 1;
  for (int64_t i = 0; i < n; i++) ok &= std::fabs(sign * x[i]) < 88.f;
  return ok != 0;
}

#if defined(__AVX512F__)
// expf_core on 8 floats, as 8 doubles; the table lookup as two permutes of 16 entries each
// (a gather is several times slower here).
static inline __m256 expf_core8(__m256 v) {
  const __m512d xd = _mm512_cvtps_pd(v);
  const __m512d invLn2N = _mm512_set1_pd(kInvLn2N), shift = _mm512_set1_pd(kShift);
  const __m512d c0 = _mm512_set1_pd(kC0), c1 = _mm512_set1_pd(kC1), c2 = _mm512_set1_pd(kC2), one = _mm512_set1_pd(1.0);
  const __m512i t0 = _mm512_load_si512(kExp2Table), t1 = _mm512_load_si512(kExp2Table + 8),
                t2 = _mm512_load_si512(kExp2Table + 16), t3 = _mm512_load_si512(kExp2Table + 24);
  const __m512d z = _mm512_mul_pd(invLn2N, xd);
  __m512d kd = _mm512_add_pd(z, shift);
  const __m512i ki = _mm512_castpd_si512(kd);
  kd = _mm512_sub_pd(kd, shift);
  const __m512d r = _mm512_sub_pd(z, kd);
  const __m512i lo = _mm512_permutex2var_epi64(t0, ki, t1), hi = _mm512_permutex2var_epi64(t2, ki, t3);
  const __mmask8 upper = _mm512_test_epi64_mask(ki, _mm512_set1_epi64(16));
  const __m512i t = _mm512_add_epi64(_mm512_mask_blend_epi64(upper, lo, hi), _mm512_slli_epi64(ki, 47));
  const __m512d s = _mm512_castsi512_pd(t);
  const __m512d p = _mm512_fmadd_pd(c0, r, c1);
  const __m512d r2 = _mm512_mul_pd(r, r);
  __m512d y = _mm512_fmadd_pd(c2, r, one);
  y = _mm512_fmadd_pd(p, r2, y);
  return _mm512_cvtpd_ps(_mm512_mul_pd(y, s));
}
#elif defined(TRELLIS_EXPF_8WIDE)
// expf_core on 4 doubles (AVX2 with FMA): the same operations; the table lookup is a gather.
static inline __m128 expf_core4(__m256d xd) {
  const __m256d invLn2N = _mm256_set1_pd(kInvLn2N), shift = _mm256_set1_pd(kShift);
  const __m256d c0 = _mm256_set1_pd(kC0), c1 = _mm256_set1_pd(kC1), c2 = _mm256_set1_pd(kC2), one = _mm256_set1_pd(1.0);
  const __m256d z = _mm256_mul_pd(invLn2N, xd);
  __m256d kd = _mm256_add_pd(z, shift);
  const __m256i ki = _mm256_castpd_si256(kd);
  kd = _mm256_sub_pd(kd, shift);
  const __m256d r = _mm256_sub_pd(z, kd);
  const __m256i idx = _mm256_and_si256(ki, _mm256_set1_epi64x(31));
  const __m256i tab = _mm256_i64gather_epi64(reinterpret_cast<const long long*>(kExp2Table), idx, 8);
  const __m256d s = _mm256_castsi256_pd(_mm256_add_epi64(tab, _mm256_slli_epi64(ki, 47)));
  const __m256d p = _mm256_fmadd_pd(c0, r, c1);
  const __m256d r2 = _mm256_mul_pd(r, r);
  __m256d y = _mm256_fmadd_pd(c2, r, one);
  y = _mm256_fmadd_pd(p, r2, y);
  return _mm256_cvtpd_ps(_mm256_mul_pd(y, s));
}

// expf_core on 8 floats, as two halves of 4 doubles.
static inline __m256 expf_core8(__m256 v) {
  const __m128 lo = expf_core4(_mm256_cvtps_pd(_mm256_castps256_ps128(v)));
  const __m128 hi = expf_core4(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
  return _mm256_set_m128(hi, lo);
}
#endif

// out[i] = f(std::exp(sign · x[i])) over [lo, hi), vectorised in blocks of 64. F also takes and
// returns __m256 (8 floats) when AVX-512, or AVX2 with FMA, is there.
template <typename F>
static inline void exp_span(const float* x, float* out, int64_t lo, int64_t hi, float sign, F f) {
  constexpr int64_t kBlock = 64;
  for (int64_t b = lo; b < hi; b += kBlock) {
    const int64_t n = std::min(kBlock, hi - b);
    const float* xb = x + b;
    float* ob = out + b;
    if (!expf_block_in_range(xb, n, sign)) {
      for (int64_t i = 0; i < n; i++) ob[i] = f(std::exp(sign * xb[i]));
      continue;
    }
    int64_t i = 0;
#if defined(TRELLIS_EXPF_8WIDE)
    const __m256 sv = _mm256_set1_ps(sign);
    for (; i + 8 <= n; i += 8) {
      const __m256 v = _mm256_mul_ps(sv, _mm256_loadu_ps(xb + i));
      _mm256_storeu_ps(ob + i, f(expf_core8(v)));
    }
#endif
    for (; i < n; i++) ob[i] = f(expf_core(sign * xb[i]));
  }
}

// 1 / (1 + e), one float or 8.
static inline float sigmoid_of_exp(float e) { return 1.f / (1.f + e); }
#if defined(TRELLIS_EXPF_8WIDE)
static inline __m256 sigmoid_of_exp(__m256 e) {
  const __m256 one = _mm256_set1_ps(1.f);
  return _mm256_div_ps(one, _mm256_add_ps(one, e));
}
#endif

// Sigmoid 1 / (1 + exp(−x)) and exp(x) over [lo, hi) (in place allowed: each value is read before
// it is written).
static inline void sigmoid_span(const float* x, float* out, int64_t lo, int64_t hi) {
  exp_span(x, out, lo, hi, -1.f, [](auto e) { return sigmoid_of_exp(e); });
}
static inline void exp_only_span(const float* x, float* out, int64_t lo, int64_t hi) {
  exp_span(x, out, lo, hi, 1.f, [](auto e) { return e; });
}

}  // namespace trellis

#pragma GCC diagnostic pop
