// Hessians, Jacobians and their products (functional.hpp).
#include <autograd/dual.hpp>
#include <autograd/functional.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <type_traits>

namespace ag {

namespace {

std::vector<Value> leaves(const std::vector<double>& point) {
    std::vector<Value> x;
    x.reserve(point.size());
    for (double p : point) x.emplace_back(p);
    return x;
}

void check_size(const char* what, const char* name, std::size_t got, std::size_t want) {
    if (got != want)
        throw std::invalid_argument(fmt::format("{}: {} has {} entries, the point has {}", what, name, got, want));
}

// A reverse sweep into scratch adjoints seeded with u_j at outputs[j];
// returns the adjoints of x.
std::vector<double> reverse(const std::vector<Value>& outputs, const std::vector<double>& u,
                            const std::vector<Value>& x) {
    Tape& t = tape();
    std::uint32_t root = 0;
    for (const Value& y : outputs) root = std::max(root, y.checked_index("vjp"));
    std::vector<double> adj(std::size_t{root} + 1, 0.0);
    const detail::Sweep s = detail::TapeAccess::scratch_sweep(t, adj.data());
    for (std::size_t j = 0; j < outputs.size(); ++j) adj[outputs[j].index()] += u[j];
    detail::TapeAccess::sweep(t, root, s);
    std::vector<double> out;
    for (const Value& v : x) out.push_back(v.index() <= root ? adj[v.index()] : 0.0);
    return out;
}

// A forward pass of tangents over the recorded nodes from x's first node to
// the last output, with x's tangents `v`: the same rules as the reverse
// sweep (ops.hpp), applied forward. Returns the outputs' tangents.
std::vector<double> forward(const std::vector<Value>& outputs, const std::vector<Value>& x,
                            const std::vector<double>& v) {
    const Tape& t = tape();
    std::uint32_t first = t.size(), last = 0;
    for (const Value& xi : x) first = std::min(first, xi.checked_index("jvp"));
    for (const Value& y : outputs) last = std::max(last, y.checked_index("jvp"));
    if (x.empty() || last < first) return std::vector<double>(outputs.size(), 0.0);
    std::vector<double> tan(std::size_t{last - first} + 1, 0.0);
    auto at = [&](std::uint32_t i) { return i >= first ? tan[i - first] : 0.0; };
    for (std::size_t k = 0; k < x.size(); ++k) tan[x[k].index() - first] += v[k];
    // An input's tangent stays what was given; other leaves are constants.
    for (std::uint32_t i = first; i <= last; ++i) {
        const Op o = t.op(i);
        const Operands ab = t.operands(i);
        const double y = t.value(i);
        // As in the reverse sweep, a zero tangent sends 0 (not 0 * inf).
        auto term = [](double local, double tangent) { return tangent == 0.0 ? 0.0 : local * tangent; };
        switch (o) {
// clang-format off
#define AG_UNARY_CASE(Name) \
    case Op::Name: tan[i - first] = term(ops::Name::d(t.value(ab.lhs), y), at(ab.lhs)); break;
#define AG_BINARY_CASE(Name)                                                                     \
    case Op::Name:                                                                               \
        tan[i - first] = term(ops::Name::da(t.value(ab.lhs), t.value(ab.rhs), y), at(ab.lhs)) + \
                         term(ops::Name::db(t.value(ab.lhs), t.value(ab.rhs), y), at(ab.rhs));   \
        break;
#define AG_CONST_CASE(Name) \
    case Op::Name: tan[i - first] = term(ops::Name::d(t.value(ab.lhs), t.constant(ab.rhs), y), at(ab.lhs)); break;
#define AG_TERNARY_CASE(Name)                                                                \
    case Op::Name: {                                                                         \
        const std::uint32_t i1 = t.input(i, 1), i2 = t.input(i, 2);                          \
        const double va = t.value(ab.lhs), vb = t.value(i1), vc = t.value(i2);               \
        tan[i - first] = term(ops::Name::da(va, vb, vc, y), at(ab.lhs)) +                    \
                         term(ops::Name::db(va, vb, vc, y), at(i1)) +                        \
                         term(ops::Name::dc(va, vb, vc, y), at(i2));                         \
        break;                                                                               \
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
            case Op::Leaf: break;
            case Op::Custom:
            case Op::CustomLeaf:
                throw std::invalid_argument(fmt::format(
                    "forward mode: node #{} is a tensor op ({}); forward passes go through scalar ops only, use "
                    "JacobianMode::Reverse (or ag::vjp)",
                    i, t.op_name(i)));
        }
    }
    std::vector<double> out;
    for (const Value& y : outputs) out.push_back(at(y.index()));
    return out;
}

// A number and its derivative along the direction, as a Dual.
template <class L>
Dual<double> as_dual(const L& local) {
    if constexpr (std::is_arithmetic_v<L>)
        return Dual<double>(static_cast<double>(local), 0.0);
    else
        return local;
}

// H v by forward over reverse on the recorded tape, without recording
// anything: a tangent pass gives every node's derivative along v, then one
// reverse sweep carries pairs (adjoint, its derivative along v). Each local
// derivative is the op's own rule evaluated on Dual numbers (value and
// tangent), so its derivative along v comes with it: no second table.
// Nodes of extensions (tensors) are not handled: nullopt.
std::optional<std::vector<double>> hvp_on_tape(const Value& y, const std::vector<Value>& x,
                                               const std::vector<double>& v) {
    const Tape& t = tape();
    const std::uint32_t root = y.checked_index("hvp");
    std::uint32_t first = root;
    for (const Value& xi : x) first = std::min(first, xi.checked_index("hvp"));
    const std::size_t n = std::size_t{root - first} + 1;
    std::vector<double> tan(n, 0.0), adj(n, 0.0), adj_dot(n, 0.0);
    auto at = [&](std::uint32_t i) { return i >= first ? tan[i - first] : 0.0; };
    auto term = [](double g, double l) { return g == 0.0 ? 0.0 : g * l; };
    for (std::size_t k = 0; k < x.size(); ++k) tan[x[k].index() - first] += v[k];
    for (std::uint32_t i = first; i <= root; ++i) {
        const Operands ab = t.operands(i);
        const double yv = t.value(i);
        switch (t.op(i)) {
// clang-format off
#define AG_UNARY_CASE(Name)     case Op::Name: tan[i - first] = term(at(ab.lhs), ops::Name::d(t.value(ab.lhs), yv)); break;
#define AG_BINARY_CASE(Name)                                                                          case Op::Name:                                                                                        tan[i - first] = term(at(ab.lhs), ops::Name::da(t.value(ab.lhs), t.value(ab.rhs), yv)) +                          term(at(ab.rhs), ops::Name::db(t.value(ab.lhs), t.value(ab.rhs), yv));           break;
#define AG_CONST_CASE(Name)     case Op::Name: tan[i - first] = term(at(ab.lhs), ops::Name::d(t.value(ab.lhs), t.constant(ab.rhs), yv)); break;
#define AG_TERNARY_CASE(Name)                                                                \
    case Op::Name: {                                                                         \
        const std::uint32_t i1 = t.input(i, 1), i2 = t.input(i, 2);                          \
        const double va = t.value(ab.lhs), vb = t.value(i1), vc = t.value(i2);               \
        tan[i - first] = term(at(ab.lhs), ops::Name::da(va, vb, vc, yv)) +                   \
                         term(at(i1), ops::Name::db(va, vb, vc, yv)) +                       \
                         term(at(i2), ops::Name::dc(va, vb, vc, yv));                        \
        break;                                                                               \
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
            case Op::Leaf: break;
            case Op::Custom:
            case Op::CustomLeaf: return std::nullopt;
        }
    }
    adj[root - first] = 1.0;
    auto dual = [&](std::uint32_t i) { return Dual<double>(t.value(i), at(i)); };
    for (std::uint32_t i = root + 1; i-- > first;) {
        const double g = adj[i - first], gd = adj_dot[i - first];
        if (g == 0.0 && gd == 0.0) continue;
        const Operands ab = t.operands(i);
        // Input a's pair gets (g d, gd d + g d'), d' = d's derivative along v.
        auto send = [&](std::uint32_t a, const Dual<double>& d) {
            if (a < first) return;  // nodes before x: constants here
            adj[a - first] += term(g, d.value);
            adj_dot[a - first] += term(gd, d.value) + term(g, d.tangent);
        };
        switch (t.op(i)) {
// clang-format off
#define AG_UNARY_CASE(Name)     case Op::Name: send(ab.lhs, as_dual(ops::Name::d(dual(ab.lhs), dual(i)))); break;
#define AG_BINARY_CASE(Name)                                                           case Op::Name:                                                                         send(ab.lhs, as_dual(ops::Name::da(dual(ab.lhs), dual(ab.rhs), dual(i))));         send(ab.rhs, as_dual(ops::Name::db(dual(ab.lhs), dual(ab.rhs), dual(i))));         break;
#define AG_CONST_CASE(Name)     case Op::Name: send(ab.lhs, as_dual(ops::Name::d(dual(ab.lhs), t.constant(ab.rhs), dual(i)))); break;
#define AG_TERNARY_CASE(Name)                                                                \
    case Op::Name: {                                                                         \
        const std::uint32_t i1 = t.input(i, 1), i2 = t.input(i, 2);                          \
        const Dual<double> xa = dual(ab.lhs), xb = dual(i1), xc = dual(i2), xy = dual(i);    \
        send(ab.lhs, as_dual(ops::Name::da(xa, xb, xc, xy)));                                \
        send(i1, as_dual(ops::Name::db(xa, xb, xc, xy)));                                    \
        send(i2, as_dual(ops::Name::dc(xa, xb, xc, xy)));                                    \
        break;                                                                               \
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
    std::vector<double> out;
    for (const Value& xi : x) out.push_back(adj_dot[xi.index() - first]);
    return out;
}

}  // namespace

Matrix hessian(const ScalarFunction& f, const std::vector<double>& point) {
    Scope scope;
    const std::vector<Value> x = leaves(point);
    const Value y = f(x);
    const std::vector<Value> g = grad(y, x, create_graph);
    Matrix h;
    h.reserve(x.size());
    for (const Value& gi : g) h.push_back(grad(gi, x));
    return h;
}

std::vector<double> hvp(const ScalarFunction& f, const std::vector<double>& point, const std::vector<double>& v) {
    check_size("hvp", "v", v.size(), point.size());
    Scope scope;
    const std::vector<Value> x = leaves(point);
    const Value y = f(x);
    if (auto hv = hvp_on_tape(y, x, v)) return *hv;
    // Through tensor ops: the gradient recorded, then d/dx (g · v) = H v by
    // one reverse sweep seeded with v at the gradient.
    const std::vector<Value> g = grad(y, x, create_graph);
    return reverse(g, v, x);
}

Matrix jacobian(const VectorFunction& F, const std::vector<double>& point, JacobianMode mode) {
    Scope scope;
    const std::vector<Value> x = leaves(point);
    const std::vector<Value> y = F(x);
    if (mode == JacobianMode::Auto) mode = y.size() <= x.size() ? JacobianMode::Reverse : JacobianMode::Forward;
    Matrix J(y.size(), std::vector<double>(x.size(), 0.0));
    if (mode == JacobianMode::Reverse) {
        for (std::size_t i = 0; i < y.size(); ++i) J[i] = grad(y[i], x);
    } else {
        std::vector<double> e(x.size(), 0.0);
        for (std::size_t j = 0; j < x.size(); ++j) {
            e[j] = 1.0;
            const std::vector<double> column = forward(y, x, e);
            e[j] = 0.0;
            for (std::size_t i = 0; i < y.size(); ++i) J[i][j] = column[i];
        }
    }
    return J;
}

std::vector<double> jvp(const VectorFunction& F, const std::vector<double>& point, const std::vector<double>& v) {
    check_size("jvp", "v", v.size(), point.size());
    Scope scope;
    const std::vector<Value> x = leaves(point);
    return forward(F(x), x, v);
}

std::vector<double> vjp(const VectorFunction& F, const std::vector<double>& point, const std::vector<double>& u) {
    Scope scope;
    const std::vector<Value> x = leaves(point);
    const std::vector<Value> y = F(x);
    if (u.size() != y.size())
        throw std::invalid_argument(fmt::format("vjp: u has {} entries, F has {} outputs", u.size(), y.size()));
    return reverse(y, u, x);
}

}  // namespace ag
