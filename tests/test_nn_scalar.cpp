// Scalar networks (Neuron, Layer, MLP on ag::Value): forward formulas,
// gradients against central differences, initializations, hand-set weights,
// printing, errors, and XOR learned by a 2-2-1 net.
#include <nn/nn.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>

using ag::Value;
using namespace ag::nn;

namespace {
// Central difference of f() with respect to the leaf p (nudging its value).
double numeric_partial(const std::function<double()>& f, const Value& p, double h = 1e-6) {
    const double x = p.data();
    p.set_data(x + h);
    const double up = f();
    p.set_data(x - h);
    const double down = f();
    p.set_data(x);
    return (up - down) / (2 * h);
}
}  // namespace

TEST_CASE("Neuron computes act(w·x + b) for each activation") {
    const std::vector<double> w{0.5, -1.25, 2.0}, x{1.5, 0.25, -0.75};
    const double z = 0.5 * 1.5 - 1.25 * 0.25 + 2.0 * -0.75 + 0.3;  // -1.0625
    CHECK(Neuron(w, 0.3, Activation::Identity)(x).data() == doctest::Approx(z).epsilon(1e-15));
    CHECK(Neuron(w, 0.3, Activation::Tanh)(x).data() == doctest::Approx(std::tanh(z)).epsilon(1e-15));
    CHECK(Neuron(w, 0.3, Activation::Relu)(x).data() == 0.0);
    CHECK(Neuron(w, 0.3, Activation::Sigmoid)(x).data() == doctest::Approx(1 / (1 + std::exp(-z))).epsilon(1e-15));
    CHECK(Neuron(w, 2.0, Activation::Relu)(x).data() == doctest::Approx(z - 0.3 + 2.0).epsilon(1e-15));
    // Values as inputs give the same result as plain numbers.
    std::vector<Value> xv(x.begin(), x.end());
    CHECK(Neuron(w, 0.3, Activation::Tanh)(xv).data() == doctest::Approx(std::tanh(z)).epsilon(1e-15));
}

TEST_CASE("Neuron gradients: hand formula and central differences") {
    ag::Scope scope;
    const Neuron n({0.5, -1.25}, 0.1, Activation::Tanh);
    const std::vector<Value> x{Value(0.8), Value(-0.4)};
    const Value y = n(x);
    y.backward();
    // dy/dw_i = (1 - y²) x_i, dy/db = 1 - y², dy/dx_i = (1 - y²) w_i
    const double d = 1 - y.data() * y.data();
    CHECK(n.weights()[0].grad() == doctest::Approx(d * 0.8).epsilon(1e-14));
    CHECK(n.weights()[1].grad() == doctest::Approx(d * -0.4).epsilon(1e-14));
    CHECK(n.bias().grad() == doctest::Approx(d).epsilon(1e-14));
    CHECK(x[1].grad() == doctest::Approx(d * -1.25).epsilon(1e-14));
    for (const Value& p : n.parameters()) {
        const double numeric = numeric_partial(
            [&] {
                ag::Scope s;
                return n(x).data();
            },
            p);
        CHECK(p.grad() == doctest::Approx(numeric).epsilon(1e-8));
    }
}

TEST_CASE("MLP gradients of every parameter match central differences") {
    for (Activation act : {Activation::Tanh, Activation::Sigmoid, Activation::Relu, Activation::Identity}) {
        CAPTURE(std::string(to_string(act)));
        const MLP model(3, {4, 3, 2}, {.hidden = act, .output = Activation::Sigmoid, .init = Init::Xavier, .seed = 11});
        const std::vector<double> x{0.3, -0.7, 1.1};
        auto loss = [&] {
            const std::vector<Value> out = model(x);
            return out[0] * 2.0 + out[1] * out[1];
        };
        ag::Scope scope;
        model.zero_grad();
        loss().backward();
        for (const Value& p : model.parameters()) {
            const double numeric = numeric_partial(
                [&] {
                    ag::Scope s;
                    return loss().data();
                },
                p);
            CHECK(p.grad() == doctest::Approx(numeric).epsilon(1e-6).scale(1e-3));
        }
    }
}

