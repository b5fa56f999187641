// The Tensor handle: creation, access to values and gradients, printing.
#include "node.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace ag {

using detail::TensorNode;
using detail::TensorStore;

// --------------------------------------------------------------- handle ---

template <class T>
std::uint32_t BasicTensor<T>::checked_record(const char* what) const {
    Tape& t = tape();
    t.check(id_, what);
    const Op o = t.op(id_.index);
    const Operands ops = t.operands(id_.index);
    TensorStore& s = detail::store();
    if ((o != Op::Custom && o != Op::CustomLeaf) || ops.rhs != detail::tensor_extension || s.nodes[ops.lhs].is_value)
        throw std::logic_error(fmt::format("{}: node #{} is a scalar Value, not a tensor", what, id_.index));
    const std::uint32_t rec = ops.lhs;
    if (s.nodes[rec].dtype != dtype)
        throw std::logic_error(fmt::format("{}: node #{} holds {}, the handle expects {}", what, id_.index,
                                           dtype_name(s.nodes[rec].dtype), dtype_name(dtype)));
    return rec;
}

namespace {
template <class T>
TensorNode& node_of(const BasicTensor<T>& t, const char* what) {
    const std::uint32_t rec = t.checked_record(what);
    return detail::store().nodes[rec];
}

// A new leaf; fill(i) gives element i.
template <class T, class F>
BasicTensor<T> make_leaf(const Shape& shape, const char* what, F&& fill) {
    const std::int64_t n = shape.numel();  // throws past int64, before anything is recorded
    TensorStore& s = detail::store();
    const std::uint32_t rec = detail::new_leaf<T>(s, shape, what);
    T* v = detail::values<T>(s.nodes[rec]);
    for (std::int64_t i = 0; i < n; ++i) v[i] = static_cast<T>(fill(i));
    return BasicTensor<T>::from_node(tape().id(s.nodes[rec].stub));
}
}  // namespace

template <class T>
BasicTensor<T>::BasicTensor(const Shape& shape, std::span<const T> values) {
    if (static_cast<std::int64_t>(values.size()) != shape.numel())
        throw std::invalid_argument(
            fmt::format("Tensor: shape {} needs {} values, {} given", shape.str(), shape.numel(), values.size()));
    *this = make_leaf<T>(shape, "Tensor", [&](std::int64_t i) { return values[static_cast<std::size_t>(i)]; });
}

template <class T>
BasicTensor<T>::BasicTensor(const Shape& shape, std::initializer_list<T> values)
    : BasicTensor(shape, std::span<const T>(values.begin(), values.size())) {}

template <class T>
BasicTensor<T> BasicTensor<T>::zeros(const Shape& shape) {
    return full(shape, 0.0);
}
template <class T>
BasicTensor<T> BasicTensor<T>::ones(const Shape& shape) {
    return full(shape, 1.0);
}
template <class T>
BasicTensor<T> BasicTensor<T>::full(const Shape& shape, double value) {
    return make_leaf<T>(shape, "full", [&](std::int64_t) { return value; });
}
template <class T>
BasicTensor<T> BasicTensor<T>::scalar(double value) {
    return full(Shape{}, value);
}
template <class T>
BasicTensor<T> BasicTensor<T>::arange(double stop) {
    return arange(0, stop, 1);
}
template <class T>
BasicTensor<T> BasicTensor<T>::arange(double start, double stop, double step) {
    if (step == 0 || !std::isfinite(start) || !std::isfinite(stop) || !std::isfinite(step))
        throw std::invalid_argument(fmt::format(
            "arange: start {}, stop {}, step {}: need finite values and a nonzero step", start, stop, step));
    const double count = std::ceil((stop - start) / step);  // inf if stop - start overflows
    // 2^63: the first count that int64 cannot hold (converting it is undefined).
    constexpr double int64_end = 0x1p63;
    if (count >= int64_end)
        throw std::length_error(fmt::format("arange: start {}, stop {}, step {}: {} elements exceed the int64 range",
                                            start, stop, step, count));
    const auto n = static_cast<std::int64_t>(count > 0 ? count : 0);
    return make_leaf<T>(Shape{n}, "arange", [&](std::int64_t i) { return start + static_cast<double>(i) * step; });
}
template <class T>
BasicTensor<T> BasicTensor<T>::randn(const Shape& shape, Rng& rng, double mean, double stddev) {
    return make_leaf<T>(shape, "randn", [&](std::int64_t) { return rng.normal(mean, stddev); });
}
template <class T>
BasicTensor<T> BasicTensor<T>::randn(const Shape& shape, std::uint64_t seed, double mean, double stddev) {
    Rng rng(seed);
    return randn(shape, rng, mean, stddev);
}
template <class T>
BasicTensor<T> BasicTensor<T>::rand(const Shape& shape, Rng& rng, double lo, double hi) {
    return make_leaf<T>(shape, "rand", [&](std::int64_t) { return rng.uniform(lo, hi); });
}
template <class T>
BasicTensor<T> BasicTensor<T>::rand(const Shape& shape, std::uint64_t seed, double lo, double hi) {
    Rng rng(seed);
    return rand(shape, rng, lo, hi);
}

