// Fused bias + ReLU over an (N, C, S) array, S the product of the trailing axes:
//   y[n, c, s] = max(x[n, c, s] + b[c], 0)
// One pass over memory instead of two (a broadcast add, then a ReLU). `b` may be absent
// (has_bias = 0): then it is a plain ReLU. A NaN stays NaN (NaN < 0 is false), as in
// torch.relu and in minicnn's ReLU (x * (x > 0)).

template <typename T, typename I>
__global__ void minicnn_bias_relu(const T* __restrict__ x, const T* __restrict__ b,
                                  T* __restrict__ y, I total, int C, I S, int has_bias) {
  for (I idx = (I)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (I)blockDim.x * gridDim.x) {
    T v = x[idx];
    if (has_bias) v += b[(int)((idx / S) % C)];
    y[idx] = v < T(0) ? T(0) : v;
  }
}

#define MINICNN_BIAS_RELU_INSTANTIATE(T, I) \
  template __global__ void minicnn_bias_relu<T, I>(const T*, const T*, T*, I, int, I, int);

MINICNN_BIAS_RELU_INSTANTIATE(float, int)
MINICNN_BIAS_RELU_INSTANTIATE(float, long long)
MINICNN_BIAS_RELU_INSTANTIATE(double, int)
MINICNN_BIAS_RELU_INSTANTIATE(double, long long)
