// Losses, each a 0-d tensor: the mean over elements (mse_loss,
// binary_cross_entropy_with_logits, hinge) or over rows (cross_entropy).
#include "node.hpp"

#include <autograd/ops.hpp>

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

// --------------------------------------------------------- cross_entropy ---

// loss = mean over rows of logsumexp(x_r) - x_r[label_r]; saved: the labels
// and each row's log-sum-exp. d loss / d x[r, j] = (softmax(x_r)_j -
// [j == label_r]) / rows.
struct CrossEntropy {
    static constexpr const char* name = "cross_entropy";
    struct State {
        std::int64_t rows, classes;
        const std::int64_t* labels;  // rows of them, in the arena
        const double* lse;           // rows of them, in the arena
    };
    template <class T>
    static void backward(const Backward<T>& b, const State& s) {
        const double g = b.grad[0] / static_cast<double>(s.rows);
        const T* x = b.input_value(0);
        auto sink = b.sink(0);
        const auto w = sink.writer();
        const std::int64_t c = s.classes;
        for (std::int64_t r = 0; r < s.rows; ++r) {
            const T lse = static_cast<T>(s.lse[r]);
            for (std::int64_t j = 0; j < c; ++j) {
                const double p = std::exp(x[r * c + j] - lse);
                w.put(r * c + j, static_cast<T>(g * (p - (j == s.labels[r] ? 1.0 : 0.0))));
            }
        }
    }
    template <class T>
    static void backward_graph(const GraphBackward<T>& b, const State& s) {
        std::vector<T> onehot(static_cast<std::size_t>(s.rows * s.classes), T(0));
        for (std::int64_t r = 0; r < s.rows; ++r) onehot[static_cast<std::size_t>(r * s.classes + s.labels[r])] = T(1);
        const BasicTensor<T> target =
            BasicTensor<T>(Shape{s.rows, s.classes}, std::span<const T>(onehot)).set_requires_grad(false);
        b.add(0, (softmax(b.input(0), 1) - target) * (b.grad / static_cast<double>(s.rows)));
    }
};

template <class T, class L>
BasicTensor<T> cross_entropy_impl(const BasicTensor<T>& logits, std::span<const L> labels) {
    const char* op = CrossEntropy::name;
    TensorStore& s = store();
    const auto x = operand(s, logits, op);
    if (x.shape.rank() != 2) throw_shape(op, fmt::format("logits {} must be 2-D [rows, classes]", x.shape.str()));
    const std::int64_t rows = x.shape[0], c = x.shape[1];
    if (static_cast<std::int64_t>(labels.size()) != rows)
        throw_shape(op,
                    fmt::format("{} labels for logits {}: one label per row is needed", labels.size(), x.shape.str()));
    if (rows == 0) throw_shape(op, fmt::format("logits {} have no rows (the mean of nothing)", x.shape.str()));
    for (std::int64_t r = 0; r < rows; ++r) {
        const auto label = static_cast<std::int64_t>(labels[static_cast<std::size_t>(r)]);
        if (label < 0 || label >= c)
            throw_shape(op, fmt::format("label {} in row {} is out of range [0, {}) for logits {}", label, r, c,
                                        x.shape.str()));
    }
    const std::uint32_t rec = record<CrossEntropy, T>(s, Shape{}, {x.rec}, {rows, c, nullptr, nullptr});
    // Labels and log-sum-exps are saved (after the node, so a rewind to it
    // frees them) only when there is a backward to read them.
    std::int64_t* saved_labels = nullptr;
    double* saved_lse = nullptr;
    if (auto* state = detail::state<CrossEntropy>(s.nodes[rec])) {
        saved_labels = s.arena.allocate_array<std::int64_t>(static_cast<std::size_t>(rows));
        saved_lse = s.arena.allocate_array<double>(static_cast<std::size_t>(rows));
        state->labels = saved_labels;
        state->lse = saved_lse;
    }
    double total = 0;
    for (std::int64_t r = 0; r < rows; ++r) {
        const T* row = x.v + r * c;
        double m = -std::numeric_limits<double>::infinity();
        for (std::int64_t j = 0; j < c; ++j) m = row[j] > m || std::isnan(row[j]) ? row[j] : m;
        // exp in T: expf for float32 is what the precision calls for, and faster.
        const T mt = static_cast<T>(m);
        double sum = 0;
        for (std::int64_t j = 0; j < c; ++j) sum += std::exp(row[j] - mt);
        const auto label = static_cast<std::int64_t>(labels[static_cast<std::size_t>(r)]);
        const double lse = m + std::log(sum);
        if (saved_labels) {
            saved_labels[r] = label;
            saved_lse[r] = lse;
        }
        total += lse - row[label];
    }
    values<T>(s.nodes[rec])[0] = static_cast<T>(total / static_cast<double>(rows));
    return detail::finish<T>(s, rec);
}