template <class T>
Shape BasicTensor<T>::shape() const {
    return node_of(*this, "shape").shape;
}

template <class T>
std::int64_t BasicTensor<T>::size(int axis) const {
    const Shape s = node_of(*this, "size").shape;
    return s[normalize_axis(axis, s.rank(), "size", s)];
}

template <class T>
TensorData<T> BasicTensor<T>::data() const {
    const TensorNode& n = node_of(*this, "data");
    return {{detail::values<T>(n), static_cast<std::size_t>(n.numel())}, n.shape};
}

template <class T>
TensorData<T> BasicTensor<T>::grad() const {
    TensorNode& n = node_of(*this, "grad");
    if (n.grad == nullptr) detail::give_grad_buffer(n);
    // "Nothing yet" (the tape's adjoint of the node is 0) reads as zeros.
    double& has = detail::TapeAccess::adjoint(tape())[n.stub];
    if (has == 0) {
        std::fill_n(static_cast<T*>(n.grad), n.numel(), T(0));
        has = 1;
    }
    return {{static_cast<T*>(n.grad), static_cast<std::size_t>(n.numel())}, n.shape};
}

template <class T>
double BasicTensor<T>::item() const {
    const TensorNode& n = node_of(*this, "item");
    if (n.shape.numel() != 1)
        throw std::invalid_argument(fmt::format("item: the tensor has shape {} ({} elements); item() needs exactly one",
                                                n.shape.str(), n.shape.numel()));
    return detail::values<T>(n)[0];
}

template <class T>
T BasicTensor<T>::at(std::initializer_list<std::int64_t> index) const {
    const TensorNode& n = node_of(*this, "at");
    if (static_cast<int>(index.size()) != n.shape.rank())
        throw std::invalid_argument(fmt::format("at: {} indices given for shape {}", index.size(), n.shape.str()));
    std::int64_t flat = 0;
    int axis = 0;
    for (std::int64_t i : index) {
        if (i < 0 || i >= n.shape[axis])
            throw std::out_of_range(
                fmt::format("at: index {} is out of range for axis {} of shape {}", i, axis, n.shape.str()));
        flat = flat * n.shape[axis] + i;
        ++axis;
    }
    return detail::values<T>(n)[flat];
}

template <class T>
std::vector<T> BasicTensor<T>::to_vector() const {
    const std::span<T> d = data();
    return {d.begin(), d.end()};
}

template <class T>
void BasicTensor<T>::set_data(std::span<const T> values) const {
    const TensorNode& n = node_of(*this, "set_data");
    if (static_cast<std::int64_t>(values.size()) != n.shape.numel())
        throw std::invalid_argument(fmt::format("set_data: shape {} has {} elements, {} values given", n.shape.str(),
                                                n.shape.numel(), values.size()));
    std::copy(values.begin(), values.end(), detail::values<T>(n));
}

