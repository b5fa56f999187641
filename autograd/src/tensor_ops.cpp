// Tensor operations. Each op is a forward function that records one node and,
// right below it, the backward function that the sweep calls for that node:
// it reads the node's gradient G and adds each input's share into the
// input's gradient.
//
// Elementwise ops reuse the scalar op table (ops.hpp), so a tensor op and the
// scalar op compute the very same formulas. As in the scalar sweep, an
// element whose upstream gradient is 0 sends 0 (not 0 * inf = NaN).

// This file is compiled with -fno-trapping-math (autograd/CMakeLists.txt):
// the conditional expressions in the elementwise loops (relu', the
// zero-gradient guard) only become vector blends then.

#include "tensor_internal.hpp"

#include <autograd/ops.hpp>

#include <cblas.h>
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace ag {

using detail::AxisView;
using detail::begin_node;
using detail::finish;
using detail::grad_for_add;
using detail::grad_writer;
using detail::grads;
using detail::operand;
using detail::TensorNode;
using detail::TensorStore;
using detail::throw_shape;
using detail::values;

namespace detail {

int normalize_axis(int axis, int rank, const char* op, const Shape& shape) {
    if (axis < -rank || axis >= rank)
        throw_shape(op, fmt::format("axis {} is out of range for shape {} (rank {})", axis, shape.str(), rank));
    return axis < 0 ? axis + rank : axis;
}

AxisView axis_view(const Shape& shape, int axis) {
    AxisView v{1, shape[axis], 1};
    for (int a = 0; a < axis; ++a) v.outer *= shape[a];
    for (int a = axis + 1; a < shape.rank(); ++a) v.inner *= shape[a];
    return v;
}

Shape reduced_shape(const Shape& shape, int axis, bool keepdim) {
    std::int64_t dims[Shape::max_rank];
    int r = 0;
    for (int a = 0; a < shape.rank(); ++a) {
        if (a != axis)
            dims[r++] = shape[a];
        else if (keepdim)
            dims[r++] = 1;
    }
    return Shape(std::span<const std::int64_t>(dims, static_cast<std::size_t>(r)));
}

}  // namespace detail

namespace {

TensorStore& store() { return detail::store_of(tape()); }

template <class T>
TensorNode& input(TensorStore& s, const TensorNode& n, std::uint32_t j) {
    return s.nodes[n.input(j)];
}

// ------------------------------------------------------------ broadcast ---

// Iteration plan for an output of up to 4 axes over two operands, each with
// per-axis strides (0 along a stretched axis), padded on the left to 4 axes.
struct Broadcast {
    std::int64_t dim[4], sa[4], sb[4];
};

Shape broadcast_shape(const Shape& a, const Shape& b, const char* op) {
    const int r = std::max(a.rank(), b.rank());
    std::int64_t dims[Shape::max_rank];
    for (int k = 0; k < r; ++k) {
        // Axis k counted from the end.
        const std::int64_t da = k < a.rank() ? a[a.rank() - 1 - k] : 1;
        const std::int64_t db = k < b.rank() ? b[b.rank() - 1 - k] : 1;
        if (da != db && da != 1 && db != 1)
            throw_shape(op, fmt::format("{} and {}: shapes cannot be broadcast (axis sizes {} and {} differ)", a.str(),
                                        b.str(), da, db));
        dims[r - 1 - k] = da == 1 ? db : da;
    }
    return Shape(std::span<const std::int64_t>(dims, static_cast<std::size_t>(r)));
}

void padded_strides(const Shape& in, const Shape& out, std::int64_t* stride) {
    std::int64_t s = 1;
    for (int k = 0; k < 4; ++k) {
        const int a = in.rank() - 1 - k;  // axis of `in`, from the end
        const int o = out.rank() - 1 - k;
        const std::int64_t n_in = a >= 0 ? in[a] : 1;
        const std::int64_t n_out = o >= 0 ? out[o] : 1;
        stride[3 - k] = (n_in == 1 && n_out != 1) ? 0 : s;
        s *= n_in;
    }
}

Broadcast plan(const Shape& out, const Shape& a, const Shape& b) {
    Broadcast p{};
    for (int k = 0; k < 4; ++k) {
        const int o = out.rank() - 4 + k;
        p.dim[k] = o >= 0 ? out[o] : 1;
    }
    padded_strides(a, out, p.sa);
    padded_strides(b, out, p.sb);
    return p;
}

// Calls f(output index, index into a, index into b) for every output element.
template <class F>
void for_each_broadcast(const Broadcast& p, F&& f) {
    std::int64_t o = 0;
    for (std::int64_t i0 = 0; i0 < p.dim[0]; ++i0)
        for (std::int64_t i1 = 0; i1 < p.dim[1]; ++i1)
            for (std::int64_t i2 = 0; i2 < p.dim[2]; ++i2) {
                const std::int64_t a = i0 * p.sa[0] + i1 * p.sa[1] + i2 * p.sa[2];
                const std::int64_t b = i0 * p.sb[0] + i1 * p.sb[1] + i2 * p.sb[2];
                for (std::int64_t i3 = 0; i3 < p.dim[3]; ++i3) f(o++, a + i3 * p.sa[3], b + i3 * p.sb[3]);
            }
}

// Upstream gradient times a local derivative, 0 where nothing flows. The
// product is computed unconditionally so the choice compiles to a blend and
// the loops vectorize (a branch here mispredicts on every other element).
inline double chain(double g, double local) {
    const double product = g * local;
    return g == 0.0 ? 0.0 : product;
}

// ---------------------------------------------------------- elementwise ---

template <class OpT, class T>
void unary_backward(TensorStore& s, TensorNode& n) {
    TensorNode& a = input<T>(s, n, 0);
    const T *g = grads<T>(n), *y = values<T>(n), *x = values<T>(a);
    detail::accumulate<T>(a, [&](std::int64_t i) { return chain(g[i], OpT::d(x[i], y[i])); });
}

template <class OpT, class T>
BasicTensor<T> unary(const BasicTensor<T>& a) {
    TensorStore& s = store();
    const auto x = operand(s, a, OpT::name);
    const std::uint32_t rec = begin_node<T>(s, OpT::name, x.shape, {x.rec});
    T* y = values<T>(s.nodes[rec]);
    const std::int64_t n = x.shape.numel();
    for (std::int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(OpT::f(x.v[i]));
    return finish<T>(s, rec, &unary_backward<OpT, T>);
}

// relu, the activation of every MLP, computed in T rather than through the
// double-precision op table: for float32 this doubles the elements per
// vector instruction. Same formula as ops::Relu, relu'(0) = 0.
template <class T>
void relu_backward(TensorStore& s, TensorNode& n) {
    TensorNode& a = input<T>(s, n, 0);
    const T *g = grads<T>(n), *x = values<T>(a);
    // g · relu'(x), as the scalar sweep computes it (a select would load g
    // conditionally, and stop the loop from vectorizing).
    detail::accumulate<T>(a, [&](std::int64_t i) { return g[i] * ops::kink::step(x[i]); });
}

template <class T>
BasicTensor<T> relu_impl(const BasicTensor<T>& a) {
    TensorStore& s = store();
    const auto x = operand(s, a, ops::Relu::name);
    const std::uint32_t rec = begin_node<T>(s, ops::Relu::name, x.shape, {x.rec});
    T* y = values<T>(s.nodes[rec]);
    const std::int64_t n = x.shape.numel();
    for (std::int64_t i = 0; i < n; ++i) y[i] = ops::Relu::f(x.v[i]);
    return finish<T>(s, rec, &relu_backward<T>);
}

template <class OpT, class T>
void constant_backward(TensorStore& s, TensorNode& n) {
    TensorNode& a = input<T>(s, n, 0);
    const T *g = grads<T>(n), *y = values<T>(n), *x = values<T>(a);
    const double c = n.darg;
    detail::accumulate<T>(a, [&](std::int64_t i) { return chain(g[i], OpT::d(x[i], c, y[i])); });
}

// op(a, c) for a scalar constant c (ops.hpp's *C structs).
template <class OpT, class T>
BasicTensor<T> with_constant(const BasicTensor<T>& a, double c) {
    TensorStore& s = store();
    const auto x = operand(s, a, OpT::name);
    const std::uint32_t rec = begin_node<T>(s, OpT::name, x.shape, {x.rec});
    TensorNode& node = s.nodes[rec];
    node.darg = c;
    T* y = values<T>(node);
    const std::int64_t n = x.shape.numel();
    for (std::int64_t i = 0; i < n; ++i) y[i] = OpT::f(x.v[i], static_cast<T>(c));
    return finish<T>(s, rec, &constant_backward<OpT, T>);
}

template <class OpT, class T>
void binary_backward(TensorStore& s, TensorNode& n) {
    TensorNode& A = input<T>(s, n, 0);
    TensorNode& B = input<T>(s, n, 1);
    const T *g = grads<T>(n), *y = values<T>(n), *a = values<T>(A), *b = values<T>(B);
    if (A.shape == n.shape && B.shape == n.shape) {
        if (A.requires_grad)
            detail::accumulate<T>(A, [&](std::int64_t i) { return chain(g[i], OpT::da(a[i], b[i], y[i])); });
        if (B.requires_grad)
            detail::accumulate<T>(B, [&](std::int64_t i) { return chain(g[i], OpT::db(a[i], b[i], y[i])); });
        return;
    }
    // Stretched axes: each input element collects the sum over its copies.
    const Broadcast p = plan(n.shape, A.shape, B.shape);
    if (A.requires_grad) {
        T* ga = grad_for_add<T>(A);
        for_each_broadcast(p, [&](std::int64_t o, std::int64_t i, std::int64_t j) {
            ga[i] += static_cast<T>(chain(g[o], OpT::da(a[i], b[j], y[o])));
        });
    }
    if (B.requires_grad) {
        T* gb = grad_for_add<T>(B);
        for_each_broadcast(p, [&](std::int64_t o, std::int64_t i, std::int64_t j) {
            gb[j] += static_cast<T>(chain(g[o], OpT::db(a[i], b[j], y[o])));
        });
    }
}

template <class OpT, class T>
BasicTensor<T> binary(const BasicTensor<T>& lhs, const BasicTensor<T>& rhs) {
    TensorStore& s = store();
    const auto a = operand(s, lhs, OpT::name);
    const auto b = operand(s, rhs, OpT::name);
    const Shape out = broadcast_shape(a.shape, b.shape, OpT::name);
    const std::uint32_t rec = begin_node<T>(s, OpT::name, out, {a.rec, b.rec});
    T* y = values<T>(s.nodes[rec]);
    if (a.shape == out && b.shape == out) {
        const std::int64_t n = out.numel();
        for (std::int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(OpT::f(a.v[i], b.v[i]));
    } else {
        for_each_broadcast(plan(out, a.shape, b.shape), [&](std::int64_t o, std::int64_t i, std::int64_t j) {
            y[o] = static_cast<T>(OpT::f(a.v[i], b.v[j]));
        });
    }
    return finish<T>(s, rec, &binary_backward<OpT, T>);
}

// ---------------------------------------------------------------- BLAS ---

// C[m, n] = alpha * op(A) op(B) + beta * C, row-major.
void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a,
          std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(m),
                static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(std::max<std::int64_t>(lda, 1)), b,
                static_cast<int>(std::max<std::int64_t>(ldb, 1)), beta, c,
                static_cast<int>(std::max<std::int64_t>(ldc, 1)));
}
void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, double alpha, const double* a,
          std::int64_t lda, const double* b, std::int64_t ldb, double beta, double* c, std::int64_t ldc) {
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(m),
                static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(std::max<std::int64_t>(lda, 1)), b,
                static_cast<int>(std::max<std::int64_t>(ldb, 1)), beta, c,
                static_cast<int>(std::max<std::int64_t>(ldc, 1)));
}