// -------------------------------------------------------- pointwise losses ---

// A loss that is the mean over elements of term(p, t), with gradients
// dterm/dp and dterm/dt; p and t must have equal shapes.
template <class Term>
struct Pointwise {
    static constexpr const char* name = Term::name;
    struct State {};
    template <class T>
    static void backward(const Backward<T>& b, const State&) {
        const std::int64_t count = b.input(0).numel();
        const double g = b.grad[0] / static_cast<double>(count);
        const T *p = b.input_value(0), *t = b.input_value(1);
        if (auto sp = b.sink(0); sp.wanted()) sp.fill([&](std::int64_t i) { return g * Term::dp(p[i], t[i]); });
        if (auto st = b.sink(1); st.wanted()) st.fill([&](std::int64_t i) { return g * Term::dt(p[i], t[i]); });
    }
    template <class T>
    static void backward_graph(const GraphBackward<T>& b, const State&) {
        const BasicTensor<T> p = b.input(0), t = b.input(1);
        const BasicTensor<T> g = b.grad / static_cast<double>(b.input_shape(0).numel());
        if (b.wanted(0)) b.add(0, Term::dp_graph(p, t) * g);
        if (b.wanted(1)) b.add(1, Term::dt_graph(p, t) * g);
    }
};

template <class Term, class T>
BasicTensor<T> pointwise_loss(const BasicTensor<T>& pred, const BasicTensor<T>& target) {
    TensorStore& s = store();
    const auto p = operand(s, pred, Term::name);
    const auto t = operand(s, target, Term::name);
    if (!(p.shape == t.shape))
        throw_shape(Term::name, fmt::format("{} and {}: {} and {} must have the same shape", p.shape.str(),
                                            t.shape.str(), Term::first, Term::second));
    const std::int64_t count = p.shape.numel();
    if (count == 0) throw_shape(Term::name, fmt::format("{} is empty (the mean of nothing)", p.shape.str()));
    double total = 0;
    for (std::int64_t i = 0; i < count; ++i) total += Term::f(p.v[i], t.v[i]);
    const std::uint32_t rec = record<Pointwise<Term>, T>(s, Shape{}, {p.rec, t.rec});
    values<T>(s.nodes[rec])[0] = static_cast<T>(total / static_cast<double>(count));
    return detail::finish<T>(s, rec);
}

struct Mse {
    static constexpr const char* name = "mse_loss";
    static constexpr const char* first = "pred";
    static constexpr const char* second = "target";
    static double f(double p, double t) { return (p - t) * (p - t); }
    static double dp(double p, double t) { return 2 * (p - t); }
    static double dt(double p, double t) { return -2 * (p - t); }
    template <class X>
    static X dp_graph(const X& p, const X& t) {
        return 2.0 * (p - t);
    }
    template <class X>
    static X dt_graph(const X& p, const X& t) {
        return -2.0 * (p - t);
    }
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
    template <class X>
    static X dp_graph(const X& x, const X& t) {
        return sigmoid(x) - t;
    }
    template <class X>
    static X dt_graph(const X& x, const X&) {
        return -x;
    }
};
// max(0, 1 - t s) with relu's rule, so NaN propagates and the derivative at
// the kink (t s == 1) is 0, as relu'(0).
struct Hinge {
    static constexpr const char* name = "hinge";
    static constexpr const char* first = "scores";
    static constexpr const char* second = "targets";
    static double f(double s, double t) { return ops::Relu::f(1 - t * s); }
    static double dp(double s, double t) { return ops::kink::step(1 - t * s) * -t; }
    static double dt(double s, double t) { return ops::kink::step(1 - t * s) * -s; }
    template <class X>
    static X dp_graph(const X& s, const X& t) {
        return step(1.0 - t * s) * -t;
    }
    template <class X>
    static X dt_graph(const X& s, const X& t) {
        return step(1.0 - t * s) * -s;
    }
};

}  // namespace

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

// clang-format off
#define AG_INSTANTIATE(T)                                                                                       \
    template BasicTensor<T> mse_loss(const BasicTensor<T>&, const BasicTensor<T>&);                            \
    template BasicTensor<T> cross_entropy(const BasicTensor<T>&, std::span<const std::int64_t>);               \
    template BasicTensor<T> cross_entropy(const BasicTensor<T>&, std::span<const int>);                        \
    template BasicTensor<T> binary_cross_entropy_with_logits(const BasicTensor<T>&, const BasicTensor<T>&);    \
    template BasicTensor<T> hinge(const BasicTensor<T>&, const BasicTensor<T>&);
AG_INSTANTIATE(float)
AG_INSTANTIATE(double)
#undef AG_INSTANTIATE
// clang-format on

}  // namespace ag