template <class T>
void BasicTensor<T>::fill(double value) const {
    const std::span<T> d = data();
    std::fill(d.begin(), d.end(), static_cast<T>(value));
}

template <class T>
void BasicTensor<T>::backward() const {
    checked_record("backward");
    detail::TapeAccess::backward(tape(), id_.index);
}

template <class T>
void BasicTensor<T>::backward(const BasicTensor& grad_output) const {
    const std::uint32_t rec = checked_record("backward");
    const Shape out = detail::store().nodes[rec].shape;
    const Shape given = grad_output.shape();
    if (!(given == out))
        throw std::invalid_argument(
            fmt::format("backward: grad_output has shape {}, the tensor has shape {}; they "
                        "must be equal",
                        given.str(), out.str()));
    Tape& t = tape();
    detail::TapeAccess::prepare_backward(t, id_.index);
    const detail::Sweep s = detail::TapeAccess::own_sweep(t);
    TensorStore& st = detail::store();
    T* g = static_cast<T*>(st.grad_buffer(rec, s));
    const T* seed = grad_output.data().data();
    const std::int64_t n = out.numel();
    double& has = s.adjoint[id_.index];
    for (std::int64_t k = 0; k < n; ++k) g[k] = has != 0 ? g[k] + seed[k] : seed[k];
    has = 1;
    detail::TapeAccess::sweep(t, id_.index, s);
}

template <class T>
void BasicTensor<T>::zero_grad() const {
    const TensorNode& n = node_of(*this, "zero_grad");
    detail::TapeAccess::adjoint(tape())[n.stub] = 0;
}

template <class T>
const char* BasicTensor<T>::op_name() const {
    return node_of(*this, "op_name").op;
}

template <class T>
bool BasicTensor<T>::is_leaf() const {
    return node_of(*this, "is_leaf").backward == nullptr;
}

template <class T>
bool BasicTensor<T>::requires_grad() const {
    return node_of(*this, "requires_grad").requires_grad;
}

template <class T>
const BasicTensor<T>& BasicTensor<T>::set_requires_grad(bool on) const {
    TensorNode& n = node_of(*this, "set_requires_grad");
    if (n.backward != nullptr)
        throw std::logic_error(fmt::format(
            "set_requires_grad: the tensor (shape {}) is the result of {}, not a leaf; only leaves can change it "
            "(use detach() for a copy that stops gradients)",
            n.shape.str(), n.op));
    if (on && n.grad == nullptr) detail::give_grad_buffer(n);  // a NoGrad result: recorded without one
    n.requires_grad = on;
    return *this;
}

template <class T>
BasicTensor<T> BasicTensor<T>::detach() const {
    const Shape shape = this->shape();
    const T* v = data().data();
    BasicTensor<T> out = make_leaf<T>(shape, "detach", [&](std::int64_t i) { return v[i]; });
    out.set_requires_grad(false);
    return out;
}

template <class T>
template <class U>
BasicTensor<U> BasicTensor<T>::to() const {
    const Shape shape = this->shape();
    const T* v = data().data();
    return make_leaf<U>(shape, "to", [&](std::int64_t i) { return v[i]; });
}

template class BasicTensor<float>;
template class BasicTensor<double>;
template BasicTensor<float> BasicTensor<float>::to<float>() const;
template BasicTensor<double> BasicTensor<float>::to<double>() const;
template BasicTensor<float> BasicTensor<double>::to<float>() const;
template BasicTensor<double> BasicTensor<double>::to<double>() const;

template <class T>
void zero_grad(std::span<const BasicTensor<T>> tensors) {
    for (const auto& t : tensors) t.zero_grad();
}
template void zero_grad(std::span<const BasicTensor<float>>);
template void zero_grad(std::span<const BasicTensor<double>>);

// ------------------------------------------------------------- printing ---