// C[m, n] = op(A)·op(B) + beta·C, op = transpose where asked; safe for empty
// sizes, which BLAS rejects or skips.
template <class T>
void product(std::int64_t m, std::int64_t n, std::int64_t k, const T* a, bool ta, const T* b, bool tb, T beta, T* c) {
    if (m == 0 || n == 0) return;
    if (k == 0) {
        if (beta == T(0)) std::fill_n(c, m * n, T(0));
        return;
    }
    constexpr std::int64_t blas_max = std::numeric_limits<int>::max();  // CBLAS takes int sizes
    if (m > blas_max || n > blas_max || k > blas_max)
        throw std::length_error(fmt::format("matmul: a product of [{}, {}] and [{}, {}] exceeds BLAS's int sizes", m, k,
                                            k, n));
    gemm(ta, tb, m, n, k, T(1), a, ta ? m : k, b, tb ? k : n, beta, c, n);
}

// Checks the shapes of x [.., k] @ w [k, n]; returns the row count of x as
// a matrix (the product of all its axes but the last).
std::int64_t check_matmul(const char* op, const Shape& x, const Shape& w, bool allow_rank1) {
    const bool x_ok = (x.rank() == 2 || x.rank() == 3 || (allow_rank1 && x.rank() == 1));
    if (!x_ok || w.rank() != 2)
        throw_shape(op, fmt::format("{} @ {}: needs a {}2-D or 3-D left operand and a 2-D right operand", x.str(), w.str(),
                                    allow_rank1 ? "1-D, " : ""));
    if (x[x.rank() - 1] != w[0])
        throw_shape(op, fmt::format("{} @ {}: inner dimensions {} and {} differ", x.str(), w.str(), x[x.rank() - 1], w[0]));
    std::int64_t rows = 1;
    for (int a = 0; a + 1 < x.rank(); ++a) rows *= x[a];
    return rows;
}

