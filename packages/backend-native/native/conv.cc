// Conv2D forward and both backward kernels on oneDNN (NHWC activations, HWIO weights in tfjs's
// layout). Primitives are cached per shape; the weights are reordered into the layout the primitive
// picked (format `any`) through a buffer owned by the cache entry; the scratchpad is one growing
// buffer owned by the addon. Activations are read and written in place (no copies).
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <sstream>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "dnnl.hpp"
#include "kernels.h"

namespace trellis {
using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

static engine& eng() {
  static engine e(engine::kind::cpu, 0);
  return e;
}
// The stream, the scratchpad and the primitive cache (with each entry's reordered-weights buffer) are
// per calling thread: core's runDataParallel (`trellis train --workers N`) loads the addon in N worker
// threads of one process, and shared ones gave wrong results (two convolutions in one scratchpad) and
// "double free or corruption" (one thread clearing the full cache under another's entry).
static stream& strm() {
  static thread_local stream s(eng());
  return s;
}

// A buffer whose size is counted in allocated_bytes().
struct Buf {
  float* p = nullptr;
  size_t bytes = 0;
  void ensure(size_t n) {
    if (n <= bytes) return;
    release();
    p = static_cast<float*>(std::aligned_alloc(64, ((n + 63) / 64) * 64));
    bytes = ((n + 63) / 64) * 64;
    track_alloc((int64_t)bytes);
  }
  void release() {
    if (p != nullptr) {
      std::free(p);
      track_alloc(-(int64_t)bytes);
    }
    p = nullptr;
    bytes = 0;
  }
  ~Buf() { release(); }
};

static thread_local Buf g_scratch;

struct Entry {
  primitive prim;
  memory::desc userW;  // HWIO as tfjs stores it
  memory::desc primW;  // what the primitive wants
  memory::desc src, dst, bias, scratch;
  bool reorderW = false;
  reorder wReorder;
  Buf wBuf;
  size_t bytes = 0;
};

static thread_local std::map<std::vector<int64_t>, std::unique_ptr<Entry>> g_cache;
static const size_t kMaxEntries = 256;

void conv_cache_clear() { g_cache.clear(); }
int64_t conv_cache_size() { return (int64_t)g_cache.size(); }

static algorithm eltwise_alg(int act) {
  switch (act) {
    case kRelu: return algorithm::eltwise_relu;
    case kRelu6: return algorithm::eltwise_clip;
    case kElu: return algorithm::eltwise_elu;
    case kSigmoid: return algorithm::eltwise_logistic;
    case kLeakyRelu: return algorithm::eltwise_relu;
    default: return algorithm::undef;
  }
}

static Entry* build(int mode, const ConvParams& p, bool hasBias, int act, float alpha) {
  const memory::dims xDims = {p.n, p.cin, p.h, p.w};
  const memory::dims wDims = {p.cout, p.cin, p.kh, p.kw};
  const memory::dims yDims = {p.n, p.cout, p.oh, p.ow};
  const memory::dims strides = {p.sh, p.sw};
  const memory::dims dil = {p.dh - 1, p.dw - 1};
  const memory::dims padL = {p.pt, p.pl};
  const memory::dims padR = {p.pb, p.pr};
  const memory::desc xMd(xDims, dt::f32, tag::nhwc);
  const memory::desc yMd(yDims, dt::f32, tag::nhwc);
  const memory::desc wAny(wDims, dt::f32, tag::any);
  const memory::desc wUser(wDims, dt::f32, tag::hwio);
  const memory::desc bMd({p.cout}, dt::f32, tag::x);

  primitive_attr attr;
  attr.set_scratchpad_mode(scratchpad_mode::user);
  if (mode == 0 && act != kLinear) {
    post_ops po;
    const float a = act == kRelu6 ? 0.f : act == kElu ? 1.f : act == kLeakyRelu ? alpha : 0.f;
    const float b = act == kRelu6 ? 6.f : 0.f;
    po.append_eltwise(1.f, eltwise_alg(act), a, b);
    attr.set_post_ops(po);
  }
  primitive_attr hintAttr;
  auto fwdDesc = hasBias && mode == 0
                     ? convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, xMd,
                                                 wAny, bMd, yMd, strides, dil, padL, padR)
                     : convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, xMd,
                                                 wAny, yMd, strides, dil, padL, padR);
  auto e = std::make_unique<Entry>();
  e->userW = wUser;
  e->src = xMd;
  e->dst = yMd;
  e->bias = bMd;
  if (mode == 0) {
    convolution_forward::primitive_desc pd(fwdDesc, attr, eng());
    e->primW = pd.weights_desc();
    e->scratch = pd.scratchpad_desc();
    e->prim = convolution_forward(pd);
  } else {
    convolution_forward::primitive_desc hint(fwdDesc, hintAttr, eng());
    if (mode == 1) {
      convolution_backward_data::desc d(algorithm::convolution_direct, xMd, wAny, yMd, strides, dil, padL, padR);
      convolution_backward_data::primitive_desc pd(d, attr, eng(), hint);
      e->primW = pd.weights_desc();
      e->scratch = pd.scratchpad_desc();
      e->prim = convolution_backward_data(pd);
    } else {
      convolution_backward_weights::desc d(algorithm::convolution_direct, xMd, wAny, yMd, strides, dil, padL, padR);
      convolution_backward_weights::primitive_desc pd(d, attr, eng(), hint);
      e->primW = pd.diff_weights_desc();
      e->scratch = pd.scratchpad_desc();
      e->prim = convolution_backward_weights(pd);
    }
  }
  e->reorderW = !(e->primW == e->userW);
  if (e->reorderW) {
    e->wBuf.ensure(e->primW.get_size());
    e->bytes += e->wBuf.bytes;
    if (mode == 2) {
      e->wReorder = reorder(reorder::primitive_desc(eng(), e->primW, eng(), e->userW));
    } else {
      e->wReorder = reorder(reorder::primitive_desc(eng(), e->userW, eng(), e->primW));
    }
  }
  return e.release();
}

