// Relaxed-BF1 soft boundary on the CPU: one pass per (image, class) plane.
//
// The same statistics and formulas as mmseg_autoloss/surrogates/fused_boundary.py
// (the inductor kernels) and the eager _BoundaryF1Stats, row by row so that
// the erosion, the four g's, the boundary e, its derivatives, the precision
// sums and the recall window maxima stay in cache between steps (e itself
// is never stored whole). Built at first
// use by native.py (plain C ABI, loaded with ctypes; no torch headers).
//
// Layouts (C-contiguous): probs, de_da, de_db, grad (N, C, H, W);
// code uint8 (N, C, H, W); w (N, H, W); bits int32 (G, N, H, W), channel c
// at bit shift[c] of group group[c]. g constants: 4 g's x P pieces x 12 in
// the order of parameterization.PACKED_KEYS, thresholds 4 x (P - 1).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#ifdef BF1_LIBMVEC
// glibc's vector exp (libmvec, ≤ 4 ulp): math.h declares it only under
// -ffast-math, which would also reorder the sums and drop the NaN rules.
extern "C" __attribute__((simd("notinbranch"))) float expf(float) noexcept;
#endif

namespace {

constexpr int kKeys = 12;  // shift alpha m2 c m p q base pa qa lo hi
constexpr double kSqrtFloor = 1e-24;

template <typename T>
__attribute__((always_inline)) inline T vmin(T a, T b) { return b < a ? b : a; }
template <typename T>
__attribute__((always_inline)) inline T vmax(T a, T b) { return b > a ? b : a; }

// One g as in evaluate_packed: the highest piece whose threshold y passes,
// x = clamp(alpha*y + shift), s = x / (m + D), D = sqrt(max(m2 + c*x, floor)).
template <typename T, int P>
__attribute__((always_inline)) inline void g_eval(T y, const T* k, const T* thr, T& value,
                                                  T& deriv) {
  T sh = k[0], al = k[1], m2 = k[2], c = k[3], m = k[4], p = k[5], q = k[6], base = k[7],
    pa = k[8], qa = k[9], lo = k[10], hi = k[11];
  for (int j = 1; j < P; ++j) {
    const T* kj = k + j * kKeys;
    const bool above = y > thr[j - 1];
    sh = above ? kj[0] : sh; al = above ? kj[1] : al; m2 = above ? kj[2] : m2;
    c = above ? kj[3] : c; m = above ? kj[4] : m; p = above ? kj[5] : p;
    q = above ? kj[6] : q; base = above ? kj[7] : base; pa = above ? kj[8] : pa;
    qa = above ? kj[9] : qa; lo = above ? kj[10] : lo; hi = above ? kj[11] : hi;
  }
  const T x = vmin(vmax(y * al + sh, T(0)), T(1));
  const T den = std::sqrt(vmax(m2 + c * x, T(kSqrtFloor)));
  // one division for s = x / (m + D) and 1 / D (divisions bound this loop)
  const T r = T(1) / ((m + den) * den);
  const T s = x * den * r;
  const T v = vmin(vmax((p + q * s) * s + base, lo), hi);
  value = y >= T(1) ? T(1) : v;
  deriv = vmax((pa + qa * s) * ((m + den) * r), T(0));
}

// Row minimum over columns x-1, x, x+1 and which one won (centre first,
// then previous, then next: the eager erode_backward's tie rule).
template <typename T>
void row_min(const T* __restrict a, int W, T* __restrict pad, T* __restrict hmin,
             int32_t* __restrict hdx) {
  const T inf = std::numeric_limits<T>::infinity();
  pad[0] = inf;
  std::memcpy(pad + 1, a, sizeof(T) * W);
  pad[W + 1] = inf;
#pragma omp simd
  for (int x = 0; x < W; ++x) {
    const T pv = pad[x], ce = pad[x + 1], nx = pad[x + 2];
    const T mn = vmin(vmin(pv, ce), nx);
    hmin[x] = mn;
    hdx[x] = ce == mn ? 0 : (pv == mn ? -1 : 1);
  }
}

// Window maxima of e at the recall positions at[ka:kb] (in-plane offsets,
// sorted) and where they are: the first row whose row maximum is largest,
// then the first column of that row (= the first maximum in row-major
// order). Rows live in rings of 2·tol + 1: a position is answered as soon
// as the last row of its window is done, so e is never stored whole. e's
// ring rows have a stride of W + 2·tol, the image at offset tol.
template <typename T>
void recall_rows(const T* e_ring, const T* rm_ring, int ring, const int64_t* at, int64_t& k,
                 int64_t kb, int y_done, int H, int W, int tol, int64_t plane_off, T* value,
                 int64_t* winner) {
  const int stride = W + 2 * tol;
  for (; k < kb; ++k) {
    const int yq = int(at[k] / W), x = int(at[k] % W);
    if (yq + tol > y_done && y_done < H - 1) return;
    const int ya = yq - tol < 0 ? 0 : yq - tol, yb = yq + tol > H - 1 ? H - 1 : yq + tol;
    const int xa = x - tol < 0 ? 0 : x - tol, xb = x + tol > W - 1 ? W - 1 : x + tol;
    int best = ya;
    for (int r = ya + 1; r <= yb; ++r)
      if (rm_ring[(r % ring) * W + x] > rm_ring[(best % ring) * W + x]) best = r;
    const T* er = e_ring + (best % ring) * stride + tol;
    int col = xa;
    for (int cc = xa + 1; cc <= xb; ++cc)
      if (er[cc] > er[col]) col = cc;
    value[k] = er[col];
    winner[k] = plane_off + int64_t(best) * W + col;
  }
}

template <typename T, int P, bool NeedGrad>
void forward_plane(const T* __restrict a, const T* __restrict w, const int32_t* __restrict bits,
                   int shift, int H, int W, int tol, const T* gk, const T* gt,
                   T* __restrict de_da, T* __restrict de_db, uint8_t* __restrict code,
                   const int64_t* at, int64_t ka, int64_t kb, int64_t plane_off, T* value,
                   int64_t* winner, double& n_pred, double& match_p) {
  const T inf = std::numeric_limits<T>::infinity();
  // local copies: the compiler cannot prove the outputs never alias them
  T k1[P * kKeys], k2[P * kKeys], k3[P * kKeys], k4[P * kKeys];
  T t1[P], t2[P], t3[P], t4[P];
  for (int i = 0; i < P * kKeys; ++i) {
    k1[i] = gk[i];
    k2[i] = gk[P * kKeys + i];
    k3[i] = gk[2 * P * kKeys + i];
    k4[i] = gk[3 * P * kKeys + i];
  }
  for (int i = 0; i + 1 < P; ++i) {
    t1[i] = gt[i];
    t2[i] = gt[(P - 1) + i];
    t3[i] = gt[2 * (P - 1) + i];
    t4[i] = gt[3 * (P - 1) + i];
  }
  // ring of 3 row minima (+ an all-inf row for outside the image)
  std::vector<T> buf(5 * (W + 2));
  T* pad = buf.data();
  T* hm[3] = {pad + (W + 2), pad + 2 * (W + 2), pad + 3 * (W + 2)};
  T* hinf = pad + 4 * (W + 2);
  std::vector<int32_t> dxbuf(3 * W);  // int32: int8 lanes next to float ones do not vectorize
  int32_t* hd[3] = {dxbuf.data(), dxbuf.data() + W, dxbuf.data() + 2 * W};
  // e rows with tol -inf columns each side (the row-window maxima need no
  // clamping) and their row-window maxima, rings of 2·tol + 1 rows
  const int ring = 2 * tol + 1, stride = W + 2 * tol;
  std::vector<T> e_rows(ring * stride, -inf), rm_rows(ring * W);
  T* e_ring = e_rows.data();
  T* rm_ring = rm_rows.data();
  int64_t k = ka;
  for (int x = 0; x < W; ++x) hinf[x] = inf;
  row_min(a, W, pad, hm[0], hd[0]);
  if (H > 1) row_min(a + W, W, pad, hm[1], hd[1]);
  double sn = 0, sp = 0;
  for (int y = 0; y < H; ++y) {
    const int cur = y % 3, prv = (y + 2) % 3, nxt = (y + 1) % 3;
    if (y + 1 < H && y >= 1) row_min(a + (y + 1) * W, W, pad, hm[nxt], hd[nxt]);
    const T* __restrict hp = y > 0 ? hm[prv] : hinf;
    const T* __restrict hc = hm[cur];
    const T* __restrict hn = y + 1 < H ? hm[nxt] : hinf;
    const int32_t* __restrict dp = hd[prv];
    const int32_t* __restrict dc = hd[cur];
    const int32_t* __restrict dn = hd[nxt];
    const T* __restrict ar = a + y * W;
    const T* __restrict wr = w + y * W;
    const int32_t* __restrict br = bits + y * W;
    T* __restrict el = e_ring + (y % ring) * stride + tol;
    T* __restrict dar = NeedGrad ? de_da + y * W : nullptr;
    T* __restrict dbr = NeedGrad ? de_db + y * W : nullptr;
    uint8_t* __restrict cr = NeedGrad ? code + y * W : nullptr;
    T rs_n = 0, rs_p = 0;
#pragma omp simd reduction(+ : rs_n, rs_p)
    for (int x = 0; x < W; ++x) {
      const T av = ar[x];
      const T bv = vmin(vmin(hp[x], hc[x]), hn[x]);
      T v1, d1, v2, d2, v3, d3, v4, d4;
      g_eval<T, P>(av, k1, t1, v1, d1);
      g_eval<T, P>(bv, k2, t2, v2, d2);
      g_eval<T, P>(av, k3, t3, v3, d3);
      g_eval<T, P>(bv, k4, t4, v4, d4);
      const T ev = v3 + v4 * (1 - v3) - v1 * v2;
      el[x] = ev;
      const T we = wr[x] * ev;
      rs_n += we;
      rs_p += we * T((br[x] >> shift) & 1);
      if (NeedGrad) {
        dar[x] = d3 * (1 - v4) - d1 * v2;
        dbr[x] = d4 * (1 - v3) - d2 * v1;
        const int32_t eq_c = hc[x] == bv, eq_p = hp[x] == bv;
        const int32_t dy = eq_c ? 0 : (eq_p ? -1 : 1);
        const int32_t dx = eq_c ? dc[x] : (eq_p ? dp[x] : dn[x]);
        cr[x] = static_cast<uint8_t>(3 * dy + dx + 4);
      }
    }
    sn += rs_n;
    sp += rs_p;
    T* rm = rm_ring + (y % ring) * W;
#pragma omp simd
    for (int x = 0; x < W; ++x) rm[x] = el[x];
    for (int s = 1; s <= tol; ++s) {
#pragma omp simd
      for (int x = 0; x < W; ++x) rm[x] = vmax(rm[x], vmax(el[x - s], el[x + s]));
    }
    recall_rows<T>(e_ring, rm_ring, ring, at, k, kb, y, H, W, tol, plane_off, value, winner);
  }
  n_pred += sn;
  match_p += sp;
}

// at: the recall positions' in-plane offsets, sorted by plane (then
// offset); plane p's are at[at_ptr[p]:at_ptr[p + 1]].
template <typename T, int P>
void forward(const T* probs, const T* w, const int32_t* bits, const int64_t* group,
             const int32_t* shift, int N, int C, int H, int W, int tol, const T* gk,
             const T* gt, int need_grad, int c0, int c1, const int64_t* at,
             const int64_t* at_ptr, T* de_da, T* de_db, uint8_t* code, T* n_pred, T* match_p,
             T* value, int64_t* winner) {
  const int64_t hw = int64_t(H) * W;
  for (int c = c0; c < c1; ++c) {
    double sn = 0, sp = 0;
    for (int n = 0; n < N; ++n) {
      const int64_t plane = int64_t(n) * C + c, off = plane * hw;
      if (need_grad)
        forward_plane<T, P, true>(probs + off, w + n * hw, bits + (group[c] * N + n) * hw,
                                  shift[c], H, W, tol, gk, gt, de_da + off, de_db + off,
                                  code + off, at, at_ptr[plane], at_ptr[plane + 1], off, value,
                                  winner, sn, sp);
      else
        forward_plane<T, P, false>(probs + off, w + n * hw, bits + (group[c] * N + n) * hw,
                                   shift[c], H, W, tol, gk, gt, nullptr, nullptr, nullptr, at,
                                   at_ptr[plane], at_ptr[plane + 1], off, value, winner, sn, sp);
    }
    n_pred[c] = T(sn);
    match_p[c] = T(sp);
  }
}

// ∂/∂a of Σ (g_n + g_p·near)·w·e: ∂e·∂e/∂a at the pixel plus ∂e·∂e/∂b from
// each neighbour whose erosion winner it is.
template <typename T>
void backward_plane(const T* __restrict de_da, const T* __restrict de_db,
                    const uint8_t* __restrict code, const T* __restrict w,
                    const int32_t* __restrict bits, int shift, int H, int W, T gn, T gp,
                    T* __restrict grad) {
  std::vector<T> gbuf(3 * (W + 2));
  std::vector<uint8_t> cbuf(3 * (W + 2));
  T* gb[3] = {gbuf.data(), gbuf.data() + (W + 2), gbuf.data() + 2 * (W + 2)};
  uint8_t* cb[3] = {cbuf.data(), cbuf.data() + (W + 2), cbuf.data() + 2 * (W + 2)};
  // row r -> ring slot (r + 3) % 3; rows outside the image send nothing
  auto load = [&](int r) {
    T* g = gb[(r + 3) % 3];
    uint8_t* cc = cb[(r + 3) % 3];
    if (r < 0 || r >= H) {
      for (int x = 0; x < W + 2; ++x) { g[x] = 0; cc[x] = 255; }
      return;
    }
    g[0] = g[W + 1] = 0;
    cc[0] = cc[W + 1] = 255;
    const T* wr = w + int64_t(r) * W;
    const int32_t* br = bits + int64_t(r) * W;
    const T* db = de_db + int64_t(r) * W;
    const uint8_t* cr = code + int64_t(r) * W;
#pragma omp simd
    for (int x = 0; x < W; ++x) {
      g[x + 1] = wr[x] * (gn + gp * T((br[x] >> shift) & 1)) * db[x];
      cc[x + 1] = cr[x];
    }
  };
  load(-1);
  load(0);
  for (int y = 0; y < H; ++y) {
    load(y + 1);
    const T* wr = w + int64_t(y) * W;
    const int32_t* br = bits + int64_t(y) * W;
    const T* da = de_da + int64_t(y) * W;
    T* out = grad + int64_t(y) * W;
#pragma omp simd
    for (int x = 0; x < W; ++x) out[x] = wr[x] * (gn + gp * T((br[x] >> shift) & 1)) * da[x];
    // the output at (y - dy, x - dx) sends its share here if it won there
    for (int dy = -1; dy <= 1; ++dy) {
      const T* g = gb[(y - dy + 3) % 3];
      const uint8_t* cc = cb[(y - dy + 3) % 3];
      for (int dx = -1; dx <= 1; ++dx) {
        const uint8_t want = uint8_t(3 * dy + dx + 4);
#pragma omp simd
        for (int x = 0; x < W; ++x) out[x] += cc[x + 1 - dx] == want ? g[x + 1 - dx] : T(0);
      }
    }
  }
}

template <typename T>
void backward(const T* de_da, const T* de_db, const uint8_t* code, const T* w,
              const int32_t* bits, const int64_t* group, const int32_t* shift, int N, int C,
              int H, int W, const T* g_n, const T* g_p, int c0, int c1, T* grad) {
  const int64_t hw = int64_t(H) * W;
  for (int c = c0; c < c1; ++c)
    for (int n = 0; n < N; ++n) {
      const int64_t off = (int64_t(n) * C + c) * hw;
      backward_plane<T>(de_da + off, de_db + off, code + off, w + n * hw,
                        bits + (group[c] * N + n) * hw, shift[c], H, W, g_n[c], g_p[c],
                        grad + off);
    }
}

// The K sparse recall terms: g_at·∂e/∂a at each winner q, g_at·∂e/∂b at
// q's erosion winner.
template <typename T>
void recall_backward(const T* de_da, const T* de_db, const uint8_t* code, const int64_t* winner,
                     const T* g_at, int64_t K, int W, T* grad) {
  for (int64_t k = 0; k < K; ++k) {
    const int64_t q = winner[k];
    const int cd = code[q];
    grad[q] += g_at[k] * de_da[q];
    grad[q + int64_t(cd / 3 - 1) * W + (cd % 3 - 1)] += g_at[k] * de_db[q];
  }
}

inline float exp_(float x) {
#ifdef BF1_LIBMVEC
  return expf(x);
#else
  return std::exp(x);
#endif
}
inline double exp_(double x) { return std::exp(x); }

// Softmax over C for images [n0, n1), a block of pixels at a time
// (ATen's softmax over dim 1 of NCHW walks the channels with a stride).
template <typename T>
void softmax(const T* z, T* probs, int C, int64_t hw, int n0, int n1) {
  constexpr int64_t kBlock = 256;
  T mx[kBlock], sum[kBlock];
  for (int n = n0; n < n1; ++n) {
    const T* zn = z + int64_t(n) * C * hw;
    T* pn = probs + int64_t(n) * C * hw;
    for (int64_t x0 = 0; x0 < hw; x0 += kBlock) {
      const int64_t len = hw - x0 < kBlock ? hw - x0 : kBlock;
      for (int64_t x = 0; x < len; ++x) {
        mx[x] = zn[x0 + x];
        sum[x] = 0;
      }
      for (int c = 1; c < C; ++c) {
        const T* __restrict zc = zn + c * hw + x0;
#pragma omp simd
        for (int64_t x = 0; x < len; ++x) mx[x] = vmax(mx[x], zc[x]);
      }
      for (int c = 0; c < C; ++c) {
        const T* __restrict zc = zn + c * hw + x0;
        T* __restrict pc = pn + c * hw + x0;
#pragma omp simd
        for (int64_t x = 0; x < len; ++x) {
          const T ev = exp_(zc[x] - mx[x]);
          pc[x] = ev;
          sum[x] += ev;
        }
      }
      for (int c = 0; c < C; ++c) {
        T* __restrict pc = pn + c * hw + x0;
#pragma omp simd
        for (int64_t x = 0; x < len; ++x) pc[x] = pc[x] / sum[x];
      }
    }
  }
}

// The softmax Jacobian in place for images [n0, n1): grad <- p ⊙ (grad −
// Σ_c p_c grad_c), summed over c in order like ATen's softmax backward.
template <typename T>
void softmax_backward(const T* probs, T* grad, int C, int64_t hw, int n0, int n1) {
  constexpr int64_t kBlock = 256;  // pixels per block: C rows of it stay in L1
  T dot[kBlock];
  for (int n = n0; n < n1; ++n) {
    const T* p = probs + int64_t(n) * C * hw;
    T* g = grad + int64_t(n) * C * hw;
    for (int64_t x0 = 0; x0 < hw; x0 += kBlock) {
      const int64_t len = hw - x0 < kBlock ? hw - x0 : kBlock;
      for (int64_t x = 0; x < len; ++x) dot[x] = 0;
      for (int c = 0; c < C; ++c) {
        const T* __restrict pc = p + c * hw + x0;
        const T* __restrict gc = g + c * hw + x0;
#pragma omp simd
        for (int64_t x = 0; x < len; ++x) dot[x] += pc[x] * gc[x];
      }
      for (int c = 0; c < C; ++c) {
        const T* __restrict pc = p + c * hw + x0;
        T* __restrict gc = g + c * hw + x0;
#pragma omp simd
        for (int64_t x = 0; x < len; ++x) gc[x] = pc[x] * (gc[x] - dot[x]);
      }
    }
  }
}

template <typename T>
int forward_dispatch(int P, const T* probs, const T* w, const int32_t* bits,
                     const int64_t* group, const int32_t* shift, int N, int C, int H, int W,
                     int tol, const T* gk, const T* gt, int need_grad, int c0, int c1,
                     const int64_t* at, const int64_t* at_ptr, T* de_da, T* de_db,
                     uint8_t* code, T* n_pred, T* match_p, T* value, int64_t* winner) {
#define BF1_CASE(PP)                                                                         \
  case PP:                                                                                   \
    forward<T, PP>(probs, w, bits, group, shift, N, C, H, W, tol, gk, gt, need_grad, c0, c1, \
                   at, at_ptr, de_da, de_db, code, n_pred, match_p, value, winner);          \
    return 0;
  switch (P) {
    BF1_CASE(1)
    BF1_CASE(2)
    BF1_CASE(3)
    BF1_CASE(4)
    default:
      return 1;
  }
#undef BF1_CASE
}

}  // namespace

