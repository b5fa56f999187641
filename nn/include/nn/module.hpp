#pragma once
// The module interface: what Sequential accepts, and how to write your own.
//
// A module for tensors of type T (double or float) is any copyable class
// with
//     BasicTensor<T> operator()(const BasicTensor<T>& x) [const]      required
// and, when it has them,
//     std::vector<NamedParameter> named_parameters(const std::string& prefix = "") const
//                                               its trainable tensors (names as PyTorch's state_dict keys);
//                                               named_parameters() without a prefix is accepted too
//     void train(bool on)                       training (true) or evaluation (false) mode
//     std::size_t in_features() const           size of the input's last axis it expects
//     std::size_t out_features() const          size of the output's last axis
// plus an fmt::formatter if it should print as more than "module". The
// built-in Linear, Dropout, LayerNorm, Embedding, Sequential and TensorMLP
// are modules; an ag::nn::Activation is one too. For example:
//
//     struct Scale {                                // y = x · s, one learned factor per feature
//         ag::Tensor s = ag::Tensor::ones({4});
//         ag::Tensor operator()(const ag::Tensor& x) const { return x * s; }
//         std::vector<ag::nn::NamedParameter> named_parameters(const std::string& prefix = "") const {
//             return {ag::nn::NamedParameter(prefix + "s", s)};
//         }
//     };
//     ag::nn::Sequential model({ag::nn::Linear(2, 4), Scale{}, ag::nn::Activation::Tanh});
//     // model.named_parameters(): "0.weight", "0.bias", "1.s"
//
// Choices:
//   - a class with parameters() but no named_parameters() is refused at
//     compile time: its parameters would otherwise be silently left out of
//     the optimizer and of save();
//   - modules are handles, as tensors are: a BasicModule (and so a
//     Sequential) keeps one copy of the module it was given, shared by its
//     own copies; Sequential::modules()[i].get<M>() reaches it;
//   - operator() may be non-const (a module with its own random stream):
//     the Sequential calls it through its shared copy.
#include <nn/init.hpp>
#include <nn/parameters.hpp>

#include <autograd/tensor.hpp>

#include <fmt/format.h>

#include <concepts>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <variant>
#include <vector>

namespace ag::nn {

class Dropout;

namespace detail {
template <class M, class T>
concept CallableOn = requires(M& m, const BasicTensor<T>& x) {
    { m(x) } -> std::convertible_to<BasicTensor<T>>;
};
template <class M>
concept NamedWithPrefix = requires(const M& m, const std::string& prefix) {
    { m.named_parameters(prefix) } -> std::convertible_to<std::vector<NamedParameter>>;
};
template <class M>
concept NamedWithoutPrefix = requires(const M& m) {
    { m.named_parameters() } -> std::convertible_to<std::vector<NamedParameter>>;
};
template <class M>
concept HasUnnamedParameters = requires(const M& m) {
    m.parameters();
};
template <class M>
concept HasTrain = requires(M& m) {
    m.train(true);
};
template <class M>
concept HasInFeatures = requires(const M& m) {
    { m.in_features() } -> std::convertible_to<std::size_t>;
};
template <class M>
concept HasOutFeatures = requires(const M& m) {
    { m.out_features() } -> std::convertible_to<std::size_t>;
};
}  // namespace detail

// What Sequential<T> accepts: an Activation, or a class callable on a BasicTensor<T>.
template <class M, class T>
concept TensorModule = std::same_as<M, Activation> || detail::CallableOn<M, T>;

// Any module for tensors of type T, behind one type (type erasure).
template <class T>
class BasicModule {
public:
    template <class M>
    requires(!std::same_as<std::remove_cvref_t<M>, BasicModule>)
        BasicModule(M module)  // NOLINT: implicit, so that Sequential({Linear(2, 3), Activation::Relu}) reads naturally
        : impl_(std::make_shared<Holder<M>>(std::move(module))) {
        static_assert(TensorModule<M, T>,
                      "a module of Sequential<T> must be callable as m(const BasicTensor<T>&) and "
                      "return a BasicTensor<T> (nn/module.hpp)");
        static_assert(detail::NamedWithPrefix<M> || detail::NamedWithoutPrefix<M> || !detail::HasUnnamedParameters<M>,
                      "a module with parameters() needs named_parameters(prefix) too, or its parameters would be "
                      "left out of optimizers and save() (nn/module.hpp)");
    }

