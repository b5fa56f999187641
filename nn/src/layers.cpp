#include <nn/layers.hpp>

#include "rng_internal.hpp"

#include <cmath>
#include <stdexcept>

namespace ag::nn {

namespace {
auto i64(std::size_t n) { return static_cast<std::int64_t>(n); }
}  // namespace

// --------------------------------------------------------------- Dropout ---

Dropout::Dropout(double p, std::uint64_t seed) : p_(p), state_(std::make_shared<State>(State{Rng(seed), true})) {
    if (!(p >= 0.0 && p <= 1.0)) throw std::invalid_argument(fmt::format("Dropout: p must be in [0, 1], got {}", p));
}

template <class T>
BasicTensor<T> Dropout::operator()(const BasicTensor<T>& x) const {
    if (!state_->training || p_ == 0.0) return x;
    // p = 1 keeps nothing: no 1 / (1 − p) to scale by.
    const T kept = p_ >= 1.0 ? T(0) : static_cast<T>(1.0 / (1.0 - p_));
    std::vector<T> mask(static_cast<std::size_t>(x.numel()));
    for (T& m : mask) m = state_->rng.uniform() < p_ ? T(0) : kept;
    return x * BasicTensor<T>(x.shape(), std::span<const T>(mask)).set_requires_grad(false);
}

template Tensor Dropout::operator()(const Tensor&) const;
template Tensor32 Dropout::operator()(const Tensor32&) const;

std::string to_string(const Dropout& m) { return fmt::format("Dropout(p={})", m.p()); }

// ------------------------------------------------------------- LayerNorm ---

template <class T>
BasicLayerNorm<T>::BasicLayerNorm(std::size_t normalized_size, const LayerNormOptions& options)
    : size_(normalized_size), options_(options) {
    if (normalized_size == 0) throw std::invalid_argument("LayerNorm: the normalized size must be at least 1");
    if (!(options.eps > 0.0) || !std::isfinite(options.eps))
        throw std::invalid_argument(
            fmt::format("LayerNorm({}): eps must be a finite number > 0, got {}", size_, options.eps));
    if (options.elementwise_affine) {
        weight_ = BasicTensor<T>::ones(Shape{i64(size_)});
        bias_ = BasicTensor<T>::zeros(Shape{i64(size_)});
    }
}

template <class T>
BasicTensor<T> BasicLayerNorm<T>::operator()(const BasicTensor<T>& x) const {
    const Shape& shape = x.shape();
    if (shape.rank() == 0 || shape[shape.rank() - 1] != i64(size_))
        throw std::invalid_argument(
            fmt::format("LayerNorm({}): the input is {}; its last axis must be of size {}", size_, shape.str(), size_));
    const BasicTensor<T> centered = x - mean(x, -1, true);
    const BasicTensor<T> variance = mean(centered * centered, -1, true);  // biased, as PyTorch
    BasicTensor<T> y = centered / sqrt(variance + options_.eps);
    if (options_.elementwise_affine) y = y * weight_ + bias_;
    return y;
}

template <class T>
std::vector<BasicTensor<T>> BasicLayerNorm<T>::parameters() const {
    if (!options_.elementwise_affine) return {};
    return {weight_, bias_};
}

template <class T>
std::vector<NamedParameter> BasicLayerNorm<T>::named_parameters(const std::string& prefix) const {
    if (!options_.elementwise_affine) return {};
    return {NamedParameter(prefix + "weight", weight_), NamedParameter(prefix + "bias", bias_)};
}

template <class T>
void BasicLayerNorm<T>::zero_grad() const {
    if (!options_.elementwise_affine) return;
    weight_.zero_grad();
    bias_.zero_grad();
}

template <class T>
std::string to_string(const BasicLayerNorm<T>& m) {
    std::string s = fmt::format("LayerNorm({}, eps={})", m.in_features(), m.options().eps);
    if (m.options().elementwise_affine) s += fmt::format(": weight [{}], bias [{}]", m.in_features(), m.in_features());
    return s;
}

// ------------------------------------------------------------- Embedding ---

template <class T>
BasicEmbedding<T>::BasicEmbedding(std::size_t num_embeddings, std::size_t embedding_dim, Rng& rng)
    : num_(num_embeddings), dim_(embedding_dim) {
    if (num_ == 0 || dim_ == 0)
        throw std::invalid_argument(fmt::format("Embedding({}, {}): sizes must be at least 1", num_, dim_));
    if (num_ > (std::size_t{1} << 40) / dim_)
        throw std::length_error(
            fmt::format("Embedding({}, {}): a table of {} x {} is too large", num_, dim_, num_, dim_));
    std::vector<T> w(num_ * dim_);
    for (T& v : w) v = static_cast<T>(rng.normal());
    weight_ = BasicTensor<T>(Shape{i64(num_), i64(dim_)}, std::span<const T>(w));
}

template <class T>
BasicEmbedding<T>::BasicEmbedding(std::size_t num_embeddings, std::size_t embedding_dim, std::uint64_t seed)
    : BasicEmbedding(num_embeddings, embedding_dim, detail::lvalue(Rng(seed))) {}

template <class T>
BasicEmbedding<T>::BasicEmbedding(const BasicTensor<T>& weight) : weight_(weight) {
    const Shape& s = weight.shape();
    if (s.rank() != 2 || s[0] == 0 || s[1] == 0)
        throw std::invalid_argument(
            fmt::format("Embedding: the table is {}; expected [num_embeddings, embedding_dim], neither 0", s.str()));
    num_ = static_cast<std::size_t>(s[0]);
    dim_ = static_cast<std::size_t>(s[1]);
}

template <class T>
BasicTensor<T> BasicEmbedding<T>::operator()(std::span<const std::int64_t> indices) const {
    for (std::size_t k = 0; k < indices.size(); ++k)
        if (indices[k] < 0 || indices[k] >= i64(num_))
            throw std::invalid_argument(fmt::format("Embedding({}, {}): index {} (position {}) is out of range [0, {})",
                                                    num_, dim_, indices[k], k, num_));
    return index_select(weight_, 0, indices);
}

template <class T>
BasicTensor<T> BasicEmbedding<T>::operator()(const BasicTensor<T>& indices) const {
    const Shape& shape = indices.shape();
    if (shape.rank() >= Shape::max_rank)
        throw std::invalid_argument(
            fmt::format("Embedding({}, {}): indices {} have rank {}; at most {} (the result "
                        "adds an axis)",
                        num_, dim_, shape.str(), shape.rank(), Shape::max_rank - 1));
    const std::span<const T> values = indices.data();
    std::vector<std::int64_t> rows(values.size());
    for (std::size_t k = 0; k < values.size(); ++k) {
        const double v = static_cast<double>(values[k]);
        if (!(v >= 0.0 && v < static_cast<double>(num_)) || v != std::floor(v))
            throw std::invalid_argument(
                fmt::format("Embedding({}, {}): index {} (position {}) is not a whole number in "
                            "[0, {})",
                            num_, dim_, v, k, num_));
        rows[k] = static_cast<std::int64_t>(v);
    }
    std::int64_t dims[Shape::max_rank];
    for (int a = 0; a < shape.rank(); ++a) dims[a] = shape[a];
    dims[shape.rank()] = i64(dim_);
    return reshape(index_select(weight_, 0, std::span<const std::int64_t>(rows)),
                   Shape(std::span<const std::int64_t>(dims, static_cast<std::size_t>(shape.rank() + 1))));
}

template <class T>
std::vector<NamedParameter> BasicEmbedding<T>::named_parameters(const std::string& prefix) const {
    return {NamedParameter(prefix + "weight", weight_)};
}

template <class T>
std::string to_string(const BasicEmbedding<T>& m) {
    return fmt::format("Embedding({}, {}): weight [{}, {}]", m.num_embeddings(), m.embedding_dim(), m.num_embeddings(),
                       m.embedding_dim());
}

template class BasicLayerNorm<double>;
template class BasicLayerNorm<float>;
template class BasicEmbedding<double>;
template class BasicEmbedding<float>;
template std::string to_string(const BasicLayerNorm<double>&);
template std::string to_string(const BasicLayerNorm<float>&);
template std::string to_string(const BasicEmbedding<double>&);
template std::string to_string(const BasicEmbedding<float>&);

}  // namespace ag::nn
