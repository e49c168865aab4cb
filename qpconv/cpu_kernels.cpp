// Fused CPU kernels of the exact simulation (book chapter 6, "Gradients"; Python side, the only caller: qpconv/cpu_kernels.py).
//
// Conventions, as in qpconv/simulation.py:
//   pixels   (P, C)                real, contiguous: one unnormalised channel vector per row;
//   stacked  (K * 2 * 2**n, C)     real, contiguous: every circuit's [A; B], the real and imaginary
//                                  parts of the first C columns of its unitary U = A + iB;
//   expectations (P, K * n)        [p, k * n + i] = <Z_i> of circuit k on pixel p
//                                  = sum_j |(U_k x_p)_j|^2 z_i(j) / |x_p|^2 (0 for an all-zero pixel),
//                                  with z_i(j) = +1 or -1 as bit i of j (wire 0 = most significant) is 0 or 1.
//
// The pixels are cut into chunks of `pixels_per_chunk` pixels, and the chunks into a fixed number of
// groups of consecutive chunks (Plan::groups, which depends on the sizes only, never on the thread
// count). Each thread takes whole groups, one after the other from a shared counter (a stalled core on
// a shared machine holds no one back), and runs each chunk's matrix product and its elementwise work back
// to back while the chunk's amplitudes are in that core's cache. No thread waits for another until the
// end.
//
// Determinism: every output row depends on its own chunk only, and the weight gradient, a sum over all
// pixels, is summed chunk by chunk in order within a group and then group by group in order. Which thread
// computes a group changes nothing, so outputs and gradients are bit-identical for any number of threads.
// For that, every matrix product runs on one thread: MKL (PyTorch's BLAS on x86) would otherwise spread a
// product called inside the parallel region over threads of its own and sum in an order that depends on
// how many (see SingleThreadedBlas).

#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <vector>

// MKL's thread-local thread count (MKL_Set_Num_Threads_Local, its C interface); declared weak, so that with another BLAS
// (OpenBLAS, Accelerate, ...) it is null and nothing is called.
extern "C" int MKL_Set_Num_Threads_Local(int) __attribute__((weak));

namespace {

// While alive, matrix products called by this thread run on this thread alone.
class SingleThreadedBlas {
 public:
  SingleThreadedBlas() : previous_(MKL_Set_Num_Threads_Local ? MKL_Set_Num_Threads_Local(1) : 0) {}
  ~SingleThreadedBlas() {
    if (MKL_Set_Num_Threads_Local) MKL_Set_Num_Threads_Local(previous_);
  }
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  int previous_;
};

// For each of `n_rows` rows of 2 * dim amplitudes [real | imaginary] (one row per pixel and circuit):
// out[r * n + i] = sum_j (re_j^2 + im_j^2) z_i(j). `folded` is scratch space of dim values.
template <typename T>
void signed_square_sums(const T* amplitudes, int64_t n_rows, int64_t dim, int64_t n, T* out, T* folded) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const T* re = amplitudes + r * 2 * dim;
    const T* im = re + dim;
    T* row_out = out + r * n;
    for (int64_t j = 0; j < dim; ++j) folded[j] = re[j] * re[j] + im[j] * im[j];
    // Wire i is the leading bit of what is left: sum the upper half (bit 1), then fold it onto the lower half.
    for (int64_t i = 0, half = dim / 2; i < n; ++i, half /= 2) {
      T upper = 0;
#pragma omp simd reduction(+ : upper)
      for (int64_t j = 0; j < half; ++j) upper += folded[half + j];
      for (int64_t j = 0; j < half; ++j) folded[j] += folded[half + j];
      row_out[i] = upper;
    }
    const T total = folded[0];
    for (int64_t i = 0; i < n; ++i) row_out[i] = total - 2 * row_out[i];
  }
}