namespace {

constexpr std::int64_t print_threshold = 1000;  // more elements: elide
constexpr std::int64_t edge_items = 3;          // shown at each end of an elided axis

// Indices shown along an axis of size n; -1 marks the "..." gap.
std::vector<std::int64_t> shown(std::int64_t n, bool elide) {
    std::vector<std::int64_t> out;
    if (!elide || n <= 2 * edge_items) {
        for (std::int64_t i = 0; i < n; ++i) out.push_back(i);
    } else {
        for (std::int64_t i = 0; i < edge_items; ++i) out.push_back(i);
        out.push_back(-1);
        for (std::int64_t i = n - edge_items; i < n; ++i) out.push_back(i);
    }
    return out;
}

template <class T>
std::string element(T x) {
    return fmt::format("{:.8g}", x);
}

// Writes axis `axis` of the block starting at flat offset `offset`. Rows are
// separated by a newline plus `indent` spaces, like NumPy.
template <class T>
void write_block(std::string& out, const T* v, const Shape& shape, int axis, std::int64_t offset, bool elide,
                 std::size_t width, std::size_t indent) {
    std::int64_t stride = 1;
    for (int a = axis + 1; a < shape.rank(); ++a) stride *= shape[a];
    out += '[';
    bool first = true;
    for (std::int64_t i : shown(shape[axis], elide)) {
        if (!first) {
            out += ',';
            if (axis == shape.rank() - 1) {
                out += ' ';
            } else {
                out.append(static_cast<std::size_t>(shape.rank() - axis - 1), '\n');
                out.append(indent + static_cast<std::size_t>(axis) + 1, ' ');
            }
        }
        first = false;
        if (i < 0) {
            out += "...";
            continue;
        }
        if (axis == shape.rank() - 1) {
            const std::string e = element(v[offset + i]);
            out.append(width - std::min(width, e.size()), ' ');
            out += e;
        } else {
            write_block(out, v, shape, axis + 1, offset + i * stride, elide, width, indent);
        }
    }
    out += ']';
}

// Width of the widest element that will be shown, for aligned columns.
template <class T>
std::size_t widest(const T* v, const Shape& shape, int axis, std::int64_t offset, bool elide) {
    std::int64_t stride = 1;
    for (int a = axis + 1; a < shape.rank(); ++a) stride *= shape[a];
    std::size_t w = 0;
    for (std::int64_t i : shown(shape[axis], elide)) {
        if (i < 0) continue;
        w = std::max(w, axis == shape.rank() - 1 ? element(v[offset + i]).size()
                                                 : widest(v, shape, axis + 1, offset + i * stride, elide));
    }
    return w;
}

}  // namespace

// The elements of a tensor of `shape`, NumPy style; continuation rows are
// indented by `indent` spaces (the text before the first '[').
template <class T>
void write_elements(std::string& out, const T* v, const Shape& shape, std::size_t indent) {
    if (shape.rank() == 0) {
        out += element(v[0]);
        return;
    }
    const bool elide = shape.numel() > print_threshold;
    const std::size_t width = widest(v, shape, 0, 0, elide);
    write_block(out, v, shape, 0, 0, elide, width, indent);
}

template <class T>
std::string to_string(const BasicTensor<T>& t) {
    std::uint32_t rec = 0;
    try {
        rec = t.checked_record("to_string");
    } catch (const std::logic_error&) {
        return "Tensor(<freed>)";
    }
    const TensorNode& n = detail::store().nodes[rec];
    std::string out = fmt::format("Tensor(shape={}, dtype={}, data=", n.shape.str(), dtype_name(dtype_of<T>));
    write_elements(out, detail::values<T>(n), n.shape, out.size());
    out += ')';
    return out;
}

template <class T>
std::string to_string(const TensorData<T>& d) {
    std::string out;
    write_elements(out, d.data(), d.shape(), 0);
    return out;
}

template std::string to_string(const BasicTensor<float>&);
template std::string to_string(const BasicTensor<double>&);
template std::string to_string(const TensorData<float>&);
template std::string to_string(const TensorData<double>&);

}  // namespace ag
