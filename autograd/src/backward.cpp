// The reverse sweep: one pass from the root down to node 0, applying each
// op's local derivative (ops.hpp) to the adjoint it received.
#include <autograd/tape.hpp>

#include <fmt/format.h>

#include <algorithm>
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

// Scalar nodes never feed tensor nodes and vice versa, so a sweep from a
// tensor root visits only tensor nodes, and one from a scalar root needs no
// test for them: their scalar adjoint stays 0 and they are skipped.
template <bool Checked>
void sweep_tensors(Tape& t, std::uint32_t root) {
    for (std::uint32_t i = root + 1; i-- > 0;)
        if (t.op(i) == Op::Tensor) detail::tensor_backward(t, t.operands(i).lhs, Checked);
}

template <bool Checked>
void sweep_scalars(const Tape& t, const double* x, const double* c, const std::uint64_t* key,
                   const Operands* operands, std::uint32_t root, double* adj) {
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
#define AG_UNARY_CASE(Name) \
    case Op::Name: add(i, a, g * ops::Name::d(x[a], y)); break;
#define AG_BINARY_CASE(Name)                           \
    case Op::Name:                                     \
        add(i, a, g * ops::Name::da(x[a], x[b], y));   \
        add(i, b, g * ops::Name::db(x[a], x[b], y));   \
        break;
#define AG_CONST_CASE(Name) \
    case Op::Name: add(i, a, g * ops::Name::d(x[a], c[b], y)); break;
            AG_UNARY_OPS(AG_UNARY_CASE)
            AG_BINARY_OPS(AG_BINARY_CASE)
            AG_CONST_OPS(AG_CONST_CASE)
#undef AG_UNARY_CASE
#undef AG_BINARY_CASE
#undef AG_CONST_CASE
            case Op::Leaf:
            case Op::Tensor: break;
        }
    }
}

}  // namespace

void Tape::sweep(std::uint32_t root, double* adj) {
    const bool checked = anomaly();
    if (op(root) == Op::Tensor)
        checked ? sweep_tensors<true>(*this, root) : sweep_tensors<false>(*this, root);
    else if (checked)
        sweep_scalars<true>(*this, value_, constants_, key_, operands_, root, adj);
    else
        sweep_scalars<false>(*this, value_, constants_, key_, operands_, root, adj);
}

void Tape::prepare_backward(std::uint32_t root) {
    // Intermediate adjoints left by an earlier sweep would be propagated a
    // second time; leaves keep theirs, so gradients accumulate as in PyTorch.
    const std::int64_t hi = std::min<std::int64_t>(dirty_until_, root);
    for (std::int64_t k = 0; k <= hi; ++k) {
        const auto i = static_cast<std::uint32_t>(k);
        if (op(i) == Op::Leaf) continue;
        if (op(i) == Op::Tensor) {
            if (!detail::tensor_is_leaf(*this, operands_[i].lhs)) detail::tensor_zero_grad(*this, operands_[i].lhs);
        } else {
            adjoint_[i] = 0.0;
        }
    }
}

void Tape::backward(std::uint32_t root) {
    prepare_backward(root);
    if (op(root) == Op::Tensor)
        detail::tensor_seed(*this, operands_[root].lhs);
    else
        adjoint_[root] += 1.0;
    dirty_until_ = std::max<std::int64_t>(dirty_until_, root);
    sweep(root, adjoint_);
}

}  // namespace ag