Shape with_last(const Shape& s, std::int64_t last) {
    Shape out = s;
    out[s.rank() - 1] = last;
    return out;
}

// Y[m, n] = X[m, k] · W[k, n] (+ bias[n] on every row), X seen as a matrix of
// m rows. Gradients: dX = G·Wᵀ, dW = Xᵀ·G, d bias = column sums of G.
// iarg[0] holds m.
template <class T>
void linear_backward(TensorStore& s, TensorNode& n) {
    TensorNode& x = input<T>(s, n, 0);
    TensorNode& w = input<T>(s, n, 1);
    const T* g = grads<T>(n);
    const std::int64_t m = n.iarg[0], k = w.shape[0], cols = w.shape[1];
    if (x.requires_grad) product<T>(m, k, cols, g, false, values<T>(w), true, detail::gemm_beta<T>(x), grads<T>(x));
    if (w.requires_grad) product<T>(k, cols, m, values<T>(x), true, g, false, detail::gemm_beta<T>(w), grads<T>(w));
    if (n.n_in == 3) {
        TensorNode& b = input<T>(s, n, 2);
        if (!b.requires_grad) return;
        T* gb = grad_for_add<T>(b);
        for (std::int64_t r = 0; r < m; ++r)
            for (std::int64_t j = 0; j < cols; ++j) gb[j] += g[r * cols + j];
    }
}

// x_ @ w_ (+ bias, unless it is an empty handle), recorded as `op`: matmul is
// linear without a bias and without 1-D x.
template <class T>
BasicTensor<T> linear_impl(const char* op, bool allow_rank1, const BasicTensor<T>& x_, const BasicTensor<T>& w_,
                           const BasicTensor<T>& bias) {
    TensorStore& s = store();
    const auto x = operand(s, x_, op);
    const auto w = operand(s, w_, op);
    const std::int64_t m = check_matmul(op, x.shape, w.shape, allow_rank1);
    const std::int64_t k = w.shape[0], n = w.shape[1];
    const bool has_bias = !bias.empty();
    detail::Operand<T> b{};
    if (has_bias) {
        b = operand(s, bias, op);
        if (!(b.shape == Shape{n}))
            throw_shape(op, fmt::format("bias {} does not fit x {} @ w {}: it must be [{}]", b.shape.str(),
                                        x.shape.str(), w.shape.str(), n));
    }
    const Shape out = with_last(x.shape, n);
    const std::uint32_t rec =
        has_bias ? begin_node<T>(s, op, out, {x.rec, w.rec, b.rec}) : begin_node<T>(s, op, out, {x.rec, w.rec});
    TensorNode& node = s.nodes[rec];
    node.iarg[0] = m;
    T* y = values<T>(node);
    // Bias first, then the product added onto it: no extra pass over Y.
    if (has_bias)
        for (std::int64_t r = 0; r < m; ++r) std::copy_n(b.v, n, y + r * n);
    product<T>(m, n, k, x.v, false, w.v, false, has_bias ? T(1) : T(0), y);
    return finish<T>(s, rec, &linear_backward<T>);
}

// ----------------------------------------------------------- transpose ---

// src with axes a0 and a1 swapped, element by element: put(k, v) receives
// element k of the result (whose shape is src's with the two sizes swapped).
template <class T, class Put>
void swap_axes(const T* src, const Shape& shape, int a0, int a1, Put&& put) {
    std::int64_t dim[4] = {1, 1, 1, 1}, stride[4] = {0, 0, 0, 0};
    const int pad = 4 - shape.rank();
    std::int64_t st = 1;
    for (int a = shape.rank() - 1; a >= 0; --a) {
        dim[a + pad] = shape[a];
        stride[a + pad] = st;
        st *= shape[a];
    }
    // Iterate in dst order: dst axis k is src axis perm[k].
    std::swap(dim[a0 + pad], dim[a1 + pad]);
    std::swap(stride[a0 + pad], stride[a1 + pad]);
    std::int64_t o = 0;
    for (std::int64_t i0 = 0; i0 < dim[0]; ++i0)
        for (std::int64_t i1 = 0; i1 < dim[1]; ++i1)
            for (std::int64_t i2 = 0; i2 < dim[2]; ++i2) {
                const T* row = src + i0 * stride[0] + i1 * stride[1] + i2 * stride[2];
                for (std::int64_t i3 = 0; i3 < dim[3]; ++i3) put(o++, row[i3 * stride[3]]);
            }
}

// The gradient is transposed back by the same swap (n.shape is the output's).
template <class T>
void transpose_backward(TensorStore& s, TensorNode& n) {
    const auto w = grad_writer<T>(input<T>(s, n, 0));
    swap_axes(grads<T>(n), n.shape, static_cast<int>(n.iarg[0]), static_cast<int>(n.iarg[1]),
              [&](std::int64_t k, T v) { w.put(k, v); });
}

template <class T>
void reshape_backward(TensorStore& s, TensorNode& n) {
    TensorNode& a = input<T>(s, n, 0);
    const T* g = grads<T>(n);
    detail::accumulate<T>(a, [&](std::int64_t i) { return g[i]; });
}

// ---------------------------------------------------------- reductions ---

template <class T>
void sum_all_backward(TensorStore& s, TensorNode& n) {
    TensorNode& a = input<T>(s, n, 0);
    const double g = grads<T>(n)[0] * n.darg;  // darg: 1 for sum, 1/count for mean
    detail::accumulate<T>(a, [&](std::int64_t) { return g; });
}

template <class T>
BasicTensor<T> sum_all(const BasicTensor<T>& a, const char* op, bool mean) {
    TensorStore& s = store();
    const auto x = operand(s, a, op);
    const std::int64_t count = x.shape.numel();
    if (mean && count == 0) throw_shape(op, fmt::format("{} is empty (the mean of nothing)", x.shape.str()));
    double total = 0;
    for (std::int64_t i = 0; i < count; ++i) total += x.v[i];
    const double scale = mean ? 1.0 / static_cast<double>(count) : 1.0;
    const std::uint32_t rec = begin_node<T>(s, op, Shape{}, {x.rec});
    s.nodes[rec].darg = scale;
    values<T>(s.nodes[rec])[0] = static_cast<T>(total * scale);
    return finish<T>(s, rec, &sum_all_backward<T>);
}

