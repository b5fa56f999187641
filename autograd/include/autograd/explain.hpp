#pragma once
// The chain rule, shown: the walk a textbook makes by hand, read off the tape.
//
//     ag::Value x(-2.0, "x"), y(5.0, "y"), z(-4.0, "z");
//     ag::Value f = (x + y) * z;
//     fmt::print("{}", ag::explain(f).text());
//
// prints the forward pass node by node (what each computes from its inputs,
// and its value), then the reverse sweep step by step from f down: for each
// node the adjoint it receives (d f / d node, and the contributions it is
// the sum of), its local derivative with respect to each input as a formula
// and as a number, and what it sends to each input (adjoint times local
// derivative), ending at d f / d x, d f / d y, d f / d z.
//
// How the numbers are made: the nodes, their ops, operands and values are
// read from the tape; each local derivative is the op's own rule in ops.hpp
// evaluated on doubles, and the adjoints are summed in the engine's order,
// so every number is the one backward() computes (bit for bit: the trace's
// gradient equals ag::grad(f, inputs)). Like ag::grad, explain touches no
// .grad() and records nothing. A node whose adjoint is zero is passed by, as
// the engine's sweep passes it by (it sends nothing).
//
// The op's formulas (ag::op_derivative_text) are written in the op's own
// letters: a (and b) its inputs, y its output, and for an op with a
// constant, the constant as the letter the formula uses (b for x * 2 and
// x ^ 2, a for 2 / x and 2 ^ x, c for leaky_relu's slope and the clamp
// bounds). Each step says what each letter stands for.
//
// Tensor operations met on the way (ag::to_value of a tensor, ...) are
// listed by their op name with their value and adjoint, but the trace does
// not go through them: their inputs and local derivatives are not shown,
// and inputs behind them are not reached (Explanation::tensor_ops counts
// them; ag::to_dot(tensor) draws that part).
#include <autograd/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ag {

// One input of a node, as the reverse sweep sees it.
struct ExplainInput {
    std::uint32_t node = 0;  // the input's node on the tape
    std::string label;       // its name, or "#<node>"
    double value = 0;        // its value
    char letter = 'a';       // what the op's formulas call it: 'a' or 'b'
    std::string formula;     // d (this node) / d (this input), in the op's letters: "b", "1 - y^2"
    double local = 0;        // that derivative here, by the op's rule
    double sent = 0;         // adjoint * local: what the sweep adds to the input's adjoint (0 when skipped)
    bool traced = true;      // the input is in the explanation (false: off the paths to the chosen inputs)
};

// One contribution to a node's adjoint: what the node `from` sent it.
struct ExplainContribution {
    std::uint32_t from = 0;
    double amount = 0;
};

struct ExplainNode {
    enum class Kind { Leaf, Op, Tensor };
    std::uint32_t node = 0;  // index on the tape
    std::string label;       // the Value's name, or "#<node>"
    Kind kind = Kind::Leaf;
    std::string op;                  // Tape::op_name: "leaf", "+", "tanh", "to_value", ...
    std::string computes;            // in the inputs' labels: "x + y", "tanh(#3)", "#3 * 2"; "" for a leaf
    std::optional<double> constant;  // the op's constant (x * 2, leaky_relu's slope)
    char constant_letter = 0;        // what the formulas call the constant: 'a', 'b' or 'c'
    double value = 0;
    // d f / d (this node): the sum of `received`, in that order (1 at f, the seed).
    double adjoint = 0;
    std::vector<ExplainContribution> received;  // in sweep order
    // The adjoint is zero: the sweep passes the node by and sends nothing.
    bool skipped = false;
    // The inputs, in operand order (a, then b); none for a leaf or a tensor op.
    std::vector<ExplainInput> inputs;
};

// d f / d input, for one input.
struct ExplainGradient {
    std::uint32_t node = 0;
    std::string label;
    double value = 0;
    double gradient = 0;
    bool reached = true;  // false: f does not depend on it through the traced graph (gradient 0)
};

struct Explanation {
    std::uint32_t root = 0;  // f's node
    std::string root_label;  // f's name, or "f"
    double root_value = 0;   // f's value
    // The nodes f depends on (restricted to the paths from the chosen
    // inputs when there are some), in creation order: the forward pass. The
    // reverse sweep visits them from the last (f) to the first. Empty when
    // f depends on none of the chosen inputs.
    std::vector<ExplainNode> nodes;
    // d f / d input for each chosen input (every leaf f depends on, in
    // creation order, when none were chosen).
    std::vector<ExplainGradient> gradient;
    std::size_t tensor_ops = 0;  // tensor operations listed but not traced through

    // The row of tape node `index`; throws std::out_of_range when the
    // explanation has none.
    const ExplainNode& node(std::uint32_t index) const;
    // The row of `v` (checked: a stale handle throws).
    const ExplainNode& node(const Value& v) const;

    // The walkthrough as text: the forward pass, the reverse sweep, the
    // gradient. `digits` significant digits (1..17) for every number, or 0
    // for the shortest form that reads back as the same double (the
    // default); anything else throws std::invalid_argument.
    std::string text(int digits = 0) const;
    // The graph as Graphviz DOT: each node with its value and adjoint, each
    // edge (input -> node) with its local derivative, formula and number.
    std::string dot(int digits = 6) const;
};

// Both throw std::logic_error for an empty or stale handle (f or an input).
// The trace of f: every node f depends on, and d f / d leaf for each leaf
// (in creation order).
Explanation explain(const Value& f);
// Only the nodes on the paths from `wrt` to f (as ag::grad(f, wrt) would
// follow them), and d f / d wrt[k] for each k, in that order; an input f
// does not depend on gets 0. Any recorded Value may be an input.
Explanation explain(const Value& f, const std::vector<Value>& wrt);

}  // namespace ag