// For each of `n_rows` rows: multiplies both halves of the row's 2 * dim amplitudes by
// w_j = sum_i grad[r * n + i] z_i(j), in place. `weights` is scratch space of dim values.
template <typename T>
void scale_by_signed_grads(T* amplitudes, const T* grad, int64_t n_rows, int64_t dim, int64_t n, T* weights) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const T* g = grad + r * n;
    T total = 0;
    for (int64_t i = 0; i < n; ++i) total += g[i];
    weights[0] = total;
    // Bit b of j belongs to wire n - 1 - b; setting it turns that wire's z from +1 to -1.
    for (int64_t b = 0, size = 1; b < n; ++b, size *= 2) {
      const T flip = 2 * g[n - 1 - b];
      for (int64_t j = 0; j < size; ++j) weights[size + j] = weights[j] - flip;
    }
    T* re = amplitudes + r * 2 * dim;
    T* im = re + dim;
    for (int64_t j = 0; j < dim; ++j) {
      re[j] *= weights[j];
      im[j] *= weights[j];
    }
  }
}

// 1 / |x|^2 of each of `n_pixels` rows of `channels` values (1 for an all-zero row, whose outputs and gradients are 0).
template <typename T>
void inverse_squared_norms(const T* pixels, int64_t n_pixels, int64_t channels, T* out) {
  for (int64_t p = 0; p < n_pixels; ++p) {
    const T* x = pixels + p * channels;
    T squared = 0;
#pragma omp simd reduction(+ : squared)
    for (int64_t c = 0; c < channels; ++c) squared += x[c] * x[c];
    out[p] = squared > 0 ? T(1) / squared : T(1);
  }
}

void check_operands(const torch::Tensor& pixels, const torch::Tensor& stacked, int64_t n_qubits, int64_t pixels_per_chunk) {
  TORCH_CHECK(pixels.device().is_cpu() && stacked.device().is_cpu(), "qpconv cpu kernels: tensors must be on the CPU");
  TORCH_CHECK(pixels.dim() == 2 && stacked.dim() == 2, "qpconv cpu kernels: pixels and stacked must be 2-D");
  TORCH_CHECK(pixels.is_contiguous() && stacked.is_contiguous(), "qpconv cpu kernels: pixels and stacked must be contiguous");
  TORCH_CHECK(pixels.scalar_type() == stacked.scalar_type(), "qpconv cpu kernels: pixels and stacked differ in dtype");
  TORCH_CHECK(stacked.size(1) == pixels.size(1), "qpconv cpu kernels: stacked has ", stacked.size(1), " columns, pixels have ",
              pixels.size(1), " channels");
  TORCH_CHECK(n_qubits >= 1 && n_qubits < 31 && stacked.size(0) % (int64_t{2} << n_qubits) == 0,
              "qpconv cpu kernels: stacked rows must be a multiple of 2 * 2**n_qubits");
  TORCH_CHECK(pixels_per_chunk >= 1, "qpconv cpu kernels: pixels_per_chunk must be positive");
}

// At most this many groups of chunks in the backward pass, so that the per-group partial weight gradients
// stay few and small (the backward pass runs on at most this many threads).
constexpr int64_t kMaxGroups = 8;
// ... and at most this many bytes of them.
constexpr int64_t kPartialBytes = int64_t{64} << 20;

// The sizes of one call, and how its pixels are cut into chunks and its chunks into groups.
struct Plan {
  int64_t n_pixels, channels, width, dim, outputs, pixels_per_chunk, chunks, groups, threads;

  // Chunks [first_chunk(g), first_chunk(g + 1)) form group g.
  int64_t first_chunk(int64_t group) const { return group * chunks / groups; }
};

// `grouped`: the chunks form at most kMaxGroups groups (the backward pass, which sums over them); otherwise
// every chunk is a group of its own (the forward pass, where nothing is summed across chunks).
Plan make_plan(const torch::Tensor& pixels, const torch::Tensor& stacked, int64_t n_qubits, int64_t pixels_per_chunk,
               bool grouped) {
  check_operands(pixels, stacked, n_qubits, pixels_per_chunk);
  Plan plan{};
  plan.n_pixels = pixels.size(0);
  plan.channels = pixels.size(1);
  plan.width = stacked.size(0);
  plan.dim = int64_t{1} << n_qubits;
  plan.outputs = plan.width / (2 * plan.dim) * n_qubits;
  plan.pixels_per_chunk = pixels_per_chunk;
  plan.chunks = (plan.n_pixels + pixels_per_chunk - 1) / pixels_per_chunk;
  const int64_t partial_bytes = std::max<int64_t>(1, plan.width * plan.channels * pixels.element_size());
  plan.groups = std::max<int64_t>(1, grouped ? std::min({plan.chunks, kMaxGroups, kPartialBytes / partial_bytes}) : plan.chunks);
  plan.threads = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), plan.groups));
  return plan;
}

