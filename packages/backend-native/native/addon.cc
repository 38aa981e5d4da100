// N-API glue (plain C API from Node's headers, no node-addon-api): checks every buffer's length
// against the shapes it is told before handing raw pointers to the kernels, so a wrong call throws
// instead of reading or writing out of bounds. Buffers are the tensors' own Float32Arrays (zero copy).
#include <malloc.h>
#include <sys/mman.h>
#include <node_api.h>

#include <cstdlib>
#include <cstring>

#include <string>
#include <thread>

#include "dnnl.hpp"
#include "kernels.h"

extern "C" {
char* openblas_get_config(void);
char* openblas_get_corename(void);
}

namespace {

using namespace trellis;

struct Args {
  napi_env env;
  size_t argc = 16;
  napi_value argv[16];
  bool failed = false;
};

napi_value throw_error(napi_env env, const std::string& msg) {
  napi_throw_error(env, "TRELLIS_NATIVE", msg.c_str());
  return nullptr;
}

bool get_args(napi_env env, napi_callback_info info, Args& a, size_t need) {
  a.env = env;
  a.argc = 16;
  if (napi_get_cb_info(env, info, &a.argc, a.argv, nullptr, nullptr) != napi_ok || a.argc < need) {
    throw_error(env, "native kernel: expected " + std::to_string(need) + " arguments");
    return false;
  }
  return true;
}

bool is_nullish(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  return t == napi_null || t == napi_undefined;
}

// Float32Array -> pointer; checks it holds at least `need` floats. nullable: null/undefined -> nullptr.
bool f32(napi_env env, napi_value v, int64_t need, float** out, const char* what, bool nullable = false,
         int64_t* len = nullptr) {
  if (nullable && is_nullish(env, v)) {
    *out = nullptr;
    return true;
  }
  bool isTa = false;
  napi_is_typedarray(env, v, &isTa);
  if (!isTa) {
    throw_error(env, std::string("native kernel: ") + what + " must be a Float32Array");
    return false;
  }
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_value ab;
  size_t off;
  napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &off);
  if (type != napi_float32_array) {
    throw_error(env, std::string("native kernel: ") + what + " must be a Float32Array");
    return false;
  }
  if ((int64_t)length < need) {
    throw_error(env, std::string("native kernel: ") + what + " has " + std::to_string(length) +
                         " elements, expected " + std::to_string(need));
    return false;
  }
  if (len != nullptr) *len = (int64_t)length;
  *out = static_cast<float*>(data);
  return true;
}

int64_t i64(napi_env env, napi_value v) {
  int64_t r = 0;
  napi_get_value_int64(env, v, &r);
  return r;
}
double f64(napi_env env, napi_value v) {
  double r = 0;
  napi_get_value_double(env, v, &r);
  return r;
}
bool boolean(napi_env env, napi_value v) {
  bool r = false;
  napi_get_value_bool(env, v, &r);
  return r;
}
// Reads an array of numbers.
bool ints(napi_env env, napi_value v, int64_t* out, uint32_t n) {
  uint32_t len = 0;
  if (napi_get_array_length(env, v, &len) != napi_ok || len < n) {
    throw_error(env, "native kernel: params array too short");
    return false;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    napi_get_element(env, v, i, &e);
    out[i] = i64(env, e);
  }
  return true;
}

napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// matmul(A, B, C, batch, M, N, K, transA, transB, strideA, strideB, bias|null, act, alpha)
napi_value Matmul(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, a, 14)) return nullptr;
  const int64_t batch = i64(env, a.argv[3]), M = i64(env, a.argv[4]), N = i64(env, a.argv[5]),
                K = i64(env, a.argv[6]);
  const bool tA = boolean(env, a.argv[7]), tB = boolean(env, a.argv[8]);
  const int64_t sA = i64(env, a.argv[9]), sB = i64(env, a.argv[10]);
  if (batch < 1 || M < 0 || N < 0 || K < 0 || sA < 0 || sB < 0) return throw_error(env, "matmul: bad sizes");
  float *A, *B, *C, *bias;
  int64_t biasLen = 0;
  if (!f32(env, a.argv[0], sA * (batch - 1) + M * K, &A, "a")) return nullptr;
  if (!f32(env, a.argv[1], sB * (batch - 1) + K * N, &B, "b")) return nullptr;
  if (!f32(env, a.argv[2], batch * M * N, &C, "out")) return nullptr;
  if (!f32(env, a.argv[11], 1, &bias, "bias", true, &biasLen)) return nullptr;
  if (bias != nullptr && biasLen != 1 && biasLen != N) return throw_error(env, "matmul: bias must have N or 1 elements");
  matmul(A, B, C, batch, M, N, K, tA, tB, sA, sB, bias, biasLen, (int)i64(env, a.argv[12]),
         (float)f64(env, a.argv[13]));
  return undefined(env);
}

