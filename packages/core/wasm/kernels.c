/*
 * Trellis SIMD kernels for the wasm backend: a strided batched GEMM and a batched 2-D transpose.
 *
 * Built by ./build.sh with Debian's clang + lld (wasm32, SIMD128, no libc) into kernels.wasm,
 * which core embeds (src/backend/wasmSimdBinary.ts). The module imports the memory of
 * tfjs-backend-wasm's own module and works on its tensors in place: every pointer below is a byte
 * offset into that heap. The functions use no linear-memory stack (checked by the build), so the
 * module never writes anywhere but the buffers it is given.
 *
 * Why: tfjs-backend-wasm runs a matmul on XNNPACK only when neither operand is transposed, and
 * XNNPACK re-packs the weight operand on every call (weights change every training step). Here the
 * right-hand operand is packed panel by panel into a small scratch buffer (any strides: plain,
 * transposed, broadcast over the batch), so transposed operands cost nothing extra.
 */
#include <wasm_simd128.h>

typedef unsigned int u32;

void trellis_transpose(const float *src, float *dst, u32 batch, u32 rows, u32 cols);

#define MR 4
#define NR 8

/* Packs columns j0..j0+nr of B (element (k, j) at b[k*sk + j*sn]) into pb[k*NR + c], zero-padded. */
static void pack_panel(const float *b, u32 sk, u32 sn, u32 K, u32 j0, u32 nr, float *pb) {
  const float *base = b + j0 * sn;
  if (sn == 1 && nr == NR) {
    for (u32 k = 0; k < K; k++) {
      const float *row = base + k * sk;
      wasm_v128_store(pb + k * NR, wasm_v128_load(row));
      wasm_v128_store(pb + k * NR + 4, wasm_v128_load(row + 4));
    }
    return;
  }
  if (sk == 1) {
    /* Transposed operand: column j of B is a contiguous row. */
    for (u32 c = 0; c < NR; c++) {
      if (c < nr) {
        const float *col = base + c * sn;
        for (u32 k = 0; k < K; k++) pb[k * NR + c] = col[k];
      } else {
        for (u32 k = 0; k < K; k++) pb[k * NR + c] = 0.0f;
      }
    }
    return;
  }
  for (u32 k = 0; k < K; k++) {
    const float *row = base + k * sk;
    for (u32 c = 0; c < NR; c++) pb[k * NR + c] = c < nr ? row[c * sn] : 0.0f;
  }
}

/* The epilogue of a tile row: lo/hi + bias[j0..j0+8] (when bias != 0), then max(0, .) when relu. */
typedef struct {
  v128_t b0, b1;
  int relu;
  int accumulate; /* add to what C holds (a later block of K) */
} epilogue;

static inline v128_t finish(v128_t x, v128_t b, int relu) {
  x = wasm_f32x4_add(x, b);
  return relu ? wasm_f32x4_max(x, wasm_f32x4_splat(0.0f)) : x;
}

/* Stores a row of NR results (only the first nr columns). */
static inline void store_row(float *c, v128_t lo, v128_t hi, u32 nr, const epilogue *ep) {
  if (ep->accumulate) {
    if (nr == NR) {
      lo = wasm_f32x4_add(lo, wasm_v128_load(c));
      hi = wasm_f32x4_add(hi, wasm_v128_load(c + 4));
    } else {
      lo = wasm_f32x4_add(lo, wasm_f32x4_make(c[0], nr > 1 ? c[1] : 0.0f, nr > 2 ? c[2] : 0.0f, nr > 3 ? c[3] : 0.0f));
      hi = wasm_f32x4_add(hi, wasm_f32x4_make(nr > 4 ? c[4] : 0.0f, nr > 5 ? c[5] : 0.0f, nr > 6 ? c[6] : 0.0f, 0.0f));
    }
  }
  lo = finish(lo, ep->b0, ep->relu);
  hi = finish(hi, ep->b1, ep->relu);
  if (nr == NR) {
    wasm_v128_store(c, lo);
    wasm_v128_store(c + 4, hi);
    return;
  }
  /* A partial panel (N tail): lane by lane, no stack buffer. */
  if (nr > 0) c[0] = wasm_f32x4_extract_lane(lo, 0);
  if (nr > 1) c[1] = wasm_f32x4_extract_lane(lo, 1);
  if (nr > 2) c[2] = wasm_f32x4_extract_lane(lo, 2);
  if (nr > 3) c[3] = wasm_f32x4_extract_lane(lo, 3);
  if (nr > 4) c[4] = wasm_f32x4_extract_lane(hi, 0);
  if (nr > 5) c[5] = wasm_f32x4_extract_lane(hi, 1);
  if (nr > 6) c[6] = wasm_f32x4_extract_lane(hi, 2);
}