template <class T>
void sum_axis_backward(TensorStore& s, TensorNode& n) {
    TensorNode& a = input<T>(s, n, 0);
    const AxisView v{n.iarg[0], n.iarg[1], n.iarg[2]};
    const T* g = grads<T>(n);
    const T scale = static_cast<T>(n.darg);
    const auto w = grad_writer<T>(a);
    for (std::int64_t o = 0; o < v.outer; ++o)
        for (std::int64_t j = 0; j < v.n; ++j)
            for (std::int64_t i = 0; i < v.inner; ++i) w.put((o * v.n + j) * v.inner + i, g[o * v.inner + i] * scale);
}

template <class T>
BasicTensor<T> sum_axis(const BasicTensor<T>& a, int axis, bool keepdim, const char* op, bool mean) {
    TensorStore& s = store();
    const auto x = operand(s, a, op);
    axis = detail::normalize_axis(axis, x.shape.rank(), op, x.shape);
    const AxisView v = detail::axis_view(x.shape, axis);
    if (mean && v.n == 0)
        throw_shape(op, fmt::format("{}: axis {} is empty (the mean of nothing)", x.shape.str(), axis));
    const double scale = mean ? 1.0 / static_cast<double>(v.n) : 1.0;
    const std::uint32_t rec = begin_node<T>(s, op, detail::reduced_shape(x.shape, axis, keepdim), {x.rec});
    TensorNode& node = s.nodes[rec];
    node.iarg[0] = v.outer;
    node.iarg[1] = v.n;
    node.iarg[2] = v.inner;
    node.darg = scale;
    T* y = values<T>(node);
    std::fill_n(y, v.outer * v.inner, T(0));
    for (std::int64_t o = 0; o < v.outer; ++o)
        for (std::int64_t j = 0; j < v.n; ++j)
            for (std::int64_t i = 0; i < v.inner; ++i) y[o * v.inner + i] += x.v[(o * v.n + j) * v.inner + i];
    if (mean)
        for (std::int64_t i = 0; i < v.outer * v.inner; ++i) y[i] = static_cast<T>(y[i] * scale);
    return finish<T>(s, rec, &sum_axis_backward<T>);
}

// max keeps NaN (like PyTorch): once the running max is NaN it stays.
template <class T>
bool beats(T v, T m) {
    return v > m || std::isnan(v);
}

// Shared by max over all (outer = inner = 1, n = count) and over one axis:
// the gradient of each output goes to the inputs equal to it, split evenly.
template <class T>
void max_backward(TensorStore& s, TensorNode& n) {
    TensorNode& a = input<T>(s, n, 0);
    const AxisView v{n.iarg[0], n.iarg[1], n.iarg[2]};
    const T *g = grads<T>(n), *y = values<T>(n), *x = values<T>(a);
    T* ga = grad_for_add<T>(a);
    for (std::int64_t o = 0; o < v.outer; ++o)
        for (std::int64_t i = 0; i < v.inner; ++i) {
            const std::int64_t out = o * v.inner + i;
            if (g[out] == 0) continue;
            std::int64_t ties = 0;
            for (std::int64_t j = 0; j < v.n; ++j) ties += x[(o * v.n + j) * v.inner + i] == y[out];
            if (ties == 0) continue;  // NaN maximum: nothing equals it
            const T share = g[out] / static_cast<T>(ties);
            for (std::int64_t j = 0; j < v.n; ++j) {
                const std::int64_t k = (o * v.n + j) * v.inner + i;
                if (x[k] == y[out]) ga[k] += share;
            }
        }
}

template <class T>
BasicTensor<T> max_impl(const AxisView& v, const Shape& out_shape, std::uint32_t rec_x,
                        const T* x) {
    TensorStore& s = store();
    if (v.n == 0) throw_shape("max", "the reduced axis is empty (a maximum of no elements is undefined)");
    const std::uint32_t rec = begin_node<T>(s, "max", out_shape, {rec_x});
    TensorNode& node = s.nodes[rec];
    node.iarg[0] = v.outer;
    node.iarg[1] = v.n;
    node.iarg[2] = v.inner;
    T* y = values<T>(node);
    for (std::int64_t o = 0; o < v.outer; ++o)
        for (std::int64_t i = 0; i < v.inner; ++i) {
            T m = x[o * v.n * v.inner + i];
            for (std::int64_t j = 1; j < v.n; ++j) {
                const T e = x[(o * v.n + j) * v.inner + i];
                if (beats(e, m)) m = e;
            }
            y[o * v.inner + i] = m;
        }
    return finish<T>(s, rec, &max_backward<T>);
}

// ------------------------------------------------------------- softmax ---

// Along the middle axis of the [outer, n, inner] view; `log` selects
// log_softmax. The maximum is subtracted first, so exp never overflows.
template <class T>
void softmax_rows(const T* x, T* y, const AxisView& v, bool log) {
    for (std::int64_t o = 0; o < v.outer; ++o)
        for (std::int64_t i = 0; i < v.inner; ++i) {
            const T* xs = x + o * v.n * v.inner + i;
            T* ys = y + o * v.n * v.inner + i;
            const std::int64_t st = v.inner;
            double m = -std::numeric_limits<double>::infinity();
            for (std::int64_t j = 0; j < v.n; ++j) m = std::max<double>(m, xs[j * st]);
            double sum = 0;
            for (std::int64_t j = 0; j < v.n; ++j) sum += std::exp(xs[j * st] - m);
            if (log) {
                const double lse = m + std::log(sum);
                for (std::int64_t j = 0; j < v.n; ++j) ys[j * st] = static_cast<T>(xs[j * st] - lse);
            } else {
                for (std::int64_t j = 0; j < v.n; ++j) ys[j * st] = static_cast<T>(std::exp(xs[j * st] - m) / sum);
            }
        }
}

// softmax:      dx_j = y_j (g_j - sum_k g_k y_k)
// log_softmax:  dx_j = g_j - exp(y_j) sum_k g_k
template <class T>
void softmax_backward(TensorStore& s, TensorNode& n) {
    TensorNode& a = input<T>(s, n, 0);
    const AxisView v{n.iarg[0], n.iarg[1], n.iarg[2]};
    const bool log = n.darg != 0;
    const T *g = grads<T>(n), *y = values<T>(n);
    const auto w = grad_writer<T>(a);
    for (std::int64_t o = 0; o < v.outer; ++o)
        for (std::int64_t i = 0; i < v.inner; ++i) {
            const std::int64_t base = o * v.n * v.inner + i, st = v.inner;
            double dot = 0;
            for (std::int64_t j = 0; j < v.n; ++j) dot += log ? g[base + j * st] : g[base + j * st] * y[base + j * st];
            for (std::int64_t j = 0; j < v.n; ++j) {
                const std::int64_t k = base + j * st;
                w.put(k, static_cast<T>(log ? g[k] - std::exp(y[k]) * dot : y[k] * (g[k] - dot)));
            }
        }
}

