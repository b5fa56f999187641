// Linear algebra: matrix products through BLAS (matmul, linear) and
// transpose.
#include "node.hpp"

#include <cblas.h>
#include <fmt/format.h>

#include <limits>

namespace ag {

using detail::Backward;
using detail::GraphBackward;
using detail::operand;
using detail::record;
using detail::store;
using detail::TensorStore;
using detail::throw_shape;
using detail::values;

namespace {

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
// sizes, which BLAS rejects or skips. `op` names the caller in errors.
template <class T>
void product(const char* op, std::int64_t m, std::int64_t n, std::int64_t k, const T* a, bool ta, const T* b, bool tb,
             T beta, T* c) {
    if (m == 0 || n == 0) return;
    if (k == 0) {
        if (beta == T(0)) std::fill_n(c, m * n, T(0));
        return;
    }
    constexpr std::int64_t blas_max = std::numeric_limits<int>::max();  // CBLAS takes int sizes
    if (m > blas_max || n > blas_max || k > blas_max)
        throw std::length_error(
            fmt::format("{}: a product of [{}, {}] and [{}, {}] exceeds BLAS's int sizes", op, m, k, k, n));
    gemm(ta, tb, m, n, k, T(1), a, ta ? m : k, b, tb ? k : n, beta, c, n);
}

// Checks the shapes of x [.., k] @ w [k, n]; returns the row count of x as
// a matrix (the product of all its axes but the last).
std::int64_t check_matmul(const char* op, const Shape& x, const Shape& w, bool allow_rank1) {
    const bool x_ok = (x.rank() == 2 || x.rank() == 3 || (allow_rank1 && x.rank() == 1));
    if (!x_ok || w.rank() != 2)
        throw_shape(op, fmt::format("{} @ {}: needs a {}2-D or 3-D left operand and a 2-D right operand", x.str(),
                                    w.str(), allow_rank1 ? "1-D, " : ""));
    if (x[x.rank() - 1] != w[0])
        throw_shape(op,
                    fmt::format("{} @ {}: inner dimensions {} and {} differ", x.str(), w.str(), x[x.rank() - 1], w[0]));
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
// matmul is linear without a bias (and without 1-D x).
struct Linear {
    static constexpr const char* name = "linear";
    struct State {
        std::int64_t rows;  // m: x's rows as a matrix
    };
    template <class T>
    static void backward(const Backward<T>& b, const State& s) {
        const std::int64_t m = s.rows, k = b.input_shape(1)[0], cols = b.input_shape(1)[1];
        const T* g = b.grad;
        if (auto sx = b.sink(0); sx.wanted()) {
            const auto c = sx.gemm();
            product<T>(b.node.op, m, k, cols, g, false, b.input_value(1), true, c.beta, c.c);
        }
        if (auto sw = b.sink(1); sw.wanted()) {
            const auto c = sw.gemm();
            product<T>(b.node.op, k, cols, m, b.input_value(0), true, g, false, c.beta, c.c);
        }
        if (b.inputs() == 3) {
            if (auto sb = b.sink(2); sb.wanted()) {
                T* gb = sb.accumulator();
                for (std::int64_t r = 0; r < m; ++r)
                    for (std::int64_t j = 0; j < cols; ++j) gb[j] += g[r * cols + j];
            }
        }
    }
    // The same products with tensor ops, x seen as a matrix of m rows.
    template <class T>
    static void backward_graph(const GraphBackward<T>& b, const State& s) {
        const Shape ws = b.input_shape(1);
        const BasicTensor<T> g = reshape(b.grad, Shape{s.rows, ws[1]});
        const BasicTensor<T> w = b.input(1);
        if (b.wanted(0)) b.add(0, reshape(matmul(g, transpose(w)), b.input_shape(0)));
        if (b.wanted(1)) b.add(1, matmul(transpose(reshape(b.input(0), Shape{s.rows, ws[0]})), g));
        if (b.inputs() == 3 && b.wanted(2)) b.add(2, sum(g, 0));
    }
};

// x_ @ w_ (+ bias, unless it is an empty handle), recorded as `op`.
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
    const std::uint32_t rec = has_bias ? record<Linear, T>(s, out, {x.rec, w.rec, b.rec}, {m}, op)
                                       : record<Linear, T>(s, out, {x.rec, w.rec}, {m}, op);
    T* y = values<T>(s.nodes[rec]);
    // Bias first, then the product added onto it: no extra pass over Y.
    if (has_bias)
        for (std::int64_t r = 0; r < m; ++r) std::copy_n(b.v, n, y + r * n);
    product<T>(op, m, n, k, x.v, false, w.v, false, has_bias ? T(1) : T(0), y);
    return detail::finish<T>(s, rec);
}

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

// The gradient is transposed back by the same swap (of the output's shape).
struct Transpose {
    static constexpr const char* name = "transpose";
    struct State {
        int axis0, axis1;
    };
    template <class T>
    static void backward(const Backward<T>& b, const State& s) {
        auto sink = b.sink(0);
        const auto w = sink.writer();
        swap_axes(b.grad, b.shape(), s.axis0, s.axis1, [&](std::int64_t k, T v) { w.put(k, v); });
    }
    template <class T>
    static void backward_graph(const GraphBackward<T>& b, const State& s) {
        b.add(0, transpose(b.grad, s.axis0, s.axis1));
    }
};

}  // namespace

template <class T>
BasicTensor<T> matmul(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return linear_impl("matmul", false, a, b, BasicTensor<T>{});
}
template <class T>
BasicTensor<T> linear(const BasicTensor<T>& x, const BasicTensor<T>& w, const BasicTensor<T>& bias) {
    return linear_impl(Linear::name, true, x, w, bias);
}

template <class T>
BasicTensor<T> transpose(const BasicTensor<T>& a, int axis0, int axis1) {
    TensorStore& s = store();
    const auto x = operand(s, a, "transpose");
    axis0 = normalize_axis(axis0, x.shape.rank(), "transpose", x.shape);
    axis1 = normalize_axis(axis1, x.shape.rank(), "transpose", x.shape);
    Shape out = x.shape;
    std::swap(out[axis0], out[axis1]);
    const std::uint32_t rec = record<Transpose, T>(s, out, {x.rec}, {axis0, axis1});
    T* y = values<T>(s.nodes[rec]);
    swap_axes(x.v, x.shape, axis0, axis1, [y](std::int64_t k, T v) { y[k] = v; });
    return detail::finish<T>(s, rec);
}

template <class T>
BasicTensor<T> transpose(const BasicTensor<T>& a) {
    const Shape shape = a.shape();
    if (shape.rank() < 2)
        throw_shape("transpose", fmt::format("shape {} has fewer than 2 axes; name the axes to swap", shape.str()));
    return transpose(a, -2, -1);
}

// clang-format off
#define AG_INSTANTIATE(T)                                                                                 \
    template BasicTensor<T> matmul(const BasicTensor<T>&, const BasicTensor<T>&);                        \
    template BasicTensor<T> linear(const BasicTensor<T>&, const BasicTensor<T>&, const BasicTensor<T>&); \
    template BasicTensor<T> transpose(const BasicTensor<T>&);                                            \
    template BasicTensor<T> transpose(const BasicTensor<T>&, int, int);
AG_INSTANTIATE(float)
AG_INSTANTIATE(double)
#undef AG_INSTANTIATE
// clang-format on

}  // namespace ag
