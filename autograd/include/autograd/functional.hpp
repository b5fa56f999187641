#pragma once
// Derivatives of whole functions, beside ag::grad and ag::check_gradients
// (as torch.autograd.functional): Hessians, Hessian-vector products,
// Jacobians, Jacobian- and vector-Jacobian products. Each evaluates the
// function on fresh leaves at `point` and frees what it recorded before it
// returns (the function must build its result only from its arguments).
//
//     auto f = [](const std::vector<ag::Value>& v) { return v[0] * v[0] * v[1] + ag::sin(v[0] * v[1]); };
//     auto H = ag::hessian(f, {1.0, 2.0});           // H[i][j] = d2f / dx_i dx_j
//
// How each is computed, all with the one derivative rule per op:
//   hessian  the gradient recorded as Values (ag::create_graph), then one
//            reverse sweep per input over it;
//   hvp      forward over reverse on the tape: a tangent pass along v, then
//            one reverse sweep of (adjoint, its tangent) pairs, each local
//            derivative the op's rule evaluated on ag::Dual numbers; nothing
//            is recorded, about the cost of a few gradients whatever the size
//            (through tensor ops: the gradient recorded, then one sweep);
//   jacobian reverse: one sweep per output; forward: one tangent pass over
//            the recorded tape per input; Auto picks the one with fewer
//            passes (reverse on a tie);
//   jvp      one forward tangent pass; vjp one reverse sweep.
// Forward passes go through scalar ops only: a tensor op in F is refused
// with a message (use JacobianMode::Reverse).
#include <autograd/tensor.hpp>
#include <autograd/value.hpp>

#include <functional>
#include <vector>

namespace ag {

using ScalarFunction = std::function<Value(const std::vector<Value>&)>;
using VectorFunction = std::function<std::vector<Value>(const std::vector<Value>&)>;
using Matrix = std::vector<std::vector<double>>;

Matrix hessian(const ScalarFunction& f, const std::vector<double>& point);
// H v, without forming H.
std::vector<double> hvp(const ScalarFunction& f, const std::vector<double>& point, const std::vector<double>& v);

enum class JacobianMode { Auto, Reverse, Forward };
// J[i][j] = d F_i / d x_j.
Matrix jacobian(const VectorFunction& F, const std::vector<double>& point, JacobianMode mode = JacobianMode::Auto);
// J v (forward mode) and uᵀ J (reverse mode).
std::vector<double> jvp(const VectorFunction& F, const std::vector<double>& point, const std::vector<double>& v);
std::vector<double> vjp(const VectorFunction& F, const std::vector<double>& point, const std::vector<double>& u);

// Tensor forms, for f of float64 tensors; inputs are taken as one vector,
// their elements in order (inputs[0] row-major, then inputs[1], ...). The
// Hessian and Jacobian go by reverse sweeps; jvp by two (the vjp recorded,
// then differentiated in its seed).
using TensorFunction = std::function<Tensor(const std::vector<Tensor>&)>;
// f must give one element.
Matrix hessian(const TensorFunction& f, const std::vector<Tensor>& inputs);
std::vector<Tensor> hvp(const TensorFunction& f, const std::vector<Tensor>& inputs, const std::vector<Tensor>& v);
// J[i][j] = d F_i / d x_j, F's elements row-major.
Matrix jacobian(const TensorFunction& F, const std::vector<Tensor>& inputs);
// J v (v shaped like the inputs; the result like F) and uᵀ J (u shaped like F).
Tensor jvp(const TensorFunction& F, const std::vector<Tensor>& inputs, const std::vector<Tensor>& v);
std::vector<Tensor> vjp(const TensorFunction& F, const std::vector<Tensor>& inputs, const Tensor& u);

}  // namespace ag