/* C[4 x nr] = A[4 x K] * panel, A element (r, k) at a[r*si + k*sk]. */
static void kernel_4x8(u32 K, const float *a, u32 si, u32 sk, const float *pb, float *c, u32 ldc, u32 nr, const epilogue *ep) {
  v128_t c00 = wasm_f32x4_splat(0.0f), c01 = c00, c10 = c00, c11 = c00;
  v128_t c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  const float *a0 = a, *a1 = a + si, *a2 = a + 2 * si, *a3 = a + 3 * si;
  for (u32 k = 0; k < K; k++) {
    const v128_t b0 = wasm_v128_load(pb);
    const v128_t b1 = wasm_v128_load(pb + 4);
    pb += NR;
    v128_t x = wasm_v128_load32_splat(a0);
    c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(x, b0));
    c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(x, b1));
    x = wasm_v128_load32_splat(a1);
    c10 = wasm_f32x4_add(c10, wasm_f32x4_mul(x, b0));
    c11 = wasm_f32x4_add(c11, wasm_f32x4_mul(x, b1));
    x = wasm_v128_load32_splat(a2);
    c20 = wasm_f32x4_add(c20, wasm_f32x4_mul(x, b0));
    c21 = wasm_f32x4_add(c21, wasm_f32x4_mul(x, b1));
    x = wasm_v128_load32_splat(a3);
    c30 = wasm_f32x4_add(c30, wasm_f32x4_mul(x, b0));
    c31 = wasm_f32x4_add(c31, wasm_f32x4_mul(x, b1));
    a0 += sk; a1 += sk; a2 += sk; a3 += sk;
  }
  store_row(c, c00, c01, nr, ep);
  store_row(c + ldc, c10, c11, nr, ep);
  store_row(c + 2 * ldc, c20, c21, nr, ep);
  store_row(c + 3 * ldc, c30, c31, nr, ep);
}

/* One row: C[1 x nr] = A[1 x K] * panel. */
static void kernel_1x8(u32 K, const float *a, u32 sk, const float *pb, float *c, u32 nr, const epilogue *ep) {
  v128_t c0 = wasm_f32x4_splat(0.0f), c1 = c0;
  for (u32 k = 0; k < K; k++) {
    const v128_t x = wasm_v128_load32_splat(a);
    c0 = wasm_f32x4_add(c0, wasm_f32x4_mul(x, wasm_v128_load(pb)));
    c1 = wasm_f32x4_add(c1, wasm_f32x4_mul(x, wasm_v128_load(pb + 4)));
    pb += NR;
    a += sk;
  }
  store_row(c, c0, c1, nr, ep);
}

/* Rows of K multiplied per block: the packed panel (KC x NR floats, 8 KiB) stays in L1. */
#define KC 256

/*
 * C (M x N, row stride ldc) = [C +] A * B [+ bias, relu], A element (i, k) at a[i*si + k*sk] with
 * sk == 1 or si == 1 handled by the caller, B element (k, j) at b[k*sbk + j*sbn]. `pb` holds
 * KC*NR floats. bias and relu apply once, with the last block of K.
 */
