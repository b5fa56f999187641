// Tensor forms of hessian, hvp, jacobian, jvp and vjp (functional.hpp).
#include <autograd/functional.hpp>

#include <fmt/format.h>

#include <stdexcept>

namespace ag {

namespace {

// Fresh leaves holding copies of the inputs (the caller's stay untouched).
std::vector<Tensor> fresh(const std::vector<Tensor>& inputs) {
    std::vector<Tensor> x;
    for (const Tensor& t : inputs) x.push_back(Tensor(t.shape(), std::span<const double>(t.data())));
    return x;
}

void check_like(const char* what, const std::vector<Tensor>& v, const std::vector<Tensor>& x) {
    if (v.size() != x.size())
        throw std::invalid_argument(fmt::format("{}: {} tensors given for {} inputs", what, v.size(), x.size()));
    for (std::size_t i = 0; i < v.size(); ++i)
        if (!(v[i].shape() == x[i].shape()))
            throw std::invalid_argument(fmt::format("{}: tensor {} has shape {}, input {} has shape {}", what, i,
                                                    v[i].shape().str(), i, x[i].shape().str()));
}

// sum_i sum(a_i * b_i), with b constants.
Tensor dot(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
    Tensor total = Tensor::zeros({}).set_requires_grad(false);
    for (std::size_t i = 0; i < a.size(); ++i) total = total + sum(a[i] * b[i]);
    return total;
}

std::vector<double> flat(const std::vector<Tensor>& ts) {
    std::vector<double> out;
    for (const Tensor& t : ts) out.insert(out.end(), t.data().begin(), t.data().end());
    return out;
}

std::vector<Tensor> constants(const std::vector<Tensor>& ts) {
    std::vector<Tensor> out;
    for (const Tensor& t : ts)
        out.push_back(Tensor(t.shape(), std::span<const double>(t.data())).set_requires_grad(false));
    return out;
}

}  // namespace

Matrix hessian(const TensorFunction& f, const std::vector<Tensor>& inputs) {
    Scope scope;
    const std::vector<Tensor> x = fresh(inputs);
    const std::vector<Tensor> g = grad(f(x), x, create_graph);
    Matrix h;
    for (const Tensor& gi : g)
        for (std::int64_t k = 0; k < gi.numel(); ++k) {
            // Element k of the gradient as a Value, differentiated again.
            const Value gk = to_value(reshape(gi, Shape{gi.numel()}), {k});
            h.push_back(flat(grad(gk, x)));
        }
    return h;
}

std::vector<Tensor> hvp(const TensorFunction& f, const std::vector<Tensor>& inputs, const std::vector<Tensor>& v) {
    check_like("hvp", v, inputs);
    std::vector<std::vector<double>> out;
    std::vector<Shape> shapes;
    {
        Scope scope;
        const std::vector<Tensor> x = fresh(inputs);
        const std::vector<Tensor> g = grad(f(x), x, create_graph);
        for (const Tensor& r : grad(dot(g, constants(v)), x)) {
            out.push_back(r.to_vector());
            shapes.push_back(r.shape());
        }
    }
    std::vector<Tensor> result;
    for (std::size_t i = 0; i < out.size(); ++i)
        result.push_back(Tensor(shapes[i], std::span<const double>(out[i])).set_requires_grad(false));
    return result;
}

Matrix jacobian(const TensorFunction& F, const std::vector<Tensor>& inputs) {
    Scope scope;
    const std::vector<Tensor> x = fresh(inputs);
    const Tensor y = reshape(F(x), Shape{-1});
    Matrix J;
    for (std::int64_t i = 0; i < y.numel(); ++i) J.push_back(flat(grad(to_value(y, {i}), x)));
    return J;
}

Tensor jvp(const TensorFunction& F, const std::vector<Tensor>& inputs, const std::vector<Tensor>& v) {
    check_like("jvp", v, inputs);
    Shape shape;
    std::vector<double> out;
    {
        Scope scope;
        const std::vector<Tensor> x = fresh(inputs);
        const Tensor y = F(x);
        // u ↦ uᵀ J is linear in u; its gradient in u along v is J v.
        const Tensor u = Tensor::zeros(y.shape());
        const std::vector<Tensor> uj = grad(sum(y * u), x, create_graph);
        const Tensor jv = grad(dot(uj, constants(v)), std::vector<Tensor>{u})[0];
        shape = jv.shape();
        out = jv.to_vector();
    }
    return Tensor(shape, std::span<const double>(out)).set_requires_grad(false);
}

std::vector<Tensor> vjp(const TensorFunction& F, const std::vector<Tensor>& inputs, const Tensor& u) {
    std::vector<std::vector<double>> out;
    std::vector<Shape> shapes;
    {
        Scope scope;
        const std::vector<Tensor> x = fresh(inputs);
        const Tensor y = F(x);
        if (!(u.shape() == y.shape()))
            throw std::invalid_argument(
                fmt::format("vjp: u has shape {}, F's result has shape {}", u.shape().str(), y.shape().str()));
        const Tensor seed = Tensor(u.shape(), std::span<const double>(u.data())).set_requires_grad(false);
        for (const Tensor& r : grad(sum(y * seed), x)) {
            out.push_back(r.to_vector());
            shapes.push_back(r.shape());
        }
    }
    std::vector<Tensor> result;
    for (std::size_t i = 0; i < out.size(); ++i)
        result.push_back(Tensor(shapes[i], std::span<const double>(out[i])).set_requires_grad(false));
    return result;
}

}  // namespace ag