// Calls body(group, first, start, length, amplitudes) once for every chunk of pixels [start, start + length),
// the chunks of each group in order, `first` true for the group's first chunk. `amplitudes` (length, width) =
// pixels[start : start + length] @ stacked^T, computed by the calling thread into its own scratch space (so the
// body works on cached data). Different groups may run on different threads at the same time.
template <typename Body>
void for_each_chunk(const Plan& plan, const torch::Tensor& pixels, const torch::Tensor& stacked, const Body& body) {
  if (plan.n_pixels == 0) return;
  auto scratch = at::empty({plan.threads, std::min(plan.pixels_per_chunk, plan.n_pixels), plan.width}, pixels.options());
  const auto stacked_t = stacked.t();
  std::atomic<int64_t> next{0};
  at::parallel_for(0, plan.threads, 1, [&](int64_t slot, int64_t /*end*/) {
    at::NoGradGuard no_grad;  // grad mode is thread-local, and on by default in a worker thread
    SingleThreadedBlas single_threaded;
    for (int64_t group = next++; group < plan.groups; group = next++) {
      for (int64_t chunk = plan.first_chunk(group); chunk < plan.first_chunk(group + 1); ++chunk) {
        const int64_t start = chunk * plan.pixels_per_chunk;
        const int64_t length = std::min(plan.pixels_per_chunk, plan.n_pixels - start);
        auto amplitudes = scratch[slot].narrow(0, 0, length);
        at::mm_out(amplitudes, pixels.narrow(0, start, length), stacked_t);
        body(group, chunk == plan.first_chunk(group), start, length, amplitudes);
      }
    }
  });
}

}  // namespace

// <Z_i> of every circuit on every pixel, (P, K * n): see the conventions at the top of this file.
torch::Tensor expectations(const torch::Tensor& pixels, const torch::Tensor& stacked, int64_t n_qubits,
                           int64_t pixels_per_chunk) {
  const Plan plan = make_plan(pixels, stacked, n_qubits, pixels_per_chunk, /*grouped=*/false);
  auto out = at::empty({plan.n_pixels, plan.outputs}, pixels.options());
  AT_DISPATCH_FLOATING_TYPES(pixels.scalar_type(), "expectations", [&] {
    for_each_chunk(plan, pixels, stacked, [&](int64_t /*group*/, bool /*first*/, int64_t start, int64_t length,
                                              const torch::Tensor& amplitudes) {
      std::vector<scalar_t> folded(plan.dim), inverse_norms(length);
      scalar_t* chunk_out = out.data_ptr<scalar_t>() + start * plan.outputs;
      signed_square_sums(amplitudes.data_ptr<scalar_t>(), length * plan.outputs / n_qubits, plan.dim, n_qubits, chunk_out,
                         folded.data());
      inverse_squared_norms(pixels.data_ptr<scalar_t>() + start * plan.channels, length, plan.channels, inverse_norms.data());
      for (int64_t p = 0; p < length; ++p)
        for (int64_t o = 0; o < plan.outputs; ++o) chunk_out[p * plan.outputs + o] *= inverse_norms[p];
    });
  });
  return out;
}

