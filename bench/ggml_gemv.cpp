// llama.cpp's Q4_K decode matmul as llama.cpp runs it on x86 with AVX2: the weight in the CPU
// backend's repack buffer (8 rows interleaved, `ggml_gemv_q4_K_8x8_q8_K`; the second copy of
// the weights that makes llama-bench's peak RSS 7.4 GiB for a 4.1 GiB file) times one f32
// activation row, through ggml's own graph, one thread, rows in cache. Per call there is a
// fixed cost (the graph, quantizing the activations): the difference between 256 and 64 rows
// is 192 rows' worth, in ns per weight block. Built and run by bench/compare_kernels.sh.
#include "ggml.h"
#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>
ggml_backend_buffer_type_t ggml_backend_cpu_repack_buffer_type(void);
extern "C" void quantize_row_q4_K_ref(const float *x, void *y, int64_t k);

/// Best ns per `ggml_backend_graph_compute` of a `rows × 4096` Q4_K weight (in the repack
/// buffer) times one row.
static double run(int rows, int reps) {
  const int cols = 4096;
  ggml_backend_t be = ggml_backend_cpu_init();
  ggml_backend_cpu_set_n_threads(be, 1);
  ggml_init_params wp = {ggml_tensor_overhead() * 4, nullptr, true};
  ggml_context *wctx = ggml_init(wp);
  ggml_tensor *w = ggml_new_tensor_2d(wctx, GGML_TYPE_Q4_K, cols, rows);
  ggml_backend_buffer_t wbuf =
      ggml_backend_alloc_ctx_tensors_from_buft(wctx, ggml_backend_cpu_repack_buffer_type());
  std::vector<float> f((size_t)rows * cols);
  uint64_t s = 7;
  for (auto &v : f) { s = s * 6364136223846793005ull + 1442695040888963407ull; v = (float)((s >> 40) / 16777216.0) * 2 - 1; }
  std::vector<uint8_t> q(ggml_nbytes(w));
  for (int r = 0; r < rows; r++) quantize_row_q4_K_ref(&f[(size_t)r * cols], q.data() + (size_t)r * ggml_row_size(GGML_TYPE_Q4_K, cols), cols);
  ggml_backend_tensor_set(w, q.data(), 0, q.size());
  ggml_init_params cp = {ggml_tensor_overhead() * 8 + ggml_graph_overhead(), nullptr, true};
  ggml_context *cctx = ggml_init(cp);
  ggml_tensor *x = ggml_new_tensor_2d(cctx, GGML_TYPE_F32, cols, 1);
  ggml_tensor *y = ggml_mul_mat(cctx, w, x);
  ggml_cgraph *gf = ggml_new_graph(cctx);
  ggml_build_forward_expand(gf, y);
  ggml_backend_buffer_t cbuf = ggml_backend_alloc_ctx_tensors(cctx, be);
  ggml_backend_tensor_set(x, f.data(), 0, cols * sizeof(float));
  double best = 1e300;
  for (int pass = 0; pass < 20; pass++) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; i++) ggml_backend_graph_compute(be, gf);
    double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / reps;
    if (ns < best) best = ns;
  }
  ggml_backend_buffer_free(cbuf); ggml_backend_buffer_free(wbuf); ggml_free(cctx); ggml_free(wctx); ggml_backend_free(be);
  return best;
}

int main() {
  ggml_log_set([](ggml_log_level, const char *, void *) {}, nullptr);
  double small = run(64, 2000), big = run(256, 500);
  printf("| q4_k | llama.cpp | repacked 8x8 | %.2f |\n", (big - small) / (192.0 * 16));
}
