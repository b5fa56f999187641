// Shape, Rng, the Tensor handle, creation and printing.
#include "tensor_internal.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace ag {

using detail::TensorNode;
using detail::TensorStore;

// ---------------------------------------------------------------- Shape ---

Shape::Shape(std::span<const std::int64_t> sizes) {
    if (sizes.size() > static_cast<std::size_t>(max_rank))
        throw std::invalid_argument(
            fmt::format("Shape: {} axes given, at most {} are supported", sizes.size(), max_rank));
    rank_ = static_cast<int>(sizes.size());
    std::copy(sizes.begin(), sizes.end(), dims_.begin());
}

std::string Shape::str() const { return fmt::format("[{}]", fmt::join(begin(), end(), ", ")); }

void Shape::throw_numel_overflow() const {
    throw std::length_error(fmt::format("numel: the sizes of shape {} multiply past the int64 range (max {})", str(),
                                        std::numeric_limits<std::int64_t>::max()));
}

// ------------------------------------------------------------------ Rng ---

double Rng::normal() {
    if (has_spare_) {
        has_spare_ = false;
        return spare_;
    }
    // Marsaglia's polar method: a uniform point in the unit disc gives two
    // independent normals.
    double u, v, s;
    do {
        u = uniform(-1.0, 1.0);
        v = uniform(-1.0, 1.0);
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    const double m = std::sqrt(-2.0 * std::log(s) / s);
    spare_ = v * m;
    has_spare_ = true;
    return u * m;
}

std::uint64_t Rng::below(std::uint64_t n) {
    if (n == 0) throw std::invalid_argument("Rng::below: n must be positive");
    // Largest multiple of n representable; draws at or above it are retried.
    const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % n;
    std::uint64_t x;
    do x = engine_();
    while (x >= limit);
    return x % n;
}

// --------------------------------------------------------------- handle ---

template <class T>
std::uint32_t BasicTensor<T>::checked_record(const char* what) const {
    Tape& t = tape();
    t.check(id_, what);
    detail::TensorStore* store = detail::TapeAccess::tensors(t);
    if (t.op(id_.index) != Op::Tensor || !store)
        throw std::logic_error(fmt::format("{}: node #{} is a scalar Value, not a tensor", what, id_.index));
    const std::uint32_t rec = t.operands(id_.index).lhs;
    if (store->nodes[rec].dtype != dtype)
        throw std::logic_error(fmt::format("{}: node #{} holds {}, the handle expects {}", what, id_.index,
                                           dtype_name(store->nodes[rec].dtype), dtype_name(dtype)));
    return rec;
}

namespace {
template <class T>
TensorNode& node_of(const BasicTensor<T>& t, const char* what) {
    const std::uint32_t rec = t.checked_record(what);
    return detail::TapeAccess::tensors(tape())->nodes[rec];
}

template <class T>
BasicTensor<T> leaf_handle(TensorStore& s, std::uint32_t rec) {
    return BasicTensor<T>::from_node(tape().id(s.nodes[rec].stub));
}

// A new leaf; fill(i) gives element i.
template <class T, class F>
BasicTensor<T> make_leaf(const Shape& shape, const char* what, F&& fill) {
    const std::int64_t n = shape.numel();  // throws past int64, before anything is recorded
    TensorStore& s = detail::store_of(tape());
    const std::uint32_t rec = detail::new_leaf<T>(s, shape, what);
    T* v = detail::values<T>(s.nodes[rec]);
    for (std::int64_t i = 0; i < n; ++i) v[i] = static_cast<T>(fill(i));
    return leaf_handle<T>(s, rec);
}
}  // namespace

template <class T>
BasicTensor<T>::BasicTensor(const Shape& shape, std::span<const T> values) {
    if (static_cast<std::int64_t>(values.size()) != shape.numel())
        throw std::invalid_argument(fmt::format("Tensor: shape {} needs {} values, {} given", shape.str(),
                                                shape.numel(), values.size()));
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
        throw std::invalid_argument(fmt::format("arange: start {}, stop {}, step {}: need finite values and a nonzero step",
                                                start, stop, step));
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
    return s[detail::normalize_axis(axis, s.rank(), "size", s)];
}

template <class T>
std::span<T> BasicTensor<T>::data() const {
    const TensorNode& n = node_of(*this, "data");
    return {detail::values<T>(n), static_cast<std::size_t>(n.shape.numel())};
}

template <class T>
std::span<T> BasicTensor<T>::grad() const {
    TensorNode& n = node_of(*this, "grad");
    return {detail::grad_for_add<T>(n), static_cast<std::size_t>(n.shape.numel())};
}

template <class T>
double BasicTensor<T>::item() const {
    const TensorNode& n = node_of(*this, "item");
    if (n.shape.numel() != 1)
        throw std::invalid_argument(
            fmt::format("item: the tensor has shape {} ({} elements); item() needs exactly one", n.shape.str(),
                        n.shape.numel()));
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
            throw std::out_of_range(fmt::format("at: index {} is out of range for axis {} of shape {}", i, axis,
                                                n.shape.str()));
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
void BasicTensor<T>::zero_grad() const {
    node_of(*this, "zero_grad").has_grad = false;
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

template <class T>
std::string to_string(const BasicTensor<T>& t) {
    Tape& tp = tape();
    const std::uint32_t i = t.index();
    const detail::TensorStore* store = detail::TapeAccess::tensors(tp);
    if (!tp.alive(t.id()) || tp.op(i) != Op::Tensor || !store || store->nodes[tp.operands(i).lhs].dtype != dtype_of<T>)
        return "Tensor(<freed>)";
    const TensorNode& n = store->nodes[tp.operands(i).lhs];
    const T* v = detail::values<T>(n);
    std::string out = fmt::format("Tensor(shape={}, dtype={}, data=", n.shape.str(), dtype_name(dtype_of<T>));
    if (n.shape.rank() == 0) {
        out += element(v[0]);
    } else {
        const bool elide = n.shape.numel() > print_threshold;
        const std::size_t width = widest(v, n.shape, 0, 0, elide);
        write_block(out, v, n.shape, 0, 0, elide, width, out.size());
    }
    out += ')';
    return out;
}
template std::string to_string(const BasicTensor<float>&);
template std::string to_string(const BasicTensor<double>&);

}  // namespace ag