// Backward of expectations, given its output `out` and the gradient `grad` of the loss with respect to it,
// both (P, K * n). With q = |x|^2 and S = q * out:
//   dL/dx = (1/q) sum_i grad_i dS_i/dx - (2/q) (sum_i grad_i out_i) x,   dL/dstacked = (1/q) sum_i grad_i dS_i/dstacked,
// and dS_i/da = 2 a z_i for every amplitude a. Returns (grad of pixels or None, grad of stacked or None).
std::tuple<torch::Tensor, torch::Tensor> expectations_backward(const torch::Tensor& pixels, const torch::Tensor& stacked,
                                                               const torch::Tensor& out, const torch::Tensor& grad,
                                                               int64_t n_qubits, int64_t pixels_per_chunk,
                                                               bool need_pixels, bool need_stacked) {
  const Plan plan = make_plan(pixels, stacked, n_qubits, pixels_per_chunk, /*grouped=*/true);
  const int64_t channels = plan.channels, outputs = plan.outputs;
  for (const auto* tensor : {&out, &grad})
    TORCH_CHECK(tensor->is_contiguous() && tensor->scalar_type() == pixels.scalar_type() && tensor->dim() == 2 &&
                    tensor->size(0) == plan.n_pixels && tensor->size(1) == outputs,
                "qpconv cpu kernels: out and grad must be contiguous (P, K * n) tensors of the pixels' dtype");
  torch::Tensor grad_pixels = need_pixels ? at::empty_like(pixels) : torch::Tensor();
  // One partial weight gradient per group, each written by its group's first chunk and summed into by the rest.
  std::vector<torch::Tensor> partial;
  for (int64_t g = 0; need_stacked && g < plan.groups; ++g) partial.push_back(at::empty({plan.width, channels}, pixels.options()));
  AT_DISPATCH_FLOATING_TYPES(pixels.scalar_type(), "expectations_backward", [&] {
    // The amplitudes are recomputed chunk by chunk, in cache: cheaper than keeping them from the forward pass.
    for_each_chunk(plan, pixels, stacked, [&](int64_t group, bool first, int64_t start, int64_t length,
                                              const torch::Tensor& amplitudes) {
      const scalar_t* x = pixels.data_ptr<scalar_t>() + start * channels;
      const scalar_t* g = grad.data_ptr<scalar_t>() + start * outputs;
      const scalar_t* y = out.data_ptr<scalar_t>() + start * outputs;
      std::vector<scalar_t> weights(plan.dim), inverse_norms(length), scaled(length * outputs);
      inverse_squared_norms(x, length, channels, inverse_norms.data());
      for (int64_t p = 0; p < length; ++p)
        for (int64_t o = 0; o < outputs; ++o) scaled[p * outputs + o] = 2 * inverse_norms[p] * g[p * outputs + o];
      scale_by_signed_grads(amplitudes.data_ptr<scalar_t>(), scaled.data(), length * outputs / n_qubits, plan.dim, n_qubits,
                            weights.data());
      if (need_pixels) {
        auto chunk_grad = grad_pixels.narrow(0, start, length);
        at::mm_out(chunk_grad, amplitudes, stacked);
        scalar_t* dx = chunk_grad.data_ptr<scalar_t>();
        for (int64_t p = 0; p < length; ++p) {
          scalar_t overlap = 0;
          for (int64_t o = 0; o < outputs; ++o) overlap += g[p * outputs + o] * y[p * outputs + o];
          const scalar_t radial = 2 * inverse_norms[p] * overlap;
          for (int64_t c = 0; c < channels; ++c) dx[p * channels + c] -= radial * x[p * channels + c];
        }
      }
      if (need_stacked && first) at::mm_out(partial[group], amplitudes.t(), pixels.narrow(0, start, length));
      else if (need_stacked) partial[group].addmm_(amplitudes.t(), pixels.narrow(0, start, length));
    });
  });
  if (!need_stacked) return {grad_pixels, torch::Tensor()};
  if (plan.n_pixels == 0) return {grad_pixels, at::zeros_like(stacked)};
  for (int64_t g = 1; g < plan.groups; ++g) partial[0].add_(partial[g]);  // in group order, elementwise: deterministic
  return {grad_pixels, partial[0]};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("expectations", &expectations, "<Z_i> of every circuit on every pixel, (P, K * n)");
  m.def("expectations_backward", &expectations_backward, "Backward of expectations");
}
