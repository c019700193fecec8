// llama.cpp's one-token dot products (`ggml_vec_dot_*`, what its decode runs per weight row)
// timed as `jslm bench --kernels` times ours: 64 rows × 4,096 columns of random values in
// [-1, 1) quantized by ggml's own reference quantizers, the rows in cache, one thread, the
// best of 20 passes of 200 sweeps, in ns per weight block. Built and run by
// bench/compare_kernels.sh against the libggml-cpu of bench/compare_llama_cpp.sh's builds.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void ggml_cpu_init(void);
void quantize_row_q4_K_ref(const float *x, void *y, int64_t k);
void quantize_row_q6_K_ref(const float *x, void *y, int64_t k);
void quantize_row_q8_0_ref(const float *x, void *y, int64_t k);
void quantize_row_q8_K_ref(const float *x, void *y, int64_t k);
typedef void (*vec_dot)(int n, float *s, size_t bs, const void *vx, size_t bx, const void *vy,
                        size_t by, int nrc);
void ggml_vec_dot_q4_K_q8_K(int, float *, size_t, const void *, size_t, const void *, size_t, int);
void ggml_vec_dot_q6_K_q8_K(int, float *, size_t, const void *, size_t, const void *, size_t, int);
void ggml_vec_dot_q8_0_q8_0(int, float *, size_t, const void *, size_t, const void *, size_t, int);

enum { COLS = 4096, ROWS = 64, PASSES = 20, SWEEPS = 200 };

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

static uint64_t lcg = 7;
static float value(void) {
  lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((lcg >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}

typedef struct {
  const char *name;
  int block_values, block_bytes, act_block_bytes;
  void (*quantize_weights)(const float *, void *, int64_t);
  void (*quantize_acts)(const float *, void *, int64_t);
  vec_dot dot;
} kernel;

int main(void) {
  ggml_cpu_init();
  const kernel kernels[] = {
      {"q4_k", 256, 144, 292, quantize_row_q4_K_ref, quantize_row_q8_K_ref, ggml_vec_dot_q4_K_q8_K},
      {"q6_k", 256, 210, 292, quantize_row_q6_K_ref, quantize_row_q8_K_ref, ggml_vec_dot_q6_K_q8_K},
      {"q8_0", 32, 34, 34, quantize_row_q8_0_ref, quantize_row_q8_0_ref, ggml_vec_dot_q8_0_q8_0},
  };
  float *w = malloc(sizeof(float) * ROWS * COLS), *x = malloc(sizeof(float) * COLS);
  for (int i = 0; i < ROWS * COLS; i++) w[i] = value();
  for (int i = 0; i < COLS; i++) x[i] = value();
  for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
    const kernel *kn = &kernels[k];
    size_t row_bytes = (size_t)COLS / kn->block_values * kn->block_bytes;
    uint8_t *qw = aligned_alloc(64, (ROWS * row_bytes + 63) / 64 * 64);
    uint8_t *qx = aligned_alloc(64, ((size_t)COLS / kn->block_values * kn->act_block_bytes + 63) / 64 * 64);
    for (int r = 0; r < ROWS; r++) kn->quantize_weights(w + (size_t)r * COLS, qw + r * row_bytes, COLS);
    kn->quantize_acts(x, qx, COLS);
    double best = 1e300, sum = 0;
    for (int pass = 0; pass < PASSES; pass++) {
      double t0 = now_ns();
      for (int sweep = 0; sweep < SWEEPS; sweep++)
        for (int r = 0; r < ROWS; r++) {
          float s;
          kn->dot(COLS, &s, 0, qw + r * row_bytes, 0, qx, 0, 1);
          sum += s;
        }
      double per_block = (now_ns() - t0) / ((double)SWEEPS * ROWS * COLS / kn->block_values);
      if (per_block < best) best = per_block;
    }
    // The sum keeps the calls; it is printed so that it is used.
    printf("| %s | llama.cpp | rows | %.2f | (checksum %.3g)\n", kn->name, best, sum);
    free(qw);
    free(qx);
  }
  free(w);
  free(x);
  return 0;
}
