#pragma once
// ag::Tensor: an n-dimensional array on the current thread's tape.
//
//     ag::Tensor x({2, 3}, {1, 2, 3, 4, 5, 6});
//     ag::Tensor w = ag::Tensor::randn({3, 4}, /*seed=*/42);
//     ag::Tensor loss = ag::mean(ag::relu(ag::matmul(x, w)));
//     loss.backward();                 // w.grad() now holds d loss / d w
//
// Choices (where PyTorch and micrograd leave room):
// - Element type: `ag::Tensor` holds double (exact gradient checks, agrees
//   with the scalar engine); `ag::Tensor32` holds float (training speed,
//   sgemm), and computes in float. Both are `BasicTensor<T>`; the two never
//   mix in one operation (convert with `.to<U>()`, which makes a new leaf).
//   Scalars in operations are passed as double and rounded to T.
// - One graph with ag::Value: `ag::to_value(t)` reads a one-element tensor
//   as a Value and `ag::to_tensor(v)` makes a 0-d tensor of a Value, both
//   differentiable; `v * t`, `t + v` and the other arithmetic operators
//   broadcast a Value over a tensor. A loss made of tensor and scalar parts
//   is differentiated by one backward(), reaching both kinds of leaves.
// - Layout: row-major, contiguous, rank 0..4 (`Shape::max_rank`). Every
//   operation makes a new contiguous tensor; there are no views.
// - Handles: like ag::Value, a Tensor is a NodeId (index, generation); copying
//   one never copies data. A Scope/rewind frees the tensors recorded inside
//   it; using such a handle afterwards throws std::logic_error. Create
//   parameters before the Scope of a training step.
// - Gradients: every leaf requires a gradient by default (micrograd, and
//   ag::Value, behave so). Mark inputs that need none (data batches,
//   datasets) with `.set_requires_grad(false)`: their gradients are then not
//   computed at all, which saves a matrix product per layer in backward().
//   Results of operations require a gradient when any input does. Leaf
//   gradients accumulate across backward() calls as in PyTorch; call
//   zero_grad(). Under ag::NoGrad, results are leaves that require none.
// - Reductions: sum/mean/max over all elements give a 0-d tensor (shape []);
//   max sends the gradient to the maximal elements, split evenly on ties.
// - Broadcasting follows NumPy: shapes are aligned at the last axis, and an
//   axis of size 1 (or a missing leading axis) stretches to match. Gradients
//   are summed back over the stretched axes.
// - Errors: shape mismatches throw std::invalid_argument naming the
//   operation and the shapes, e.g.
//   "matmul: [3, 4] @ [5, 2]: inner dimensions 4 and 5 differ". Sizes
//   whose element count would pass int64 throw std::length_error.
// - Memory: values, gradients, shapes and per-op data live in a bump arena
//   owned by the tape; rewinding keeps its memory, so a training step of a
//   fixed model makes no heap allocation after the first one. A tensor that
//   requires a gradient (every leaf, and results that require one) has its
//   gradient buffer from birth (so it survives any later Scope); results
//   that require none (under NoGrad, or from inputs that need none) get no
//   buffer, so inference takes half the memory, and get a heap buffer only
//   if asked (.grad(), backward() from them, set_requires_grad(true)).
//   "No gradient yet" is a flag, so zero_grad() costs nothing.
// - Anomaly mode (ag::DetectAnomaly): the first operation whose output (or,
//   in backward(), whose input gradient) holds NaN or Inf throws
//   ag::AnomalyError naming the op, the shapes and the first bad element.
#include <autograd/rng.hpp>
#include <autograd/shape.hpp>
#include <autograd/tape.hpp>
#include <autograd/value.hpp>

#include <fmt/format.h>

#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace ag {

// A tensor's values or gradient: a span over its elements, row-major, that
// knows its shape, so it prints like the tensor does:
// fmt::format("{}", t.grad()) gives "[[0.5, 1], [1.5, 2]]".
template <class T>
class TensorData : public std::span<T> {
public:
    TensorData(std::span<T> elements, const Shape& shape) : std::span<T>(elements), shape_(shape) {}
    const Shape& shape() const noexcept { return shape_; }

private:
    Shape shape_;
};
// The elements laid out like NumPy (see to_string(BasicTensor) below).
template <class T>
std::string to_string(const TensorData<T>& d);