// conv(mode, params[17], a, b, out, bias|null, act, alpha) -> undefined | error string
napi_value Conv(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, a, 8)) return nullptr;
  const int mode = (int)i64(env, a.argv[0]);
  int64_t v[17];
  if (!ints(env, a.argv[1], v, 17)) return nullptr;
  ConvParams p{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15], v[16]};
  for (int i = 0; i < 17; i++)
    if (v[i] < 0) return throw_error(env, "conv: negative size");
  const int64_t xs = p.n * p.h * p.w * p.cin, ws = p.kh * p.kw * p.cin * p.cout, ys = p.n * p.oh * p.ow * p.cout;
  const int64_t need[3][3] = {{xs, ws, ys}, {ys, ws, xs}, {xs, ys, ws}};
  if (mode < 0 || mode > 2) return throw_error(env, "conv: bad mode");
  float *A, *B, *O, *bias;
  if (!f32(env, a.argv[2], need[mode][0], &A, "a")) return nullptr;
  if (!f32(env, a.argv[3], need[mode][1], &B, "b")) return nullptr;
  if (!f32(env, a.argv[4], need[mode][2], &O, "out")) return nullptr;
  if (!f32(env, a.argv[5], p.cout, &bias, "bias", true)) return nullptr;
  std::string err = conv(mode, p, A, B, O, bias, (int)i64(env, a.argv[6]), (float)f64(env, a.argv[7]));
  if (err.empty()) return undefined(env);
  napi_value s;
  napi_create_string_utf8(env, err.c_str(), err.size(), &s);
  return s;
}

// pool(mode, params[14], a, b|null, out)
napi_value Pool(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, a, 5)) return nullptr;
  const int mode = (int)i64(env, a.argv[0]);
  int64_t v[14];
  if (!ints(env, a.argv[1], v, 14)) return nullptr;
  PoolParams p{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13]};
  for (int i = 0; i < 14; i++)
    if (v[i] < 0) return throw_error(env, "pool: negative size");
  if (p.dh != 1 || p.dw != 1 || p.sh < 1 || p.sw < 1) return throw_error(env, "pool: dilation must be 1");
  if (mode < 0 || mode > 3) return throw_error(env, "pool: bad mode");
  // the max gradient keeps argmax offsets within one image as int32
  if (p.h * p.w * p.c > INT32_MAX) return throw_error(env, "pool: an image of more than 2^31 - 1 values");
  const int64_t xs = p.n * p.h * p.w * p.c, ys = p.n * p.oh * p.ow * p.c;
  float *A, *B = nullptr, *O;
  if (mode <= 1) {
    if (!f32(env, a.argv[2], xs, &A, "x") || !f32(env, a.argv[4], ys, &O, "out")) return nullptr;
  } else {
    if (!f32(env, a.argv[2], ys, &A, "dy") || !f32(env, a.argv[4], xs, &O, "out")) return nullptr;
    if (mode == 2 && !f32(env, a.argv[3], xs, &B, "x")) return nullptr;
  }
  pool(mode, p, A, B, O);
  return undefined(env);
}

// batchNorm(x, mean, variance, offset|null, scale|null, y, C, eps)
napi_value BatchNorm(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, a, 8)) return nullptr;
  const int64_t C = i64(env, a.argv[6]);
  if (C < 1) return throw_error(env, "batchNorm: C must be >= 1");
  float *x, *m, *v, *o, *s, *y;
  int64_t xl = 0, ml = 0, vl = 0, ol = 0, sl = 0;
  if (!f32(env, a.argv[0], 0, &x, "x", false, &xl)) return nullptr;
  if (xl % C != 0) return throw_error(env, "batchNorm: x size not a multiple of C");
  if (!f32(env, a.argv[1], 1, &m, "mean", false, &ml) || !f32(env, a.argv[2], 1, &v, "variance", false, &vl) ||
      !f32(env, a.argv[3], 1, &o, "offset", true, &ol) || !f32(env, a.argv[4], 1, &s, "scale", true, &sl) ||
      !f32(env, a.argv[5], xl, &y, "y"))
    return nullptr;
  auto ok = [&](int64_t l, const float* p) { return p == nullptr || l == 1 || l == C; };
  if (!ok(ml, m) || !ok(vl, v) || !ok(ol, o) || !ok(sl, s))
    return throw_error(env, "batchNorm: parameters must have C or 1 elements");
  batch_norm(x, m, ml, v, vl, o, ol, s, sl, y, xl, C, (float)f64(env, a.argv[7]));
  return undefined(env);
}