static void gemm_blocked(u32 M, u32 N, u32 K, const float *a, u32 si, u32 sk, const float *b, u32 sbk, u32 sbn,
                         float *c, u32 ldc, const float *bias, u32 relu, int accumulate, float *pb) {
  for (u32 k0 = 0; k0 < K || (K == 0 && k0 == 0); k0 += KC) {
    const u32 kc = K - k0 < KC ? K - k0 : KC;
    const int last = k0 + KC >= K;
    for (u32 j0 = 0; j0 < N; j0 += NR) {
      const u32 nr = N - j0 < NR ? N - j0 : NR;
      pack_panel(b + k0 * sbk, sbk, sbn, kc, j0, nr, pb);
      epilogue ep;
      ep.relu = last && relu != 0;
      ep.accumulate = accumulate || k0 > 0;
      ep.b0 = ep.b1 = wasm_f32x4_splat(0.0f);
      if (bias && last) {
        /* Bias of the panel's columns (zero beyond N). */
        ep.b0 = wasm_f32x4_make(bias[j0], nr > 1 ? bias[j0 + 1] : 0.0f, nr > 2 ? bias[j0 + 2] : 0.0f, nr > 3 ? bias[j0 + 3] : 0.0f);
        ep.b1 = wasm_f32x4_make(nr > 4 ? bias[j0 + 4] : 0.0f, nr > 5 ? bias[j0 + 5] : 0.0f, nr > 6 ? bias[j0 + 6] : 0.0f, nr > 7 ? bias[j0 + 7] : 0.0f);
      }
      const float *ak = a + k0 * sk;
      u32 i = 0;
      for (; i + MR <= M; i += MR) kernel_4x8(kc, ak + i * si, si, sk, pb, c + i * ldc + j0, ldc, nr, &ep);
      for (; i < M; i++) kernel_1x8(kc, ak + i * si, sk, pb, c + i * ldc + j0, nr, &ep);
    }
    if (K == 0) break;
  }
}

/*
 * C[b] = A[b] * B[b] for b < batch, all float32, strides in elements:
 *   A[b] element (i, k) at a[b*sab + i*sai + k*sak]   (M x K)
 *   B[b] element (k, j) at bm[b*sbb + k*sbk + j*sbn]  (K x N)
 *   C[b] element (i, j) at c[b*scb + i*ldc + j]        (M x N)
 * then + bias[j] (bias != 0: N floats) and max(0, .) (relu != 0).
 * A stride of 0 broadcasts an operand over the batch. `scratch` holds KC*NR floats, plus M*K when
 * A is read transposed (sak != 1, sai == 1).
 */
__attribute__((export_name("trellis_gemm")))
void trellis_gemm(u32 batch, u32 M, u32 N, u32 K,
                  const float *a, u32 sab, u32 sai, u32 sak,
                  const float *bm, u32 sbb, u32 sbk, u32 sbn,
                  float *c, u32 scb, u32 ldc, const float *bias, u32 relu, float *scratch) {
  /* A left operand read down its columns (a transposed A) strides across pages on every k: copy it
     to row-major first (scratch + KC*NR), a fast transpose, then multiply as usual. */
  const int transposed_a = sak != 1 && sai == 1 && M > 1;
  float *at = scratch + KC * NR;
  for (u32 bt = 0; bt < batch; bt++) {
    const float *ab = a + bt * sab;
    u32 si = sai, sk = sak;
    if (transposed_a) {
      trellis_transpose(ab, at, 1, K, M);
      ab = at;
      si = K;
      sk = 1;
    }
    gemm_blocked(M, N, K, ab, si, sk, bm + bt * sbb, sbk, sbn, c + bt * scb, ldc, bias, relu, 0, scratch);
  }
}

/*
 * The filter gradient of a 2-D convolution (NHWC input x, dy [N, OH, OW, Cout]):
 *   dw[kh, kw, ci, co] = sum over n, oh, ow of x[n, oh*sh + kh*dh - pt, ow*sw + kw*dw - pl, ci] * dy[n, oh, ow, co]
 * computed as dw^T [Cout, KH*KW*Cin] = sum over chunks of KC output positions of
 * dy_chunk^T [Cout, KC] * patches_chunk [KC, KH*KW*Cin] (im2col of the chunk) on the GEMM, then
 * transposed. scratch holds Cout*P + KC*P + Cout*KC + KC*NR floats, P = KH*KW*Cin.
 */