// --------------------------------------------------------------- Tensor ---

template <class T>
class BasicTensor {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "ag::BasicTensor<T>: T is float or double");

public:
    using value_type = T;
    static constexpr DType dtype = dtype_of<T>;

    // An empty handle; using it throws. Exists so tensors fit in containers.
    BasicTensor() noexcept = default;
    // A new leaf of the given shape holding a copy of `values` (row-major);
    // throws std::invalid_argument unless values.size() == shape.numel().
    BasicTensor(const Shape& shape, std::initializer_list<T> values);
    BasicTensor(const Shape& shape, std::span<const T> values);

    // --- creation (all make new leaves that require a gradient) ---
    static BasicTensor zeros(const Shape& shape);
    static BasicTensor ones(const Shape& shape);
    static BasicTensor full(const Shape& shape, double value);
    static BasicTensor scalar(double value);  // 0-d
    // Of another tensor's shape.
    static BasicTensor zeros_like(const BasicTensor& t) { return zeros(t.shape()); }
    static BasicTensor ones_like(const BasicTensor& t) { return ones(t.shape()); }
    // 1-D: start, start + step, ... while < stop (> stop for step < 0).
    static BasicTensor arange(double stop);
    static BasicTensor arange(double start, double stop, double step = 1);
    // Normal(mean, stddev) and Uniform[lo, hi) samples, row-major order.
    static BasicTensor randn(const Shape& shape, Rng& rng, double mean = 0, double stddev = 1);
    static BasicTensor randn(const Shape& shape, std::uint64_t seed, double mean = 0, double stddev = 1);
    static BasicTensor rand(const Shape& shape, Rng& rng, double lo = 0, double hi = 1);
    static BasicTensor rand(const Shape& shape, std::uint64_t seed, double lo = 0, double hi = 1);

    // --- inspection ---
    Shape shape() const;
    int rank() const { return shape().rank(); }
    std::int64_t numel() const { return shape().numel(); }
    // Size of one axis; negative counts from the end.
    std::int64_t size(int axis) const;

    // The values, row-major, writable in place (optimizer updates, weights
    // set by hand). Results already computed from them are not recomputed.
    TensorData<T> data() const;
    // The gradient, same layout; zeros if nothing reached this tensor yet.
    // Writable, for optimizers and gradient clipping.
    TensorData<T> grad() const;
    // The only element, as double; throws unless numel() == 1.
    double item() const;
    // One element by full index, e.g. t.at({1, 2}).
    T at(std::initializer_list<std::int64_t> index) const;
    std::vector<T> to_vector() const;

    // Copies `values` into this tensor (size must match).
    void set_data(std::span<const T> values) const;
    void set_data(std::initializer_list<T> values) const {
        set_data(std::span<const T>(values.begin(), values.size()));
    }
    void fill(double value) const;

    // --- autograd ---
    // Reverse sweep from this tensor with seed 1; it must have one element
    // (else std::invalid_argument, as PyTorch's "grad can be implicitly
    // created only for scalar outputs"). Gradients accumulate.
    void backward() const;
    // Reverse sweep seeded with `grad_output` (this tensor's shape): the
    // vector-Jacobian product, as torch's t.backward(grad_output).
    void backward(const BasicTensor& grad_output) const;
    void zero_grad() const;
    bool is_leaf() const;
    bool requires_grad() const;
    // Only on leaves (std::logic_error otherwise). Returns *this, to chain:
    //     auto x = ag::Tensor32({64, 784}, pixels).set_requires_grad(false);
    const BasicTensor& set_requires_grad(bool on) const;
    // A new leaf with a copy of the values that requires no gradient (as
    // torch's detach()): gradients stop here.
    BasicTensor detach() const;
    // A new leaf with the values converted to U; it requires a gradient like
    // any new leaf, but the conversion itself is not differentiated.
    template <class U>
    BasicTensor<U> to() const;

    // The op that made this tensor ("matmul", "+", ...; "leaf" for a leaf).
    const char* op_name() const;

    // For the engine and tools that read the graph.
    std::uint32_t index() const noexcept { return id_.index; }
    const NodeId& id() const noexcept { return id_; }
    bool empty() const noexcept { return id_.empty(); }
    static BasicTensor from_node(const NodeId& id) noexcept { return BasicTensor(NodeTag{}, id); }
    // Checks the handle (live, a tensor node of this dtype); returns the
    // tensor record's index. Throws std::logic_error naming `what`.
    std::uint32_t checked_record(const char* what) const;

