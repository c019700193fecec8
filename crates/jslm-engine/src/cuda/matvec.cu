// Matrix-vector products for one token on CUDA: y[r] = sum_k w[r, k] * x[k] for bf16 or f16
// weights and activations, f32 accumulation, one warp per row of w.
//
// Why not cuBLAS: candle sends a one-token product through cublasGemmStridedBatchedEx, which
// on the H200 streamed bf16 weights at about half the memory bandwidth and paid cuBLAS's own
// per-call cost seven times per layer (BENCHMARKS.md, "GPU"). A decode step is nothing but
// these products, so this is the one kernel worth owning. Compiled to PTX for compute_75 (the
// oldest target CUDA 13 builds) by build.rs; the driver compiles it for the GPU it runs on.
//
// Requires k % 8 == 0 and w, x 16-byte aligned (the Rust side checks both).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

struct Bf16 {
  static __device__ __forceinline__ float lo(uint32_t v) { return __uint_as_float(v << 16); }
  static __device__ __forceinline__ float hi(uint32_t v) { return __uint_as_float(v & 0xffff0000u); }
  static __device__ __forceinline__ void store(void* y, int i, float v) {
    static_cast<__nv_bfloat16*>(y)[i] = __float2bfloat16_rn(v);
  }
};

struct F16 {
  static __device__ __forceinline__ float lo(uint32_t v) {
    return __half2float(__ushort_as_half(static_cast<unsigned short>(v & 0xffffu)));
  }
  static __device__ __forceinline__ float hi(uint32_t v) {
    return __half2float(__ushort_as_half(static_cast<unsigned short>(v >> 16)));
  }
  static __device__ __forceinline__ void store(void* y, int i, float v) {
    static_cast<__half*>(y)[i] = __float2half_rn(v);
  }
};

// Eight products of one 16-byte vector of weights and one of activations.
template <typename T>
__device__ __forceinline__ float dot8(uint4 a, uint4 b, float s) {
  s = fmaf(T::lo(a.x), T::lo(b.x), s);
  s = fmaf(T::hi(a.x), T::hi(b.x), s);
  s = fmaf(T::lo(a.y), T::lo(b.y), s);
  s = fmaf(T::hi(a.y), T::hi(b.y), s);
  s = fmaf(T::lo(a.z), T::lo(b.z), s);
  s = fmaf(T::hi(a.z), T::hi(b.z), s);
  s = fmaf(T::lo(a.w), T::lo(b.w), s);
  s = fmaf(T::hi(a.w), T::hi(b.w), s);
  return s;
}

// k8 = k / 8: the row length in 16-byte vectors. Four loads in flight per lane: weights are
// read once (streaming loads, no L1 allocation), the activations by every warp (cached).
template <typename T>
__device__ __forceinline__ void matvec(const uint4* __restrict__ w, const uint4* __restrict__ x,
                                       void* __restrict__ y, int rows, int k8) {
  const int lane = threadIdx.x & 31;
  const int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (row >= rows) return;  // the whole warp: row is per warp
  const uint4* wr = w + static_cast<size_t>(row) * k8;
  float acc0 = 0.f, acc1 = 0.f, acc2 = 0.f, acc3 = 0.f;
  int i = lane;
  for (; i + 96 < k8; i += 128) {
    const uint4 a0 = __ldcs(wr + i), a1 = __ldcs(wr + i + 32);
    const uint4 a2 = __ldcs(wr + i + 64), a3 = __ldcs(wr + i + 96);
    acc0 = dot8<T>(a0, __ldg(x + i), acc0);
    acc1 = dot8<T>(a1, __ldg(x + i + 32), acc1);
    acc2 = dot8<T>(a2, __ldg(x + i + 64), acc2);
    acc3 = dot8<T>(a3, __ldg(x + i + 96), acc3);
  }
  for (; i < k8; i += 32) acc0 = dot8<T>(__ldcs(wr + i), __ldg(x + i), acc0);
  float acc = (acc0 + acc1) + (acc2 + acc3);
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, offset);
  if (lane == 0) T::store(y, row, acc);
}

extern "C" __global__ void matvec_bf16(const uint4* __restrict__ w, const uint4* __restrict__ x,
                                       void* __restrict__ y, int rows, int k8) {
  matvec<Bf16>(w, x, y, rows, k8);
}

extern "C" __global__ void matvec_f16(const uint4* __restrict__ w, const uint4* __restrict__ x,
                                      void* __restrict__ y, int rows, int k8) {
  matvec<F16>(w, x, y, rows, k8);
}