template <class T>
BasicTensor<T> softmax_impl(const BasicTensor<T>& a, int axis, bool log) {
    const char* op = log ? "log_softmax" : "softmax";
    TensorStore& s = store();
    const auto x = operand(s, a, op);
    axis = detail::normalize_axis(axis, x.shape.rank(), op, x.shape);
    const AxisView v = detail::axis_view(x.shape, axis);
    const std::uint32_t rec = begin_node<T>(s, op, x.shape, {x.rec});
    TensorNode& node = s.nodes[rec];
    node.iarg[0] = v.outer;
    node.iarg[1] = v.n;
    node.iarg[2] = v.inner;
    node.darg = log ? 1.0 : 0.0;
    softmax_rows(x.v, values<T>(node), v, log);
    return finish<T>(s, rec, &softmax_backward<T>);
}

// -------------------------------------------------------------- losses ---

// Saved by cross_entropy for backward: labels, then log-sum-exp per row.
struct CrossEntropySaved {
    std::int64_t* labels;
    double* lse;
};
CrossEntropySaved ce_saved(const TensorNode& n) {
    auto* labels = static_cast<std::int64_t*>(n.extra);
    return {labels, reinterpret_cast<double*>(labels + n.iarg[0])};
}

// d loss / d x[r, j] = (softmax(x_r)_j - [j == label_r]) / rows
template <class T>
void cross_entropy_backward(TensorStore& s, TensorNode& n) {
    TensorNode& a = input<T>(s, n, 0);
    const std::int64_t rows = n.iarg[0], c = n.iarg[1];
    const auto saved = ce_saved(n);
    const double g = grads<T>(n)[0] / static_cast<double>(rows);
    const T* x = values<T>(a);
    const auto w = grad_writer<T>(a);
    for (std::int64_t r = 0; r < rows; ++r) {
        const T lse = static_cast<T>(saved.lse[r]);
        for (std::int64_t j = 0; j < c; ++j) {
            const double p = std::exp(x[r * c + j] - lse);
            w.put(r * c + j, static_cast<T>(g * (p - (j == saved.labels[r] ? 1.0 : 0.0))));
        }
    }
}

template <class T, class L>
BasicTensor<T> cross_entropy_impl(const BasicTensor<T>& logits, std::span<const L> labels) {
    const char* op = "cross_entropy";
    TensorStore& s = store();
    const auto x = operand(s, logits, op);
    if (x.shape.rank() != 2)
        throw_shape(op, fmt::format("logits {} must be 2-D [rows, classes]", x.shape.str()));
    const std::int64_t rows = x.shape[0], c = x.shape[1];
    if (static_cast<std::int64_t>(labels.size()) != rows)
        throw_shape(op, fmt::format("{} labels for logits {}: one label per row is needed", labels.size(), x.shape.str()));
    if (rows == 0) throw_shape(op, fmt::format("logits {} have no rows (the mean of nothing)", x.shape.str()));
    for (std::int64_t r = 0; r < rows; ++r) {
        const auto label = static_cast<std::int64_t>(labels[static_cast<std::size_t>(r)]);
        if (label < 0 || label >= c)
            throw_shape(op, fmt::format("label {} in row {} is out of range [0, {}) for logits {}", label, r, c,
                                        x.shape.str()));
    }
    const std::uint32_t rec = begin_node<T>(s, op, Shape{}, {x.rec});
    TensorNode& node = s.nodes[rec];
    node.iarg[0] = rows;
    node.iarg[1] = c;
    auto* saved_labels = s.arena.allocate_array<std::int64_t>(static_cast<std::size_t>(2 * rows));
    node.extra = saved_labels;
    const auto saved = ce_saved(node);
    double total = 0;
    for (std::int64_t r = 0; r < rows; ++r) {
        const T* row = x.v + r * c;
        double m = -std::numeric_limits<double>::infinity();
        for (std::int64_t j = 0; j < c; ++j) m = std::max<double>(m, row[j]);
        // exp in T: expf for float32 is what the precision calls for, and faster.
        const T mt = static_cast<T>(m);
        double sum = 0;
        for (std::int64_t j = 0; j < c; ++j) sum += std::exp(row[j] - mt);
        const std::int64_t label = static_cast<std::int64_t>(labels[static_cast<std::size_t>(r)]);
        saved.labels[r] = label;
        saved.lse[r] = m + std::log(sum);
        total += saved.lse[r] - row[label];
    }
    values<T>(node)[0] = static_cast<T>(total / static_cast<double>(rows));
    return finish<T>(s, rec, &cross_entropy_backward<T>);
}

// A loss that is the mean over elements of term(p, t), with gradients
// dterm/dp and dterm/dt; p and t must have equal shapes.
template <class Loss, class T>
void pointwise_loss_backward(TensorStore& s, TensorNode& n) {
    TensorNode& P = input<T>(s, n, 0);
    TensorNode& Q = input<T>(s, n, 1);
    const std::int64_t count = P.shape.numel();
    const double g = grads<T>(n)[0] / static_cast<double>(count);
    const T *p = values<T>(P), *t = values<T>(Q);
    if (P.requires_grad) detail::accumulate<T>(P, [&](std::int64_t i) { return g * Loss::dp(p[i], t[i]); });
    if (Q.requires_grad) detail::accumulate<T>(Q, [&](std::int64_t i) { return g * Loss::dt(p[i], t[i]); });
}

template <class Loss, class T>
BasicTensor<T> pointwise_loss(const BasicTensor<T>& pred, const BasicTensor<T>& target) {
    TensorStore& s = store();
    const auto p = operand(s, pred, Loss::name);
    const auto t = operand(s, target, Loss::name);
    if (!(p.shape == t.shape))
        throw_shape(Loss::name, fmt::format("{} and {}: {} and {} must have the same shape", p.shape.str(), t.shape.str(),
                                            Loss::first, Loss::second));
    const std::int64_t count = p.shape.numel();
    if (count == 0) throw_shape(Loss::name, fmt::format("{} is empty (the mean of nothing)", p.shape.str()));
    double total = 0;
    for (std::int64_t i = 0; i < count; ++i) total += Loss::f(p.v[i], t.v[i]);
    const std::uint32_t rec = begin_node<T>(s, Loss::name, Shape{}, {p.rec, t.rec});
    values<T>(s.nodes[rec])[0] = static_cast<T>(total / static_cast<double>(count));
    return finish<T>(s, rec, &pointwise_loss_backward<Loss, T>);
}