TEST_CASE("MLP structure: layer sizes, activations, parameter count and order") {
    const MLP m(2, {16, 16, 1});
    REQUIRE(m.layers().size() == 3);
    CHECK(m.n_parameters() == 2 * 16 + 16 + 16 * 16 + 16 + 16 + 1);  // 337, as micrograd's moons model
    CHECK(m.parameters().size() == 337);
    CHECK(m.layer(0).activation() == Activation::Relu);  // micrograd: relu hidden, linear output
    CHECK(m.layer(2).activation() == Activation::Identity);
    const MLP t(2, {3, 1}, {.activations = {Activation::Tanh, Activation::Sigmoid}});
    CHECK(t.layer(0).activation() == Activation::Tanh);
    CHECK(t.layer(1).activation() == Activation::Sigmoid);
    // parameters(): per neuron its weights, then its bias (micrograd's order).
    const std::vector<Value> p = t.parameters();
    CHECK(p[0].index() == t.layer(0).neuron(0).weights()[0].index());
    CHECK(p[2].index() == t.layer(0).neuron(0).bias().index());
    CHECK(p[3].index() == t.layer(0).neuron(1).weights()[0].index());
    // named_parameters(): weight [inputs, outputs], entry (i, j) = neuron j's weight i.
    const std::vector<NamedParameter> named = t.named_parameters();
    REQUIRE(named.size() == 4);
    CHECK(named[0].name() == "layers.0.weight");
    CHECK(named[0].shape() == std::vector<std::size_t>{2, 3});
    CHECK(named[1].name() == "layers.0.bias");
    CHECK(named[3].shape() == std::vector<std::size_t>{1});
    t.layer(0).neuron(2).set_weights({7.0, 8.0});
    CHECK(named[0].values()[2] == 7.0);  // (0, 2)
    CHECK(named[0].values()[5] == 8.0);  // (1, 2)
}

TEST_CASE("Weights and biases set by hand reproduce a textbook forward pass") {
    // Mazur's 2-2-2 sigmoid network: hidden h1 = σ(0.15·0.05 + 0.20·0.10 + 0.35) = 0.593269992,
    // output o1 = σ(0.40·h1 + 0.45·h2 + 0.60) = 0.75136507 (published to these digits).
    // Weights [inputs][outputs]: row i1 holds w1 (to h1) and w3 (to h2).
    const MLP net({Layer({{0.15, 0.25}, {0.20, 0.30}}, {0.35, 0.35}, Activation::Sigmoid),
                   Layer({{0.40, 0.50}, {0.45, 0.55}}, {0.60, 0.60}, Activation::Sigmoid)});
    const std::vector<double> x{0.05, 0.10};
    CHECK(net.layer(0)(x)[0].data() == doctest::Approx(0.593269992).epsilon(1e-9));
    const std::vector<Value> out = net(x);
    CHECK(out[0].data() == doctest::Approx(0.75136507).epsilon(1e-8));
    CHECK(out[1].data() == doctest::Approx(0.772928465).epsilon(1e-9));
    CHECK(half_squared_error(out, {0.01, 0.99}).data() == doctest::Approx(0.298371109).epsilon(1e-9));
    // set_parameter_values / parameter_values round-trip.
    std::vector<double> v = net.parameter_values();
    CHECK(v.size() == 12);
    v[0] = 1.5;
    net.set_parameter_values(v);
    CHECK(net.layer(0).neuron(0).weights()[0].data() == 1.5);
    net.layer(1).set_biases({0.1, 0.2});
    CHECK(net.layer(1).neuron(1).bias().data() == 0.2);
}

TEST_CASE("Initializations: ranges, spread, and the same weights for the same seed") {
    const Layer u(10, 200, Activation::Identity, Init::Uniform, 1);
    const Layer x(10, 200, Activation::Identity, Init::Xavier, 1);
    const Layer h(50, 200, Activation::Identity, Init::He, 1);
    auto weights = [](const Layer& l) {
        std::vector<double> w;
        for (const Neuron& n : l.neurons())
            for (const Value& v : n.weights()) w.push_back(v.data());
        return w;
    };
    auto moments = [](const std::vector<double>& w) {
        double m = 0, s = 0;
        for (double v : w) m += v;
        m /= static_cast<double>(w.size());
        for (double v : w) s += (v - m) * (v - m);
        return std::pair{m, std::sqrt(s / static_cast<double>(w.size()))};
    };
    const double a = std::sqrt(6.0 / 210.0);
    for (double w : weights(u)) CHECK((w >= -1.0 && w < 1.0));
    for (double w : weights(x)) CHECK((w >= -a && w < a));
    // Spread: uniform(-1, 1) has sd 1/√3; Xavier a/√3; He √(2/50) = 0.2 (10,000 draws: ±3%).
    CHECK(moments(weights(u)).second == doctest::Approx(1 / std::sqrt(3.0)).epsilon(0.03));
    CHECK(moments(weights(x)).second == doctest::Approx(a / std::sqrt(3.0)).epsilon(0.03));
    CHECK(moments(weights(h)).second == doctest::Approx(0.2).epsilon(0.03));
    CHECK(std::abs(moments(weights(h)).first) < 0.01);
    for (const Neuron& n : u.neurons()) CHECK(n.bias().data() == 0.0);
    // Same seed, same weights; another seed, other weights.
    CHECK(weights(Layer(10, 200, Activation::Identity, Init::Xavier, 1)) == weights(x));
    CHECK(weights(Layer(10, 200, Activation::Identity, Init::Xavier, 2)) != weights(x));
    CHECK(MLP(2, {4, 1}, {.seed = 5}).parameter_values() == MLP(2, {4, 1}, {.seed = 5}).parameter_values());
}

