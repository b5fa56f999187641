#pragma once
// Pictures of the recorded graph, as Graphviz DOT text:
//
//     ag::Value x(-2.0, "x"), y(5.0, "y");
//     ag::Value f = (x + y) * 3.0;
//     f.backward();
//     fmt::print("{}", ag::to_dot(f));   // then: dot -Tsvg graph.dot -o graph.svg
//
// One box per tape node that the root depends on, labelled with its
// operation, its value and its gradient (the adjoint on the tape: 0 until a
// backward() reaches it), with edges from operands to results. Leaves are
// filled grey, the root has a double border, and named Values show their
// name first. Operands of non-commutative ops (-, /, ^) are told apart by
// edge labels "a" and "b"; an op with a constant shows the constant in its
// label ("· * 2", "2 / ·"), like micrograd's draw_dot shows `_op`.
//
// Tensors: one box per tensor operation with its op name and shape (plus
// float32 when it is one); a one-element tensor also shows its value and
// gradient. Inputs that require no gradient (data) are drawn dashed; an op
// with several inputs labels its edges a, b, c, ... in argument order.
#include <autograd/tensor.hpp>
#include <autograd/value.hpp>

#include <string>

namespace ag {

struct DotOptions {
    // Significant digits of values and gradients in the labels.
    int precision = 6;
    // Show the gradient line (turn off for a graph never differentiated).
    bool show_grad = true;
    // Graphviz rank direction: "LR" draws inputs on the left (micrograd's
    // choice), "TB" on top.
    std::string rankdir = "LR";
};

// The graph behind `root` (only nodes it depends on) as a DOT digraph.
// Throws std::logic_error for a stale or empty handle.
std::string to_dot(const Value& root, const DotOptions& options = {});
std::string to_dot(const Tensor& root, const DotOptions& options = {});
std::string to_dot(const Tensor32& root, const DotOptions& options = {});

}  // namespace ag
