#include <autograd/explain.hpp>

#include "dot_escape.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace ag {

namespace {

// d (node) / d (operand `operand`), by the op's rule on doubles: the very
// call the backward sweep makes (backward.cpp), so the numbers are its own.
// b is the second input or the constant; c the third input.
double local_derivative(Op o, double a, double b, double c, double y, int operand) {
    switch (o) {
// clang-format off
#define AG_UNARY_CASE(Name) \
    case Op::Name: return ops::Name::d(a, y);
#define AG_BINARY_CASE(Name) \
    case Op::Name: return operand == 0 ? ops::Name::da(a, b, y) : ops::Name::db(a, b, y);
#define AG_CONST_CASE(Name) \
    case Op::Name: return ops::Name::d(a, b, y);
#define AG_TERNARY_CASE(Name)                                        \
    case Op::Name:                                                   \
        return operand == 0   ? ops::Name::da(a, b, c, y)            \
               : operand == 1 ? ops::Name::db(a, b, c, y)            \
                              : ops::Name::dc(a, b, c, y);
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
    return 0;
}

// What an op with a constant calls its input and its constant in its
// formula (ops.hpp): c op a is the binary op's db, so there the input is b.
struct Letters {
    char input, constant;
};
Letters constant_op_letters(Op o) {
    switch (o) {
        case Op::RSubC:
        case Op::RDivC:
        case Op::RPowC: return {'b', 'a'};
        case Op::LeakyReluC:
        case Op::ClampMinC:
        case Op::ClampMaxC: return {'a', 'c'};
        default: return {'a', 'b'};
    }
}

std::string number(double v, int digits) {
    return digits == 0 ? fmt::format("{}", v) : fmt::format("{:.{}g}", v, digits);
}

// What node i computes, in its inputs' labels (a, b, and third for a
// ternary op) and the constant's text.
std::string computes(Op o, const std::string& a, const std::string& b, const std::string& third, double c, int digits) {
    const std::string cs = number(c, digits);
    switch (o) {
        case Op::Neg: return "-" + a;
        case Op::Add: return fmt::format("{} + {}", a, b);
        case Op::Sub: return fmt::format("{} - {}", a, b);
        case Op::Mul: return fmt::format("{} * {}", a, b);
        case Op::Div: return fmt::format("{} / {}", a, b);
        case Op::MulAdd: return fmt::format("{} * {} + {}", a, b, third);
        case Op::Pow: return fmt::format("{} ^ {}", a, b);
        case Op::Min:
        case Op::Max: return fmt::format("{}({}, {})", op_name(o), a, b);
        // x - 3 is recorded as x + (-3): shown as written.
        case Op::AddC: return c < 0 ? fmt::format("{} - {}", a, number(-c, digits)) : fmt::format("{} + {}", a, cs);
        case Op::RSubC: return fmt::format("{} - {}", cs, a);
        case Op::MulC: return fmt::format("{} * {}", a, cs);
        case Op::DivC: return fmt::format("{} / {}", a, cs);
        case Op::RDivC: return fmt::format("{} / {}", cs, a);
        case Op::PowC: return fmt::format("{} ^ {}", a, cs);
        case Op::RPowC: return fmt::format("{} ^ {}", cs, a);
        case Op::LeakyReluC:
        case Op::ClampMinC:
        case Op::ClampMaxC: return fmt::format("{}({}, {})", op_name(o), a, cs);
        default: return fmt::format("{}({})", op_name(o), a);
    }
}

using detail::dot_escape;

void check_digits(const char* what, int digits, int lowest) {
    if (digits < lowest || digits > 17)
        throw std::invalid_argument(fmt::format("Explanation::{}: digits {} is outside {}..17", what, digits, lowest));
}

}  // namespace

Explanation explain(const Value& f) { return explain(f, {}); }

Explanation explain(const Value& f, const std::vector<Value>& wrt) {
    const Tape& t = tape();
    const std::uint32_t root = f.checked_index("explain");
    for (const Value& w : wrt) w.checked_index("explain (an input)");
    const std::size_t n = std::size_t{root} + 1;

    // What f depends on: one backward pass over the record (creation order
    // is topological). Tensor nodes are not gone through.
    std::vector<char> reaches(n, 0);
    reaches[root] = 1;
    for (std::uint32_t i = root + 1; i-- > 0;) {
        if (!reaches[i]) continue;
        const int inputs = input_count(op_arity(t.op(i)));
        for (int k = 0; k < inputs; ++k) reaches[t.input(i, k)] = 1;
    }
    // With chosen inputs, only what lies on a path from one of them to f:
    // a forward pass marks what depends on them.
    std::vector<char> traced = reaches;
    if (!wrt.empty()) {
        std::vector<char> depends(n, 0);
        for (const Value& w : wrt)
            if (w.index() <= root) depends[w.index()] = 1;
        for (std::uint32_t i = 0; i <= root; ++i) {
            if (depends[i]) continue;
            const int inputs = input_count(op_arity(t.op(i)));
            for (int k = 0; k < inputs; ++k) depends[i] = depends[i] || depends[t.input(i, k)];
        }
        for (std::size_t i = 0; i < n; ++i) traced[i] = reaches[i] && depends[i];
    }

    // The sweep, as the engine runs it: seed 1 at f, then from f down, each
    // node with a nonzero adjoint adds adjoint * local derivative to each
    // input, a before b. Every node f reaches is swept, traced or not, so
    // each adjoint is the engine's sum in the engine's order.
    std::vector<double> adjoint(n, 0.0);
    std::vector<std::vector<ExplainContribution>> received(n);
    adjoint[root] += 1.0;
    std::vector<std::vector<ExplainInput>> inputs(n);
    for (std::uint32_t i = root + 1; i-- > 0;) {
        if (!reaches[i]) continue;
        const Op o = t.op(i);
        const Arity arity = op_arity(o);
        if (arity == Arity::Leaf || arity == Arity::Custom) continue;
        const Operands ab = t.operands(i);
        const double g = adjoint[i];
        const double y = t.value(i);
        const int operand_count = input_count(arity);
        const double a = t.value(ab.lhs);
        const double b = arity == Arity::WithConstant ? t.constant(ab.rhs)
                         : operand_count >= 2         ? t.value(t.input(i, 1))
                                                      : 0.0;
        const double c = operand_count == 3 ? t.value(t.input(i, 2)) : 0.0;
        for (int k = 0; k < operand_count; ++k) {
            ExplainInput in;
            in.node = t.input(i, k);
            in.value = t.value(in.node);
            in.letter = arity == Arity::WithConstant ? constant_op_letters(o).input : static_cast<char>('a' + k);
            in.formula = op_derivative_text(o, k);
            in.local = local_derivative(o, a, b, c, y, k);
            in.traced = traced[in.node] != 0;
            // A zero adjoint: the engine passes the node by (and so keeps an
            // infinite local derivative elsewhere from making 0 * inf = NaN).
            if (g != 0.0) {
                in.sent = g * in.local;
                adjoint[in.node] += in.sent;
                received[in.node].push_back({i, in.sent});
            }
            inputs[i].push_back(std::move(in));
        }
    }

    auto label_of = [&](std::uint32_t i) {
        if (const std::string* name = t.name(i); name && !name->empty()) return *name;
        return i == root ? std::string("f") : fmt::format("#{}", i);
    };

    Explanation e;
    e.root = root;
    e.root_label = label_of(root);
    e.root_value = t.value(root);
    for (std::uint32_t i = 0; i <= root; ++i) {
        if (!traced[i]) continue;
        const Op o = t.op(i);
        ExplainNode row;
        row.node = i;
        row.label = label_of(i);
        row.op = t.op_name(i);
        row.value = t.value(i);
        row.adjoint = adjoint[i];
        row.received = std::move(received[i]);
        const Arity arity = op_arity(o);
        row.kind = arity == Arity::Leaf     ? ExplainNode::Kind::Leaf
                   : arity == Arity::Custom ? ExplainNode::Kind::Tensor
                                            : ExplainNode::Kind::Op;
        if (row.kind == ExplainNode::Kind::Tensor) ++e.tensor_ops;
        if (row.kind == ExplainNode::Kind::Op) {
            row.skipped = row.adjoint == 0.0;
            row.inputs = std::move(inputs[i]);
            for (ExplainInput& in : row.inputs) in.label = label_of(in.node);
            const Operands ab = t.operands(i);
            double c = 0;
            if (arity == Arity::WithConstant) {
                c = t.constant(ab.rhs);
                row.constant = c;
                row.constant_letter = constant_op_letters(o).constant;
            }
            const auto label = [&](std::size_t k) { return k < row.inputs.size() ? row.inputs[k].label : ""; };
            row.computes = computes(o, label(0), label(1), label(2), c, 0);
        }
        e.nodes.push_back(std::move(row));
    }

    auto gradient_of = [&](std::uint32_t i) {
        ExplainGradient g;
        g.node = i;
        g.label = label_of(i);
        g.value = t.value(i);
        g.reached = i <= root && reaches[i];
        g.gradient = g.reached ? adjoint[i] : 0.0;
        return g;
    };
    if (wrt.empty()) {
        for (std::uint32_t i = 0; i <= root; ++i)
            if (reaches[i] && t.op(i) == Op::Leaf) e.gradient.push_back(gradient_of(i));
    } else {
        for (const Value& w : wrt) e.gradient.push_back(gradient_of(w.index()));
    }
    return e;
}

const ExplainNode& Explanation::node(std::uint32_t index) const {
    const auto it = std::lower_bound(nodes.begin(), nodes.end(), index,
                                     [](const ExplainNode& row, std::uint32_t i) { return row.node < i; });
    if (it == nodes.end() || it->node != index)
        throw std::out_of_range(
            fmt::format("Explanation::node: node #{} is not in the explanation of {} (#{})", index, root_label, root));
    return *it;
}

const ExplainNode& Explanation::node(const Value& v) const { return node(v.checked_index("Explanation::node")); }

std::string Explanation::text(int digits) const {
    check_digits("text", digits, 0);
    auto num = [&](double v) { return number(v, digits); };
    auto label_of = [&](std::uint32_t i) {
        const auto it = std::lower_bound(nodes.begin(), nodes.end(), i,
                                         [](const ExplainNode& row, std::uint32_t k) { return row.node < k; });
        return it != nodes.end() && it->node == i ? it->label : fmt::format("#{}", i);
    };

    std::string out;
    out += fmt::format("Forward pass ({} = {}):\n", root_label, num(root_value));
    std::size_t width = 0;
    for (const ExplainNode& row : nodes) width = std::max(width, row.label.size());
    for (const ExplainNode& row : nodes) {
        const std::string pad(width - row.label.size(), ' ');
        switch (row.kind) {
            case ExplainNode::Kind::Leaf:
                out += fmt::format("  {}{} = {}   (input)\n", row.label, pad, num(row.value));
                break;
            case ExplainNode::Kind::Op:
                out += fmt::format("  {}{} = {} = {}\n", row.label, pad, row.computes, num(row.value));
                break;
            case ExplainNode::Kind::Tensor:
                out += fmt::format("  {}{} = {}   (tensor op {}: not traced through)\n", row.label, pad, num(row.value),
                                   row.op);
                break;
        }
    }

    out += fmt::format(
        "\nReverse sweep (adjoint = ∂{0}/∂node; each node sends adjoint × local derivative to its "
        "inputs):\n",
        root_label);
    for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
        const ExplainNode& row = *it;
        std::string header = fmt::format("  {}", row.label);
        if (row.kind == ExplainNode::Kind::Op) header += fmt::format(" = {} = {}", row.computes, num(row.value));
        if (row.kind == ExplainNode::Kind::Leaf) header += " (input)";
        if (row.kind == ExplainNode::Kind::Tensor) header += fmt::format(" (tensor op {}: not traced through)", row.op);
        std::string from;
        if (row.node == root) {
            from = " (the seed)";
        } else if (row.received.size() == 1) {
            from = fmt::format(" (from {})", label_of(row.received[0].from));
        } else if (!row.received.empty()) {
            for (const ExplainContribution& c : row.received)
                from += fmt::format("{}{} from {}", from.empty() ? " = " : " + ", num(c.amount), label_of(c.from));
        }
        out += fmt::format("{}: adjoint {}{}{}\n", header, num(row.adjoint), from,
                           row.skipped ? "; zero, so it sends nothing" : "");
        if (row.skipped || row.inputs.empty()) continue;
        // What the letters of the op's formulas stand for here.
        std::vector<std::pair<char, std::string>> letters;
        for (const ExplainInput& in : row.inputs) letters.emplace_back(in.letter, in.label);
        if (row.constant) letters.emplace_back(row.constant_letter, num(*row.constant));
        std::sort(letters.begin(), letters.end());
        std::string rule;
        for (const auto& [letter, meaning] : letters) rule += fmt::format("{} = {}, ", letter, meaning);
        out += fmt::format("    in its rule: {}y = {} (the output)\n", rule, row.label);
        for (const ExplainInput& in : row.inputs) {
            // A formula that is a number ("1", "-1") is not repeated.
            const std::string local =
                in.formula == num(in.local) ? in.formula : fmt::format("{} = {}", in.formula, num(in.local));
            out += fmt::format("    to {}{}: ∂{}/∂{} = {}; sends {} × {} = {}\n", in.label,
                               in.traced ? "" : " (not on a path from the chosen inputs)", row.label, in.label, local,
                               num(row.adjoint), num(in.local), num(in.sent));
        }
    }

