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
using detail::GraphBackward;
using detail::operand;
using detail::record;
using detail::store;
using detail::sum_of;
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

// The same on tensors on the tape, for the recording backward: G times a
// local derivative that is a plain number or a tensor; where G is 0 and the
// local derivative infinite, 0 (as chain() sends), not NaN.
template <class T>
BasicTensor<T> chain_graph(const BasicTensor<T>& g, double local) {
    if (local == 1.0) return g;
    if (!std::isfinite(local))
        return zero_where(
            g * local, [](double gk) { return gk == 0; }, g);
    return g * local;
}
template <class T>
BasicTensor<T> chain_graph(const BasicTensor<T>& g, const BasicTensor<T>& local) {
    for (const T v : local.data())
        if (!std::isfinite(v))
            return zero_where(
                g * local, [](double gk) { return gk == 0; }, g);
    return g * local;
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
    template <class T>
    static void backward_graph(const GraphBackward<T>& b, const State&) {
        b.add(0, chain_graph(b.grad, Rule::d(b.input(0), b.output())));
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
    template <class T>
    static void backward_graph(const GraphBackward<T>& b, const State& s) {
        b.add(0, chain_graph(b.grad, Rule::d(b.input(0), s.c, b.output())));
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
        // One operand a single element (x - max(x), w * x): the other's
        // gradient is elementwise, the single one's a sum kept in registers
        // (through the general loop below it is one long chain through memory).
        const std::int64_t n = out.numel();
        if (s0 == out && s1.numel() == 1) {
            const T c = x1[0];
            if (sa.wanted()) sa.fill([&](std::int64_t i) { return chain<T>(g[i], Rule::da(x0[i], c, y[i])); });
            if (sb.wanted()) {
                const double total =
                    sum_of(n, [&](std::int64_t i) { return chain<T>(g[i], Rule::db(x0[i], c, y[i])); });
                sb.fill([&](std::int64_t) { return total; });
            }
            return;
        }
        if (s1 == out && s0.numel() == 1) {
            const T c = x0[0];
            if (sa.wanted()) {
                const double total =
                    sum_of(n, [&](std::int64_t i) { return chain<T>(g[i], Rule::da(c, x1[i], y[i])); });
                sa.fill([&](std::int64_t) { return total; });
            }
            if (sb.wanted()) sb.fill([&](std::int64_t i) { return chain<T>(g[i], Rule::db(c, x1[i], y[i])); });
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
    // Each input's share, summed back over the axes broadcasting stretched.
    template <class T>
    static void backward_graph(const GraphBackward<T>& b, const State&) {
        const BasicTensor<T> a = b.input(0), c = b.input(1), y = b.output();
        if (b.wanted(0)) b.add(0, sum_to(chain_graph(b.grad, Rule::da(a, c, y)), b.input_shape(0)));
        if (b.wanted(1)) b.add(1, sum_to(chain_graph(b.grad, Rule::db(a, c, y)), b.input_shape(1)));
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
    const std::int64_t n = out.numel();
    if (a.shape == out && b.shape == out) {
        for (std::int64_t i = 0; i < n; ++i) y[i] = Rule::f(a.v[i], b.v[i]);
    } else if (a.shape == out && b.shape.numel() == 1) {
        const T c = b.v[0];
        for (std::int64_t i = 0; i < n; ++i) y[i] = Rule::f(a.v[i], c);
    } else if (b.shape == out && a.shape.numel() == 1) {
        const T c = a.v[0];
        for (std::int64_t i = 0; i < n; ++i) y[i] = Rule::f(c, b.v[i]);
    } else {
        for_each_broadcast(plan(out, a.shape, b.shape),
                           [&](std::int64_t o, std::int64_t i, std::int64_t j) { y[o] = Rule::f(a.v[i], b.v[j]); });
    }
    return detail::finish<T>(s, rec);
}

// ----------------------------------------------------------------- where ---

// out = cond ? a : b, all three broadcast to one shape. The gradient goes to
// a where cond holds and to b elsewhere (a choice, so a NaN in the branch
// not taken does not leak into the other's gradient).
struct Where {
    static constexpr const char* name = "where";
    struct State {};
    template <class T>
    static void backward(const Backward<T>& b, const State&) {
        const T *g = b.grad, *c = b.input_value(0);
        const Shape& out = b.shape();
        for (std::uint32_t j = 1; j <= 2; ++j) {
            auto sink = b.sink(j);
            if (!sink.wanted()) continue;
            T* acc = sink.accumulator();
            const Shape &sc = b.input_shape(0), &sj = b.input_shape(j);
            const std::int64_t n = out.numel();
            for (std::int64_t k = 0; k < n; ++k) {
                const bool chosen = (c[detail::broadcast_source(sc, out, k)] != T(0)) == (j == 1);
                if (chosen) acc[detail::broadcast_source(sj, out, k)] += g[k];
            }
        }
    }
    template <class T>
    static void backward_graph(const GraphBackward<T>& b, const State&) {
        const BasicTensor<T> cond = b.input(0), zero = BasicTensor<T>::zeros(Shape{}).set_requires_grad(false);
        if (b.wanted(1)) b.add(1, sum_to(where(cond, b.grad, zero), b.input_shape(1)));
        if (b.wanted(2)) b.add(2, sum_to(where(cond, zero, b.grad), b.input_shape(2)));
    }
};

// A constant tensor of `shape` whose element k is f(k) (a kink helper).
template <class T, class F>
BasicTensor<T> constant(const Shape& shape, F&& f) {
    std::vector<T> v(static_cast<std::size_t>(shape.numel()));
    for (std::size_t k = 0; k < v.size(); ++k) v[k] = f(static_cast<std::int64_t>(k));
    return BasicTensor<T>(shape, std::span<const T>(v)).set_requires_grad(false);
}

}  // namespace

template <class T>
BasicTensor<T> where(const BasicTensor<T>& cond, const BasicTensor<T>& a, const BasicTensor<T>& b) {
    TensorStore& s = store();
    const auto c = operand(s, cond, Where::name);
    const auto x = operand(s, a, Where::name);
    const auto y = operand(s, b, Where::name);
    const Shape out = broadcast_shape(broadcast_shape(c.shape, x.shape, Where::name), y.shape, Where::name);
    // cond is a constant: it takes no part in whether the node needs a gradient.
    const std::uint32_t inputs[] = {c.rec, x.rec, y.rec};
    const bool rg = detail::inputs_require_grad(s, std::span<const std::uint32_t>(inputs + 1, 2));
    const std::uint32_t rec = record<Where, T>(s, out, inputs, {}, Where::name, rg);
    T* v = values<T>(s.nodes[rec]);
    const std::int64_t n = out.numel();
    for (std::int64_t k = 0; k < n; ++k)
        v[k] = c.v[detail::broadcast_source(c.shape, out, k)] != T(0) ? x.v[detail::broadcast_source(x.shape, out, k)]
                                                                      : y.v[detail::broadcast_source(y.shape, out, k)];
    return detail::finish<T>(s, rec);
}

template <class T>
BasicTensor<T> step(const BasicTensor<T>& a) {
    const auto x = a.data();
    return constant<T>(a.shape(), [&](std::int64_t k) { return ops::kink::step<T>(x[static_cast<std::size_t>(k)]); });
}
template <class T>
BasicTensor<T> sign(const BasicTensor<T>& a) {
    const auto x = a.data();
    return constant<T>(a.shape(), [&](std::int64_t k) { return ops::kink::sign<T>(x[static_cast<std::size_t>(k)]); });
}
template <class T>
BasicTensor<T> max_share(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    const Shape sa = a.shape(), sb = b.shape(), out = broadcast_shape(sa, sb, "max_share");
    const auto x = a.data(), y = b.data();
    return constant<T>(out, [&](std::int64_t k) {
        return ops::kink::max_share<T>(x[static_cast<std::size_t>(detail::broadcast_source(sa, out, k))],
                                       y[static_cast<std::size_t>(detail::broadcast_source(sb, out, k))]);
    });
}

template <class T>
BasicTensor<T> at_least(const BasicTensor<T>& a, double c) {
    const auto x = a.data();
    return constant<T>(a.shape(), [&](std::int64_t k) {
        return ops::kink::at_least<T>(x[static_cast<std::size_t>(k)], static_cast<T>(c));
    });
}
template <class T>
BasicTensor<T> at_most(const BasicTensor<T>& a, double c) {
    const auto x = a.data();
    return constant<T>(a.shape(), [&](std::int64_t k) {
        return ops::kink::at_most<T>(x[static_cast<std::size_t>(k)], static_cast<T>(c));
    });
}

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
template <class T> BasicTensor<T> tan(const BasicTensor<T>& a) { return unary<ops::Tan>(a); }
template <class T> BasicTensor<T> atan(const BasicTensor<T>& a) { return unary<ops::Atan>(a); }
template <class T> BasicTensor<T> sinh(const BasicTensor<T>& a) { return unary<ops::Sinh>(a); }
template <class T> BasicTensor<T> cosh(const BasicTensor<T>& a) { return unary<ops::Cosh>(a); }
template <class T> BasicTensor<T> log1p(const BasicTensor<T>& a) { return unary<ops::Log1p>(a); }
template <class T> BasicTensor<T> expm1(const BasicTensor<T>& a) { return unary<ops::Expm1>(a); }
template <class T> BasicTensor<T> erf(const BasicTensor<T>& a) { return unary<ops::Erf>(a); }
template <class T> BasicTensor<T> softplus(const BasicTensor<T>& a) { return unary<ops::Softplus>(a); }
template <class T> BasicTensor<T> gelu(const BasicTensor<T>& a) { return unary<ops::Gelu>(a); }
template <class T> BasicTensor<T> leaky_relu(const BasicTensor<T>& a, double slope) { return with_constant<ops::LeakyReluC>(a, slope); }
template <class T> BasicTensor<T> clamp_min(const BasicTensor<T>& a, double lo) { return with_constant<ops::ClampMinC>(a, lo); }
template <class T> BasicTensor<T> clamp_max(const BasicTensor<T>& a, double hi) { return with_constant<ops::ClampMaxC>(a, hi); }

// clang-format off
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
    template BasicTensor<T> cos(const BasicTensor<T>&);                                    \
    template BasicTensor<T> tan(const BasicTensor<T>&);                                    \
    template BasicTensor<T> atan(const BasicTensor<T>&);                                   \
    template BasicTensor<T> sinh(const BasicTensor<T>&);                                   \
    template BasicTensor<T> cosh(const BasicTensor<T>&);                                   \
    template BasicTensor<T> log1p(const BasicTensor<T>&);                                  \
    template BasicTensor<T> expm1(const BasicTensor<T>&);                                  \
    template BasicTensor<T> erf(const BasicTensor<T>&);                                    \
    template BasicTensor<T> softplus(const BasicTensor<T>&);                               \
    template BasicTensor<T> gelu(const BasicTensor<T>&);                                   \
    template BasicTensor<T> leaky_relu(const BasicTensor<T>&, double);                     \
    template BasicTensor<T> clamp_min(const BasicTensor<T>&, double);                      \
    template BasicTensor<T> clamp_max(const BasicTensor<T>&, double);                      \
    template BasicTensor<T> at_least(const BasicTensor<T>&, double);                       \
    template BasicTensor<T> at_most(const BasicTensor<T>&, double);                        \
    template BasicTensor<T> where(const BasicTensor<T>&, const BasicTensor<T>&, const BasicTensor<T>&); \
    template BasicTensor<T> step(const BasicTensor<T>&);                                   \
    template BasicTensor<T> sign(const BasicTensor<T>&);                                   \
    template BasicTensor<T> max_share(const BasicTensor<T>&, const BasicTensor<T>&);
AG_INSTANTIATE(float)
AG_INSTANTIATE(double)
#undef AG_INSTANTIATE
// clang-format on
// clang-format on

}  // namespace ag
