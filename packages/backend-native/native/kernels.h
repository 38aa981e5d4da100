// Shared declarations of the native kernels (plain C++ functions over raw float buffers, row-major,
// NHWC). The N-API glue in addon.cc validates arguments and calls these.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace trellis {

// Activation applied after a fused matmul / conv. Codes shared with src/native.ts.
enum Act : int { kLinear = 0, kRelu = 1, kRelu6 = 2, kElu = 3, kSigmoid = 4, kLeakyRelu = 5 };

// Bytes currently held by the addon (scratch buffers, reordered weights, primitive cache entries).
int64_t allocated_bytes();
void track_alloc(int64_t delta);

int num_threads();
void set_num_threads(int n);

// GEMM backend: 0 = OpenBLAS (single-threaded calls, split over the OpenMP pool), 1 = oneDNN sgemm,
// 2 = OpenBLAS threading the call itself with its own pool (OpenMP workers asleep meanwhile).
void set_gemm_impl(int impl);
int gemm_impl();

// C[b] = op(A[b]) x op(B[b]) (+ bias) (activation); A batch stride strideA (0 = broadcast).
// op(A) is [M,K], op(B) is [K,N]; bias is [N] (biasLen == N) or a scalar (biasLen == 1).
void matmul(const float* A, const float* B, float* C, int64_t batch, int64_t M, int64_t N, int64_t K,
            bool transA, bool transB, int64_t strideA, int64_t strideB, const float* bias, int64_t biasLen,
            int act, float alpha);

// In-place activation over n elements.
void apply_act(float* x, int64_t n, int act, float alpha);

struct ConvParams {
  int64_t n, h, w, cin, kh, kw, cout, sh, sw, dh, dw, pt, pl, pb, pr, oh, ow;
};
// mode 0: y = conv(x, w) (+bias, act); mode 1: dx = conv_bwd_data(dy, w); mode 2: dw = conv_bwd_w(x, dy).
// x/dx NHWC [n,h,w,cin], w/dw HWIO [kh,kw,cin,cout], y/dy NHWC [n,oh,ow,cout].
// Returns "" or an error message.
std::string conv(int mode, const ConvParams& p, const float* a, const float* b, float* out, const float* bias,
                 int act, float alpha);
// The calling thread's cache (each JS thread, e.g. a worker_threads Worker, has its own).
void conv_cache_clear();
int64_t conv_cache_size();

struct PoolParams {
  int64_t n, h, w, c, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow;
};
// mode 0: max fwd (x -> y); 1: avg fwd (x -> y); 2: max grad (dy, x -> dx); 3: avg grad (dy -> dx).
void pool(int mode, const PoolParams& p, const float* a, const float* b, float* out);

// y = (x - mean) * rsqrt(var + eps) * scale + offset, per channel (last axis, size C) or scalar
// (length-1 params). total = number of elements of x.
void batch_norm(const float* x, const float* mean, int64_t meanLen, const float* var, int64_t varLen,
                const float* offset, int64_t offsetLen, const float* scale, int64_t scaleLen, float* y,
                int64_t total, int64_t C, float eps);
// dx = dy * rsqrt(var + eps) * scale; sumDy[c] = Σ dy; sumDyXm[c] = Σ dy * (x - mean[c]).
void batch_norm_grad(const float* dy, const float* x, const float* mean, const float* var, const float* scale,
                     float* dx, float* sumDy, float* sumDyXm, int64_t total, int64_t C, float eps);
// tf.moments over every axis but the last: x as [rows, C]; mean[c] and biased var[c] (two passes).
void moments(const float* x, float* mean, float* var, int64_t rows, int64_t C);
// Its gradient: dx = (dmean[c] + 2 · dvar[c] · (x − mean[c])) / rows.
void moments_grad(const float* x, const float* mean, const float* dmean, const float* dvar, float* dx, int64_t rows,
                  int64_t C);

// op: 0 add, 1 sub, 2 mul, 3 div, 4 max, 5 min, 6 squared difference, 7 2·a·b, 8 a where b > 0 else 0. modeA/modeB: 0 full, 1 scalar,
// 2 repeats with period inner, 3 one value per row of length inner.
void binary(int op, const float* a, const float* b, float* out, int64_t total, int modeA, int modeB, int64_t innerA,
            int64_t innerB);
// op: 0 sqrt, 1 square, 2 rsqrt, 3 neg, 4 exp, 5 log, 6 relu, 7 abs, 8 step(alpha), 9 reciprocal.
void unary(int op, const float* x, float* out, int64_t n, float alpha);
void adam(const float* value, const float* m, const float* v, const float* g, float* outValue, float* outM, float* outV,
          int64_t n, float b1, float omb1, float b2, float omb2, float oneMinusAcc1, float oneMinusAcc2, float eps,
          float negLr);
void adam_inplace(float* value, float* m, float* v, const float* g, int64_t n, float b1, float omb1, float b2, float omb2,
                  float oneMinusAcc1, float oneMinusAcc2, float eps, float negLr);
// SGD step, tfjs's arithmetic without FMA contraction. mode 0: value' = negLr·g + value; 1 (momentum):
// acc' = momentum·acc + g, value' = negLr·acc' + value; 2 (Nesterov): value' = negLr·(g + acc'·momentum) + value.
// Outputs may be their own inputs (in place) but must not overlap other inputs.
void sgd(const float* value, const float* acc, const float* g, float* outValue, float* outAcc, int64_t n,
         float momentum, float negLr, int mode);
void reduce_sum(const float* x, float* out, int64_t outer, int64_t inner, bool leading, float scale);

// out = x with its axes permuted (row-major; output axis d is x's axis perm[d]; rank 1 … kMaxTransposeRank,
// perm a permutation of 0 … rank − 1, checked by the caller).
constexpr int kMaxTransposeRank = 8;
void transpose(const float* x, float* out, int rank, const int64_t* shape, const int64_t* perm);

}  // namespace trellis