// Reads the channel count C (argv[ci], >= 1) and x (argv[0]), whose size must be a positive
// multiple of C; throws naming `fn` otherwise.
bool channel_input(napi_env env, const Args& a, int ci, const char* fn, int64_t* C, float** x, int64_t* n) {
  *C = i64(env, a.argv[ci]);
  if (*C < 1) {
    throw_error(env, (std::string(fn) + ": C must be >= 1").c_str());
    return false;
  }
  if (!f32(env, a.argv[0], 0, x, "x", false, n)) return false;
  if (*n == 0 || *n % *C != 0) {
    throw_error(env, (std::string(fn) + ": size not a positive multiple of C").c_str());
    return false;
  }
  return true;
}

// batchNormGrad(dy, x, mean, variance, scale|null, dx, sumDy, sumDyXm, C, eps)
napi_value BatchNormGrad(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, a, 10)) return nullptr;
  int64_t C = 0, n = 0;
  float *dy, *x, *m, *v, *s, *dx, *sd, *sx;
  if (!channel_input(env, a, 8, "batchNormGrad", &C, &dy, &n)) return nullptr;
  if (!f32(env, a.argv[1], n, &x, "x") || !f32(env, a.argv[2], C, &m, "mean") ||
      !f32(env, a.argv[3], C, &v, "variance") || !f32(env, a.argv[4], C, &s, "scale", true) ||
      !f32(env, a.argv[5], n, &dx, "dx") || !f32(env, a.argv[6], C, &sd, "sumDy") ||
      !f32(env, a.argv[7], C, &sx, "sumDyXm"))
    return nullptr;
  batch_norm_grad(dy, x, m, v, s, dx, sd, sx, n, C, (float)f64(env, a.argv[9]));
  return undefined(env);
}

// moments(x, mean, variance, C): statistics over x's rows ([rows, C], channels innermost).
napi_value Moments(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, a, 4)) return nullptr;
  int64_t C = 0, n = 0;
  float *x, *m, *v;
  if (!channel_input(env, a, 3, "moments", &C, &x, &n)) return nullptr;
  if (!f32(env, a.argv[1], C, &m, "mean") || !f32(env, a.argv[2], C, &v, "variance")) return nullptr;
  moments(x, m, v, n / C, C);
  return undefined(env);
}

// momentsGrad(x, mean, dmean, dvar, dx, C)
napi_value MomentsGrad(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, a, 6)) return nullptr;
  int64_t C = 0, n = 0;
  float *x, *m, *dm, *dv, *dx;
  if (!channel_input(env, a, 5, "momentsGrad", &C, &x, &n)) return nullptr;
  if (!f32(env, a.argv[1], C, &m, "mean") || !f32(env, a.argv[2], C, &dm, "dmean") ||
      !f32(env, a.argv[3], C, &dv, "dvar") || !f32(env, a.argv[4], n, &dx, "dx"))
    return nullptr;
  moments_grad(x, m, dm, dv, dx, n / C, C);
  return undefined(env);
}

