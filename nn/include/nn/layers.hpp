#pragma once
// Layers beside Linear: Dropout, LayerNorm, Embedding (PyTorch's, with its
// defaults), each a module (nn/module.hpp) that Sequential accepts.
//
//     ag::nn::Sequential model({ag::nn::Linear(16, 32), ag::nn::LayerNorm(32), ag::nn::Activation::Relu,
//                               ag::nn::Dropout(0.1, /*seed=*/7), ag::nn::Linear(32, 4)});
//     model.train();   // dropout active (the default, as in PyTorch)
//     model.eval();    // dropout is the identity
//
// Dropout (torch.nn.Dropout):
//   - in training mode each element is zeroed with probability p and the
//     others scaled by 1 / (1 − p) ("inverted" dropout), so evaluation needs
//     no rescaling; in evaluation mode, and for p = 0, it returns its input
//     itself; p = 1 zeroes everything (as PyTorch);
//   - the mask comes from the Dropout's own ag::Rng, seeded at construction:
//     element k of a call (row-major) is dropped when the next uniform draw
//     u in [0, 1) has u < p, one draw per element, calls in sequence. The
//     same seed and the same calls give the same masks on every platform;
//   - the mask is a constant: the gradient is the mask itself (0 or
//     1 / (1 − p)) times the incoming gradient;
//   - the mode is a property of the module, not of ag::NoGrad: under NoGrad
//     a Dropout in training mode still drops, as torch.no_grad() does;
//   - a Dropout is a handle: its copies (the one inside a Sequential, too)
//     share one random stream and one mode.
// LayerNorm (torch.nn.LayerNorm(d)):
//   - normalizes over the last axis, of size d (a single normalized axis):
//     y = (x − mean) / sqrt(var + eps) · weight + bias, with var the biased
//     (population) variance, as PyTorch; eps = 1e-5;
//   - weight starts at 1 and bias at 0, each [d], named "weight" and
//     "bias"; with elementwise_affine = false it has no parameters;
//   - it is built from differentiable tensor ops, so gradients (and
//     derivatives of gradients) come from the engine.
// Embedding (torch.nn.Embedding(num, dim)):
//   - a table weight [num, dim], drawn from N(0, 1) (PyTorch's
//     initialization) row-major from the seed, named "weight";
//   - indices are whole numbers in [0, num): a list of int64 gives [n, dim];
//     a tensor of indices of shape [..] (rank up to 3; float because tensors
//     are, e.g. the first module of a Sequential) gives [.., dim]. The
//     indices are not differentiated;
//   - the gradient of a row is the sum of the gradients of all its uses
//     (a dense scatter-add, not PyTorch's optional sparse one); no
//     padding_idx or max_norm;
//   - an index out of range, negative or not whole throws
//     std::invalid_argument naming the index and its position.
#include <nn/parameters.hpp>

#include <autograd/tensor.hpp>

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace ag::nn {

class Dropout {
public:
    explicit Dropout(double p = 0.5, std::uint64_t seed = 0);

    template <class T>
    BasicTensor<T> operator()(const BasicTensor<T>& x) const;

    void train(bool on = true) const { state_->training = on; }
    void eval() const { train(false); }
    bool is_training() const noexcept { return state_->training; }
    double p() const noexcept { return p_; }

private:
    struct State {
        Rng rng;
        bool training = true;
    };
    double p_;
    std::shared_ptr<State> state_;
};

struct LayerNormOptions {
    double eps = 1e-5;
    bool elementwise_affine = true;  // a learned weight and bias
};

template <class T>
class BasicLayerNorm {
public:
    explicit BasicLayerNorm(std::size_t normalized_size, const LayerNormOptions& options = {});

    // x [.., d] -> [.., d]
    BasicTensor<T> operator()(const BasicTensor<T>& x) const;

    // Empty handles without elementwise_affine.
    const BasicTensor<T>& weight() const noexcept { return weight_; }
    const BasicTensor<T>& bias() const noexcept { return bias_; }
    std::vector<BasicTensor<T>> parameters() const;
    std::vector<NamedParameter> named_parameters(const std::string& prefix = "") const;
    void zero_grad() const;
    std::size_t in_features() const noexcept { return size_; }
    std::size_t out_features() const noexcept { return size_; }
    std::size_t n_parameters() const noexcept { return options_.elementwise_affine ? 2 * size_ : 0; }
    const LayerNormOptions& options() const noexcept { return options_; }

private:
    std::size_t size_;
    LayerNormOptions options_;
    BasicTensor<T> weight_, bias_;
};

template <class T>
class BasicEmbedding {
public:
    BasicEmbedding(std::size_t num_embeddings, std::size_t embedding_dim, Rng& rng);
    BasicEmbedding(std::size_t num_embeddings, std::size_t embedding_dim, std::uint64_t seed = 0);
    // Around an existing table [num, dim] (shared, not copied; trainable
    // unless marked otherwise), as torch.nn.Embedding.from_pretrained.
    explicit BasicEmbedding(const BasicTensor<T>& weight);

    // indices [n] -> [n, dim]
    BasicTensor<T> operator()(std::span<const std::int64_t> indices) const;
    // indices [..] (whole numbers) -> [.., dim]
    BasicTensor<T> operator()(const BasicTensor<T>& indices) const;

    const BasicTensor<T>& weight() const noexcept { return weight_; }
    std::vector<BasicTensor<T>> parameters() const { return {weight_}; }
    std::vector<NamedParameter> named_parameters(const std::string& prefix = "") const;
    void zero_grad() const { weight_.zero_grad(); }
    std::size_t num_embeddings() const noexcept { return num_; }
    std::size_t embedding_dim() const noexcept { return dim_; }
    std::size_t out_features() const noexcept { return dim_; }
    std::size_t n_parameters() const noexcept { return num_ * dim_; }

private:
    std::size_t num_ = 0, dim_ = 0;
    BasicTensor<T> weight_;
};

using LayerNorm = BasicLayerNorm<double>;
using LayerNorm32 = BasicLayerNorm<float>;
using Embedding = BasicEmbedding<double>;
using Embedding32 = BasicEmbedding<float>;

std::string to_string(const Dropout& m);
template <class T>
std::string to_string(const BasicLayerNorm<T>& m);
template <class T>
std::string to_string(const BasicEmbedding<T>& m);

}  // namespace ag::nn

// "Dropout(p=0.5)", "LayerNorm(32, eps=1e-05): weight [32], bias [32]", "Embedding(10, 3): weight [10, 3]"
template <>
struct fmt::formatter<ag::nn::Dropout> : fmt::formatter<std::string_view> {
    format_context::iterator format(const ag::nn::Dropout& m, format_context& ctx) const {
        return fmt::format_to(ctx.out(), "{}", ag::nn::to_string(m));
    }
};
template <class T>
struct fmt::formatter<ag::nn::BasicLayerNorm<T>> : fmt::formatter<std::string_view> {
    format_context::iterator format(const ag::nn::BasicLayerNorm<T>& m, format_context& ctx) const {
        return fmt::format_to(ctx.out(), "{}", ag::nn::to_string(m));
    }
};
template <class T>
struct fmt::formatter<ag::nn::BasicEmbedding<T>> : fmt::formatter<std::string_view> {
    format_context::iterator format(const ag::nn::BasicEmbedding<T>& m, format_context& ctx) const {
        return fmt::format_to(ctx.out(), "{}", ag::nn::to_string(m));
    }
};
