#include <autograd/dot.hpp>

#include "../tensor/node.hpp"
#include "dot_escape.hpp"

#include <fmt/format.h>

#include <span>
#include <stdexcept>
#include <vector>

namespace ag {

namespace detail {

std::string dot_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
            ++i;
        } else if (c == '\n') {
            out += "\\n";
            ++i;
        } else if (c < 0x20 || c == 0x7f) {
            out += '?';
            ++i;
        } else if (c < 0x80) {
            out += static_cast<char>(c);
            ++i;
        } else {
            // A lead byte 110xxxxx / 1110xxxx / 11110xxx followed by that
            // many 10xxxxxx bytes; overlong forms are not worth rejecting here.
            const std::size_t len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
            bool ok = len != 0 && i + len <= s.size();
            for (std::size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) >> 6) == 0x2;
            if (ok) {
                out.append(s.substr(i, len));
                i += len;
            } else {
                out += '?';
                ++i;
            }
        }
    }
    return out;
}

}  // namespace detail

namespace {

using detail::dot_escape;

std::string number(double v, int precision) { return fmt::format("{:.{}g}", v, precision); }

// What the node computes, with `·` for its operand where a constant is
// involved, so "x * 2" reads "· * 2" on the node that x points into.
std::string op_label(const Tape& t, std::uint32_t i, int precision) {
    const Op o = t.op(i);
    if (op_arity(o) != Arity::WithConstant) {
        switch (o) {
            case Op::Sub: return "a - b";
            case Op::Div: return "a / b";
            case Op::Pow: return "a ^ b";
            case Op::MulAdd: return "a * b + c";
            default: return op_name(o);
        }
    }
    const double c = t.constant(t.operands(i).rhs);
    const std::string cs = number(c, precision);
    switch (o) {
        // x - 3 is recorded as x + (-3); show it the way it was written.
        case Op::AddC: return c < 0 ? fmt::format("· - {}", number(-c, precision)) : fmt::format("· + {}", cs);
        case Op::RSubC: return fmt::format("{} - ·", cs);
        case Op::MulC: return fmt::format("· * {}", cs);
        case Op::DivC: return fmt::format("· / {}", cs);
        case Op::RDivC: return fmt::format("{} / ·", cs);
        case Op::PowC: return fmt::format("· ^ {}", cs);
        case Op::RPowC: return fmt::format("{} ^ ·", cs);
        default: return op_name(o);
    }
}

bool labels_operands(Op o) { return o == Op::Sub || o == Op::Div || o == Op::Pow || o == Op::MulAdd; }

void check_precision(const DotOptions& options) {
    if (options.precision < 1 || options.precision > 17)
        throw std::invalid_argument(fmt::format("to_dot: precision {} is outside 1..17 digits", options.precision));
}

std::string header(const DotOptions& options) {
    return fmt::format("digraph tapegrad {{\n  rankdir=\"{}\";\n  node [shape=box, fontname=\"Helvetica\"];\n",
                       dot_escape(options.rankdir));
}

std::span<const std::uint32_t> tensor_inputs(const detail::TensorNode& n) {
    return {n.n_in > 3 ? n.more_in : n.in, n.n_in};
}

template <class T>
std::string tensor_dot(const BasicTensor<T>& root_tensor, const DotOptions& options) {
    check_precision(options);
    const std::uint32_t root = root_tensor.checked_record("to_dot");
    const Tape& t = tape();
    const detail::TensorStore& s = detail::store();
    // Records are in creation order too: one backward pass marks the inputs.
    std::vector<bool> reachable(std::size_t{root} + 1, false);
    reachable[root] = true;
    for (std::uint32_t r = root + 1; r-- > 0;) {
        if (!reachable[r]) continue;
        for (const std::uint32_t in : tensor_inputs(s.nodes[r])) reachable[in] = true;
    }

    const int p = options.precision;
    std::string out = header(options);
    for (std::uint32_t r = 0; r <= root; ++r) {
        if (!reachable[r]) continue;
        const detail::TensorNode& n = s.nodes[r];
        const std::string* name = t.name(n.stub);
        std::string label = n.n_in == 0 ? (name ? *name : std::string(n.op))
                                        : (name ? fmt::format("{}: {}", *name, n.op) : std::string(n.op));
        label += fmt::format("\n{}{}", n.shape.str(), n.dtype == DType::float32 ? " float32" : "");
        if (n.shape.numel() == 1) {
            const T* v = static_cast<const T*>(n.value);
            const T* g = static_cast<const T*>(n.grad);
            label += fmt::format("\nvalue {}", number(static_cast<double>(v[0]), p));
            if (options.show_grad)
                label += fmt::format("\ngrad {}", number(t.adjoint(n.stub) != 0 ? static_cast<double>(g[0]) : 0.0, p));
        }
        std::string style;
        if (n.n_in == 0) style += n.requires_grad ? ", style=filled, fillcolor=\"#e8e8e8\"" : ", style=dashed";
        if (r == root) style += ", peripheries=2";
        out += fmt::format("  n{} [label=\"{}\"{}];\n", r, dot_escape(label), style);
    }
    for (std::uint32_t r = 0; r <= root; ++r) {
        if (!reachable[r]) continue;
        const detail::TensorNode& n = s.nodes[r];
        const auto inputs = tensor_inputs(n);
        for (std::size_t j = 0; j < inputs.size(); ++j) {
            if (inputs.size() == 1)
                out += fmt::format("  n{} -> n{};\n", inputs[j], r);
            else  // a, b, c, ... then numbers (concat of many)
                out += fmt::format("  n{} -> n{} [label=\"{}\"];\n", inputs[j], r,
                                   j < 26 ? std::string(1, static_cast<char>('a' + j)) : std::to_string(j));
        }
    }
    out += "}\n";
    return out;
}

}  // namespace