// binary(op, a, b, out, total, modeA, modeB, innerA, innerB)
napi_value Binary(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, a, 9)) return nullptr;
  const int op = (int)i64(env, a.argv[0]);
  const int64_t total = i64(env, a.argv[4]);
  const int mA = (int)i64(env, a.argv[5]), mB = (int)i64(env, a.argv[6]);
  const int64_t iA = i64(env, a.argv[7]), iB = i64(env, a.argv[8]);
  if (op < 0 || op > 9 || total < 0 || mA < 0 || mA > 3 || mB < 0 || mB > 3 || iA < 1 || iB < 1)
    return throw_error(env, "binary: bad arguments");
  auto need = [&](int mode, int64_t inner) -> int64_t {
    if (total == 0) return 0;
    switch (mode) {
      case 0: return total;
      case 1: return 1;
      case 2: return inner;
      default: return (total + inner - 1) / inner;
    }
  };
  if ((mA >= 2 && total % iA != 0) || (mB >= 2 && total % iB != 0)) return throw_error(env, "binary: inner must divide total");
  float *A, *B, *O;
  if (!f32(env, a.argv[1], need(mA, iA), &A, "a") || !f32(env, a.argv[2], need(mB, iB), &B, "b") ||
      !f32(env, a.argv[3], total, &O, "out"))
    return nullptr;
  binary(op, A, B, O, total, mA, mB, iA, iB);
  return undefined(env);
}

// unary(op, x, out, alpha)
napi_value Unary(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, a, 4)) return nullptr;
  const int op = (int)i64(env, a.argv[0]);
  if (op < 0 || op > 11) return throw_error(env, "unary: bad op");
  float *X, *O;
  int64_t n = 0;
  if (!f32(env, a.argv[1], 0, &X, "x", false, &n) || !f32(env, a.argv[2], n, &O, "out")) return nullptr;
  unary(op, X, O, n, (float)f64(env, a.argv[3]));
  return undefined(env);
}

// reduceSum(x, out, outer, inner, leading, scale)
napi_value ReduceSum(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, a, 6)) return nullptr;
  const int64_t outer = i64(env, a.argv[2]), inner = i64(env, a.argv[3]);
  const bool leading = boolean(env, a.argv[4]);
  if (outer < 1 || inner < 1) return throw_error(env, "reduceSum: bad sizes");
  float *X, *O;
  if (!f32(env, a.argv[0], outer * inner, &X, "x") || !f32(env, a.argv[1], leading ? inner : outer, &O, "out"))
    return nullptr;
  reduce_sum(X, O, outer, inner, leading, (float)f64(env, a.argv[5]));
  return undefined(env);
}

// adam(value, m, v, g, outValue, outM, outV, [b1, 1-b1, b2, 1-b2, 1-acc1, 1-acc2, eps, -lr]); outputs either all
// distinct from the inputs or (outValue, outM, outV) = (value, m, v): then the update is written in place.
napi_value Adam(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, a, 8)) return nullptr;
  float *val, *m, *v, *g, *ov, *om, *ovv;
  int64_t n = 0;
  if (!f32(env, a.argv[0], 0, &val, "value", false, &n)) return nullptr;
  if (!f32(env, a.argv[1], n, &m, "m") || !f32(env, a.argv[2], n, &v, "v") || !f32(env, a.argv[3], n, &g, "g") ||
      !f32(env, a.argv[4], n, &ov, "outValue") || !f32(env, a.argv[5], n, &om, "outM") || !f32(env, a.argv[6], n, &ovv, "outV"))
    return nullptr;
  float* c;
  if (!f32(env, a.argv[7], 8, &c, "constants")) return nullptr;
  if (ov == val && om == m && ovv == v) {
    adam_inplace(val, m, v, g, n, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]);
    return undefined(env);
  }
  const float* ins[] = {val, m, v, g};
  for (const float* in : ins)
    if (in == ov || in == om || in == ovv) return throw_error(env, "adam: outputs must be all distinct from the inputs or all in place");
  adam(val, m, v, g, ov, om, ovv, n, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]);
  return undefined(env);
}

// Whether [a, a + n) and [b, b + n) share an element.
static bool overlaps(const float* a, const float* b, int64_t n) { return a < b + n && b < a + n; }

