// Max and average pooling, NCHW (the contract: minicnn/reference/pool.py).
//
// Forward: one thread per output cell scans its window. Backward is a gather: one thread
// per input cell visits the windows that cover it,
//     oy in [ceil((h + ph - kh + 1) / sh), floor((h + ph) / sh)] clipped to [0, oh),
// so no two threads write one cell (no atomics). Windows are visited with oy and ox falling,
// which is the order in which the reference adds its window offsets (i, j) rising, so the
// sums agree bit for bit.
//
// T: float or double; I: int or long long (chosen by the launcher from the array sizes).

template <typename T> __device__ __forceinline__ T minicnn_neg_inf();
template <> __device__ __forceinline__ float minicnn_neg_inf<float>() {
  return __int_as_float(0xff800000);
}
template <> __device__ __forceinline__ double minicnn_neg_inf<double>() {
  return __longlong_as_double(0xfff0000000000000LL);
}

__device__ __forceinline__ int minicnn_imin(int a, int b) { return a < b ? a : b; }
__device__ __forceinline__ int minicnn_imax(int a, int b) { return a > b ? a : b; }

// First and last output index whose window [o*s - p, o*s - p + k) covers input index h.
__device__ __forceinline__ void minicnn_covering(int h, int k, int s, int p, int out,
                                                 int* lo, int* hi) {
  const int a = h + p - k + 1;  // o*s >= a
  *lo = a <= 0 ? 0 : (a + s - 1) / s;
  *hi = minicnn_imin((h + p) / s, out - 1);
}

// argmax: flat index h*W + w in the input plane. As the reference (and PyTorch): padding
// is -inf, the first maximum in row-major window order wins, a NaN wins over everything
// and the last NaN wins, and a window of -inf points at its first input cell.
template <typename T, typename I>
__global__ void minicnn_max_pool2d(const T* __restrict__ x, T* __restrict__ y,
                                   long long* __restrict__ argmax, I total, int H, int W,
                                   int oh, int ow, int kh, int kw, int sh, int sw, int ph,
                                   int pw) {
  for (I idx = (I)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (I)blockDim.x * gridDim.x) {
    const int ox = (int)(idx % ow);
    const I t1 = idx / ow;
    const int oy = (int)(t1 % oh);
    const I nc = t1 / oh;
    const T* xp = x + nc * ((I)H * W);
    const int hs = oy * sh - ph, ws = ox * sw - pw;
    const int h0 = minicnn_imax(hs, 0), w0 = minicnn_imax(ws, 0);
    const int h1 = minicnn_imin(hs + kh, H), w1 = minicnn_imin(ws + kw, W);
    T best = minicnn_neg_inf<T>();
    int arg = h0 * W + w0;
    for (int h = h0; h < h1; ++h) {
      for (int w = w0; w < w1; ++w) {
        const T v = xp[h * W + w];
        if (v > best || v != v) {
          best = v;
          arg = h * W + w;
        }
      }
    }
    y[idx] = best;
    argmax[idx] = arg;
  }
}

template <typename T, typename I>
__global__ void minicnn_max_pool2d_backward(const T* __restrict__ gy,
                                            const long long* __restrict__ argmax,
                                            T* __restrict__ gx, I total, int H, int W,
                                            int oh, int ow, int kh, int kw, int sh, int sw,
                                            int ph, int pw) {
  for (I idx = (I)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (I)blockDim.x * gridDim.x) {
    const int w = (int)(idx % W);
    const I t1 = idx / W;
    const int h = (int)(t1 % H);
    const I nc = t1 / H;
    const I base = nc * ((I)oh * ow);
    const long long me = (long long)h * W + w;
    int ylo, yhi, xlo, xhi;
    minicnn_covering(h, kh, sh, ph, oh, &ylo, &yhi);
    minicnn_covering(w, kw, sw, pw, ow, &xlo, &xhi);
    T acc = T(0);
    for (int oy = yhi; oy >= ylo; --oy) {
      for (int ox = xhi; ox >= xlo; --ox) {
        const I o = base + oy * ow + ox;
        if (argmax[o] == me) acc += gy[o];
      }
    }
    gx[idx] = acc;
  }
}

