// The reverse sweep: one pass from the root down to node 0, applying each
// op's local derivative (ops.hpp) to the adjoint it received; an extension's
// node (a tensor op) propagates its own gradient.
#include <autograd/tape.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>

namespace ag {

namespace {

[[noreturn]] void throw_backward_anomaly(const Tape& t, const double* adj, std::uint32_t i, std::uint32_t input,
                                         double contribution) {
    throw AnomalyError(fmt::format(
        "anomaly in backward pass: {} (node #{}, value {}) sends gradient {} to its input node #{} (value {}); "
        "upstream gradient {}",
        op_name(t.op(i)), i, t.value(i), contribution, input, t.value(input), adj[i]));
}

template <bool Checked>
void sweep_nodes(Tape& t, const double* x, const double* c, const std::uint64_t* key, const Operands* operands,
                 detail::Extension* const* extensions, std::uint32_t root, const detail::Sweep& sweep) {
    double* adj = sweep.adjoint;
    auto add = [&](std::uint32_t i, std::uint32_t to, double contribution) {
        if constexpr (Checked)
            if (!std::isfinite(contribution)) throw_backward_anomaly(t, adj, i, to, contribution);
        adj[to] += contribution;
    };

    for (std::uint32_t i = root + 1; i-- > 0;) {
        const double g = adj[i];
        // Zero adjoint: node i does not reach the root; skipping it also keeps
        // an unrelated infinite partial (sqrt at 0) from making 0 * inf = NaN.
        if (g == 0.0) continue;
        const std::uint32_t a = operands[i].lhs, b = operands[i].rhs;
        const double y = x[i];
        switch (static_cast<Op>(key[i] & 0xff)) {
// clang-format off
#define AG_UNARY_CASE(Name) \
    case Op::Name: add(i, a, g * ops::Name::d(x[a], y)); break;
#define AG_BINARY_CASE(Name)                           \
    case Op::Name:                                     \
        add(i, a, g * ops::Name::da(x[a], x[b], y));   \
        add(i, b, g * ops::Name::db(x[a], x[b], y));   \
        break;
#define AG_CONST_CASE(Name) \
    case Op::Name: add(i, a, g * ops::Name::d(x[a], c[b], y)); break;
#define AG_TERNARY_CASE(Name)                                           \
    case Op::Name: {                                                    \
        const auto [b1, b2] = std::bit_cast<Operands>(c[b]);            \
        add(i, a, g * ops::Name::da(x[a], x[b1], x[b2], y));            \
        add(i, b1, g * ops::Name::db(x[a], x[b1], x[b2], y));           \
        add(i, b2, g * ops::Name::dc(x[a], x[b1], x[b2], y));           \
        break;                                                          \
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
            case Op::Custom: extensions[b]->backward(t, i, a, sweep); break;
            case Op::Leaf:
            case Op::CustomLeaf: break;
        }
    }
}

}  // namespace

void Tape::sweep(std::uint32_t root, const detail::Sweep& s) {
    if (s.check_anomaly)
        sweep_nodes<true>(*this, value_, constants_, key_, operands_, extensions_, root, s);
    else
        sweep_nodes<false>(*this, value_, constants_, key_, operands_, extensions_, root, s);
}

void Tape::seed(std::uint32_t root, const detail::Sweep& s) {
    const Op o = op(root);
    if (o == Op::Custom || o == Op::CustomLeaf)
        extensions_[operands_[root].rhs]->seed(*this, root, operands_[root].lhs, s);
    else
        s.adjoint[root] += 1.0;
}

void Tape::prepare_backward(std::uint32_t root) {
    // Intermediate adjoints left by an earlier sweep would be propagated a
    // second time; leaves keep theirs, so gradients accumulate as in PyTorch.
    // (For an extension's node the adjoint says whether its gradient holds
    // anything: zeroing it zeroes the gradient.)
    const std::int64_t hi = std::min<std::int64_t>(dirty_until_, root);
    for (std::int64_t k = 0; k <= hi; ++k) {
        const auto i = static_cast<std::uint32_t>(k);
        const Op o = op(i);
        if (o != Op::Leaf && o != Op::CustomLeaf) adjoint_[i] = 0.0;
    }
    dirty_until_ = std::max<std::int64_t>(dirty_until_, root);
}

void Tape::backward(std::uint32_t root) {
    prepare_backward(root);
    const detail::Sweep s = own_sweep();
    seed(root, s);
    sweep(root, s);
}

}  // namespace ag