__attribute__((export_name("trellis_conv2d_filter_grad")))
void trellis_conv2d_filter_grad(const float *x, const float *dy, float *dw, u32 n, u32 h, u32 w, u32 cin,
                                u32 oh, u32 ow, u32 cout, u32 kh, u32 kw, u32 sh, u32 sw, u32 dh, u32 dwl,
                                u32 pt, u32 pl, float *scratch) {
  const u32 P = kh * kw * cin;
  const u32 positions = n * oh * ow;
  float *acc = scratch;                 /* [cout, P] */
  float *patches = acc + cout * P;      /* [KC, P] */
  float *dyt = patches + KC * P;        /* [cout, KC] */
  float *pb = dyt + cout * KC;          /* [KC, NR] */
  for (u32 i = 0; i < cout * P; i++) acc[i] = 0.0f;
  for (u32 p0 = 0; p0 < positions; p0 += KC) {
    const u32 q = positions - p0 < KC ? positions - p0 : KC;
    for (u32 t = 0; t < q; t++) {
      const u32 pos = p0 + t;
      const u32 b = pos / (oh * ow), r = pos % (oh * ow), y = r / ow, xo = r % ow;
      float *row = patches + t * P;
      for (u32 a = 0; a < kh; a++) {
        const int iy = (int)(y * sh + a * dh) - (int)pt;
        for (u32 e = 0; e < kw; e++) {
          const int ix = (int)(xo * sw + e * dwl) - (int)pl;
          float *dst = row + (a * kw + e) * cin;
          if (iy < 0 || iy >= (int)h || ix < 0 || ix >= (int)w) {
            for (u32 ci = 0; ci < cin; ci++) dst[ci] = 0.0f;
          } else {
            const float *src = x + (((u32)b * h + (u32)iy) * w + (u32)ix) * cin;
            for (u32 ci = 0; ci < cin; ci++) dst[ci] = src[ci];
          }
        }
      }
    }
    trellis_transpose(dy + p0 * cout, dyt, 1, q, cout);
    gemm_blocked(cout, P, q, dyt, q, 1, patches, P, 1, acc, P, 0, 0, 1, pb);
  }
  trellis_transpose(acc, dw, 1, cout, P);
}

/* dst[b] = transpose(src[b]) for b < batch; src[b] is rows x cols, dst[b] is cols x rows. */
__attribute__((export_name("trellis_transpose")))
void trellis_transpose(const float *src, float *dst, u32 batch, u32 rows, u32 cols) {
  const u32 size = rows * cols;
  for (u32 bt = 0; bt < batch; bt++) {
    const float *s = src + bt * size;
    float *d = dst + bt * size;
    const u32 r4 = rows & ~3u, c4 = cols & ~3u;
    for (u32 i0 = 0; i0 < r4; i0 += 32) {
      const u32 i1 = i0 + 32 < r4 ? i0 + 32 : r4;
      for (u32 j0 = 0; j0 < c4; j0 += 32) {
        const u32 j1 = j0 + 32 < c4 ? j0 + 32 : c4;
        for (u32 i = i0; i < i1; i += 4) {
          for (u32 j = j0; j < j1; j += 4) {
            const v128_t x0 = wasm_v128_load(s + i * cols + j);
            const v128_t x1 = wasm_v128_load(s + (i + 1) * cols + j);
            const v128_t x2 = wasm_v128_load(s + (i + 2) * cols + j);
            const v128_t x3 = wasm_v128_load(s + (i + 3) * cols + j);
            const v128_t t0 = wasm_i32x4_shuffle(x0, x1, 0, 4, 1, 5);
            const v128_t t1 = wasm_i32x4_shuffle(x2, x3, 0, 4, 1, 5);
            const v128_t t2 = wasm_i32x4_shuffle(x0, x1, 2, 6, 3, 7);
            const v128_t t3 = wasm_i32x4_shuffle(x2, x3, 2, 6, 3, 7);
            wasm_v128_store(d + j * rows + i, wasm_i32x4_shuffle(t0, t1, 0, 1, 4, 5));
            wasm_v128_store(d + (j + 1) * rows + i, wasm_i32x4_shuffle(t0, t1, 2, 3, 6, 7));
            wasm_v128_store(d + (j + 2) * rows + i, wasm_i32x4_shuffle(t2, t3, 0, 1, 4, 5));
            wasm_v128_store(d + (j + 3) * rows + i, wasm_i32x4_shuffle(t2, t3, 2, 3, 6, 7));
          }
        }
      }
    }
    /* Edges: the last cols % 4 columns of every row, and the last rows % 4 rows. */
    for (u32 i = 0; i < r4; i++)
      for (u32 j = c4; j < cols; j++) d[j * rows + i] = s[i * cols + j];
    for (u32 i = r4; i < rows; i++)
      for (u32 j = 0; j < cols; j++) d[j * rows + i] = s[i * cols + j];
  }
}

/*
 * Adam over n floats, in the order tfjs's AdamOptimizer computes it op by op (so the results are
 * bit-identical):  m' = m·β1 + g·(1−β1);  v' = v·β2 + g²·(1−β2);
 *                  value' = (m' / (1−β1^t)) / (sqrt(v' / (1−β2^t)) + ε) · (−lr) + value.
 * c holds [β1, 1−β1, β2, 1−β2, 1−β1^t, 1−β2^t, ε, −lr]; outputs may not alias inputs.
 */