private:
    // Tagged, so that a braced list cannot mean a NodeId.
    struct NodeTag {};
    BasicTensor(NodeTag, const NodeId& id) noexcept : id_(id) {}
    NodeId id_;  // empty: a default-constructed handle
};

using Tensor = BasicTensor<double>;
using Tensor32 = BasicTensor<float>;

// ---------------------------------------------------------- operations ---
// All return new tensors. Throw std::invalid_argument on bad shapes/axes.

// Elementwise with broadcasting; a double operand is a scalar on either side.
template <class T>
BasicTensor<T> operator+(const BasicTensor<T>& a, const BasicTensor<T>& b);
template <class T>
BasicTensor<T> operator-(const BasicTensor<T>& a, const BasicTensor<T>& b);
template <class T>
BasicTensor<T> operator*(const BasicTensor<T>& a, const BasicTensor<T>& b);
template <class T>
BasicTensor<T> operator/(const BasicTensor<T>& a, const BasicTensor<T>& b);
template <class T>
BasicTensor<T> operator+(const BasicTensor<T>& a, double c);
template <class T>
BasicTensor<T> operator+(double c, const BasicTensor<T>& a);
template <class T>
BasicTensor<T> operator-(const BasicTensor<T>& a, double c);
template <class T>
BasicTensor<T> operator-(double c, const BasicTensor<T>& a);
template <class T>
BasicTensor<T> operator*(const BasicTensor<T>& a, double c);
template <class T>
BasicTensor<T> operator*(double c, const BasicTensor<T>& a);
template <class T>
BasicTensor<T> operator/(const BasicTensor<T>& a, double c);
template <class T>
BasicTensor<T> operator/(double c, const BasicTensor<T>& a);
template <class T>
BasicTensor<T> operator-(const BasicTensor<T>& a);

// pow follows ops::Pow's conventions at 0 (see ops.hpp).
template <class T>
BasicTensor<T> pow(const BasicTensor<T>& a, double exponent);
template <class T>
BasicTensor<T> pow(const BasicTensor<T>& a, const BasicTensor<T>& exponent);
template <class T>
BasicTensor<T> exp(const BasicTensor<T>& a);
template <class T>
BasicTensor<T> log(const BasicTensor<T>& a);
template <class T>
BasicTensor<T> sqrt(const BasicTensor<T>& a);
template <class T>
BasicTensor<T> tanh(const BasicTensor<T>& a);
template <class T>
BasicTensor<T> sigmoid(const BasicTensor<T>& a);
template <class T>
BasicTensor<T> relu(const BasicTensor<T>& a);  // relu'(0) = 0
template <class T>
BasicTensor<T> abs(const BasicTensor<T>& a);  // abs'(0) = 0
template <class T>
BasicTensor<T> sin(const BasicTensor<T>& a);
template <class T>
BasicTensor<T> cos(const BasicTensor<T>& a);
template <class T>
BasicTensor<T> tan(const BasicTensor<T>& a);
template <class T>
BasicTensor<T> atan(const BasicTensor<T>& a);
template <class T>
BasicTensor<T> sinh(const BasicTensor<T>& a);
template <class T>
BasicTensor<T> cosh(const BasicTensor<T>& a);
template <class T>
BasicTensor<T> log1p(const BasicTensor<T>& a);  // log(1 + a)
template <class T>
BasicTensor<T> expm1(const BasicTensor<T>& a);  // exp(a) - 1
template <class T>
BasicTensor<T> erf(const BasicTensor<T>& a);
template <class T>
BasicTensor<T> softplus(const BasicTensor<T>& a);  // log(1 + exp(a)), without overflow
template <class T>
BasicTensor<T> gelu(const BasicTensor<T>& a);  // a Φ(a), erf form (PyTorch's default)
// a for a >= 0, slope * a below (leaky_relu'(0) = slope, as PyTorch).
template <class T>
BasicTensor<T> leaky_relu(const BasicTensor<T>& a, double slope = 0.01);
// max(a, lo), min(a, hi), both: derivative 1 at the bounds, as PyTorch's clamp.
template <class T>
BasicTensor<T> clamp_min(const BasicTensor<T>& a, double lo);
template <class T>
BasicTensor<T> clamp_max(const BasicTensor<T>& a, double hi);
template <class T>
BasicTensor<T> clamp(const BasicTensor<T>& a, double lo, double hi) {
    return clamp_max(clamp_min(a, lo), hi);
}

