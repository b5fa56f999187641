// Where scalars and tensors meet on one graph: a tensor element read as a
// Value (to_value), a Value made a 0-d tensor (to_tensor), and gradients
// returned as tensors (ag::grad).
#include "node.hpp"

#include <fmt/format.h>

#include <stdexcept>
#include <vector>

namespace ag {

using detail::Backward;
using detail::GraphBackward;
using detail::store;
using detail::TapeAccess;
using detail::TensorStore;

namespace {

// A Value holding element `index` of a tensor: its tape node carries the
// value and the adjoint, which its backward adds to that element's gradient.
struct ToValue {
    static constexpr const char* name = "to_value";
    struct State {
        std::int64_t index;
    };
    template <class T>
    static void backward(const Backward<T>& b, const State& s) {
        const double g = b.sweep.adjoint[b.node.stub];
        if (auto sink = b.sink(0); sink.wanted()) sink.accumulator()[s.index] += static_cast<T>(g);
    }
    // The Value's gradient placed at the element, zeros elsewhere.
    template <class T>
    static void backward_graph(const GraphBackward<T>& b, const State& s) {
        const Value g = b.sweep.adjoint[b.store.nodes[b.rec].stub];
        const Shape in = b.input_shape(0);
        std::vector<T> e(static_cast<std::size_t>(in.numel()), T(0));
        e[static_cast<std::size_t>(s.index)] = T(1);
        b.add(0, BasicTensor<T>(in, std::span<const T>(e)).set_requires_grad(false) * to_tensor<T>(g));
    }
};

// A 0-d tensor holding a Value: its gradient goes to the Value's adjoint.
struct ToTensor {
    static constexpr const char* name = "to_tensor";
    struct State {
        std::uint32_t value_node;
    };
    template <class T>
    static void backward(const Backward<T>& b, const State& s) {
        const double g = b.grad[0];
        if (b.sweep.check_anomaly && !std::isfinite(g))
            throw AnomalyError(fmt::format(
                "anomaly in backward pass: to_tensor sends gradient {} to its Value (node #{})", g, s.value_node));
        b.sweep.adjoint[s.value_node] += g;
    }
    template <class T>
    static void backward_graph(const GraphBackward<T>& b, const State& s) {
        b.sweep.add(s.value_node, to_value(b.grad));
    }
};

template <class T>
Value to_value_at(const BasicTensor<T>& t, std::int64_t flat) {
    TensorStore& s = store();
    const std::uint32_t rec = t.checked_record("to_value");
    const double y = static_cast<double>(detail::values<T>(s.nodes[rec])[flat]);
    if (!detail::inputs_require_grad(s, std::span<const std::uint32_t>(&rec, 1))) return Value(y);
    const std::uint32_t node = detail::record<ToValue, T>(s, Shape{}, {rec}, {flat});
    s.nodes[node].is_value = true;
    Tape& tp = tape();
    TapeAccess::value(tp)[s.nodes[node].stub] = y;
    return Value::from_node(tp.id(s.nodes[node].stub));
}

template <class T>
std::vector<BasicTensor<T>> grad_from(std::uint32_t root, const std::vector<BasicTensor<T>>& wrt) {
    Tape& tp = tape();
    TensorStore& s = store();
    std::vector<std::uint32_t> recs;
    for (std::size_t k = 0; k < wrt.size(); ++k) {
        recs.push_back(wrt[k].checked_record("ag::grad"));
        if (!s.nodes[recs.back()].requires_grad)
            throw std::invalid_argument(fmt::format(
                "ag::grad: input {} (shape {}) does not require a gradient (set_requires_grad(false), or made under "
                "NoGrad)",
                k, s.nodes[recs.back()].shape.str()));
    }
    // Scratch adjoints and gradients: no .grad() changes.
    std::vector<double> adj(std::size_t{root} + 1, 0.0);
    const detail::Sweep sweep = TapeAccess::scratch_sweep(tp, adj.data());
    TapeAccess::seed(tp, root, sweep);
    TapeAccess::sweep(tp, root, sweep);
    std::vector<BasicTensor<T>> out;
    for (std::uint32_t rec : recs) {
        const Shape shape = s.nodes[rec].shape;
        const std::uint32_t stub = s.nodes[rec].stub;
        const auto n = static_cast<std::size_t>(shape.numel());
        std::vector<T> g(n, T(0));
        if (stub <= root && adj[stub] != 0) {
            const T* from = static_cast<const T*>(s.grad_buffer(rec, sweep));
            std::copy_n(from, n, g.begin());
        }
        out.push_back(BasicTensor<T>(shape, std::span<const T>(g)).set_requires_grad(false));
    }
    return out;
}

// The same as grad_from, recording: gradients as tensors on the tape.
template <class T>
std::vector<BasicTensor<T>> graph_grad_from(std::uint32_t root, const std::vector<BasicTensor<T>>& wrt) {
    TensorStore& s = store();
    std::vector<std::uint32_t> recs;
    for (const auto& w : wrt) recs.push_back(w.checked_record("ag::grad"));
    detail::GraphSweep sweep;
    detail::run_graph_sweep(root, sweep);
    std::vector<BasicTensor<T>> out;
    for (std::uint32_t rec : recs) {
        const NodeId g = s.nodes[rec].stub <= root ? s.graph_grad(rec) : NodeId{};
        out.push_back(g.empty() ? BasicTensor<T>::zeros(s.nodes[rec].shape).set_requires_grad(false)
                                : BasicTensor<T>::from_node(g));
    }
    return out;
}

}  // namespace

template <class T>
Value to_value(const BasicTensor<T>& t) {
    const Shape shape = t.shape();
    if (shape.numel() != 1)
        throw std::invalid_argument(
            fmt::format("to_value: the tensor has shape {} ({} elements); a Value is one; "
                        "pick one with to_value(t, {{i, j, ...}})",
                        shape.str(), shape.numel()));
    return to_value_at(t, 0);
}

template <class T>
Value to_value(const BasicTensor<T>& t, std::initializer_list<std::int64_t> index) {
    const Shape shape = t.shape();
    if (static_cast<int>(index.size()) != shape.rank())
        throw std::invalid_argument(fmt::format("to_value: {} indices given for shape {}", index.size(), shape.str()));
    std::int64_t flat = 0;
    int axis = 0;
    for (std::int64_t i : index) {
        if (i < 0 || i >= shape[axis])
            throw std::out_of_range(
                fmt::format("to_value: index {} is out of range for axis {} of shape {}", i, axis, shape.str()));
        flat = flat * shape[axis] + i;
        ++axis;
    }
    return to_value_at(t, flat);
}

template <class T>
BasicTensor<T> to_tensor(const Value& v) {
    // A constant becomes a 0-d tensor that does not require grad.
    if (v.is_constant()) return BasicTensor<T>::scalar(v.data()).set_requires_grad(false);
    const std::uint32_t node = v.checked_index("to_tensor");
    const double y = v.data();
    TensorStore& s = store();
    const bool requires_grad = tape().grad_enabled();
    const std::uint32_t rec = detail::record<ToTensor, T>(s, Shape{}, {}, {node}, ToTensor::name, requires_grad);
    detail::values<T>(s.nodes[rec])[0] = static_cast<T>(y);
    return detail::finish<T>(s, rec);
}

template <class T>
std::vector<BasicTensor<T>> grad(const BasicTensor<T>& f, const std::vector<BasicTensor<T>>& wrt) {
    f.checked_record("ag::grad");
    return grad_from(f.index(), wrt);
}

template <class T>
std::vector<BasicTensor<T>> grad(const Value& f, const std::vector<BasicTensor<T>>& wrt) {
    return grad_from(f.checked_index("ag::grad"), wrt);
}

template <class T>
std::vector<BasicTensor<T>> grad(const BasicTensor<T>& f, const std::vector<BasicTensor<T>>& wrt, CreateGraph) {
    f.checked_record("ag::grad");
    return graph_grad_from(f.index(), wrt);
}

template <class T>
std::vector<BasicTensor<T>> grad(const Value& f, const std::vector<BasicTensor<T>>& wrt, CreateGraph) {
    return graph_grad_from(f.checked_index("ag::grad"), wrt);
}

// clang-format off
#define AG_INSTANTIATE(T)                                                                                       \
    template Value to_value(const BasicTensor<T>&);                                                            \
    template Value to_value(const BasicTensor<T>&, std::initializer_list<std::int64_t>);                       \
    template BasicTensor<T> to_tensor<T>(const Value&);                                                        \
    template std::vector<BasicTensor<T>> grad(const BasicTensor<T>&, const std::vector<BasicTensor<T>>&);      \
    template std::vector<BasicTensor<T>> grad(const Value&, const std::vector<BasicTensor<T>>&);               \
    template std::vector<BasicTensor<T>> grad(const BasicTensor<T>&, const std::vector<BasicTensor<T>>&, CreateGraph); \
    template std::vector<BasicTensor<T>> grad(const Value&, const std::vector<BasicTensor<T>>&, CreateGraph);
AG_INSTANTIATE(float)
AG_INSTANTIATE(double)
#undef AG_INSTANTIATE
// clang-format on

}  // namespace ag