__attribute__((export_name("trellis_adam")))
void trellis_adam(const float *value, const float *m, const float *v, const float *g,
                  float *out_value, float *out_m, float *out_v, u32 n, const float *c) {
  const v128_t b1 = wasm_v128_load32_splat(c), omb1 = wasm_v128_load32_splat(c + 1);
  const v128_t b2 = wasm_v128_load32_splat(c + 2), omb2 = wasm_v128_load32_splat(c + 3);
  const v128_t oma1 = wasm_v128_load32_splat(c + 4), oma2 = wasm_v128_load32_splat(c + 5);
  const v128_t eps = wasm_v128_load32_splat(c + 6), neg_lr = wasm_v128_load32_splat(c + 7);
  u32 i = 0;
  for (; i + 4 <= n; i += 4) {
    const v128_t gi = wasm_v128_load(g + i);
    const v128_t nm = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(m + i), b1), wasm_f32x4_mul(gi, omb1));
    const v128_t nv = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(v + i), b2), wasm_f32x4_mul(wasm_f32x4_mul(gi, gi), omb2));
    const v128_t den = wasm_f32x4_add(wasm_f32x4_sqrt(wasm_f32x4_div(nv, oma2)), eps);
    const v128_t step = wasm_f32x4_mul(wasm_f32x4_div(wasm_f32x4_div(nm, oma1), den), neg_lr);
    wasm_v128_store(out_value + i, wasm_f32x4_add(step, wasm_v128_load(value + i)));
    wasm_v128_store(out_m + i, nm);
    wasm_v128_store(out_v + i, nv);
  }
  for (; i < n; i++) {
    const float gi = g[i];
    const float nm = m[i] * c[0] + gi * c[1];
    const float nv = v[i] * c[2] + (gi * gi) * c[3];
    out_value[i] = (nm / c[4]) / (__builtin_sqrtf(nv / c[5]) + c[6]) * c[7] + value[i];
    out_m[i] = nm;
    out_v[i] = nv;
  }
}

/*
 * SGD over n floats in the order tfjs's SGDOptimizer / MomentumOptimizer compute it op by op (each
 * product and sum rounded on its own; wasm has no fused multiply-add, so nothing is contracted):
 *   mode 0 (plain):    value' = neg_lr·g + value
 *   mode 1 (momentum): acc' = momentum·acc + g;  value' = neg_lr·acc' + value
 *   mode 2 (Nesterov): acc' as in mode 1;        value' = neg_lr·(g + acc'·momentum) + value
 * acc / out_acc are unused in mode 0; outputs may not alias inputs.
 */
__attribute__((export_name("trellis_sgd")))
void trellis_sgd(const float *value, const float *acc, const float *g, float *out_value, float *out_acc, u32 n,
                 float momentum, float neg_lr, u32 mode) {
  const v128_t mom = wasm_f32x4_splat(momentum), lr = wasm_f32x4_splat(neg_lr);
  u32 i = 0;
  if (mode == 0) {
    for (; i + 4 <= n; i += 4)
      wasm_v128_store(out_value + i, wasm_f32x4_add(wasm_f32x4_mul(lr, wasm_v128_load(g + i)), wasm_v128_load(value + i)));
    for (; i < n; i++) out_value[i] = neg_lr * g[i] + value[i];
    return;
  }
  for (; i + 4 <= n; i += 4) {
    const v128_t gi = wasm_v128_load(g + i);
    const v128_t na = wasm_f32x4_add(wasm_f32x4_mul(mom, wasm_v128_load(acc + i)), gi);
    const v128_t step = mode == 2 ? wasm_f32x4_add(gi, wasm_f32x4_mul(na, mom)) : na;
    wasm_v128_store(out_acc + i, na);
    wasm_v128_store(out_value + i, wasm_f32x4_add(wasm_f32x4_mul(lr, step), wasm_v128_load(value + i)));
  }
  for (; i < n; i++) {
    const float na = momentum * acc[i] + g[i];
    const float step = mode == 2 ? g[i] + na * momentum : na;
    out_acc[i] = na;
    out_value[i] = neg_lr * step + value[i];
  }
}

/*
 * Batch normalisation over rows of C channels (x is rows x C):
 *   out[r, c] = offset[c] + (x[r, c] - mean[c]) * (scale[c] / sqrt(variance[c] + eps))
 * offset / scale may be 0 (0 and 1). inv holds C floats of scratch.
 */