// sgd(value, acc, g, outValue, outAcc, [momentum, −lr, mode]): mode 0 plain SGD (acc and outAcc null),
// 1 momentum, 2 Nesterov momentum. An output is either its own input (written in place) or shares no
// element with any input or with the other output.
napi_value Sgd(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, a, 6)) return nullptr;
  float *val, *acc, *g, *ov, *oa, *c;
  int64_t n = 0;
  if (!f32(env, a.argv[0], 0, &val, "value", false, &n) || !f32(env, a.argv[5], 3, &c, "constants")) return nullptr;
  const int mode = (int)c[2];
  if (!(c[2] == 0.f || c[2] == 1.f || c[2] == 2.f)) return throw_error(env, "sgd: mode (constants[2]) must be 0, 1 or 2");
  const bool plain = mode == 0;
  if (!f32(env, a.argv[1], n, &acc, "acc", plain) || !f32(env, a.argv[2], n, &g, "g") ||
      !f32(env, a.argv[3], n, &ov, "outValue") || !f32(env, a.argv[4], n, &oa, "outAcc", plain))
    return nullptr;
  if (plain && (acc != nullptr || oa != nullptr)) return throw_error(env, "sgd: plain SGD (mode 0) takes no acc / outAcc (pass null)");
  const float* ins[] = {val, acc, g};
  for (const float* in : ins) {
    if (in == nullptr) continue;
    if (ov != val && overlaps(ov, in, n)) return throw_error(env, "sgd: outValue must be value itself or share no element with the inputs");
    if (oa != nullptr && oa != acc && overlaps(oa, in, n))
      return throw_error(env, "sgd: outAcc must be acc itself or share no element with the inputs");
  }
  if (oa != nullptr && overlaps(ov, oa, n)) return throw_error(env, "sgd: outValue and outAcc must not overlap");
  sgd(val, acc, g, ov, oa, n, c[0], c[1], mode);
  return undefined(env);
}

napi_value SetThreads(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, a, 1)) return nullptr;
  set_num_threads((int)i64(env, a.argv[0]));
  return undefined(env);
}

napi_value GetThreads(napi_env env, napi_callback_info) {
  napi_value r;
  napi_create_int32(env, num_threads(), &r);
  return r;
}

napi_value SetGemm(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, a, 1)) return nullptr;
  const int impl = (int)i64(env, a.argv[0]);
  if (impl < 0 || impl > 3) return throw_error(env, "setGemm: impl must be 0-3");
  set_gemm_impl(impl);
  return undefined(env);
}

void set_prop(napi_env env, napi_value obj, const char* k, napi_value v) { napi_set_named_property(env, obj, k, v); }
napi_value num(napi_env env, double d) {
  napi_value r;
  napi_create_double(env, d, &r);
  return r;
}
napi_value str(napi_env env, const std::string& s) {
  napi_value r;
  napi_create_string_utf8(env, s.c_str(), s.size(), &r);
  return r;
}

napi_value Stats(napi_env env, napi_callback_info) {
  napi_value o;
  napi_create_object(env, &o);
  set_prop(env, o, "bytes", num(env, (double)allocated_bytes()));
  set_prop(env, o, "convCacheEntries", num(env, (double)conv_cache_size()));
  return o;
}

napi_value ClearCache(napi_env env, napi_callback_info) {
  conv_cache_clear();
  return undefined(env);
}

// transpose(x, out, shape, perm): out = x with its axes permuted (output axis d is x's axis perm[d]).
napi_value Transpose(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, a, 4)) return nullptr;
  uint32_t rank = 0, permLen = 0;
  napi_get_array_length(env, a.argv[2], &rank);
  napi_get_array_length(env, a.argv[3], &permLen);
  if (rank < 1 || rank > (uint32_t)kMaxTransposeRank || permLen != rank)
    return throw_error(env, "transpose: shape and perm must have the same length, 1 to 8");
  int64_t shape[kMaxTransposeRank], perm[kMaxTransposeRank];
  if (!ints(env, a.argv[2], shape, rank) || !ints(env, a.argv[3], perm, rank)) return nullptr;
  bool seen[kMaxTransposeRank] = {false};
  int64_t total = 1;
  for (uint32_t d = 0; d < rank; d++) {
    if (shape[d] < 0) return throw_error(env, "transpose: negative dimension");
    if (perm[d] < 0 || perm[d] >= (int64_t)rank || seen[perm[d]]) return throw_error(env, "transpose: perm is not a permutation");
    seen[perm[d]] = true;
    total *= shape[d];
  }
  float *X, *O;
  if (!f32(env, a.argv[0], total, &X, "x") || !f32(env, a.argv[1], total, &O, "out")) return nullptr;
  if (total > 0 && X == O) return throw_error(env, "transpose: out must not be x");
  transpose(X, O, (int)rank, shape, perm);
  return undefined(env);
}