extern "C" {

int bf1_max_pieces() { return 4; }

#define BF1_EXPORT(T, SUF)                                                                    \
  int bf1_forward_##SUF(int P, const T* probs, const T* w, const int32_t* bits,               \
                        const int64_t* group, const int32_t* shift, int N, int C, int H,      \
                        int W, int tol, const T* gk, const T* gt, int need_grad, int c0,      \
                        int c1, const int64_t* at, const int64_t* at_ptr, T* de_da, T* de_db, \
                        uint8_t* code, T* n_pred, T* match_p, T* value, int64_t* winner) {    \
    return forward_dispatch<T>(P, probs, w, bits, group, shift, N, C, H, W, tol, gk, gt,     \
                               need_grad, c0, c1, at, at_ptr, de_da, de_db, code, n_pred,     \
                               match_p, value, winner);                                       \
  }                                                                                           \
  void bf1_backward_##SUF(const T* de_da, const T* de_db, const uint8_t* code, const T* w,    \
                          const int32_t* bits, const int64_t* group, const int32_t* shift,    \
                          int N, int C, int H, int W, const T* g_n, const T* g_p, int c0,     \
                          int c1, T* grad) {                                                  \
    backward<T>(de_da, de_db, code, w, bits, group, shift, N, C, H, W, g_n, g_p, c0, c1,     \
                grad);                                                                        \
  }                                                                                           \
  void bf1_recall_backward_##SUF(const T* de_da, const T* de_db, const uint8_t* code,         \
                                 const int64_t* winner, const T* g_at, int64_t K, int W,      \
                                 T* grad) {                                                   \
    recall_backward<T>(de_da, de_db, code, winner, g_at, K, W, grad);                         \
  }                                                                                           \
  void bf1_softmax_backward_##SUF(const T* probs, T* grad, int C, int64_t hw, int n0,         \
                                  int n1) {                                                   \
    softmax_backward<T>(probs, grad, C, hw, n0, n1);                                          \
  }                                                                                           \
  void bf1_softmax_##SUF(const T* z, T* probs, int C, int64_t hw, int n0, int n1) {           \
    softmax<T>(z, probs, C, hw, n0, n1);                                                      \
  }

BF1_EXPORT(float, f32)
BF1_EXPORT(double, f64)
#undef BF1_EXPORT
}