// Elementwise choice: a where cond is nonzero, b elsewhere (all three
// broadcast together). Differentiable in a and b; cond is a constant.
template <class T>
BasicTensor<T> where(const BasicTensor<T>& cond, const BasicTensor<T>& a, const BasicTensor<T>& b);

// Broadcasting and its adjoint: t stretched to `shape` (broadcast rules),
// and t summed down to `shape` (the axes broadcasting would stretch).
template <class T>
BasicTensor<T> broadcast_to(const BasicTensor<T>& t, const Shape& shape);
template <class T>
BasicTensor<T> sum_to(const BasicTensor<T>& t, const Shape& shape);
// The elements [start, stop) along `axis`, and its adjoint: t with `before`
// and `after` zeros added along `axis`.
template <class T>
BasicTensor<T> slice(const BasicTensor<T>& t, int axis, std::int64_t start, std::int64_t stop);
template <class T>
BasicTensor<T> pad(const BasicTensor<T>& t, int axis, std::int64_t before, std::int64_t after);
// The adjoint of select_rows: an [n, ...] tensor of zeros with row r of src
// added at row rows[r] (repeats add up).
template <class T>
BasicTensor<T> scatter_rows(const BasicTensor<T>& src, std::span<const std::int64_t> rows, std::int64_t n);

// The kinks of the derivative rules (ops.hpp), on tensors: constants (no
// gradient) computed elementwise from the values, so that a rule evaluated
// on tensors records the derivative of a tensor op (derivatives of
// derivatives). zero_where(x, cond, args...) is x with zeros where
// cond(elements of args...) holds, differentiable in x.
template <class T>
BasicTensor<T> step(const BasicTensor<T>& a);
template <class T>
BasicTensor<T> sign(const BasicTensor<T>& a);
template <class T>
BasicTensor<T> max_share(const BasicTensor<T>& a, const BasicTensor<T>& b);
template <class T>
BasicTensor<T> at_least(const BasicTensor<T>& a, double c);
template <class T>
BasicTensor<T> at_most(const BasicTensor<T>& a, double c);
namespace detail {
// Element k of x broadcast to `shape` (x's own element index).
std::int64_t broadcast_source(const Shape& from, const Shape& to, std::int64_t k);
template <class T>
double element_at(const BasicTensor<T>& x, const Shape& to, std::int64_t k) {
    return x.data()[static_cast<std::size_t>(broadcast_source(x.shape(), to, k))];
}
inline double element_at(double x, const Shape&, std::int64_t) { return x; }
}  // namespace detail
template <class T, class Cond, class... Args>
BasicTensor<T> zero_where(const BasicTensor<T>& x, Cond cond, const Args&... args) {
    const Shape shape = x.shape();
    const std::int64_t n = shape.numel();
    std::vector<T> mask(static_cast<std::size_t>(n));
    for (std::int64_t k = 0; k < n; ++k)
        mask[static_cast<std::size_t>(k)] = cond(detail::element_at(args, shape, k)...) ? T(1) : T(0);
    const BasicTensor<T> m = BasicTensor<T>(shape, std::span<const T>(mask)).set_requires_grad(false);
    return where(m, BasicTensor<T>::zeros(Shape{}).set_requires_grad(false), x);
}
template <class T>
struct scalar_of<BasicTensor<T>> {
    using type = double;  // tensor ops take double constants
};