std::string conv(int mode, const ConvParams& p, const float* a, const float* b, float* out, const float* bias,
                 int act, float alpha) {
  try {
    std::vector<int64_t> key = {mode, p.n,  p.h,  p.w,  p.cin, p.kh, p.kw, p.cout, p.sh, p.sw, p.dh,
                                p.dw, p.pt, p.pl, p.pb, p.pr,  p.oh, p.ow, bias != nullptr, act};
    int32_t alphaBits;
    std::memcpy(&alphaBits, &alpha, 4);
    key.push_back(alphaBits);
    auto it = g_cache.find(key);
    Entry* e;
    if (it == g_cache.end()) {
      if (g_cache.size() >= kMaxEntries) g_cache.clear();
      e = build(mode, p, bias != nullptr, act, alpha);
      g_cache.emplace(key, std::unique_ptr<Entry>(e));
    } else {
      e = it->second.get();
    }
    g_scratch.ensure(e->scratch.get_size());
    memory scratch(e->scratch, eng(), g_scratch.p);
    stream& s = strm();
    if (mode == 0) {
      // a = x, b = w
      memory x(e->src, eng(), const_cast<float*>(a));
      memory wUser(e->userW, eng(), const_cast<float*>(b));
      memory y(e->dst, eng(), out);
      memory w = wUser;
      if (e->reorderW) {
        w = memory(e->primW, eng(), e->wBuf.p);
        e->wReorder.execute(s, wUser, w);
      }
      std::unordered_map<int, memory> args = {
          {DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, y}, {DNNL_ARG_SCRATCHPAD, scratch}};
      if (bias != nullptr) args.insert({DNNL_ARG_BIAS, memory(e->bias, eng(), const_cast<float*>(bias))});
      e->prim.execute(s, args);
    } else if (mode == 1) {
      // a = dy, b = w, out = dx
      memory dy(e->dst, eng(), const_cast<float*>(a));
      memory wUser(e->userW, eng(), const_cast<float*>(b));
      memory dx(e->src, eng(), out);
      memory w = wUser;
      if (e->reorderW) {
        w = memory(e->primW, eng(), e->wBuf.p);
        e->wReorder.execute(s, wUser, w);
      }
      e->prim.execute(s, {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DIFF_SRC, dx},
                          {DNNL_ARG_SCRATCHPAD, scratch}});
    } else {
      // a = x, b = dy, out = dw
      memory x(e->src, eng(), const_cast<float*>(a));
      memory dy(e->dst, eng(), const_cast<float*>(b));
      memory dwUser(e->userW, eng(), out);
      memory dw = e->reorderW ? memory(e->primW, eng(), e->wBuf.p) : dwUser;
      e->prim.execute(s, {{DNNL_ARG_SRC, x}, {DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_DIFF_WEIGHTS, dw},
                          {DNNL_ARG_SCRATCHPAD, scratch}});
      if (e->reorderW) e->wReorder.execute(s, dw, dwUser);
    }
    s.wait();
    return "";
  } catch (const dnnl::error& err) {
    std::ostringstream os;
    os << "oneDNN: " << err.what() << " (status " << (int)err.status << ")";
    return os.str();
  } catch (const std::exception& err) {
    return std::string("conv: ") + err.what();
  }
}

}  // namespace trellis