__attribute__((export_name("trellis_batch_norm")))
void trellis_batch_norm(const float *x, const float *mean, const float *variance, const float *offset,
                        const float *scale, float *out, u32 rows, u32 C, float eps, float *inv) {
  for (u32 c = 0; c < C; c++) inv[c] = (scale ? scale[c] : 1.0f) / __builtin_sqrtf(variance[c] + eps);
  const u32 c4 = C & ~3u;
  for (u32 r = 0; r < rows; r++) {
    const float *xr = x + r * C;
    float *o = out + r * C;
    u32 c = 0;
    for (; c < c4; c += 4) {
      v128_t y = wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(xr + c), wasm_v128_load(mean + c)), wasm_v128_load(inv + c));
      if (offset) y = wasm_f32x4_add(y, wasm_v128_load(offset + c));
      wasm_v128_store(o + c, y);
    }
    for (; c < C; c++) o[c] = (xr[c] - mean[c]) * inv[c] + (offset ? offset[c] : 0.0f);
  }
}

/*
 * Per-channel batch statistics of x (rows x C, channels innermost): mean and (biased) variance,
 * each a sum in float over blocks of 256 rows folded into double (acc: C doubles, part: C floats
 * of scratch), then divided by rows. The variance sums (x - mean)^2 with the float mean.
 *
 * The loops over doubles stay scalar: clang vectorises them with f64x2.promote_low_f32x4 of a
 * v128.load64_zero, which Node 20's V8 (11.3) computes wrongly once TurboFan compiles the function
 * (the lanes of the last pair came out as zeros; Liftoff gave the right values).
 */
static void fold_block(double *acc, float *part, u32 C) {
#pragma clang loop vectorize(disable) interleave(disable)
  for (u32 k = 0; k < C; k++) {
    acc[k] += part[k];
    part[k] = 0.0f;
  }
}

static void zero_sums(double *acc, float *part, u32 C) {
#pragma clang loop vectorize(disable) interleave(disable)
  for (u32 c = 0; c < C; c++) {
    acc[c] = 0.0;
    part[c] = 0.0f;
  }
}

/* Per-channel sums over rows of x[r, c], or of (x[r, c] - center[c])^2 when center is given. */
static void channel_sums(const float *x, const float *center, u32 rows, u32 C, double *acc, float *part) {
  const u32 c4 = C & ~3u;
  zero_sums(acc, part, C);
  u32 in_block = 0;
  for (u32 r = 0; r < rows; r++) {
    const float *xr = x + r * C;
    u32 c = 0;
    if (center) {
      for (; c < c4; c += 4) {
        const v128_t d = wasm_f32x4_sub(wasm_v128_load(xr + c), wasm_v128_load(center + c));
        wasm_v128_store(part + c, wasm_f32x4_add(wasm_v128_load(part + c), wasm_f32x4_mul(d, d)));
      }
      for (; c < C; c++) {
        const float d = xr[c] - center[c];
        part[c] += d * d;
      }
    } else {
      for (; c < c4; c += 4) wasm_v128_store(part + c, wasm_f32x4_add(wasm_v128_load(part + c), wasm_v128_load(xr + c)));
      for (; c < C; c++) part[c] += xr[c];
    }
    if (++in_block == 256 || r + 1 == rows) {
      fold_block(acc, part, C);
      in_block = 0;
    }
  }
}

__attribute__((export_name("trellis_moments")))
void trellis_moments(const float *x, float *mean, float *variance, u32 rows, u32 C, double *acc, float *part) {
  channel_sums(x, 0, rows, C, acc, part);
#pragma clang loop vectorize(disable) interleave(disable)
  for (u32 c = 0; c < C; c++) mean[c] = (float)(acc[c] / (double)rows);
  channel_sums(x, mean, rows, C, acc, part);
#pragma clang loop vectorize(disable) interleave(disable)
  for (u32 c = 0; c < C; c++) variance[c] = (float)(acc[c] / (double)rows);
}

/*
 * The gradient of trellis_moments: dx[r, c] = dmean[c]/rows + (2 dvar[c]/rows) (x[r, c] - mean[c]).
 * ab holds 2C floats of scratch.
 */