    BasicTensor<T> operator()(const BasicTensor<T>& x) const { return impl_->call(x); }
    // Its parameters, each name preceded by `prefix`.
    std::vector<NamedParameter> named_parameters(const std::string& prefix = "") const {
        return impl_->named_parameters(prefix);
    }
    // Training or evaluation mode; a module without train() ignores it.
    void train(bool on = true) const { impl_->train(on); }
    void eval() const { train(false); }
    // The input's last axis it needs, and the output's it gives, when known.
    std::optional<std::size_t> in_features() const { return impl_->in_features(); }
    std::optional<std::size_t> out_features() const { return impl_->out_features(); }
    // True when the output's last axis is always the input's (activations, Dropout).
    bool keeps_features() const { return impl_->keeps_features(); }
    // How it prints in a Sequential: its fmt::formatter, or "module".
    std::string description() const { return impl_->description(); }

    // The module itself when it is an M, else nullptr (as std::get_if).
    template <class M>
    M* get_if() const noexcept {
        return impl_->type() == typeid(M) ? static_cast<M*>(impl_->address()) : nullptr;
    }
    // The module itself; throws std::invalid_argument when it is not an M.
    template <class M>
    M& get() const {
        if (M* m = get_if<M>()) return *m;
        throw std::invalid_argument(
            fmt::format("Module::get: the module is a {}, not the type asked for", impl_->description()));
    }

private:
    struct Concept {
        virtual ~Concept() = default;
        virtual BasicTensor<T> call(const BasicTensor<T>& x) = 0;
        virtual std::vector<NamedParameter> named_parameters(const std::string& prefix) const = 0;
        virtual void train(bool on) = 0;
        virtual std::optional<std::size_t> in_features() const = 0;
        virtual std::optional<std::size_t> out_features() const = 0;
        virtual bool keeps_features() const = 0;
        virtual std::string description() const = 0;
        virtual const std::type_info& type() const noexcept = 0;
        virtual void* address() noexcept = 0;
    };

    template <class M>
    struct Holder final : Concept {
        explicit Holder(M m) : module(std::move(m)) {}
        BasicTensor<T> call(const BasicTensor<T>& x) override {
            if constexpr (std::same_as<M, Activation>)
                return activate(module, x);
            else
                return module(x);
        }
        std::vector<NamedParameter> named_parameters(const std::string& prefix) const override {
            if constexpr (detail::NamedWithPrefix<M>) {
                return module.named_parameters(prefix);
            } else if constexpr (detail::NamedWithoutPrefix<M>) {
                std::vector<NamedParameter> named;
                for (const NamedParameter& p : module.named_parameters()) named.push_back(rename(prefix + p.name(), p));
                return named;
            } else {
                return {};
            }
        }
        void train(bool on) override {
            if constexpr (detail::HasTrain<M>) module.train(on);
        }
        std::optional<std::size_t> in_features() const override {
            if constexpr (detail::HasInFeatures<M>) return static_cast<std::size_t>(module.in_features());
            return std::nullopt;
        }
        std::optional<std::size_t> out_features() const override {
            if constexpr (detail::HasOutFeatures<M>) return static_cast<std::size_t>(module.out_features());
            return std::nullopt;
        }
        bool keeps_features() const override { return std::same_as<M, Activation> || std::same_as<M, Dropout>; }
        std::string description() const override {
            if constexpr (fmt::is_formattable<M>::value)
                return fmt::format("{}", module);
            else
                return "module";
        }
        const std::type_info& type() const noexcept override { return typeid(M); }
        void* address() noexcept override { return &module; }

        M module;
    };

    // The same storage under another name.
    static NamedParameter rename(std::string name, const NamedParameter& p) {
        return std::visit(
            [&](const auto& s) {
                using S = std::decay_t<decltype(s)>;
                if constexpr (std::is_same_v<S, std::vector<Value>> || std::is_same_v<S, std::span<double>>)
                    return NamedParameter(std::move(name), p.shape(), s);
                else
                    return NamedParameter(std::move(name), s);
            },
            p.storage());
    }

    std::shared_ptr<Concept> impl_;
};

}  // namespace ag::nn