struct Mse {
    static constexpr const char* name = "mse_loss";
    static constexpr const char* first = "pred";
    static constexpr const char* second = "target";
    static double f(double p, double t) { return (p - t) * (p - t); }
    static double dp(double p, double t) { return 2 * (p - t); }
    static double dt(double p, double t) { return -2 * (p - t); }
};
// max(x, 0) - x t + log(1 + exp(-|x|)) == -[t log σ(x) + (1 - t) log(1 - σ(x))],
// without overflow for any x.
struct BceWithLogits {
    static constexpr const char* name = "binary_cross_entropy_with_logits";
    static constexpr const char* first = "logits";
    static constexpr const char* second = "targets";
    static double f(double x, double t) { return ops::Relu::f(x) - x * t + std::log1p(std::exp(-std::fabs(x))); }
    static double dp(double x, double t) { return ops::Sigmoid::f(x) - t; }
    static double dt(double x, double) { return -x; }
};
// max(0, 1 - t s); the derivative at the kink (t s == 1) is 0, as relu'(0).
struct Hinge {
    static constexpr const char* name = "hinge";
    static constexpr const char* first = "scores";
    static constexpr const char* second = "targets";
    // relu's rule, so NaN propagates: a NaN score gives a NaN loss and gradient.
    static double f(double s, double t) { return ops::Relu::f(1 - t * s); }
    static double dp(double s, double t) { return ops::kink::step(1 - t * s) * -t; }
    static double dt(double s, double t) { return ops::kink::step(1 - t * s) * -s; }
};

// ------------------------------------------------------ rows and concat ---

template <class T>
void select_rows_backward(TensorStore& s, TensorNode& n) {
    TensorNode& a = input<T>(s, n, 0);
    const std::int64_t count = n.shape[0], width = n.iarg[0];
    const auto* rows = static_cast<const std::int64_t*>(n.extra);
    const T* g = grads<T>(n);
    T* ga = grad_for_add<T>(a);  // a row picked twice collects both
    for (std::int64_t r = 0; r < count; ++r)
        for (std::int64_t j = 0; j < width; ++j) ga[rows[r] * width + j] += g[r * width + j];
}

template <class T, class I>
BasicTensor<T> select_rows_impl(const BasicTensor<T>& a, std::span<const I> rows) {
    const char* op = "select_rows";
    TensorStore& s = store();
    const auto x = operand(s, a, op);
    if (x.shape.rank() < 1) throw_shape(op, fmt::format("needs at least 1 axis, got shape {}", x.shape.str()));
    const std::int64_t n = x.shape[0];
    for (std::size_t r = 0; r < rows.size(); ++r)
        if (rows[r] < 0 || static_cast<std::int64_t>(rows[r]) >= n)
            throw_shape(op, fmt::format("row {} (position {} in the list) is out of range for shape {} ({} rows)",
                                        static_cast<std::int64_t>(rows[r]), r, x.shape.str(), n));
    Shape out = x.shape;
    out[0] = static_cast<std::int64_t>(rows.size());
    const std::int64_t width = n == 0 ? 0 : x.shape.numel() / n;
    const std::uint32_t rec = begin_node<T>(s, op, out, {x.rec});
    TensorNode& node = s.nodes[rec];
    node.iarg[0] = width;
    auto* saved = s.arena.allocate_array<std::int64_t>(rows.size());
    node.extra = saved;
    T* y = values<T>(node);
    for (std::size_t r = 0; r < rows.size(); ++r) {
        saved[r] = static_cast<std::int64_t>(rows[r]);
        std::copy_n(x.v + saved[r] * width, width, y + static_cast<std::int64_t>(r) * width);
    }
    return finish<T>(s, rec, &select_rows_backward<T>);
}

// Each part is [outer, len_p * inner] around the axis; the output row is the
// parts' rows side by side.
template <class T>
void concat_backward(TensorStore& s, TensorNode& n) {
    const int axis = static_cast<int>(n.iarg[0]);
    const AxisView v = detail::axis_view(n.shape, axis);
    const T* g = grads<T>(n);
    std::int64_t offset = 0;
    for (std::uint32_t p = 0; p < n.n_in; ++p) {
        TensorNode& part = input<T>(s, n, p);
        const std::int64_t width = part.shape[axis] * v.inner;
        if (part.requires_grad) {
            const auto w = grad_writer<T>(part);
            for (std::int64_t o = 0; o < v.outer; ++o)
                for (std::int64_t j = 0; j < width; ++j) w.put(o * width + j, g[o * v.n * v.inner + offset + j]);
        }
        offset += width;
    }
}

}  // namespace

// ------------------------------------------------------------ public API ---

template <class T> BasicTensor<T> operator+(const BasicTensor<T>& a, const BasicTensor<T>& b) { return binary<ops::Add>(a, b); }
template <class T> BasicTensor<T> operator-(const BasicTensor<T>& a, const BasicTensor<T>& b) { return binary<ops::Sub>(a, b); }
template <class T> BasicTensor<T> operator*(const BasicTensor<T>& a, const BasicTensor<T>& b) { return binary<ops::Mul>(a, b); }
template <class T> BasicTensor<T> operator/(const BasicTensor<T>& a, const BasicTensor<T>& b) { return binary<ops::Div>(a, b); }
template <class T> BasicTensor<T> operator+(const BasicTensor<T>& a, double c) { return with_constant<ops::AddC>(a, c); }
template <class T> BasicTensor<T> operator+(double c, const BasicTensor<T>& a) { return with_constant<ops::AddC>(a, c); }
template <class T> BasicTensor<T> operator-(const BasicTensor<T>& a, double c) { return with_constant<ops::AddC>(a, -c); }
template <class T> BasicTensor<T> operator-(double c, const BasicTensor<T>& a) { return with_constant<ops::RSubC>(a, c); }
template <class T> BasicTensor<T> operator*(const BasicTensor<T>& a, double c) { return with_constant<ops::MulC>(a, c); }
template <class T> BasicTensor<T> operator*(double c, const BasicTensor<T>& a) { return with_constant<ops::MulC>(a, c); }
template <class T> BasicTensor<T> operator/(const BasicTensor<T>& a, double c) { return with_constant<ops::DivC>(a, c); }
template <class T> BasicTensor<T> operator/(double c, const BasicTensor<T>& a) { return with_constant<ops::RDivC>(a, c); }
template <class T> BasicTensor<T> operator-(const BasicTensor<T>& a) { return unary<ops::Neg>(a); }