__attribute__((export_name("trellis_moments_grad")))
void trellis_moments_grad(const float *x, const float *mean, const float *dmean, const float *dvar, float *dx,
                          u32 rows, u32 C, float *ab) {
  float *a = ab;
  float *b = ab + C;
  for (u32 c = 0; c < C; c++) {
    a[c] = dmean[c] / (float)rows;
    b[c] = 2.0f * dvar[c] / (float)rows;
  }
  const u32 c4 = C & ~3u;
  for (u32 r = 0; r < rows; r++) {
    const float *xr = x + r * C;
    float *o = dx + r * C;
    u32 c = 0;
    for (; c < c4; c += 4) {
      const v128_t d = wasm_f32x4_sub(wasm_v128_load(xr + c), wasm_v128_load(mean + c));
      wasm_v128_store(o + c, wasm_f32x4_add(wasm_v128_load(a + c), wasm_f32x4_mul(wasm_v128_load(b + c), d)));
    }
    for (; c < C; c++) o[c] = a[c] + b[c] * (xr[c] - mean[c]);
  }
}

/*
 * What the batch-normalisation gradient needs from the activations, in one pass over rows x C:
 *   dx[r, c] = dy[r, c] * scale[c] / sqrt(variance[c] + eps)   (scale may be 0: ones),
 *   sum_dy[c] = sum_r dy[r, c],  sum_dy_xm[c] = sum_r dy[r, c] (x[r, c] - mean[c]),
 * the sums in float over blocks of 256 rows folded into double (acc: 2C doubles; part: 3C floats).
 */
__attribute__((export_name("trellis_batch_norm_grad")))
void trellis_batch_norm_grad(const float *dy, const float *x, const float *mean, const float *variance,
                             const float *scale, float *dx, float *sum_dy, float *sum_dy_xm, u32 rows, u32 C,
                             float eps, double *acc, float *part) {
  float *k = part;
  float *sd = part + C;
  float *sx = part + 2 * C;
  /* The loops over doubles stay scalar (see trellis_moments). */
#pragma clang loop vectorize(disable) interleave(disable)
  for (u32 c = 0; c < C; c++) {
    k[c] = (scale ? scale[c] : 1.0f) / __builtin_sqrtf(variance[c] + eps);
    sd[c] = 0.0f;
    sx[c] = 0.0f;
    acc[c] = 0.0;
    acc[C + c] = 0.0;
  }
  const u32 c4 = C & ~3u;
  u32 in_block = 0;
  for (u32 r = 0; r < rows; r++) {
    const float *g = dy + r * C;
    const float *xr = x + r * C;
    float *o = dx + r * C;
    u32 c = 0;
    for (; c < c4; c += 4) {
      const v128_t gv = wasm_v128_load(g + c);
      wasm_v128_store(o + c, wasm_f32x4_mul(gv, wasm_v128_load(k + c)));
      wasm_v128_store(sd + c, wasm_f32x4_add(wasm_v128_load(sd + c), gv));
      const v128_t d = wasm_f32x4_sub(wasm_v128_load(xr + c), wasm_v128_load(mean + c));
      wasm_v128_store(sx + c, wasm_f32x4_add(wasm_v128_load(sx + c), wasm_f32x4_mul(gv, d)));
    }
    for (; c < C; c++) {
      o[c] = g[c] * k[c];
      sd[c] += g[c];
      sx[c] += g[c] * (xr[c] - mean[c]);
    }
    if (++in_block == 256 || r + 1 == rows) {
#pragma clang loop vectorize(disable) interleave(disable)
      for (u32 j = 0; j < C; j++) {
        acc[j] += sd[j];
        acc[C + j] += sx[j];
        sd[j] = 0.0f;
        sx[j] = 0.0f;
      }
      in_block = 0;
    }
  }
#pragma clang loop vectorize(disable) interleave(disable)
  for (u32 c = 0; c < C; c++) {
    sum_dy[c] = (float)acc[c];
    sum_dy_xm[c] = (float)acc[C + c];
  }
}

/*
 * The ReLU gradient as tfjs computes it, dy * step(x): step is 1 where x > 0, NaN where x is NaN,
 * else 0 (the product then rounds exactly as tfjs's Multiply does).
 */