// ------------------------------------------- scalars and tensors meet ---
// A one-element tensor as a Value, and a Value as a 0-d tensor, on the same
// graph: gradients flow across in both directions.
template <class T>
Value to_value(const BasicTensor<T>& t);
// Element `index` (a full index) of t as a Value.
template <class T>
Value to_value(const BasicTensor<T>& t, std::initializer_list<std::int64_t> index);
template <class T = double>
BasicTensor<T> to_tensor(const Value& v);
// A Value with a tensor broadcasts like a 0-d tensor.
template <class T>
BasicTensor<T> operator+(const BasicTensor<T>& a, const Value& v) {
    return a + to_tensor<T>(v);
}
template <class T>
BasicTensor<T> operator+(const Value& v, const BasicTensor<T>& a) {
    return to_tensor<T>(v) + a;
}
template <class T>
BasicTensor<T> operator-(const BasicTensor<T>& a, const Value& v) {
    return a - to_tensor<T>(v);
}
template <class T>
BasicTensor<T> operator-(const Value& v, const BasicTensor<T>& a) {
    return to_tensor<T>(v) - a;
}
template <class T>
BasicTensor<T> operator*(const BasicTensor<T>& a, const Value& v) {
    return a * to_tensor<T>(v);
}
template <class T>
BasicTensor<T> operator*(const Value& v, const BasicTensor<T>& a) {
    return to_tensor<T>(v) * a;
}
template <class T>
BasicTensor<T> operator/(const BasicTensor<T>& a, const Value& v) {
    return a / to_tensor<T>(v);
}
template <class T>
BasicTensor<T> operator/(const Value& v, const BasicTensor<T>& a) {
    return to_tensor<T>(v) / a;
}

// Matrix product through BLAS (cblas_dgemm / cblas_sgemm):
//   [m, k] @ [k, n] -> [m, n];  batched [b, m, k] @ [k, n] -> [b, m, n].
template <class T>
BasicTensor<T> matmul(const BasicTensor<T>& a, const BasicTensor<T>& b);
// x @ w + bias, fused (one pass fewer): x [.., in], w [in, out], bias [out]
// (an empty handle for none). The textbook layer h = x·W + b.
// Porting from PyTorch: torch.nn.functional.linear(x, W, b) takes W as
// [out, in] and computes x·Wᵀ + b; ag::linear takes W as [in, out] and
// computes x·W + b (pass transpose(W) for a PyTorch-layout weight).
template <class T>
BasicTensor<T> linear(const BasicTensor<T>& x, const BasicTensor<T>& w, const BasicTensor<T>& bias = {});
// Swaps the last two axes (rank >= 2), or axes a0 and a1.
template <class T>
BasicTensor<T> transpose(const BasicTensor<T>& a);
template <class T>
BasicTensor<T> transpose(const BasicTensor<T>& a, int axis0, int axis1);
// Same values, new shape; one axis may be -1 (inferred).
template <class T>
BasicTensor<T> reshape(const BasicTensor<T>& a, const Shape& shape);