    out += "\nGradient:\n";
    for (const ExplainGradient& g : gradient)
        out += fmt::format("  ∂{}/∂{} = {}{}\n", root_label, g.label, num(g.gradient),
                           g.reached ? "" : fmt::format(" ({} does not depend on it)", root_label));
    if (tensor_ops > 0)
        out += fmt::format("note: {} tensor op{} listed but not traced through: inputs behind {} not reached\n",
                           tensor_ops, tensor_ops > 1 ? "s" : "", tensor_ops > 1 ? "them are" : "it is");
    return out;
}

std::string Explanation::dot(int digits) const {
    check_digits("dot", digits, 1);
    auto num = [&](double v) { return number(v, digits); };
    std::string out =
        "digraph tapegrad_explain {\n  rankdir=\"LR\";\n  node [shape=box, fontname=\"Helvetica\"];\n"
        "  edge [fontname=\"Helvetica\", fontsize=10];\n";
    for (const ExplainNode& row : nodes) {
        std::string label = row.label;
        if (row.kind == ExplainNode::Kind::Op) label += " = " + row.computes;
        if (row.kind == ExplainNode::Kind::Tensor) label += fmt::format(" ({}, not traced through)", row.op);
        label += fmt::format("\nvalue {}\nadjoint {}", num(row.value), num(row.adjoint));
        std::string style;
        if (row.kind == ExplainNode::Kind::Leaf) style += ", style=filled, fillcolor=\"#e8e8e8\"";
        if (row.kind == ExplainNode::Kind::Tensor) style += ", style=dashed";
        if (row.node == root) style += ", peripheries=2";
        out += fmt::format("  n{} [label=\"{}\"{}];\n", row.node, dot_escape(label), style);
    }
    for (const ExplainNode& row : nodes)
        for (const ExplainInput& in : row.inputs) {
            if (!in.traced) continue;
            out += fmt::format("  n{} -> n{} [label=\"∂/∂{} = {}\\n= {}\"];\n", in.node, row.node, in.letter,
                               dot_escape(in.formula), num(in.local));
        }
    out += "}\n";
    return out;
}

}  // namespace ag