// Asks the kernel to back the whole 2 MB pages inside a large Float32Array with transparent huge pages
// (madvise MADV_HUGEPAGE; Linux with THP in "madvise" or "always" mode). Meant for an array not yet
// written: V8 backs a large one with a fresh mmap, whose first write page-faults every 4 KB page, and
// on the build machine those faults cost 3.6 ms per MB (a 125 MB buffer: 370 ms to fill the first time,
// 16 ms with huge pages). Values are untouched. Returns the bytes advised (0 below 2 MB or on failure).
napi_value AdviseHugePages(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, a, 1)) return nullptr;
  float* x;
  int64_t n = 0;
  if (!f32(env, a.argv[0], 0, &x, "x", false, &n)) return nullptr;
  double advised = 0;
#ifdef MADV_HUGEPAGE
  const uintptr_t huge = 2u << 20;
  const uintptr_t lo = (reinterpret_cast<uintptr_t>(x) + huge - 1) & ~(huge - 1);
  const uintptr_t hi = (reinterpret_cast<uintptr_t>(x) + (uintptr_t)n * sizeof(float)) & ~(huge - 1);
  if (hi > lo && madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE) == 0) advised = (double)(hi - lo);
#endif
  napi_value r;
  napi_create_double(env, advised, &r);
  return r;
}

bool g_mallopt = false;

// SHA-256 of the sources this build was compiled from (native/sources-hash.mjs, through binding.gyp):
// src/addon.ts refuses a build whose sources differ from the package's.
#define TRELLIS_STR2(x) #x
#define TRELLIS_STR(x) TRELLIS_STR2(x)
#ifdef TRELLIS_SOURCES_HASH
const char* const kSourcesHash = TRELLIS_STR(TRELLIS_SOURCES_HASH);
#else
const char* const kSourcesHash = "";
#endif

napi_value Versions(napi_env env, napi_callback_info) {
  napi_value o;
  napi_create_object(env, &o);
  const dnnl_version_t* v = dnnl_version();
  set_prop(env, o, "dnnl", str(env, std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch)));
  set_prop(env, o, "openblas", str(env, openblas_get_config()));
  set_prop(env, o, "openblasCore", str(env, openblas_get_corename()));
  set_prop(env, o, "gemm", str(env, gemm_impl() == 1 ? "onednn" : gemm_impl() == 2 ? "openblas-threads" : gemm_impl() == 3 ? "auto" : "openblas"));
  set_prop(env, o, "mallocTuned", str(env, g_mallopt ? "yes" : "no"));
  set_prop(env, o, "sources", str(env, kSourcesHash));
  return o;
}

// Tensor outputs are fresh Float32Arrays (V8 backs them with calloc). glibc serves blocks over
// M_MMAP_THRESHOLD with a fresh mmap, so every activation-sized output page-faults on first write
// and is unmapped on free: on this machine that cost more than the arithmetic (about 4 ns per
// element). Raising the threshold to its maximum (32 MB) and keeping freed memory in the heap
// makes the allocations reuse memory. TRELLIS_NATIVE_MALLOPT=0 leaves malloc alone.
void tune_malloc() {
  const char* v = std::getenv("TRELLIS_NATIVE_MALLOPT");
  if (v != nullptr && std::strcmp(v, "0") == 0) return;
  g_mallopt = mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024) == 1;
  mallopt(M_TRIM_THRESHOLD, 512 * 1024 * 1024);
}

napi_value Init(napi_env env, napi_value exports) {
  tune_malloc();
  unsigned hc = std::thread::hardware_concurrency();
  set_num_threads(hc == 0 ? 1 : (int)hc);
  const struct {
    const char* name;
    napi_callback cb;
  } fns[] = {{"matmul", Matmul},         {"conv", Conv},         {"pool", Pool},         {"batchNorm", BatchNorm},
             {"batchNormGrad", BatchNormGrad}, {"moments", Moments}, {"momentsGrad", MomentsGrad}, {"setThreads", SetThreads}, {"getThreads", GetThreads},
             {"setGemm", SetGemm}, {"binary", Binary}, {"unary", Unary}, {"reduceSum", ReduceSum}, {"adam", Adam}, {"sgd", Sgd}, {"transpose", Transpose},       {"stats", Stats},       {"clearCache", ClearCache}, {"versions", Versions},
             {"adviseHugePages", AdviseHugePages}};
  for (const auto& f : fns) {
    napi_value fn;
    napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.cb, nullptr, &fn);
    napi_set_named_property(env, exports, f.name, fn);
  }
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
