// Reductions (sum, mean, max over everything or one axis) and softmax /
// log_softmax along an axis. Everything is seen as [outer, n, inner] around
// the reduced axis (shape.hpp's AxisView); a reduction over all elements is
// the view [1, count, 1]. Compiled with -fno-trapping-math, as
// elementwise.cpp is, so conditional expressions need no branch.
#include "node.hpp"

#include <fmt/format.h>

#include <limits>

namespace ag {

using detail::Backward;
using detail::GraphBackward;
using detail::operand;
using detail::record;
using detail::store;
using detail::sum_of;
using detail::TensorStore;
using detail::throw_shape;
using detail::values;

namespace {

// ------------------------------------------------------------- sum, mean ---

// y[o, i] = scale · sum_j x[o, j, i]; scale is 1 for sum, 1/n for mean.
struct Sum {
    static constexpr const char* name = "sum";
    struct State {
        AxisView view;
        double scale;
    };
    template <class T>
    static void backward(const Backward<T>& b, const State& s) {
        const AxisView v = s.view;
        const T* g = b.grad;
        const T scale = static_cast<T>(s.scale);
        auto sink = b.sink(0);
        const auto w = sink.writer();
        for (std::int64_t o = 0; o < v.outer; ++o)
            for (std::int64_t j = 0; j < v.n; ++j)
                for (std::int64_t i = 0; i < v.inner; ++i)
                    w.put((o * v.n + j) * v.inner + i, g[o * v.inner + i] * scale);
    }
    // G stretched back over the reduced axis, times the scale.
    template <class T>
    static void backward_graph(const GraphBackward<T>& b, const State& s) {
        const AxisView v = s.view;
        const BasicTensor<T> g = reshape(b.grad, Shape{v.outer, 1, v.inner});
        const BasicTensor<T> spread = reshape(broadcast_to(g, Shape{v.outer, v.n, v.inner}), b.input_shape(0));
        b.add(0, s.scale == 1.0 ? spread : spread * s.scale);
    }
};

template <class T>
BasicTensor<T> sum_impl(const BasicTensor<T>& a, bool over_axis, int axis_index, bool keepdim, const char* op,
                        bool mean) {
    TensorStore& s = store();
    const auto x = operand(s, a, op);
    AxisView v{1, x.shape.numel(), 1};
    Shape out{};
    if (over_axis) {
        axis_index = normalize_axis(axis_index, x.shape.rank(), op, x.shape);
        v = axis_view(x.shape, axis_index);
        out = reduced_shape(x.shape, axis_index, keepdim);
        if (mean && v.n == 0)
            throw_shape(op, fmt::format("{}: axis {} is empty (the mean of nothing)", x.shape.str(), axis_index));
    } else if (mean && v.n == 0) {
        throw_shape(op, fmt::format("{} is empty (the mean of nothing)", x.shape.str()));
    }
    const double scale = mean ? 1.0 / static_cast<double>(v.n) : 1.0;
    const std::uint32_t rec = record<Sum, T>(s, out, {x.rec}, {v, scale}, op);
    T* y = values<T>(s.nodes[rec]);
    // Sums in double (a float32 sum of many elements would drift).
    for (std::int64_t o = 0; o < v.outer; ++o)
        for (std::int64_t i = 0; i < v.inner; ++i) {
            const T* row = x.v + o * v.n * v.inner + i;
            const double total = sum_of(v.n, [&](std::int64_t j) { return row[j * v.inner]; });
            y[o * v.inner + i] = static_cast<T>(total * scale);
        }
    return detail::finish<T>(s, rec);
}

// ------------------------------------------------------------------- max ---

// max keeps NaN (like PyTorch): once the running max is NaN it stays.
template <class T>
bool beats(T v, T m) {
    return v > m || std::isnan(v);
}

// The maximum of row[0], row[st], ..., row[(n - 1)·st] (n >= 1) by beats():
// four running maxima and a NaN flag, four independent chains of
// conditional moves with no branch to mispredict (lse's max took a fifth
// of its gradient through the branchy loop); a row holding a NaN is redone
// in order. Among zeros of both signs which one is returned is unspecified
// (as in PyTorch).
template <class T>
T row_max(const T* row, std::int64_t n, std::int64_t st) {
    T m[4] = {row[0], row[0], row[0], row[0]};
    int nan = 0;
    std::int64_t j = 0;
    for (; j + 4 <= n; j += 4)
        for (int l = 0; l < 4; ++l) {
            const T e = row[(j + l) * st];
            m[l] = e > m[l] ? e : m[l];
            nan |= e != e;
        }
    for (; j < n; ++j) {
        const T e = row[j * st];
        m[0] = e > m[0] ? e : m[0];
        nan |= e != e;
    }
    if (nan) {
        T r = row[0];
        for (j = 1; j < n; ++j)
            if (beats(row[j * st], r)) r = row[j * st];
        return r;
    }
    const T a = m[1] > m[0] ? m[1] : m[0], b = m[3] > m[2] ? m[3] : m[2];
    return b > a ? b : a;
}

// The gradient of each output goes to the inputs equal to it, split evenly.
struct Max {
    static constexpr const char* name = "max";
    struct State {
        AxisView view;
    };
    template <class T>
    static void backward(const Backward<T>& b, const State& s) {
        const AxisView v = s.view;
        const T *g = b.grad, *y = b.value(), *x = b.input_value(0);
        auto sink = b.sink(0);
        const auto w = sink.writer();  // every input element is written once
        for (std::int64_t o = 0; o < v.outer; ++o)
            for (std::int64_t i = 0; i < v.inner; ++i) {
                const std::int64_t out = o * v.inner + i, first = o * v.n * v.inner + i, st = v.inner;
                const T m = y[out];
                std::int64_t ties = 0;
                for (std::int64_t j = 0; j < v.n; ++j) ties += x[first + j * st] == m;
                if (g[out] == 0) {
                    for (std::int64_t j = 0; j < v.n; ++j) w.put(first + j * st, T(0));
                } else if (ties == 0) {  // a NaN maximum: nothing equals it; its NaN goes to the NaN inputs
                    for (std::int64_t j = 0; j < v.n; ++j)
                        w.put(first + j * st,
                              std::isnan(x[first + j * st]) ? std::numeric_limits<T>::quiet_NaN() : T(0));
                } else {
                    const T share = g[out] / static_cast<T>(ties);
                    for (std::int64_t j = 0; j < v.n; ++j) w.put(first + j * st, x[first + j * st] == m ? share : T(0));
                }
            }
    }
    // G stretched back, times the constant share of each input (1/ties where
    // it equals the maximum, NaN where the maximum is NaN and it is NaN).
    template <class T>
    static void backward_graph(const GraphBackward<T>& b, const State& s) {
        const AxisView v = s.view;
        const Shape in = b.input_shape(0);
        const auto x = b.input(0).data();
        const auto y = b.output().data();
        std::vector<T> share(x.size(), T(0));
        for (std::int64_t o = 0; o < v.outer; ++o)
            for (std::int64_t i = 0; i < v.inner; ++i) {
                const T m = y[static_cast<std::size_t>(o * v.inner + i)];
                std::int64_t ties = 0;
                for (std::int64_t j = 0; j < v.n; ++j)
                    ties += x[static_cast<std::size_t>((o * v.n + j) * v.inner + i)] == m;
                for (std::int64_t j = 0; j < v.n; ++j) {
                    const auto k = static_cast<std::size_t>((o * v.n + j) * v.inner + i);
                    share[k] = ties == 0 ? (std::isnan(x[k]) ? std::numeric_limits<T>::quiet_NaN() : T(0))
                                         : (x[k] == m ? T(1) / static_cast<T>(ties) : T(0));
                }
            }
        const BasicTensor<T> w = BasicTensor<T>(in, std::span<const T>(share)).set_requires_grad(false);
        const BasicTensor<T> g = reshape(b.grad, Shape{v.outer, 1, v.inner});
        b.add(0, reshape(broadcast_to(g, Shape{v.outer, v.n, v.inner}), in) * w);
    }
};

template <class T>
BasicTensor<T> max_impl(const BasicTensor<T>& a, bool over_axis, int axis, bool keepdim) {
    TensorStore& s = store();
    const auto x = operand(s, a, "max");
    AxisView v{1, x.shape.numel(), 1};
    Shape out{};
    if (over_axis) {
        axis = normalize_axis(axis, x.shape.rank(), "max", x.shape);
        v = axis_view(x.shape, axis);
        out = reduced_shape(x.shape, axis, keepdim);
    }
    if (v.n == 0) throw_shape("max", "the reduced axis is empty (a maximum of no elements is undefined)");
    const std::uint32_t rec = record<Max, T>(s, out, {x.rec}, {v});
    T* y = values<T>(s.nodes[rec]);
    for (std::int64_t o = 0; o < v.outer; ++o)
        for (std::int64_t i = 0; i < v.inner; ++i) {
            y[o * v.inner + i] = row_max(x.v + o * v.n * v.inner + i, v.n, v.inner);
        }
    return detail::finish<T>(s, rec);
}

// --------------------------------------------------------------- softmax ---

// Along the middle axis of the [outer, n, inner] view; `log` selects
// log_softmax. The maximum is subtracted first, so exp never overflows.
template <class T>
void softmax_rows(const T* x, T* y, const AxisView& v, bool log) {
    for (std::int64_t o = 0; o < v.outer; ++o)
        for (std::int64_t i = 0; i < v.inner; ++i) {
            const T* xs = x + o * v.n * v.inner + i;
            T* ys = y + o * v.n * v.inner + i;
            const std::int64_t st = v.inner;
            const double m = v.n > 0 ? row_max(xs, v.n, st) : -std::numeric_limits<double>::infinity();
            const double sum = sum_of(v.n, [&](std::int64_t j) { return std::exp(xs[j * st] - m); });
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
struct Softmax {
    static constexpr const char* name = "softmax";
    struct State {
        AxisView view;
        bool log;
    };
    template <class T>
    static void backward(const Backward<T>& b, const State& s) {
        const AxisView v = s.view;
        const T *g = b.grad, *y = b.value();
        auto sink = b.sink(0);
        const auto w = sink.writer();
        for (std::int64_t o = 0; o < v.outer; ++o)
            for (std::int64_t i = 0; i < v.inner; ++i) {
                const std::int64_t base = o * v.n * v.inner + i, st = v.inner;
                double dot = 0;
                for (std::int64_t j = 0; j < v.n; ++j)
                    dot += s.log ? g[base + j * st] : g[base + j * st] * y[base + j * st];
                for (std::int64_t j = 0; j < v.n; ++j) {
                    const std::int64_t k = base + j * st;
                    w.put(k, static_cast<T>(s.log ? g[k] - std::exp(y[k]) * dot : y[k] * (g[k] - dot)));
                }
            }
    }
    template <class T>
    static void backward_graph(const GraphBackward<T>& b, const State& s) {
        const AxisView v = s.view;
        const Shape three{v.outer, v.n, v.inner};
        const BasicTensor<T> g = reshape(b.grad, three), y = reshape(b.output(), three);
        const BasicTensor<T> dx = s.log ? g - exp(y) * sum(g, 1, true) : y * (g - sum(g * y, 1, true));
        b.add(0, reshape(dx, b.input_shape(0)));
    }
};

template <class T>
BasicTensor<T> softmax_impl(const BasicTensor<T>& a, int axis, bool log) {
    const char* op = log ? "log_softmax" : Softmax::name;
    TensorStore& s = store();
    const auto x = operand(s, a, op);
    axis = normalize_axis(axis, x.shape.rank(), op, x.shape);
    const AxisView v = axis_view(x.shape, axis);
    const std::uint32_t rec = record<Softmax, T>(s, x.shape, {x.rec}, {v, log}, op);
    softmax_rows(x.v, values<T>(s.nodes[rec]), v, log);
    return detail::finish<T>(s, rec);
}

}  // namespace

template <class T>
BasicTensor<T> sum(const BasicTensor<T>& a) {
    return sum_impl(a, false, 0, false, Sum::name, false);
}
template <class T>
BasicTensor<T> mean(const BasicTensor<T>& a) {
    return sum_impl(a, false, 0, false, "mean", true);
}
template <class T>
BasicTensor<T> sum(const BasicTensor<T>& a, int axis, bool keepdim) {
    return sum_impl(a, true, axis, keepdim, Sum::name, false);
}
template <class T>
BasicTensor<T> mean(const BasicTensor<T>& a, int axis, bool keepdim) {
    return sum_impl(a, true, axis, keepdim, "mean", true);
}
template <class T>
BasicTensor<T> max(const BasicTensor<T>& a) {
    return max_impl(a, false, 0, false);
}
template <class T>
BasicTensor<T> max(const BasicTensor<T>& a, int axis, bool keepdim) {
    return max_impl(a, true, axis, keepdim);
}
template <class T>
BasicTensor<T> softmax(const BasicTensor<T>& a, int axis) {
    return softmax_impl(a, axis, false);
}
template <class T>
BasicTensor<T> log_softmax(const BasicTensor<T>& a, int axis) {
    return softmax_impl(a, axis, true);
}

// clang-format off
#define AG_INSTANTIATE(T)                                                    \
    template BasicTensor<T> sum(const BasicTensor<T>&);                     \
    template BasicTensor<T> sum(const BasicTensor<T>&, int, bool);          \
    template BasicTensor<T> mean(const BasicTensor<T>&);                    \
    template BasicTensor<T> mean(const BasicTensor<T>&, int, bool);         \
    template BasicTensor<T> max(const BasicTensor<T>&);                     \
    template BasicTensor<T> max(const BasicTensor<T>&, int, bool);          \
    template BasicTensor<T> softmax(const BasicTensor<T>&, int);            \
    template BasicTensor<T> log_softmax(const BasicTensor<T>&, int);
AG_INSTANTIATE(float)
AG_INSTANTIATE(double)
#undef AG_INSTANTIATE
// clang-format on

}  // namespace ag
