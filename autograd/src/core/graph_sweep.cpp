// The reverse sweep that records: gradients come back as Values on the tape,
// differentiable again. Each op's local derivative is the same rule the
// double sweep uses (ops.hpp), evaluated on Values, so it records the nodes
// of the derivative; nothing here restates a derivative.
#include <autograd/value.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

namespace ag {

namespace detail {

void GraphSweep::add(std::uint32_t node, const Value& contribution) {
    Value& a = adjoint[node];
    a = a.id().empty() ? contribution : a + contribution;
}

}  // namespace detail

namespace {

// g times a local derivative that is a plain number (a kink, a constant
// partial) or a Value. Where the upstream gradient is 0 and the local
// derivative infinite, the double sweep sends 0 (it skips the node): the
// value sent here is 0 too, through 0 * 0.
template <class L>
Value chain(const Value& g, const L& local) {
    if constexpr (std::is_arithmetic_v<L>) {
        const double l = static_cast<double>(local);
        if (l == 1.0) return g;
        if (g.data() == 0.0 && !std::isfinite(l)) return g * 0.0;
        return g * l;
    } else {
        if (g.data() == 0.0 && !std::isfinite(local.data())) return g * 0.0;
        return g * local;
    }
}

Value node_value(const Tape& t, std::uint32_t i) { return Value::from_node(t.id(i)); }

}  // namespace

void detail::run_graph_sweep(std::uint32_t root, detail::GraphSweep& sweep, std::uint32_t lowest) {
    Tape& t = tape();
    sweep.adjoint.assign(std::size_t{root} + 1, Value());
    sweep.reached.assign(std::size_t{root} + 1, 0);
    for (std::uint32_t slot = 0; slot < detail::TapeAccess::max_extensions; ++slot)
        if (detail::Extension* e = detail::TapeAccess::extension_at(t, slot)) e->begin_graph(root);
    const Op root_op = t.op(root);
    if (root_op == Op::Custom || root_op == Op::CustomLeaf)
        detail::TapeAccess::extension_at(t, t.operands(root).rhs)->seed_graph(t, root, t.operands(root).lhs, sweep);
    else
        sweep.adjoint[root] = Value(1.0);
    for (std::uint32_t i = root + 1; i-- > lowest;) {
        const Op o = t.op(i);
        if (o == Op::Leaf || o == Op::CustomLeaf) continue;
        if (o == Op::Custom) {
            if (sweep.reached[i] || !sweep.adjoint[i].id().empty())
                detail::TapeAccess::extension_at(t, t.operands(i).rhs)->backward_graph(t, i, t.operands(i).lhs, sweep);
            continue;
        }
        if (sweep.adjoint[i].id().empty()) continue;
        // Copies, not references: recording below appends to the tape.
        const Value g = sweep.adjoint[i];
        const Operands ab = t.operands(i);
        const Value a = node_value(t, ab.lhs), y = node_value(t, i);
        switch (o) {
// clang-format off
#define AG_UNARY_CASE(Name) \
    case Op::Name: sweep.add(ab.lhs, chain(g, ops::Name::d(a, y))); break;
#define AG_BINARY_CASE(Name)                                              \
    case Op::Name: {                                                      \
        const Value b = node_value(t, ab.rhs);                            \
        sweep.add(ab.lhs, chain(g, ops::Name::da(a, b, y)));              \
        sweep.add(ab.rhs, chain(g, ops::Name::db(a, b, y)));              \
        break;                                                            \
    }
#define AG_CONST_CASE(Name) \
    case Op::Name: sweep.add(ab.lhs, chain(g, ops::Name::d(a, t.constant(ab.rhs), y))); break;
#define AG_TERNARY_CASE(Name)                                             \
    case Op::Name: {                                                      \
        const std::uint32_t i1 = t.input(i, 1), i2 = t.input(i, 2);       \
        const Value b = node_value(t, i1), c = node_value(t, i2);         \
        sweep.add(ab.lhs, chain(g, ops::Name::da(a, b, c, y)));           \
        sweep.add(i1, chain(g, ops::Name::db(a, b, c, y)));               \
        sweep.add(i2, chain(g, ops::Name::dc(a, b, c, y)));               \
        break;                                                            \
    }
            AG_UNARY_OPS(AG_UNARY_CASE)
            AG_BINARY_OPS(AG_BINARY_CASE)
            AG_CONST_OPS(AG_CONST_CASE)
            AG_TERNARY_OPS(AG_TERNARY_CASE)
#undef AG_UNARY_CASE
#undef AG_BINARY_CASE
#undef AG_CONST_CASE
#undef AG_TERNARY_CASE
                // clang-format on
            case Op::Leaf:
            case Op::Custom:
            case Op::CustomLeaf: break;
        }
    }
}

std::vector<Value> grad(const Value& f, const std::vector<Value>& wrt, CreateGraph) {
    for (const Value& v : wrt)
        if (!v.is_constant()) v.checked_index("ag::grad");
    // A constant function depends on nothing; a constant input gets 0.
    if (f.is_constant()) return std::vector<Value>(wrt.size(), Value(0.0));
    const std::uint32_t root = f.checked_index("ag::grad");
    std::uint32_t lowest = root;
    for (const Value& v : wrt)
        if (!v.is_constant()) lowest = std::min(lowest, v.index());
    detail::GraphSweep sweep;
    detail::run_graph_sweep(root, sweep, lowest);
    std::vector<Value> out;
    out.reserve(wrt.size());
    for (const Value& v : wrt) {
        const bool reached = !v.is_constant() && v.index() <= root && !sweep.adjoint[v.index()].id().empty();
        out.push_back(reached ? sweep.adjoint[v.index()] : Value(0.0));
    }
    return out;
}

}  // namespace ag
