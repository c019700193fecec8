// The AVX2 Q8_0 prompt tile's inner loop alone: what one k-pair step of the 4-row × 16-token
// tile (`tile/lanes.rs`, `Avx2::block_q8_0`) costs on this CPU when nothing else runs, so
// `bench/avx2_tile_bound.sh` can say how close the whole tile (`jslm bench --kernels`) is
// to it.
//
// One step, as the compiler emits it for the tile: two loads of 8 tokens' activation pairs,
// four broadcast weight pairs (one per row), and per tile element one `vpmaddwd` and one
// `vpaddd` into its i32 accumulator: 8 × 16 = 128 multiply-adds. Written in assembly so the
// instruction mix is exactly the tile's, whatever the C compiler would make of intrinsics.
//
//   cc -O2 -o avx2_tile_bound bench/avx2_tile_bound.c && ./avx2_tile_bound
//
// Prints ns per step for: the arithmetic alone (registers only), the whole step with its
// operands in L1, and the whole step with the operands streamed as a tile streams them over
// rows of 4,096 and 14,336 values (activations from L2/L3, weights from L1/L2).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

#define CLOBBERS                                                                           \
  "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", \
      "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"

// ymm14/15: two vectors of 8 tokens' pairs; ymm9..12: four rows' broadcast pairs;
// ymm0..7: the 4 × 2 accumulators; ymm8/13: the products.
#define ARITHMETIC                                                  \
  "vpmaddwd %%ymm12,%%ymm14,%%ymm13\n vpaddd %%ymm13,%%ymm0,%%ymm0\n" \
  "vpmaddwd %%ymm12,%%ymm15,%%ymm13\n vpaddd %%ymm13,%%ymm1,%%ymm1\n" \
  "vpmaddwd %%ymm11,%%ymm14,%%ymm13\n vpaddd %%ymm13,%%ymm2,%%ymm2\n" \
  "vpmaddwd %%ymm11,%%ymm15,%%ymm13\n vpaddd %%ymm13,%%ymm3,%%ymm3\n" \
  "vpmaddwd %%ymm10,%%ymm14,%%ymm13\n vpaddd %%ymm13,%%ymm4,%%ymm4\n" \
  "vpmaddwd %%ymm10,%%ymm15,%%ymm13\n vpaddd %%ymm13,%%ymm5,%%ymm5\n" \
  "vpmaddwd %%ymm9,%%ymm14,%%ymm8\n vpaddd %%ymm8,%%ymm6,%%ymm6\n"    \
  "vpmaddwd %%ymm9,%%ymm15,%%ymm8\n vpaddd %%ymm8,%%ymm7,%%ymm7\n"

#define STEPS 20000000L

__attribute__((noinline)) static void registers_only(void) {
  for (long i = 0; i < STEPS; i++) __asm__ volatile(ARITHMETIC ::: CLOBBERS);
}

// The step with its operands at a0/a1 (32 bytes each) and w0..w3 (4 bytes each), advancing
// as the tile advances: `pairs` steps per row, then again from the start. The loop is the
// tile's own: one index register scaled into every address, `add`, `cmp`, `jne`.
__attribute__((noinline)) static void streamed(const uint8_t *a0, const uint8_t *a1,
                                               const uint8_t *w0, const uint8_t *w1,
                                               const uint8_t *w2, const uint8_t *w3,
                                               long pairs, long sweeps) {
  for (long s = 0; s < sweeps; s++) {
    long i = 0, end = 4 * pairs;
    __asm__ volatile(
        "1:\n"
        "vmovdqu (%[a0],%[i],8),%%ymm14\n vmovdqu (%[a1],%[i],8),%%ymm15\n"
        "vpbroadcastd (%[w0],%[i],1),%%ymm12\n vpbroadcastd (%[w1],%[i],1),%%ymm11\n"
        "vpbroadcastd (%[w2],%[i],1),%%ymm10\n vpbroadcastd (%[w3],%[i],1),%%ymm9\n" ARITHMETIC
        "add $4,%[i]\n cmp %[end],%[i]\n jne 1b\n"
        : [i] "+r"(i)
        : [a0] "r"(a0), [a1] "r"(a1), [w0] "r"(w0), [w1] "r"(w1), [w2] "r"(w2), [w3] "r"(w3),
          [end] "r"(end)
        : CLOBBERS, "cc");
  }
}

// ns per step over a row of `cols` values (cols / 2 steps); cols = 64 keeps it all in L1.
static double time_row(uint8_t *acts, uint8_t *weights, long cols) {
  long pairs = cols / 2, row = pairs * 4 + 64;
  long sweeps = STEPS / pairs;
  const uint8_t *a1 = acts + pairs * 32 + 4096;
  double t = now();
  streamed(acts, a1, weights, weights + row, weights + 2 * row, weights + 3 * row, pairs, sweeps);
  return (now() - t) * 1e9 / (double)(sweeps * pairs);
}

int main(void) {
  uint8_t *acts = aligned_alloc(64, 1 << 22), *weights = aligned_alloc(64, 1 << 20);
  for (long i = 0; i < (1 << 22); i++) acts[i] = (uint8_t)(i * 7);
  for (long i = 0; i < (1 << 20); i++) weights[i] = (uint8_t)(i * 13);
  double best[4] = {1e9, 1e9, 1e9, 1e9};
  for (int pass = 0; pass < 3; pass++) {
    double t = now();
    registers_only();
    double r = (now() - t) * 1e9 / STEPS;
    double l1 = time_row(acts, weights, 64);
    double c4 = time_row(acts, weights, 4096);
    double c14 = time_row(acts, weights, 14336);
    double v[4] = {r, l1, c4, c14};
    for (int i = 0; i < 4; i++) best[i] = v[i] < best[i] ? v[i] : best[i];
  }
  printf("registers %.3f | L1 %.3f | 4096 %.3f | 14336 %.3f\n", best[0], best[1], best[2],
         best[3]);
  return 0;
}
