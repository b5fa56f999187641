#pragma once
// Parameter lists: what optimizers update and what save()/load() write.
//
// A ParameterList holds scalar Values, float64 Tensors and float32 Tensors
// side by side. Data and gradients are fetched from the tape at each use and
// never cached: the tape's arrays move when it grows.
#include <autograd/tensor.hpp>
#include <autograd/value.hpp>

#include <cstddef>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace ag::nn {

// "[16, 2]"
std::string shape_string(const std::vector<std::size_t>& shape);

// One named parameter of a model: a name ("layers.0.weight"), a shape, and
// the storage behind it: scalar Values in row-major order, a tensor, or
// doubles held by the caller (training state such as an optimizer's
// moments, which save()/load() treat like parameters but no optimizer
// updates: ParameterList refuses them).
class NamedParameter {
public:
    NamedParameter(std::string name, std::vector<std::size_t> shape, std::vector<Value> values);
    NamedParameter(std::string name, const Tensor& t);
    NamedParameter(std::string name, const Tensor32& t);
    // `buffer` (row-major, shape's element count) must outlive this object.
    NamedParameter(std::string name, std::vector<std::size_t> shape, std::span<double> buffer);

    const std::string& name() const noexcept { return name_; }
    const std::vector<std::size_t>& shape() const noexcept { return shape_; }
    std::size_t size() const noexcept;
    // The values, row-major, as doubles (float32 widens exactly).
    std::vector<double> values() const;
    // Overwrites the values (row-major); the size must match.
    void set_values(std::span<const double> values) const;
    const std::variant<std::vector<Value>, Tensor, Tensor32, std::span<double>>& storage() const noexcept {
        return storage_;
    }

private:
    std::string name_;
    std::vector<std::size_t> shape_;
    std::variant<std::vector<Value>, Tensor, Tensor32, std::span<double>> storage_;
};

class ParameterList {
public:
    ParameterList() = default;
    // Implicit, so that `SGD opt(model.parameters(), ...)` reads naturally.
    ParameterList(std::vector<Value> values) : scalars_(std::move(values)) {}  // NOLINT
    ParameterList(const std::vector<Tensor>& tensors) { add(tensors); }        // NOLINT
    ParameterList(const std::vector<Tensor32>& tensors) { add(tensors); }      // NOLINT
    ParameterList(const std::vector<NamedParameter>& named) { add(named); }    // NOLINT

    void add(const Value& v) { scalars_.push_back(v); }
    void add(const std::vector<Value>& vs) { scalars_.insert(scalars_.end(), vs.begin(), vs.end()); }
    void add(const Tensor& t) { tensors64_.push_back(t); }
    void add(const Tensor32& t) { tensors32_.push_back(t); }
    void add(const std::vector<Tensor>& ts) { tensors64_.insert(tensors64_.end(), ts.begin(), ts.end()); }
    void add(const std::vector<Tensor32>& ts) { tensors32_.insert(tensors32_.end(), ts.begin(), ts.end()); }
    void add(const NamedParameter& p);
    void add(const std::vector<NamedParameter>& ps) {
        for (const NamedParameter& p : ps) add(p);
    }

    // Number of scalars in all the parameters together.
    std::size_t size() const;
    void zero_grad() const;
    // Calls f(data, grad, n) for each contiguous block of parameters, always
    // in the same order: each scalar Value as a block of one, then each
    // float64 tensor, then each float32 tensor (data and grad are double*
    // or float*). The pointers are valid only during the call.
    template <class F>
    void for_each_block(F&& f) const {
        for (const Value& v : scalars_) {
            // A block of one, copied: an optimizer's update of it is stored back.
            v.checked_index("optimizer parameter");
            double data = v.data();
            const double grad = v.grad();
            f(&data, static_cast<const double*>(&grad), std::size_t{1});
            v.set_data(data);
        }
        for (const Tensor& p : tensors64_) call_tensor(p, f);
        for (const Tensor32& p : tensors32_) call_tensor(p, f);
    }
    // Calls f(grad, n) for each block of gradients, writable, in
    // for_each_block's order (gradient averaging across processes). A
    // scalar Value's gradient is a block of one, stored back after the call.
    template <class F>
    void for_each_grad(F&& f) const {
        for (const Value& v : scalars_) {
            double grad = v.grad();
            f(&grad, std::size_t{1});
            v.set_grad(grad);
        }
        for (const Tensor& p : tensors64_) f(p.grad().data(), static_cast<std::size_t>(p.numel()));
        for (const Tensor32& p : tensors32_) f(p.grad().data(), static_cast<std::size_t>(p.numel()));
    }
    // The sizes of the blocks, in for_each_block's order.
    std::vector<std::size_t> block_sizes() const;

private:
    template <class T, class F>
    static void call_tensor(const BasicTensor<T>& p, F& f) {
        const std::span<T> data = p.data();
        const std::span<T> grad = p.grad();
        f(data.data(), static_cast<const T*>(grad.data()), data.size());
    }

    std::vector<Value> scalars_;
    std::vector<Tensor> tensors64_;
    std::vector<Tensor32> tensors32_;
};

}  // namespace ag::nn