// Reductions. `axis` may be negative (counts from the end); keepdim keeps
// the reduced axis with size 1.
template <class T>
BasicTensor<T> sum(const BasicTensor<T>& a);
template <class T>
BasicTensor<T> sum(const BasicTensor<T>& a, int axis, bool keepdim = false);
template <class T>
BasicTensor<T> mean(const BasicTensor<T>& a);
template <class T>
BasicTensor<T> mean(const BasicTensor<T>& a, int axis, bool keepdim = false);
template <class T>
BasicTensor<T> max(const BasicTensor<T>& a);
template <class T>
BasicTensor<T> max(const BasicTensor<T>& a, int axis, bool keepdim = false);
// min(a) = -max(-a): ties split the gradient, NaN propagates.
template <class T>
BasicTensor<T> min(const BasicTensor<T>& a);
template <class T>
BasicTensor<T> min(const BasicTensor<T>& a, int axis, bool keepdim = false);
// Variance and standard deviation with `correction` subtracted from the
// count (1: the unbiased estimate, torch.var's default).
template <class T>
BasicTensor<T> var(const BasicTensor<T>& a, int correction = 1);
template <class T>
BasicTensor<T> var(const BasicTensor<T>& a, int axis, bool keepdim, int correction = 1);
template <class T>
BasicTensor<T> std(const BasicTensor<T>& a, int correction = 1);
template <class T>
BasicTensor<T> std(const BasicTensor<T>& a, int axis, bool keepdim, int correction = 1);
// Positions of the largest / smallest entries (not differentiable): over all
// entries (one flat index), or along `axis` (one index per position of the
// other axes, row-major). Ties: the first; NaN counts as the largest, as in
// torch.argmax.
template <class T>
std::int64_t argmax(const BasicTensor<T>& a);
template <class T>
std::int64_t argmin(const BasicTensor<T>& a);
template <class T>
std::vector<std::int64_t> argmax(const BasicTensor<T>& a, int axis);
template <class T>
std::vector<std::int64_t> argmin(const BasicTensor<T>& a, int axis);

// Along one axis (default: the last), stable for logits of any size
// (the maximum is subtracted first).
template <class T>
BasicTensor<T> softmax(const BasicTensor<T>& a, int axis = -1);
template <class T>
BasicTensor<T> log_softmax(const BasicTensor<T>& a, int axis = -1);

// Losses; each returns a 0-d tensor, the mean over all elements / rows.
// mean((pred - target)^2); shapes must be equal.
template <class T>
BasicTensor<T> mse_loss(const BasicTensor<T>& pred, const BasicTensor<T>& target);
// logits [n, c], labels: n class indices in [0, c). Fused log_softmax +
// negative log-likelihood, mean over rows (torch.nn.functional.cross_entropy).
template <class T>
BasicTensor<T> cross_entropy(const BasicTensor<T>& logits, std::span<const std::int64_t> labels);
template <class T>
BasicTensor<T> cross_entropy(const BasicTensor<T>& logits, std::span<const int> labels);
// Mean of -[t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))], computed stably;
// targets (same shape) in [0, 1].
template <class T>
BasicTensor<T> binary_cross_entropy_with_logits(const BasicTensor<T>& logits, const BasicTensor<T>& targets);
// Mean of max(0, 1 - t * s); targets (same shape) are -1 or +1 (SVM loss).
template <class T>
BasicTensor<T> hinge(const BasicTensor<T>& scores, const BasicTensor<T>& targets);

