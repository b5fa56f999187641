#include <nn/parameters.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace ag::nn {

std::string shape_string(const std::vector<std::size_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

namespace {
template <class T>
std::vector<std::size_t> tensor_shape(const BasicTensor<T>& t) {
    std::vector<std::size_t> shape;
    for (std::int64_t d : t.shape()) shape.push_back(static_cast<std::size_t>(d));
    return shape;
}
}  // namespace

NamedParameter::NamedParameter(std::string name, std::vector<std::size_t> shape, std::vector<Value> values)
    : name_(std::move(name)), shape_(std::move(shape)), storage_(std::move(values)) {
    // The element count must not wrap: {2^32, 2^32} would count 0 and pass
    // for an empty list of values. Nonzero sizes only, as Shape::numel.
    std::size_t n = 1;
    for (std::size_t d : shape_)
        if (d != 0 && __builtin_mul_overflow(n, d, &n))
            throw std::length_error(fmt::format("NamedParameter '{}': the sizes of shape {} multiply past {}", name_,
                                                shape_string(shape_), std::numeric_limits<std::size_t>::max()));
    if (size() != std::get<0>(storage_).size())
        throw std::invalid_argument(fmt::format("NamedParameter '{}': shape {} holds {} values, got {}", name_,
                                                shape_string(shape_), size(), std::get<0>(storage_).size()));
}

NamedParameter::NamedParameter(std::string name, std::vector<std::size_t> shape, std::span<double> buffer)
    : name_(std::move(name)), shape_(std::move(shape)), storage_(buffer) {
    if (size() != buffer.size())
        throw std::invalid_argument(fmt::format("NamedParameter '{}': shape {} holds {} values, the buffer {}", name_,
                                                shape_string(shape_), size(), buffer.size()));
}

NamedParameter::NamedParameter(std::string name, const Tensor& t)
    : name_(std::move(name)), shape_(tensor_shape(t)), storage_(t) {}

NamedParameter::NamedParameter(std::string name, const Tensor32& t)
    : name_(std::move(name)), shape_(tensor_shape(t)), storage_(t) {}

std::size_t NamedParameter::size() const noexcept {
    std::size_t n = 1;
    for (std::size_t d : shape_) n *= d;
    return n;
}

std::vector<double> NamedParameter::values() const {
    return std::visit(
        [](const auto& s) {
            std::vector<double> v;
            if constexpr (std::is_same_v<std::decay_t<decltype(s)>, std::vector<Value>>) {
                for (const Value& x : s) v.push_back(x.data());
            } else if constexpr (std::is_same_v<std::decay_t<decltype(s)>, std::span<double>>) {
                v.assign(s.begin(), s.end());
            } else {
                const auto data = s.data();
                v.assign(data.begin(), data.end());
            }
            return v;
        },
        storage_);
}

void NamedParameter::set_values(std::span<const double> values) const {
    if (values.size() != size())
        throw std::invalid_argument(fmt::format("NamedParameter '{}' {}: got {} values, expected {}", name_,
                                                shape_string(shape_), values.size(), size()));
    std::visit(
        [&](const auto& s) {
            if constexpr (std::is_same_v<std::decay_t<decltype(s)>, std::vector<Value>>) {
                for (std::size_t i = 0; i < s.size(); ++i) s[i].set_data(values[i]);
            } else if constexpr (std::is_same_v<std::decay_t<decltype(s)>, std::span<double>>) {
                std::copy(values.begin(), values.end(), s.begin());
            } else {
                const auto data = s.data();
                using T = typename std::decay_t<decltype(s)>::value_type;
                for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<T>(values[i]);
            }
        },
        storage_);
}

void ParameterList::add(const NamedParameter& p) {
    std::visit(
        [&](const auto& s) {
            if constexpr (std::is_same_v<std::decay_t<decltype(s)>, std::span<double>>)
                throw std::invalid_argument(fmt::format(
                    "ParameterList::add: '{}' is training state held in a buffer, not a parameter to optimize",
                    p.name()));
            else
                add(s);
        },
        p.storage());
}

std::vector<std::size_t> ParameterList::block_sizes() const {
    std::vector<std::size_t> sizes;
    for_each_block([&](auto*, const auto*, std::size_t k) { sizes.push_back(k); });
    return sizes;
}

std::size_t ParameterList::size() const {
    std::size_t n = 0;
    for_each_block([&](auto*, const auto*, std::size_t k) { n += k; });
    return n;
}

void ParameterList::zero_grad() const {
    for (const Value& v : scalars_) v.zero_grad();
    for (const Tensor& t : tensors64_) t.zero_grad();
    for (const Tensor32& t : tensors32_) t.zero_grad();
}

}  // namespace ag::nn