__attribute__((export_name("trellis_relu_grad")))
void trellis_relu_grad(const float *dy, const float *x, float *dx, u32 n) {
  const v128_t one = wasm_f32x4_splat(1.0f);
  const v128_t zero = wasm_f32x4_splat(0.0f);
  u32 i = 0;
  for (; i + 4 <= n; i += 4) {
    const v128_t xv = wasm_v128_load(x + i);
    v128_t step = wasm_v128_bitselect(one, zero, wasm_f32x4_gt(xv, zero));
    step = wasm_v128_bitselect(xv, step, wasm_f32x4_ne(xv, xv));
    wasm_v128_store(dx + i, wasm_f32x4_mul(wasm_v128_load(dy + i), step));
  }
  for (; i < n; i++) {
    const float xi = x[i];
    const float step = xi != xi ? xi : (xi > 0.0f ? 1.0f : 0.0f);
    dx[i] = dy[i] * step;
  }
}

/*
 * MaxPoolGrad for 2x2 windows with strides sh, sw >= 2 that never touch padding (every input in at
 * most one window), NHWC: dx (zeroed by the caller) gets dy at each window's first maximum in scan
 * order (00, 01, 10, 11; strict >, so NaN never wins and an all-NaN or all -inf window gives
 * nothing), as the cpu backend and TensorFlow pick it; the window's other inputs get 0.
 */
__attribute__((export_name("trellis_max_pool_grad_2x2")))
void trellis_max_pool_grad_2x2(const float *x, const float *dy, float *dx, u32 n, u32 h, u32 w, u32 C, u32 oh, u32 ow,
                               u32 sh, u32 sw) {
  const u32 row = w * C;
  const u32 c4 = C & ~3u;
  const v128_t ninf = wasm_f32x4_splat(-__builtin_inff());
  const v128_t none = wasm_i32x4_splat(-1);
  const v128_t zero = wasm_f32x4_splat(0.0f);
  const float *g = dy;
  for (u32 b = 0; b < n; b++) {
    for (u32 y = 0; y < oh; y++) {
      const u32 base = (b * h + y * sh) * row;
      for (u32 xo = 0; xo < ow; xo++, g += C) {
        /* no arrays: the module has no stack */
        const u32 p0 = base + xo * sw * C, p1 = p0 + C, p2 = p0 + row, p3 = p2 + C;
        u32 c = 0;
        for (; c < c4; c += 4) {
          const v128_t v0 = wasm_v128_load(x + p0 + c);
          const v128_t v1 = wasm_v128_load(x + p1 + c);
          const v128_t v2 = wasm_v128_load(x + p2 + c);
          const v128_t v3 = wasm_v128_load(x + p3 + c);
          v128_t gt = wasm_f32x4_gt(v0, ninf);
          v128_t best = wasm_v128_bitselect(v0, ninf, gt);
          v128_t at = wasm_v128_bitselect(wasm_i32x4_splat(0), none, gt);
          gt = wasm_f32x4_gt(v1, best);
          best = wasm_v128_bitselect(v1, best, gt);
          at = wasm_v128_bitselect(wasm_i32x4_splat(1), at, gt);
          gt = wasm_f32x4_gt(v2, best);
          best = wasm_v128_bitselect(v2, best, gt);
          at = wasm_v128_bitselect(wasm_i32x4_splat(2), at, gt);
          gt = wasm_f32x4_gt(v3, best);
          at = wasm_v128_bitselect(wasm_i32x4_splat(3), at, gt);
          const v128_t d = wasm_v128_load(g + c);
          wasm_v128_store(dx + p0 + c, wasm_v128_bitselect(d, zero, wasm_i32x4_eq(at, wasm_i32x4_splat(0))));
          wasm_v128_store(dx + p1 + c, wasm_v128_bitselect(d, zero, wasm_i32x4_eq(at, wasm_i32x4_splat(1))));
          wasm_v128_store(dx + p2 + c, wasm_v128_bitselect(d, zero, wasm_i32x4_eq(at, wasm_i32x4_splat(2))));
          wasm_v128_store(dx + p3 + c, wasm_v128_bitselect(d, zero, wasm_i32x4_eq(at, wasm_i32x4_splat(3))));
        }
        for (; c < C; c++) {
          float best = -__builtin_inff();
          u32 at = 0;
          int found = 0;
          if (x[p0 + c] > best) { best = x[p0 + c]; at = p0; found = 1; }
          if (x[p1 + c] > best) { best = x[p1 + c]; at = p1; found = 1; }
          if (x[p2 + c] > best) { best = x[p2 + c]; at = p2; found = 1; }
          if (x[p3 + c] > best) { at = p3; found = 1; }
          if (found) dx[at + c] = g[c];
        }
      }
    }
  }
}