// Rows of `a` (axis 0) in the given order, repeats allowed (a mini-batch):
// [n, ...] -> [rows.size(), ...]. The gradient is scattered back (summed).
template <class T>
BasicTensor<T> select_rows(const BasicTensor<T>& a, std::span<const std::int64_t> rows);
template <class T>
BasicTensor<T> select_rows(const BasicTensor<T>& a, std::span<const int> rows);
// Joins tensors along `axis`; all other axes must agree.
template <class T>
BasicTensor<T> concat(std::span<const BasicTensor<T>> parts, int axis = 0);
template <class T>
BasicTensor<T> concat(std::initializer_list<BasicTensor<T>> parts, int axis = 0) {
    return concat(std::span<const BasicTensor<T>>(parts.begin(), parts.size()), axis);
}
// Joins tensors of one shape along a new axis.
template <class T>
BasicTensor<T> stack(std::span<const BasicTensor<T>> parts, int axis = 0);
template <class T>
BasicTensor<T> stack(std::initializer_list<BasicTensor<T>> parts, int axis = 0) {
    return stack(std::span<const BasicTensor<T>>(parts.begin(), parts.size()), axis);
}
// A new axis of size 1 at `axis` (of the result); the axis of size 1 at
// `axis` removed (error if its size is not 1); every axis of size 1 removed.
template <class T>
BasicTensor<T> unsqueeze(const BasicTensor<T>& t, int axis);
template <class T>
BasicTensor<T> squeeze(const BasicTensor<T>& t, int axis);
template <class T>
BasicTensor<T> squeeze(const BasicTensor<T>& t);
// The entries `indices` along `axis`, in order, repeats allowed (the
// gradient of a repeated entry collects all its uses).
template <class T>
BasicTensor<T> index_select(const BasicTensor<T>& t, int axis, std::span<const std::int64_t> indices);
// out[.., j, ..] = t[.., index[.., j, ..], ..] along `axis` (torch.gather):
// `index` holds index_shape.numel() entries, row-major; index_shape equals
// t's shape but along `axis`. scatter_add is its adjoint: `src` (of
// index_shape) added into zeros of `shape` at those positions.
template <class T>
BasicTensor<T> gather(const BasicTensor<T>& t, int axis, std::span<const std::int64_t> index, const Shape& index_shape);
template <class T>
BasicTensor<T> scatter_add(const Shape& shape, int axis, std::span<const std::int64_t> index,
                           const BasicTensor<T>& src);

// d f / d wrt[k] for each k, as new tensors that require no gradient,
// without touching any .grad() (torch.autograd.grad). f has one element (a
// Tensor or a Value); inputs f does not depend on get zeros.
template <class T>
std::vector<BasicTensor<T>> grad(const BasicTensor<T>& f, const std::vector<BasicTensor<T>>& wrt);
template <class T>
std::vector<BasicTensor<T>> grad(const Value& f, const std::vector<BasicTensor<T>>& wrt);
// The same as tensors on the tape, differentiable again (derivatives of
// derivatives), like torch.autograd.grad(f, xs, create_graph=True).
template <class T>
std::vector<BasicTensor<T>> grad(const BasicTensor<T>& f, const std::vector<BasicTensor<T>>& wrt, CreateGraph);
template <class T>
std::vector<BasicTensor<T>> grad(const Value& f, const std::vector<BasicTensor<T>>& wrt, CreateGraph);

// Every op name a tensor node can carry ("matmul", "+", ...).
std::span<const char* const> tensor_op_names();

// Sets .grad() of each tensor to zero.
template <class T>
void zero_grad(std::span<const BasicTensor<T>> tensors);
template <class T>
void zero_grad(const std::vector<BasicTensor<T>>& tensors) {
    zero_grad(std::span<const BasicTensor<T>>(tensors));
}

// Values laid out like NumPy, 8 significant digits, columns aligned; rows of
// a matrix on their own lines:
//     Tensor(shape=[2, 3], dtype=float64, data=[[1, 2, 3],
//                                               [4, 5, 6]])
// Above 1000 elements each axis longer than 6 shows its first and last 3
// entries around "...". A freed handle prints as "Tensor(<freed>)".
template <class T>
std::string to_string(const BasicTensor<T>& t);

}  // namespace ag

template <class T>
struct fmt::formatter<ag::BasicTensor<T>> : fmt::formatter<std::string_view> {
    format_context::iterator format(const ag::BasicTensor<T>& t, format_context& ctx) const {
        return fmt::format_to(ctx.out(), "{}", ag::to_string(t));
    }
};

template <class T>
struct fmt::formatter<ag::TensorData<T>> : fmt::formatter<std::string_view> {
    format_context::iterator format(const ag::TensorData<T>& d, format_context& ctx) const {
        return fmt::format_to(ctx.out(), "{}", ag::to_string(d));
    }
};

namespace ag {
template <class T>
std::ostream& operator<<(std::ostream& os, const BasicTensor<T>& t) {
    return os << to_string(t);
}
template <class T>
std::ostream& operator<<(std::ostream& os, const TensorData<T>& d) {
    return os << to_string(d);
}
}  // namespace ag
