// im2col and col2im for NCHW tensors (the contract: minicnn/reference/conv.py).
//
//   cols[c*kh*kw + i*kw + j, (n*oh + oy)*ow + ox] = x_pad[n, c, oy*sh + i*dh, ox*sw + j*dw]
//
// (cols is (C*kh*kw, N*oh*ow): the batch side by side, so the conv is one GEMM per batch.)
// im2col: one thread per (n, c, oy, ox) writes that pixel's kh*kw column entries; threads
// next to each other write next-door columns, so every store of a warp is coalesced.
// col2im is the adjoint, written as a gather: one thread per input cell sums the column
// entries that read it, in the reference's (i, j) row-major order, so no two threads write
// one cell and no atomics are needed (and the sum is deterministic).
//
// T: float or double; I: int or long long (chosen by the launcher from the array sizes).

template <typename T, typename I>
__global__ void minicnn_im2col(const T* __restrict__ x, T* __restrict__ cols, I total,
                               int C, int H, int W, int kh, int kw, int sh, int sw, int ph, int pw,
                               int dh, int dw, int oh, int ow) {
  const I plane = (I)oh * ow;
  const I row = total / C;  // N*oh*ow: the length of a row of cols
  for (I idx = (I)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (I)blockDim.x * gridDim.x) {
    const int ox = (int)(idx % ow);
    const I t1 = idx / ow;
    const int oy = (int)(t1 % oh);
    const I nc = t1 / oh;  // n*C + c
    const I n = nc / C;
    const int c = (int)(nc - n * C);
    const T* xp = x + nc * ((I)H * W);
    T* cp = cols + (I)c * kh * kw * row + n * plane + (I)oy * ow + ox;
    const int ih0 = oy * sh - ph;
    const int iw0 = ox * sw - pw;
    for (int i = 0; i < kh; ++i) {
      const int ih = ih0 + i * dh;
      const bool row_in = (unsigned)ih < (unsigned)H;
      for (int j = 0; j < kw; ++j) {
        const int iw = iw0 + j * dw;
        *cp = (row_in && (unsigned)iw < (unsigned)W) ? xp[ih * W + iw] : T(0);
        cp += row;
      }
    }
  }
}

template <typename T, typename I>
__global__ void minicnn_col2im(const T* __restrict__ cols, T* __restrict__ x, I total,
                               int C, int H, int W, int kh, int kw, int sh, int sw, int ph, int pw,
                               int dh, int dw, int oh, int ow) {
  const I plane = (I)oh * ow;
  const I row = total / ((I)C * H * W) * plane;  // N*oh*ow: the length of a row of cols
  for (I idx = (I)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (I)blockDim.x * gridDim.x) {
    const int w = (int)(idx % W);
    const I t1 = idx / W;
    const int h = (int)(t1 % H);
    const I nc = t1 / H;
    const I n = nc / C;
    const int c = (int)(nc - n * C);
    const T* cp = cols + (I)c * kh * kw * row + n * plane;
    T acc = T(0);
    for (int i = 0; i < kh; ++i) {
      const int hh = h + ph - i * dh;  // = oy*sh for the window row that reads h
      if (hh < 0) break;               // hh only falls as i grows
      if (hh % sh) continue;
      const int oy = hh / sh;
      if (oy >= oh) continue;
      for (int j = 0; j < kw; ++j) {
        const int ww = w + pw - j * dw;
        if (ww < 0) break;
        if (ww % sw) continue;
        const int ox = ww / sw;
        if (ox >= ow) continue;
        acc += cp[(I)(i * kw + j) * row + oy * ow + ox];
      }
    }
    x[idx] = acc;
  }
}

#define MINICNN_CONV_INSTANTIATE(T, I)                                                        \
  template __global__ void minicnn_im2col<T, I>(const T*, T*, I, int, int, int, int, int,    \
                                                int, int, int, int, int, int, int, int);     \
  template __global__ void minicnn_col2im<T, I>(const T*, T*, I, int, int, int, int, int,    \
                                                int, int, int, int, int, int, int, int);

MINICNN_CONV_INSTANTIATE(float, int)
MINICNN_CONV_INSTANTIATE(float, long long)
MINICNN_CONV_INSTANTIATE(double, int)
MINICNN_CONV_INSTANTIATE(double, long long)