std::string to_dot(const Value& root_value, const DotOptions& options) {
    const Tape& t = tape();
    const std::uint32_t root = root_value.checked_index("to_dot");
    if (t.op(root) == Op::Custom || t.op(root) == Op::CustomLeaf)
        throw std::invalid_argument(fmt::format("to_dot: node #{} is a tensor node; pass the Tensor itself", root));
    check_precision(options);

    // Nodes are in topological order, so one backward pass over the record
    // finds everything the root depends on.
    std::vector<bool> reachable(std::size_t{root} + 1, false);
    reachable[root] = true;
    for (std::uint32_t i = root + 1; i-- > 0;) {
        if (!reachable[i]) continue;
        const int inputs = input_count(op_arity(t.op(i)));
        for (int k = 0; k < inputs; ++k) reachable[t.input(i, k)] = true;
    }

    const int p = options.precision;
    std::string out = header(options);
    for (std::uint32_t i = 0; i <= root; ++i) {
        if (!reachable[i]) continue;
        const Op o = t.op(i);
        const std::string* name = t.name(i);
        std::string label;
        if (o == Op::Leaf)
            label = name ? *name : "leaf";
        else
            label = name ? fmt::format("{}: {}", *name, op_label(t, i, p)) : op_label(t, i, p);
        label += fmt::format("\nvalue {}", number(t.value(i), p));
        if (options.show_grad) label += fmt::format("\ngrad {}", number(t.adjoint(i), p));
        std::string style;
        if (o == Op::Leaf) style += ", style=filled, fillcolor=\"#e8e8e8\"";
        if (i == root) style += ", peripheries=2";
        out += fmt::format("  n{} [label=\"{}\"{}];\n", i, dot_escape(label), style);
    }
    for (std::uint32_t i = 0; i <= root; ++i) {
        if (!reachable[i]) continue;
        const Op o = t.op(i);
        // Edges a, b, c where the order matters (a - b), plain otherwise.
        const int inputs = input_count(op_arity(o));
        for (int k = 0; k < inputs; ++k) {
            if (inputs > 1 && labels_operands(o))
                out += fmt::format("  n{} -> n{} [label=\"{}\"];\n", t.input(i, k), i, static_cast<char>('a' + k));
            else
                out += fmt::format("  n{} -> n{};\n", t.input(i, k), i);
        }
    }
    out += "}\n";
    return out;
}

std::string to_dot(const Tensor& root, const DotOptions& options) { return tensor_dot(root, options); }
std::string to_dot(const Tensor32& root, const DotOptions& options) { return tensor_dot(root, options); }

}  // namespace ag