template <class T> BasicTensor<T> pow(const BasicTensor<T>& a, double exponent) { return with_constant<ops::PowC>(a, exponent); }
template <class T> BasicTensor<T> pow(const BasicTensor<T>& a, const BasicTensor<T>& exponent) { return binary<ops::Pow>(a, exponent); }
template <class T> BasicTensor<T> exp(const BasicTensor<T>& a) { return unary<ops::Exp>(a); }
template <class T> BasicTensor<T> log(const BasicTensor<T>& a) { return unary<ops::Log>(a); }
template <class T> BasicTensor<T> sqrt(const BasicTensor<T>& a) { return unary<ops::Sqrt>(a); }
template <class T> BasicTensor<T> tanh(const BasicTensor<T>& a) { return unary<ops::Tanh>(a); }
template <class T> BasicTensor<T> sigmoid(const BasicTensor<T>& a) { return unary<ops::Sigmoid>(a); }
template <class T> BasicTensor<T> relu(const BasicTensor<T>& a) { return relu_impl(a); }
template <class T> BasicTensor<T> abs(const BasicTensor<T>& a) { return unary<ops::Abs>(a); }

template <class T>
BasicTensor<T> matmul(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return linear_impl("matmul", false, a, b, BasicTensor<T>{});
}
template <class T>
BasicTensor<T> linear(const BasicTensor<T>& x, const BasicTensor<T>& w, const BasicTensor<T>& bias) {
    return linear_impl("linear", true, x, w, bias);
}

template <class T>
BasicTensor<T> transpose(const BasicTensor<T>& a, int axis0, int axis1) {
    TensorStore& s = store();
    const auto x = operand(s, a, "transpose");
    axis0 = detail::normalize_axis(axis0, x.shape.rank(), "transpose", x.shape);
    axis1 = detail::normalize_axis(axis1, x.shape.rank(), "transpose", x.shape);
    Shape out = x.shape;
    std::swap(out[axis0], out[axis1]);
    const std::uint32_t rec = begin_node<T>(s, "transpose", out, {x.rec});
    TensorNode& node = s.nodes[rec];
    node.iarg[0] = axis0;
    node.iarg[1] = axis1;
    T* y = values<T>(node);
    swap_axes(x.v, x.shape, axis0, axis1, [y](std::int64_t k, T v) { y[k] = v; });
    return finish<T>(s, rec, &transpose_backward<T>);
}

template <class T>
BasicTensor<T> transpose(const BasicTensor<T>& a) {
    const Shape shape = a.shape();
    if (shape.rank() < 2)
        throw_shape("transpose", fmt::format("shape {} has fewer than 2 axes; name the axes to swap", shape.str()));
    return transpose(a, -2, -1);
}

template <class T>
BasicTensor<T> reshape(const BasicTensor<T>& a, const Shape& shape) {
    TensorStore& s = store();
    const auto x = operand(s, a, "reshape");
    Shape out = shape;
    int inferred = -1;
    for (int i = 0; i < out.rank(); ++i) {
        if (out[i] == -1 && inferred < 0)
            inferred = i;
        else if (out[i] < 0)
            throw_shape("reshape", fmt::format("{} to {}: sizes must be >= 0, with at most one -1", x.shape.str(),
                                               shape.str()));
    }
    if (inferred >= 0) {
        // The product of the given sizes, through numel()'s overflow check.
        out[inferred] = 1;
        const std::int64_t known = out.numel();
        out[inferred] = known != 0 && x.shape.numel() % known == 0 ? x.shape.numel() / known : -1;
    }
    if (out.numel() != x.shape.numel() || (inferred >= 0 && out[inferred] < 0))
        throw_shape("reshape", fmt::format("cannot reshape {} ({} elements) to {}", x.shape.str(), x.shape.numel(),
                                           shape.str()));
    const std::uint32_t rec = begin_node<T>(s, "reshape", out, {x.rec});
    std::copy_n(x.v, x.shape.numel(), values<T>(s.nodes[rec]));
    return finish<T>(s, rec, &reshape_backward<T>);
}

template <class T> BasicTensor<T> sum(const BasicTensor<T>& a) { return sum_all(a, "sum", false); }
template <class T> BasicTensor<T> mean(const BasicTensor<T>& a) { return sum_all(a, "mean", true); }
template <class T> BasicTensor<T> sum(const BasicTensor<T>& a, int axis, bool keepdim) {
    return sum_axis(a, axis, keepdim, "sum", false);
}
template <class T> BasicTensor<T> mean(const BasicTensor<T>& a, int axis, bool keepdim) {
    return sum_axis(a, axis, keepdim, "mean", true);
}

template <class T>
BasicTensor<T> max(const BasicTensor<T>& a) {
    TensorStore& s = store();
    const auto x = operand(s, a, "max");
    return max_impl(AxisView{1, x.shape.numel(), 1}, Shape{}, x.rec, x.v);
}

template <class T>
BasicTensor<T> max(const BasicTensor<T>& a, int axis, bool keepdim) {
    TensorStore& s = store();
    const auto x = operand(s, a, "max");
    axis = detail::normalize_axis(axis, x.shape.rank(), "max", x.shape);
    return max_impl(detail::axis_view(x.shape, axis), detail::reduced_shape(x.shape, axis, keepdim), x.rec, x.v);
}

template <class T> BasicTensor<T> softmax(const BasicTensor<T>& a, int axis) { return softmax_impl(a, axis, false); }
template <class T> BasicTensor<T> log_softmax(const BasicTensor<T>& a, int axis) { return softmax_impl(a, axis, true); }

template <class T>
BasicTensor<T> mse_loss(const BasicTensor<T>& pred, const BasicTensor<T>& target) {
    return pointwise_loss<Mse>(pred, target);
}
template <class T>
BasicTensor<T> cross_entropy(const BasicTensor<T>& logits, std::span<const std::int64_t> labels) {
    return cross_entropy_impl(logits, labels);
}
template <class T>
BasicTensor<T> cross_entropy(const BasicTensor<T>& logits, std::span<const int> labels) {
    return cross_entropy_impl(logits, labels);
}
template <class T>
BasicTensor<T> binary_cross_entropy_with_logits(const BasicTensor<T>& logits, const BasicTensor<T>& targets) {
    return pointwise_loss<BceWithLogits>(logits, targets);
}
template <class T>
BasicTensor<T> hinge(const BasicTensor<T>& scores, const BasicTensor<T>& targets) {
    return pointwise_loss<Hinge>(scores, targets);
}

template <class T>
BasicTensor<T> select_rows(const BasicTensor<T>& a, std::span<const std::int64_t> rows) {
    return select_rows_impl(a, rows);
}
template <class T>
BasicTensor<T> select_rows(const BasicTensor<T>& a, std::span<const int> rows) {
    return select_rows_impl(a, rows);
}

