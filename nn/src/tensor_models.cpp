#include <nn/tensor_models.hpp>

#include "rng_internal.hpp"

#include <cstdint>
#include <limits>
#include <new>
#include <optional>
#include <stdexcept>

namespace ag::nn {

namespace {
auto i64(std::size_t n) { return static_cast<std::int64_t>(n); }

// Checks, before anything is allocated, that an in × out weight of T fits:
// the product must not wrap (2^62 × 4 would wrap to 0 and leave the weight
// loop writing past an empty buffer) and must be addressable in bytes.
template <class T>
void check_linear_size(std::size_t in, std::size_t out) {
    constexpr std::uint64_t max_elements =
        static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / sizeof(T);
    std::uint64_t n = 0;
    if (__builtin_mul_overflow(std::uint64_t{in}, std::uint64_t{out}, &n) || n > max_elements ||
        out > max_elements - n)  // the bias too
        throw std::length_error(
            fmt::format("Linear({} -> {}): a [{}, {}] weight of {} is more than memory can address "
                        "(at most {} elements)",
                        in, out, in, out, dtype_name(dtype_of<T>), max_elements));
}
}  // namespace

// ---------------------------------------------------------------- Linear ---

template <class T>
BasicLinear<T>::BasicLinear(std::size_t in_features, std::size_t out_features, Init init, Rng& rng)
    : in_(in_features), out_(out_features) {
    if (in_ == 0 || out_ == 0)
        throw std::invalid_argument(fmt::format("Linear({} -> {}): sizes must be at least 1", in_, out_));
    check_linear_size<T>(in_, out_);
    std::vector<T> w;
    try {
        w.resize(in_ * out_);
    } catch (const std::bad_alloc&) {
        throw std::length_error(
            fmt::format("Linear({} -> {}): not enough memory for a [{}, {}] weight of {} ({} bytes)", in_, out_, in_,
                        out_, dtype_name(dtype_of<T>), in_ * out_ * sizeof(T)));
    }
    // Drawn output by output as the scalar Layer does, stored as W[i][j].
    for (std::size_t j = 0; j < out_; ++j)
        for (std::size_t i = 0; i < in_; ++i) w[i * out_ + j] = static_cast<T>(init_weight(init, in_, out_, rng));
    weight_ = BasicTensor<T>(Shape{i64(in_), i64(out_)}, std::span<const T>(w));
    bias_ = BasicTensor<T>::zeros(Shape{i64(out_)});
}

template <class T>
BasicLinear<T>::BasicLinear(std::size_t in_features, std::size_t out_features, Init init, std::uint64_t seed)
    : BasicLinear(in_features, out_features, init, detail::lvalue(Rng(seed))) {}

template <class T>
BasicLinear<T>::BasicLinear(const std::vector<std::vector<double>>& weight, const std::vector<double>& bias)
    : in_(weight.size()), out_(bias.size()) {
    if (in_ == 0 || out_ == 0) throw std::invalid_argument("Linear: weight and bias must not be empty");
    std::vector<T> w;
    for (std::size_t i = 0; i < in_; ++i) {
        if (weight[i].size() != out_)
            throw std::invalid_argument(fmt::format(
                "Linear: weight row {} has {} entries but there are {} biases (weight is [inputs][outputs])", i,
                weight[i].size(), out_));
        w.insert(w.end(), weight[i].begin(), weight[i].end());
    }
    const std::vector<T> b(bias.begin(), bias.end());
    weight_ = BasicTensor<T>(Shape{i64(in_), i64(out_)}, std::span<const T>(w));
    bias_ = BasicTensor<T>(Shape{i64(out_)}, std::span<const T>(b));
}

template <class T>
BasicLinear<T>::BasicLinear(const BasicTensor<T>& weight, const BasicTensor<T>& bias) : weight_(weight), bias_(bias) {
    const Shape w = weight.shape(), b = bias.shape();
    if (w.rank() != 2 || b.rank() != 1 || b[0] != w[1])
        throw std::invalid_argument(
            fmt::format("Linear: weight {} and bias {} do not fit (expected [in, out] and [out])", w.str(), b.str()));
    in_ = static_cast<std::size_t>(w[0]);
    out_ = static_cast<std::size_t>(w[1]);
}

template <class T>
BasicTensor<T> BasicLinear<T>::operator()(const BasicTensor<T>& x) const {
    const Shape s = x.shape();
    if (s.rank() == 0 || s[s.rank() - 1] != i64(in_))
        throw std::invalid_argument(fmt::format("Linear({} -> {}): input {} should have {} features in its last axis",
                                                in_, out_, s.str(), in_));
    return linear(x, weight_, bias_);
}

template <class T>
std::vector<NamedParameter> BasicLinear<T>::named_parameters(const std::string& prefix) const {
    return {NamedParameter(prefix + "weight", weight_), NamedParameter(prefix + "bias", bias_)};
}

template <class T>
void BasicLinear<T>::zero_grad() const {
    weight_.zero_grad();
    bias_.zero_grad();
}

// ------------------------------------------------------------ Sequential ---

template <class T>
BasicSequential<T>::BasicSequential(std::vector<Module> modules) : modules_(std::move(modules)) {
    if (modules_.empty()) throw std::invalid_argument("Sequential: needs at least one module");
    // Consecutive modules whose sizes are known must fit together; a module
    // that keeps its input's size (an activation, Dropout) passes it on.
    std::optional<std::size_t> previous_out;
    std::size_t previous_index = 0;
    for (std::size_t i = 0; i < modules_.size(); ++i) {
        const Module& m = modules_[i];
        if (m.keeps_features()) continue;
        const std::optional<std::size_t> in = m.in_features();
        if (previous_out && in && *previous_out != *in)
            throw std::invalid_argument(
                fmt::format("Sequential: module {} takes {} inputs but module {} gives {} outputs", i, *in,
                            previous_index, *previous_out));
        previous_out = m.out_features();
        previous_index = i;
    }
}

template <class T>
BasicTensor<T> BasicSequential<T>::operator()(const BasicTensor<T>& x) const {
    BasicTensor<T> h = x;
    for (const Module& m : modules_) h = m(h);
    return h;
}

template <class T>
std::vector<BasicTensor<T>> BasicSequential<T>::parameters() const {
    std::vector<BasicTensor<T>> p;
    for (const NamedParameter& n : named_parameters()) {
        const auto* t = std::get_if<BasicTensor<T>>(&n.storage());
        if (t == nullptr)
            throw std::invalid_argument(
                fmt::format("Sequential::parameters: parameter '{}' is not a {} tensor; give the "
                            "optimizer named_parameters() instead",
                            n.name(), dtype_name(dtype_of<T>)));
        p.push_back(*t);
    }
    return p;
}

template <class T>
std::vector<NamedParameter> BasicSequential<T>::named_parameters(const std::string& prefix) const {
    std::vector<NamedParameter> named;
    for (std::size_t i = 0; i < modules_.size(); ++i)
        for (NamedParameter& p : modules_[i].named_parameters(fmt::format("{}{}.", prefix, i)))
            named.push_back(std::move(p));
    return named;
}

template <class T>
void BasicSequential<T>::zero_grad() const {
    ParameterList(named_parameters()).zero_grad();
}

template <class T>
std::size_t BasicSequential<T>::n_parameters() const {
    std::size_t n = 0;
    for (const NamedParameter& p : named_parameters()) n += p.size();
    return n;
}

template <class T>
void BasicSequential<T>::train(bool on) const {
    for (const Module& m : modules_) m.train(on);
}

// ------------------------------------------------------------- TensorMLP ---

template <class T>
BasicTensorMLP<T>::BasicTensorMLP(std::size_t n_inputs, const std::vector<std::size_t>& layer_sizes,
                                  const MLPOptions& options) {
    if (layer_sizes.empty()) throw std::invalid_argument("TensorMLP: needs at least one layer size");
    activations_ = layer_activations(options, layer_sizes.size(), "TensorMLP");
    Rng rng(options.seed);
    std::size_t fan_in = n_inputs;
    for (std::size_t size : layer_sizes) {
        layers_.emplace_back(fan_in, size, options.init, rng);
        fan_in = size;
    }
}

template <class T>
BasicTensor<T> BasicTensorMLP<T>::operator()(const BasicTensor<T>& x) const {
    BasicTensor<T> h = x;
    for (std::size_t k = 0; k < layers_.size(); ++k) h = activate(activations_[k], layers_[k](h));
    return h;
}

template <class T>
std::vector<BasicTensor<T>> BasicTensorMLP<T>::parameters() const {
    std::vector<BasicTensor<T>> p;
    for (const BasicLinear<T>& l : layers_) p.insert(p.end(), {l.weight(), l.bias()});
    return p;
}

template <class T>
std::vector<NamedParameter> BasicTensorMLP<T>::named_parameters() const {
    std::vector<NamedParameter> named;
    for (std::size_t k = 0; k < layers_.size(); ++k)
        for (NamedParameter& p : layers_[k].named_parameters(fmt::format("layers.{}.", k)))
            named.push_back(std::move(p));
    return named;
}

template <class T>
void BasicTensorMLP<T>::zero_grad() const {
    for (const BasicLinear<T>& l : layers_) l.zero_grad();
}

template <class T>
std::size_t BasicTensorMLP<T>::n_parameters() const noexcept {
    std::size_t n = 0;
    for (const BasicLinear<T>& l : layers_) n += l.n_parameters();
    return n;
}

// -------------------------------------------------------------- printing ---

namespace {
template <class T>
std::string shapes(const BasicLinear<T>& l) {
    return fmt::format("weight [{}, {}], bias [{}]", l.in_features(), l.out_features(), l.out_features());
}
}  // namespace

template <class T>
std::string to_string(const BasicLinear<T>& m) {
    return fmt::format("Linear({} -> {}): {}", m.in_features(), m.out_features(), shapes(m));
}

template <class T>
std::string to_string(const BasicSequential<T>& m) {
    std::string s = fmt::format("Sequential({} modules, {} parameters, {})", m.modules().size(), m.n_parameters(),
                                dtype_name(dtype_of<T>));
    for (std::size_t i = 0; i < m.modules().size(); ++i) {
        // A nested module's lines, indented under its own.
        std::string d = m.modules()[i].description();
        for (std::size_t at = d.find('\n'); at != std::string::npos; at = d.find('\n', at + 3)) d.insert(at + 1, "  ");
        s += fmt::format("\n  ({}): {}", i, d);
    }
    return s;
}

template <class T>
std::string to_string(const BasicTensorMLP<T>& m) {
    std::string s = fmt::format("TensorMLP({}", m.n_inputs());
    for (const BasicLinear<T>& l : m.layers()) s += fmt::format(" -> {}", l.out_features());
    s += fmt::format(", {} parameters, {})", m.n_parameters(), dtype_name(dtype_of<T>));
    for (std::size_t k = 0; k < m.layers().size(); ++k) {
        const BasicLinear<T>& l = m.layers()[k];
        s += fmt::format("\n  ({}): Linear({} -> {}, {}): {}", k, l.in_features(), l.out_features(), m.activations()[k],
                         shapes(l));
    }
    return s;
}

template class BasicLinear<double>;
template class BasicLinear<float>;
template class BasicSequential<double>;
template class BasicSequential<float>;
template class BasicTensorMLP<double>;
template class BasicTensorMLP<float>;
template std::string to_string(const BasicLinear<double>&);
template std::string to_string(const BasicLinear<float>&);
template std::string to_string(const BasicSequential<double>&);
template std::string to_string(const BasicSequential<float>&);
template std::string to_string(const BasicTensorMLP<double>&);
template std::string to_string(const BasicTensorMLP<float>&);

}  // namespace ag::nn
