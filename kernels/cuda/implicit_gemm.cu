// Convolution forward as an implicit GEMM: the im2col matrix is never stored; each tile of
// it is gathered from x straight into shared memory.
//
// For group g the convolution is the product C = A B with
//   A (M x K) = w[g*M + m, c, i, j], row m, column kk = c*kh*kw + i*kw + j  (w's own layout)
//   B (K x P) = x_pad[n, g*Cg + c, oy*sh + i*dh, ox*sw + j*dw], column p = n*oh*ow + oy*ow + ox
//   y[n, g*M + m, oy, ox] = C[m, p] + b[g*M + m]
// with M = F/G output channels per group, K = Cg*kh*kw, P = N*oh*ow.
//
// A block computes a BM x BN tile of C in steps of BK along K. Each step loads the A tile
// (BM x BK) and the B tile (BK x BN) into shared memory; every thread then owns a TM x TN
// sub-tile held in registers, read from shared memory four values at a time (rows and
// columns of a thread sit in groups of four spaced a warp-width apart, so the vector loads
// are free of bank conflicts). Loads of the next step go to registers while this step
// computes (double-buffered shared memory, one barrier per step). A row of the A tile is
// padded by 16 bytes, so that the transposing stores into it do not hit one bank.
//
// A column's pixel (n, oy, ox) is decoded once per thread; a row's offset within the
// receptive field comes from `ktab`, K entries {c*H*W + i*dh*W + j*dw, i*dh, j*dw, 0}
// that the launcher builds once per geometry, so the inner loads need no division.

template <typename T> struct MinicnnVec4;
template <> struct MinicnnVec4<float> {
  static __device__ __forceinline__ void load(const float* p, float* r) {
    const float4 v = *reinterpret_cast<const float4*>(p);
    r[0] = v.x; r[1] = v.y; r[2] = v.z; r[3] = v.w;
  }
};
template <> struct MinicnnVec4<double> {
  static __device__ __forceinline__ void load(const double* p, double* r) {
    const double2 a = *reinterpret_cast<const double2*>(p);
    const double2 b = *reinterpret_cast<const double2*>(p + 2);
    r[0] = a.x; r[1] = a.y; r[2] = b.x; r[3] = b.y;
  }
};

