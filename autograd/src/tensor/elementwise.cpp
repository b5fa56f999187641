// Elementwise tensor ops, with NumPy broadcasting: each applies a scalar rule
// of ops.hpp to every element, so a tensor op and the scalar op compute the
// very same formulas, in the tensor's own precision (float32 in float).
// As in the scalar sweep, an element whose upstream gradient is 0 sends 0
// (not 0 * inf = NaN).
//
// This file is compiled with -fno-trapping-math (autograd/CMakeLists.txt):
// the conditional expressions in these loops (relu', the zero-gradient
// guard) only become vector blends then.
#include "node.hpp"

#include <autograd/ops.hpp>

#include <fmt/format.h>

namespace ag {

using detail::Backward;
using detail::operand;
using detail::record;
using detail::store;
using detail::TensorStore;
using detail::values;

namespace {

// Upstream gradient times a local derivative, 0 where nothing flows. The
// product is computed unconditionally so the choice compiles to a blend and
// the loops vectorize (a branch here mispredicts on every other element).
template <class T>
inline T chain(T g, T local) {
    const T product = g * local;
    return g == T(0) ? T(0) : product;
}

// ------------------------------------------------------------ broadcast ---

// Iteration plan for an output of up to 4 axes over two operands, each with
// per-axis strides (0 along a stretched axis), padded on the left to 4 axes.
struct Broadcast {
    std::int64_t dim[4], sa[4], sb[4];
};

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

// ---------------------------------------------------------------- unary ---

template <class Rule>
struct Unary {
    static constexpr const char* name = Rule::name;
    struct State {};
    template <class T>
    static void backward(const Backward<T>& b, const State&) {
        auto sink = b.sink(0);
        const T *g = b.grad, *y = b.value(), *x = b.input_value(0);
        sink.fill([&](std::int64_t i) { return chain<T>(g[i], Rule::d(x[i], y[i])); });
    }
};

template <class Rule, class T>
BasicTensor<T> unary(const BasicTensor<T>& a) {
    TensorStore& s = store();
    const auto x = operand(s, a, Rule::name);
    const std::uint32_t rec = record<Unary<Rule>, T>(s, x.shape, {x.rec});
    T* y = values<T>(s.nodes[rec]);
    const std::int64_t n = x.shape.numel();
    for (std::int64_t i = 0; i < n; ++i) y[i] = Rule::f(x.v[i]);
    return detail::finish<T>(s, rec);
}

// ------------------------------------------------- with a scalar constant ---

// op(a, c) for a scalar constant c (ops.hpp's *C ops), kept in the state.
template <class Rule>
struct WithConstant {
    static constexpr const char* name = Rule::name;
    struct State {
        double c;
    };
    template <class T>
    static void backward(const Backward<T>& b, const State& s) {
        auto sink = b.sink(0);
        const T *g = b.grad, *y = b.value(), *x = b.input_value(0);
        sink.fill([&](std::int64_t i) { return chain<T>(g[i], Rule::d(x[i], s.c, y[i])); });
    }
};

template <class Rule, class T>
BasicTensor<T> with_constant(const BasicTensor<T>& a, double c) {
    TensorStore& s = store();
    const auto x = operand(s, a, Rule::name);
    const std::uint32_t rec = record<WithConstant<Rule>, T>(s, x.shape, {x.rec}, {c});
    T* y = values<T>(s.nodes[rec]);
    const T ct = static_cast<T>(c);
    const std::int64_t n = x.shape.numel();
    for (std::int64_t i = 0; i < n; ++i) y[i] = Rule::f(x.v[i], ct);
    return detail::finish<T>(s, rec);
}

// --------------------------------------------------------------- binary ---

template <class Rule>
struct Binary {
    static constexpr const char* name = Rule::name;
    struct State {};
    template <class T>
    static void backward(const Backward<T>& b, const State&) {
        auto sa = b.sink(0), sb = b.sink(1);
        const T *g = b.grad, *y = b.value(), *x0 = b.input_value(0), *x1 = b.input_value(1);
        const Shape &out = b.shape(), &s0 = b.input_shape(0), &s1 = b.input_shape(1);
        if (s0 == out && s1 == out) {
            if (sa.wanted()) sa.fill([&](std::int64_t i) { return chain<T>(g[i], Rule::da(x0[i], x1[i], y[i])); });
            if (sb.wanted()) sb.fill([&](std::int64_t i) { return chain<T>(g[i], Rule::db(x0[i], x1[i], y[i])); });
            return;
        }
        // Stretched axes: each input element collects the sum over its copies.
        const Broadcast p = plan(out, s0, s1);
        if (sa.wanted()) {
            T* ga = sa.accumulator();
            for_each_broadcast(p, [&](std::int64_t o, std::int64_t i, std::int64_t j) {
                ga[i] += chain<T>(g[o], Rule::da(x0[i], x1[j], y[o]));
            });
        }
        if (sb.wanted()) {
            T* gb = sb.accumulator();
            for_each_broadcast(p, [&](std::int64_t o, std::int64_t i, std::int64_t j) {
                gb[j] += chain<T>(g[o], Rule::db(x0[i], x1[j], y[o]));
            });
        }
    }
};

template <class Rule, class T>
BasicTensor<T> binary(const BasicTensor<T>& lhs, const BasicTensor<T>& rhs) {
    TensorStore& s = store();
    const auto a = operand(s, lhs, Rule::name);
    const auto b = operand(s, rhs, Rule::name);
    const Shape out = broadcast_shape(a.shape, b.shape, Rule::name);
    const std::uint32_t rec = record<Binary<Rule>, T>(s, out, {a.rec, b.rec});
    T* y = values<T>(s.nodes[rec]);
    if (a.shape == out && b.shape == out) {
        const std::int64_t n = out.numel();
        for (std::int64_t i = 0; i < n; ++i) y[i] = Rule::f(a.v[i], b.v[i]);
    } else {
        for_each_broadcast(plan(out, a.shape, b.shape),
                           [&](std::int64_t o, std::int64_t i, std::int64_t j) { y[o] = Rule::f(a.v[i], b.v[j]); });
    }
    return detail::finish<T>(s, rec);
}

}  // namespace

// clang-format off
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
template <class T> BasicTensor<T> relu(const BasicTensor<T>& a) { return unary<ops::Relu>(a); }
template <class T> BasicTensor<T> abs(const BasicTensor<T>& a) { return unary<ops::Abs>(a); }
template <class T> BasicTensor<T> sin(const BasicTensor<T>& a) { return unary<ops::Sin>(a); }
template <class T> BasicTensor<T> cos(const BasicTensor<T>& a) { return unary<ops::Cos>(a); }

#define AG_INSTANTIATE(T)                                                                   \
    template BasicTensor<T> operator+(const BasicTensor<T>&, const BasicTensor<T>&);       \
    template BasicTensor<T> operator-(const BasicTensor<T>&, const BasicTensor<T>&);       \
    template BasicTensor<T> operator*(const BasicTensor<T>&, const BasicTensor<T>&);       \
    template BasicTensor<T> operator/(const BasicTensor<T>&, const BasicTensor<T>&);       \
    template BasicTensor<T> operator+(const BasicTensor<T>&, double);                      \
    template BasicTensor<T> operator+(double, const BasicTensor<T>&);                      \
    template BasicTensor<T> operator-(const BasicTensor<T>&, double);                      \
    template BasicTensor<T> operator-(double, const BasicTensor<T>&);                      \
    template BasicTensor<T> operator*(const BasicTensor<T>&, double);                      \
    template BasicTensor<T> operator*(double, const BasicTensor<T>&);                      \
    template BasicTensor<T> operator/(const BasicTensor<T>&, double);                      \
    template BasicTensor<T> operator/(double, const BasicTensor<T>&);                      \
    template BasicTensor<T> operator-(const BasicTensor<T>&);                              \
    template BasicTensor<T> pow(const BasicTensor<T>&, double);                            \
    template BasicTensor<T> pow(const BasicTensor<T>&, const BasicTensor<T>&);             \
    template BasicTensor<T> exp(const BasicTensor<T>&);                                    \
    template BasicTensor<T> log(const BasicTensor<T>&);                                    \
    template BasicTensor<T> sqrt(const BasicTensor<T>&);                                   \
    template BasicTensor<T> tanh(const BasicTensor<T>&);                                   \
    template BasicTensor<T> sigmoid(const BasicTensor<T>&);                                \
    template BasicTensor<T> relu(const BasicTensor<T>&);                                   \
    template BasicTensor<T> abs(const BasicTensor<T>&);                                    \
    template BasicTensor<T> sin(const BasicTensor<T>&);                                    \
    template BasicTensor<T> cos(const BasicTensor<T>&);
AG_INSTANTIATE(float)
AG_INSTANTIATE(double)
#undef AG_INSTANTIATE
// clang-format on

}  // namespace ag
