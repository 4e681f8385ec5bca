// Local response normalization across channels (the contract: minicnn/reference/lrn.py),
// PyTorch's convention: x is (N, C, S) with S the product of the trailing axes, and
//
//   scale[c] = k + alpha/size * sum_{c' = c - size/2}^{c + (size-1)/2} x[c']^2
//   y[c]     = x[c] * scale[c]^-beta
//   gx[c]    = gy[c] * scale[c]^-beta
//              - 2*alpha*beta/size * x[c] * sum_{c' = c - (size-1)/2}^{c + size/2} gy y / scale
//
// One thread owns one spatial position of one image and a run of `chunk` channels; it keeps
// the window sum running down the channels (add the channel entering the window, subtract
// the one leaving), so each input is read about twice whatever the size. Threads next to
// each other own next-door positions: every load and store of a warp is coalesced. The
// running sum is kept in double for both element types, so that subtracting a large square
// that leaves the window does not swamp the small ones that stay.

template <typename T> __device__ __forceinline__ T minicnn_pow_neg_beta(T s, T beta);
// s^-beta; for beta = 0.75 as r*sqrt(r), r = 1/sqrt(s), as the reference computes it.
template <> __device__ __forceinline__ float minicnn_pow_neg_beta<float>(float s, float beta) {
  if (beta == 0.75f) {
    const float r = 1.0f / sqrtf(s);
    return r * sqrtf(r);
  }
  return powf(s, -beta);
}
template <>
__device__ __forceinline__ double minicnn_pow_neg_beta<double>(double s, double beta) {
  if (beta == 0.75) {
    const double r = 1.0 / sqrt(s);
    return r * sqrt(r);
  }
  return pow(s, -beta);
}

// Sum of f(c') for c' in [lo, hi] clipped to [0, C), f(c') = a[c'] * b[c'] (a == b: squares).
template <typename T, typename I>
__device__ __forceinline__ double minicnn_window_sum(const T* a, const T* b, I stride, int lo,
                                                     int hi, int C) {
  double s = 0.0;
  if (lo < 0) lo = 0;
  if (hi > C - 1) hi = C - 1;
  for (int c = lo; c <= hi; ++c) s += (double)a[c * stride] * (double)b[c * stride];
  return s;
}

// total = N * chunks * S threads; thread (n, chunk q, position p) handles channels
// [q*chunk, min((q+1)*chunk, C)).
template <typename T, typename I>
__global__ void minicnn_lrn_forward(const T* __restrict__ x, T* __restrict__ y,
                                    T* __restrict__ scale, I total, int C, I S, int chunk,
                                    int size, T alpha_over_size, T beta, T k) {
  const int before = size / 2, after = (size - 1) / 2;
  const int chunks = (C + chunk - 1) / chunk;
  for (I idx = (I)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (I)blockDim.x * gridDim.x) {
    const I p = idx % S;
    const I t1 = idx / S;
    const int q = (int)(t1 % chunks);
    const I n = t1 / chunks;
    const I off = n * C * S + p;
    const T* xp = x + off;
    const int c0 = q * chunk;
    const int c1 = c0 + chunk < C ? c0 + chunk : C;
    double s = minicnn_window_sum(xp, xp, S, c0 - before, c0 + after, C);
    for (int c = c0; c < c1; ++c) {
      const I o = off + (I)c * S;
      const T sc = k + alpha_over_size * (T)s;
      scale[o] = sc;
      y[o] = x[o] * minicnn_pow_neg_beta<T>(sc, beta);
      const int in = c + 1 + after, out = c - before;
      if (in < C) {
        const double v = (double)xp[(I)in * S];
        s += v * v;
      }
      if (out >= 0) {
        const double v = (double)xp[(I)out * S];
        s -= v * v;
      }
    }
  }
}

// coef = 2*alpha*beta/size. The transposed window of channel c is [c - after, c + before].
template <typename T, typename I>
__global__ void minicnn_lrn_backward(const T* __restrict__ x, const T* __restrict__ y,
                                     const T* __restrict__ scale, const T* __restrict__ gy,
                                     T* __restrict__ gx, I total, int C, I S, int chunk,
                                     int size, T beta, T coef) {
  const int before = size / 2, after = (size - 1) / 2;
  const int chunks = (C + chunk - 1) / chunk;
  for (I idx = (I)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (I)blockDim.x * gridDim.x) {
    const I p = idx % S;
    const I t1 = idx / S;
    const int q = (int)(t1 % chunks);
    const I n = t1 / chunks;
    const I off = n * C * S + p;
    const T* yp = y + off;
    const T* sp = scale + off;
    const T* gp = gy + off;
    const int c0 = q * chunk;
    const int c1 = c0 + chunk < C ? c0 + chunk : C;
    // window sum of t = gy * y / scale over [c - after, c + before]
    double s = 0.0;
    {
      const int lo = c0 - after < 0 ? 0 : c0 - after;
      const int hi = c0 + before > C - 1 ? C - 1 : c0 + before;
      for (int c = lo; c <= hi; ++c) {
        const I o = (I)c * S;
        s += (double)(gp[o] * yp[o] / sp[o]);
      }
    }
    for (int c = c0; c < c1; ++c) {
      const I o = off + (I)c * S;
      const T sc = scale[o];
      gx[o] = gy[o] * minicnn_pow_neg_beta<T>(sc, beta) - coef * x[o] * (T)s;
      const int in = c + 1 + before, out = c - after;
      if (in < C) {
        const I oi = (I)in * S;
        s += (double)(gp[oi] * yp[oi] / sp[oi]);
      }
      if (out >= 0) {
        const I oo = (I)out * S;
        s -= (double)(gp[oo] * yp[oo] / sp[oo]);
      }
    }
  }
}

#define MINICNN_LRN_INSTANTIATE(T, I)                                                        \
  template __global__ void minicnn_lrn_forward<T, I>(const T*, T*, T*, I, int, I, int, int, \
                                                     T, T, T);                               \
  template __global__ void minicnn_lrn_backward<T, I>(const T*, const T*, const T*, const T*, \
                                                      T*, I, int, I, int, int, T, T);

MINICNN_LRN_INSTANTIATE(float, int)
MINICNN_LRN_INSTANTIATE(float, long long)
MINICNN_LRN_INSTANTIATE(double, int)
MINICNN_LRN_INSTANTIATE(double, long long)