TEST_CASE("Printing a model shows layers, shapes and parameter count") {
    const MLP m(2, {16, 16, 1});
    const std::string s = fmt::format("{}", m);
    CHECK(s ==
          "MLP(2 -> 16 -> 16 -> 1, 337 parameters)\n"
          "  (0): Layer(2 -> 16, relu): weight [2, 16], bias [16]\n"
          "  (1): Layer(16 -> 16, relu): weight [16, 16], bias [16]\n"
          "  (2): Layer(16 -> 1, identity): weight [16, 1], bias [1]");
    CHECK(fmt::format("{}", m.layer(0).neuron(0)) == "Neuron(2 inputs, relu)");
}

TEST_CASE("Scalar model errors name the operation and the sizes") {
    const MLP m(2, {3, 1});
    CHECK_THROWS_WITH_AS(m(std::vector<double>{1, 2, 3}), "MLP: got 3 inputs, expected 2", std::invalid_argument);
    CHECK_THROWS_WITH_AS(m.layer(1)(std::vector<double>{1}), "Layer: got 1 inputs, expected 3", std::invalid_argument);
    CHECK_THROWS_WITH_AS(MLP(2, {3, 1}, {.activations = {Activation::Tanh}}), "MLP: 1 activations given for 2 layers",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(MLP({Layer(2, 3), Layer(4, 1)}), "MLP: layer 1 has 4 inputs but layer 0 has 3 outputs",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(m.layer(0).neuron(0).set_weights({1.0}),
                         "Neuron::set_weights: got 1 weights, the neuron has 2", std::invalid_argument);
    CHECK_THROWS_WITH_AS(Layer({{1.0, 2.0}, {3.0}}, {0.0, 1.0}),
                         "Layer: weight row 1 has 1 entries, expected 2 (one per output: weight is [inputs][outputs], "
                         "the W of x·W + b)",
                         std::invalid_argument);
    // Weights given the other way round ([outputs][inputs], one row per neuron) do not fit.
    CHECK_THROWS_WITH_AS(Layer({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}, {0.0, 1.0}),
                         "Layer: weight row 0 has 3 entries, expected 2 (one per output: weight is [inputs][outputs], "
                         "the W of x·W + b)",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(m.layer(0).set_weights({{1, 2, 3}}),
                         "Layer::set_weights: got 1 rows, the layer has 2 inputs (weight is [inputs][outputs])",
                         std::invalid_argument);
    CHECK_THROWS_AS(parse_activation("softplus"), std::invalid_argument);
    CHECK(parse_activation("tanh") == Activation::Tanh);
    CHECK(parse_init("glorot") == Init::Xavier);
    // A model built inside a Scope is freed with it: using it then throws.
    std::optional<MLP> inner;
    {
        ag::Scope scope;
        inner.emplace(2, std::vector<std::size_t>{1});
    }
    CHECK_THROWS_AS((*inner)(std::vector<double>{1, 2}), std::logic_error);
}

TEST_CASE("A 2-2-1 scalar network learns XOR to a loss below 0.01") {
    const MLP model(2, {2, 1},
                    {.hidden = Activation::Tanh, .output = Activation::Sigmoid, .init = Init::Xavier, .seed = 3});
    const Dataset xor4 = make_xor(4, 0.0, 0);
    Adam opt(model.parameters(), {.lr = 0.1});
    double loss_value = 1;
    for (int step = 0; step < 500 && loss_value >= 0.01; ++step) {
        ag::Scope scope;
        std::vector<Value> predictions;
        for (std::size_t i = 0; i < 4; ++i) predictions.push_back(model(xor4.row(i))[0]);
        const Value loss = mse_loss(predictions, xor4.labels);
        opt.zero_grad();
        loss.backward();
        opt.step();
        loss_value = loss.data();
    }
    CHECK(loss_value < 0.01);
    for (std::size_t i = 0; i < 4; ++i) {
        ag::Scope scope;
        CHECK((model(xor4.row(i))[0].data() > 0.5) == (xor4.labels[i] == 1.0));
    }
}

TEST_CASE("One weight convention: a Layer and a Linear built from the same [inputs][outputs] rows are one layer") {
    // W [2, 3]: row i holds input i's weights to the three outputs.
    const std::vector<std::vector<double>> W{{1.0, -2.0, 0.5}, {3.0, 0.25, -1.0}};
    const std::vector<double> b{0.1, 0.2, 0.3};
    const Layer layer(W, b, Activation::Identity);
    const Linear linear(W, b);
    REQUIRE(layer.n_inputs() == 2);
    REQUIRE(layer.n_outputs() == 3);
    CHECK(linear.in_features() == layer.n_inputs());
    CHECK(linear.out_features() == layer.n_outputs());
    // Neuron j holds column j.
    CHECK(layer.neuron(1).weights()[0].data() == -2.0);
    CHECK(layer.neuron(1).weights()[1].data() == 0.25);
    // Same outputs: x·W + b, by hand: [1·1 + 2·3, 1·(−2) + 2·0.25, 1·0.5 + 2·(−1)] + b.
    const std::vector<double> x{1.0, 2.0};
    ag::Scope scope;
    const std::vector<Value> out = layer(x);
    const ag::Tensor t = linear(ag::Tensor({1, 2}, std::span<const double>(x)));
    const std::vector<double> expected{7.1, -1.3, -1.2};
    for (std::size_t j = 0; j < 3; ++j) {
        CHECK(out[j].data() == doctest::Approx(expected[j]).epsilon(1e-15));
        CHECK(t.data()[j] == doctest::Approx(out[j].data()).epsilon(1e-15));  // BLAS may round otherwise
    }
    // Same named parameters, values in the same row-major order.
    const std::vector<NamedParameter> a = layer.named_parameters(), c = linear.named_parameters();
    REQUIRE(a.size() == 2);
    for (std::size_t k = 0; k < 2; ++k) {
        CHECK(a[k].name() == c[k].name());
        CHECK(a[k].shape() == c[k].shape());
        CHECK(a[k].values() == c[k].values());
    }
    CHECK(a[0].values() == std::vector<double>{1.0, -2.0, 0.5, 3.0, 0.25, -1.0});
    // set_weights takes the same rows.
    const Layer other(2, 3, Activation::Identity, Init::Uniform, 1);
    other.set_weights(W);
    other.set_biases(b);
    CHECK(other.named_parameters()[0].values() == a[0].values());
    // And a Layer made of Neurons, each given its column.
    const Layer by_neurons({Neuron({1.0, 3.0}, 0.1), Neuron({-2.0, 0.25}, 0.2), Neuron({0.5, -1.0}, 0.3)});
    CHECK(by_neurons.named_parameters()[0].values() == a[0].values());
}

TEST_CASE("Scalar layers too large for a tape are refused before anything is allocated") {
    CHECK_THROWS_WITH_AS(Layer(std::size_t{1} << 62, 4),
                         "Layer(4611686018427387904 -> 4): 4 x (4611686018427387904 + 1) scalar parameters are more "
                         "than one tape holds (4294967295 nodes)",
                         std::length_error);
    CHECK_THROWS_AS(Layer(std::size_t{1} << 32, std::size_t{1} << 32), std::length_error);
    CHECK_THROWS_AS(Layer(std::size_t{1} << 31, 2), std::length_error);  // 2^32 + 2: one past the tape
    CHECK_THROWS_AS(Neuron(std::size_t{1} << 40), std::length_error);
    CHECK_THROWS_AS(MLP(2, {std::size_t{1} << 62, 1}), std::length_error);
    CHECK_THROWS_AS(Layer(std::numeric_limits<std::size_t>::max(), 1), std::length_error);  // n_inputs + 1 wraps
}
