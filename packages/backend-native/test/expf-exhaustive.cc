// Checks native/expf.h against std::exp over every float (all 2^32 bit patterns): exp and sigmoid
// must agree bit for bit (NaN with NaN). Build and run (≈ 1 min on one core):
//   g++ -std=c++17 -O3 -march=native -fno-math-errno -fopenmp -I native test/expf-exhaustive.cc -o /tmp/expf-check && /tmp/expf-check
// An argument S > 1 checks every S-th chunk of 2^20 consecutive bit patterns instead (test/expf.test.ts
// runs it so, in about a second).
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "expf.h"

int main(int argc, char** argv) {
  const uint64_t stride = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1;
  constexpr int64_t kChunk = 1 << 20;
  std::vector<float> x(kChunk), fast(kChunk), ref(kChunk);
  uint64_t mismatches = 0, checked = 0;
  auto same = [](float a, float b) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
    uint32_t ua, ub;
    std::memcpy(&ua, &a, 4);
    std::memcpy(&ub, &b, 4);
    return ua == ub;
  };
  // Every other chunk is processed in spans of 61 values, so the 8-wide path's scalar tail (5 of each 61)
  // is checked too, not only whole blocks.
  auto over_spans = [&](uint64_t base, auto fn) {
    const int64_t step = (base / kChunk) % 2 == 0 ? kChunk : 61;
    for (int64_t lo = 0; lo < kChunk; lo += step) fn(lo, std::min<int64_t>(kChunk, lo + step));
  };
  for (uint64_t base = 0; base < (1ull << 32); base += kChunk * (stride > 0 ? stride : 1)) {
    for (int64_t i = 0; i < kChunk; i++) {
      const uint32_t u = static_cast<uint32_t>(base + i);
      std::memcpy(&x[i], &u, 4);
    }
    for (int pass = 0; pass < 2; pass++) {
      if (pass == 0) {
        over_spans(base, [&](int64_t lo, int64_t hi) { trellis::exp_only_span(x.data(), fast.data(), lo, hi); });
        for (int64_t i = 0; i < kChunk; i++) ref[i] = std::exp(x[i]);
      } else {
        over_spans(base, [&](int64_t lo, int64_t hi) { trellis::sigmoid_span(x.data(), fast.data(), lo, hi); });
        for (int64_t i = 0; i < kChunk; i++) ref[i] = 1.f / (1.f + std::exp(-x[i]));
      }
      for (int64_t i = 0; i < kChunk; i++) {
        checked++;
        if (!same(fast[i], ref[i]) && mismatches++ < 10)
          std::printf("%s(%a): %a vs std::exp %a\n", pass == 0 ? "exp" : "sigmoid", x[i], fast[i], ref[i]);
      }
    }
  }
  std::printf("%llu values checked, %llu differ\n", (unsigned long long)checked, (unsigned long long)mismatches);
  return mismatches == 0 ? 0 : 1;
}