// PyTorch's divisor: the window clipped to the padded input when count_include_pad, else
// the number of input cells in it.
__device__ __forceinline__ int minicnn_avg_divisor(int oy, int ox, int H, int W, int kh,
                                                   int kw, int sh, int sw, int ph, int pw,
                                                   int count_include_pad) {
  int hs = oy * sh - ph, ws = ox * sw - pw;
  int he = minicnn_imin(hs + kh, H + ph), we = minicnn_imin(ws + kw, W + pw);
  if (count_include_pad) return (he - hs) * (we - ws);
  hs = minicnn_imax(hs, 0);
  ws = minicnn_imax(ws, 0);
  he = minicnn_imin(he, H);
  we = minicnn_imin(we, W);
  return (he - hs) * (we - ws);
}

template <typename T, typename I>
__global__ void minicnn_avg_pool2d(const T* __restrict__ x, T* __restrict__ y, I total,
                                   int H, int W, int oh, int ow, int kh, int kw, int sh,
                                   int sw, int ph, int pw, int count_include_pad) {
  for (I idx = (I)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (I)blockDim.x * gridDim.x) {
    const int ox = (int)(idx % ow);
    const I t1 = idx / ow;
    const int oy = (int)(t1 % oh);
    const I nc = t1 / oh;
    const T* xp = x + nc * ((I)H * W);
    const int hs = oy * sh - ph, ws = ox * sw - pw;
    const int h0 = minicnn_imax(hs, 0), w0 = minicnn_imax(ws, 0);
    const int h1 = minicnn_imin(hs + kh, H), w1 = minicnn_imin(ws + kw, W);
    T acc = T(0);
    for (int h = h0; h < h1; ++h) {
      for (int w = w0; w < w1; ++w) acc += xp[h * W + w];
    }
    y[idx] = acc / T(minicnn_avg_divisor(oy, ox, H, W, kh, kw, sh, sw, ph, pw,
                                         count_include_pad));
  }
}

template <typename T, typename I>
__global__ void minicnn_avg_pool2d_backward(const T* __restrict__ gy, T* __restrict__ gx,
                                            I total, int H, int W, int oh, int ow, int kh,
                                            int kw, int sh, int sw, int ph, int pw,
                                            int count_include_pad) {
  for (I idx = (I)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (I)blockDim.x * gridDim.x) {
    const int w = (int)(idx % W);
    const I t1 = idx / W;
    const int h = (int)(t1 % H);
    const I nc = t1 / H;
    const T* gp = gy + nc * ((I)oh * ow);
    int ylo, yhi, xlo, xhi;
    minicnn_covering(h, kh, sh, ph, oh, &ylo, &yhi);
    minicnn_covering(w, kw, sw, pw, ow, &xlo, &xhi);
    T acc = T(0);
    for (int oy = yhi; oy >= ylo; --oy) {
      for (int ox = xhi; ox >= xlo; --ox) {
        acc += gp[oy * ow + ox] / T(minicnn_avg_divisor(oy, ox, H, W, kh, kw, sh, sw, ph,
                                                        pw, count_include_pad));
      }
    }
    gx[idx] = acc;
  }
}

#define MINICNN_POOL_INSTANTIATE(T, I)                                                       \
  template __global__ void minicnn_max_pool2d<T, I>(const T*, T*, long long*, I, int, int,  \
                                                    int, int, int, int, int, int, int, int); \
  template __global__ void minicnn_max_pool2d_backward<T, I>(                                \
      const T*, const long long*, T*, I, int, int, int, int, int, int, int, int, int, int);  \
  template __global__ void minicnn_avg_pool2d<T, I>(const T*, T*, I, int, int, int, int,    \
                                                    int, int, int, int, int, int, int);      \
  template __global__ void minicnn_avg_pool2d_backward<T, I>(                                \
      const T*, T*, I, int, int, int, int, int, int, int, int, int, int, int);

MINICNN_POOL_INSTANTIATE(float, int)
MINICNN_POOL_INSTANTIATE(float, long long)
MINICNN_POOL_INSTANTIATE(double, int)
MINICNN_POOL_INSTANTIATE(double, long long)