template <class T>
BasicTensor<T> concat(std::span<const BasicTensor<T>> parts, int axis) {
    const char* op = "concat";
    TensorStore& s = store();
    if (parts.empty()) throw_shape(op, "no tensors to join");
    if (parts.size() > std::numeric_limits<std::uint32_t>::max()) throw_shape(op, "too many tensors");
    const Shape first = operand(s, parts[0], op).shape;
    axis = detail::normalize_axis(axis, first.rank(), op, first);
    Shape out = first;
    out[axis] = 0;
    // Record indices go to scratch first: the node's own copy is made in the
    // arena by begin_node.
    auto* recs = s.scratch_array<std::uint32_t>(parts.size());
    for (std::size_t p = 0; p < parts.size(); ++p) {
        const auto x = operand(s, parts[p], op);
        bool same = x.shape.rank() == first.rank();
        for (int d = 0; same && d < first.rank(); ++d) same = d == axis || x.shape[d] == first[d];
        if (!same)
            throw_shape(op, fmt::format("part {} has shape {}, part 0 has {}: all axes but axis {} must agree", p,
                                        x.shape.str(), first.str(), axis));
        if (__builtin_add_overflow(out[axis], x.shape[axis], &out[axis]))
            throw std::length_error(fmt::format("{}: the sizes along axis {} add up past the int64 range (max {}) "
                                                "at part {}, of shape {}",
                                                op, axis, std::numeric_limits<std::int64_t>::max(), p, x.shape.str()));
        recs[p] = x.rec;
    }
    const std::uint32_t rec = begin_node<T>(s, op, out, std::span<const std::uint32_t>(recs, parts.size()));
    TensorNode& node = s.nodes[rec];
    node.iarg[0] = axis;
    const AxisView v = detail::axis_view(out, axis);
    T* y = values<T>(node);
    std::int64_t offset = 0;
    for (std::uint32_t p = 0; p < node.n_in; ++p) {
        const TensorNode& part = s.nodes[node.input(p)];
        const std::int64_t width = part.shape[axis] * v.inner;
        const T* x = values<T>(part);
        for (std::int64_t o = 0; o < v.outer; ++o) std::copy_n(x + o * width, width, y + o * v.n * v.inner + offset);
        offset += width;
    }
    return finish<T>(s, rec, &concat_backward<T>);
}

#define AG_INSTANTIATE(T)                                                                                             \
    template BasicTensor<T> operator+(const BasicTensor<T>&, const BasicTensor<T>&);                                 \
    template BasicTensor<T> operator-(const BasicTensor<T>&, const BasicTensor<T>&);                                 \
    template BasicTensor<T> operator*(const BasicTensor<T>&, const BasicTensor<T>&);                                 \
    template BasicTensor<T> operator/(const BasicTensor<T>&, const BasicTensor<T>&);                                 \
    template BasicTensor<T> operator+(const BasicTensor<T>&, double);                                                \
    template BasicTensor<T> operator+(double, const BasicTensor<T>&);                                                \
    template BasicTensor<T> operator-(const BasicTensor<T>&, double);                                                \
    template BasicTensor<T> operator-(double, const BasicTensor<T>&);                                                \
    template BasicTensor<T> operator*(const BasicTensor<T>&, double);                                                \
    template BasicTensor<T> operator*(double, const BasicTensor<T>&);                                                \
    template BasicTensor<T> operator/(const BasicTensor<T>&, double);                                                \
    template BasicTensor<T> operator/(double, const BasicTensor<T>&);                                                \
    template BasicTensor<T> operator-(const BasicTensor<T>&);                                                        \
    template BasicTensor<T> pow(const BasicTensor<T>&, double);                                                      \
    template BasicTensor<T> pow(const BasicTensor<T>&, const BasicTensor<T>&);                                       \
    template BasicTensor<T> exp(const BasicTensor<T>&);                                                              \
    template BasicTensor<T> log(const BasicTensor<T>&);                                                              \
    template BasicTensor<T> sqrt(const BasicTensor<T>&);                                                             \
    template BasicTensor<T> tanh(const BasicTensor<T>&);                                                             \
    template BasicTensor<T> sigmoid(const BasicTensor<T>&);                                                          \
    template BasicTensor<T> relu(const BasicTensor<T>&);                                                             \
    template BasicTensor<T> abs(const BasicTensor<T>&);                                                              \
    template BasicTensor<T> matmul(const BasicTensor<T>&, const BasicTensor<T>&);                                    \
    template BasicTensor<T> linear(const BasicTensor<T>&, const BasicTensor<T>&, const BasicTensor<T>&);             \
    template BasicTensor<T> transpose(const BasicTensor<T>&);                                                        \
    template BasicTensor<T> transpose(const BasicTensor<T>&, int, int);                                              \
    template BasicTensor<T> reshape(const BasicTensor<T>&, const Shape&);                                            \
    template BasicTensor<T> sum(const BasicTensor<T>&);                                                              \
    template BasicTensor<T> sum(const BasicTensor<T>&, int, bool);                                                   \
    template BasicTensor<T> mean(const BasicTensor<T>&);                                                             \
    template BasicTensor<T> mean(const BasicTensor<T>&, int, bool);                                                  \
    template BasicTensor<T> max(const BasicTensor<T>&);                                                              \
    template BasicTensor<T> max(const BasicTensor<T>&, int, bool);                                                   \
    template BasicTensor<T> softmax(const BasicTensor<T>&, int);                                                     \
    template BasicTensor<T> log_softmax(const BasicTensor<T>&, int);                                                 \
    template BasicTensor<T> mse_loss(const BasicTensor<T>&, const BasicTensor<T>&);                                  \
    template BasicTensor<T> cross_entropy(const BasicTensor<T>&, std::span<const std::int64_t>);                     \
    template BasicTensor<T> cross_entropy(const BasicTensor<T>&, std::span<const int>);                              \
    template BasicTensor<T> binary_cross_entropy_with_logits(const BasicTensor<T>&, const BasicTensor<T>&);          \
    template BasicTensor<T> hinge(const BasicTensor<T>&, const BasicTensor<T>&);                                     \
    template BasicTensor<T> select_rows(const BasicTensor<T>&, std::span<const std::int64_t>);                       \
    template BasicTensor<T> select_rows(const BasicTensor<T>&, std::span<const int>);                                \
    template BasicTensor<T> concat(std::span<const BasicTensor<T>>, int);
AG_INSTANTIATE(float)
AG_INSTANTIATE(double)
#undef AG_INSTANTIATE

}  // namespace ag