template <typename T, int BM, int BN, int BK, int TM, int TN, int MINB>
__global__ void __launch_bounds__((BM / TM) * (BN / TN), MINB)
minicnn_conv2d_implicit_gemm(const T* __restrict__ x, const T* __restrict__ w,
                             const T* __restrict__ bias, const int4* __restrict__ ktab,
                             T* __restrict__ y, int P, int C, int HW, int W, int H, int F,
                             int ohw, int ow, int Cg, int M, int K, int sh, int sw, int ph,
                             int pw, int has_bias) {
  constexpr int TX = BN / TN, TY = BM / TM, NT = TX * TY;
  constexpr int APAD = 16 / (int)sizeof(T);
  constexpr int A_LOADS = BM * BK / NT, A_STEP = NT / BK;
  constexpr int B_LOADS = BK * BN / NT, B_STEP = NT / BN;
  static_assert(TM % 4 == 0 && TN % 4 == 0, "TM and TN must be multiples of 4");
  static_assert(BM % TM == 0 && BN % TN == 0, "tiles must divide evenly");
  static_assert(NT % BK == 0 && NT % BN == 0, "thread count must cover the tile rows");
  static_assert(A_LOADS * NT == BM * BK && B_LOADS * NT == BK * BN, "loads cover the tiles");

  __shared__ __align__(16) T As[2][BK][BM + APAD];
  __shared__ __align__(16) T Bs[2][BK][BN];

  const int tid = threadIdx.x;
  const int tx = tid % TX, ty = tid / TX;
  const int g = blockIdx.z;
  const int m0 = blockIdx.y * BM;
  const int p0 = blockIdx.x * BN;

  // This thread's B column: one output pixel, decoded once.
  const int bc = tid % BN, br = tid / BN;
  const int p = p0 + bc;
  const bool p_in = p < P;
  int n = 0, oy = 0, ox = 0;
  if (p_in) {
    n = p / ohw;
    const int r = p - n * ohw;
    oy = r / ow;
    ox = r - oy * ow;
  }
  const int ih0 = oy * sh - ph, iw0 = ox * sw - pw;
  const T* xg = x + ((long long)n * C + (long long)g * Cg) * HW + ih0 * W + iw0;

  // This thread's A loads: column ak of the tile, rows am + s*A_STEP.
  const int ak = tid % BK, am = tid / BK;
  const T* wg = w + (long long)g * M * K;

  T a_reg[A_LOADS], b_reg[B_LOADS];
  T acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = T(0);

  const int steps = (K + BK - 1) / BK;

  // Global -> registers: the tiles of step k0 (zeros outside A, B and the padding).
  auto load_tiles = [&](int k0) {
    const int kA = k0 + ak;
#pragma unroll
    for (int s = 0; s < A_LOADS; ++s) {
      const int m = m0 + am + s * A_STEP;
      a_reg[s] = (m < M && kA < K) ? wg[(long long)m * K + kA] : T(0);
    }
#pragma unroll
    for (int s = 0; s < B_LOADS; ++s) {
      const int kB = k0 + br + s * B_STEP;
      T v = T(0);
      if (p_in && kB < K) {
        const int4 e = ktab[kB];
        if ((unsigned)(ih0 + e.y) < (unsigned)H && (unsigned)(iw0 + e.z) < (unsigned)W)
          v = xg[e.x];
      }
      b_reg[s] = v;
    }
  };
  // Registers -> shared buffer `buf`.
  auto store_tiles = [&](int buf) {
#pragma unroll
    for (int s = 0; s < A_LOADS; ++s) As[buf][ak][am + s * A_STEP] = a_reg[s];
#pragma unroll
    for (int s = 0; s < B_LOADS; ++s) Bs[buf][br + s * B_STEP][bc] = b_reg[s];
  };

  load_tiles(0);
  store_tiles(0);
  __syncthreads();

  for (int step = 0; step < steps; ++step) {
    const int cur = step & 1;
    const bool more = step + 1 < steps;
    if (more) load_tiles((step + 1) * BK);
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      T a[TM], b[TN];
#pragma unroll
      for (int q = 0; q < TM / 4; ++q)
        MinicnnVec4<T>::load(&As[cur][kk][q * 4 * TY + ty * 4], a + 4 * q);
#pragma unroll
      for (int q = 0; q < TN / 4; ++q)
        MinicnnVec4<T>::load(&Bs[cur][kk][q * 4 * TX + tx * 4], b + 4 * q);
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] += a[i] * b[j];
    }
    if (more) store_tiles(cur ^ 1);
    __syncthreads();
  }

  // Epilogue: column j of this thread is pixel p0 + col(j), decoded once per column.
#pragma unroll
  for (int j = 0; j < TN; ++j) {
    const int pj = p0 + (j / 4) * 4 * TX + tx * 4 + (j % 4);
    if (pj >= P) continue;
    const int nj = pj / ohw;
    T* yj = y + (long long)nj * F * ohw + (pj - nj * ohw);
#pragma unroll
    for (int i = 0; i < TM; ++i) {
      const int m = m0 + (i / 4) * 4 * TY + ty * 4 + (i % 4);
      if (m >= M) continue;
      const int f = g * M + m;
      yj[(long long)f * ohw] = acc[i][j] + (has_bias ? bias[f] : T(0));
    }
  }
}

#define MINICNN_IGEMM_INSTANTIATE(T, BM, BN, BK, TM, TN, MINB)                              \
  template __global__ void minicnn_conv2d_implicit_gemm<T, BM, BN, BK, TM, TN, MINB>(        \
      const T*, const T*, const T*, const int4*, T*, int, int, int, int, int, int, int, int, \
      int, int, int, int, int, int, int, int);

// The tile shapes the launcher chooses from (kernels/cuda/implicit_gemm.py, CONFIGS).
MINICNN_IGEMM_INSTANTIATE(float, 128, 128, 8, 8, 8, 1)
MINICNN_IGEMM_INSTANTIATE(float, 64, 128, 8, 8, 8, 2)
MINICNN_IGEMM_INSTANTIATE(float, 32, 128, 8, 4, 8, 2)
MINICNN_IGEMM_INSTANTIATE(double, 64, 64, 8, 4, 4, 2)
MINICNN_IGEMM_INSTANTIATE(double, 32, 64, 8, 4, 4, 2)
