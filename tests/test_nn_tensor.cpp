// Tensor models (Linear, Sequential, TensorMLP) and the Trainer: forward
// formulas, gradients, agreement with the scalar MLP, XOR, mini-batching,
// validation, early stopping, history, progress output, errors.
#include <nn/nn.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <string>

using ag::Tensor;
using ag::Value;
using namespace ag::nn;

namespace {
std::string read_file(std::FILE* f) {
    std::rewind(f);
    std::string s;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
    return s;
}
TrainOptions quiet(TrainOptions o) {
    o.progress = Progress::Off;
    return o;
}
}  // namespace

TEST_CASE("Linear computes x·W + b and its gradients pass central differences") {
    const Linear layer({{1.0, -2.0, 0.5}, {3.0, 0.25, -1.0}}, {0.1, 0.2, 0.3});  // W [2, 3]
    CHECK(layer.in_features() == 2);
    CHECK(layer.out_features() == 3);
    ag::Scope scope;
    const Tensor x({2, 2}, {1.0, 2.0, -1.0, 0.5});
    const Tensor y = layer(x);
    CHECK(y.shape() == ag::Shape{2, 3});
    // row 0: [1·1 + 2·3, 1·(−2) + 2·0.25, 1·0.5 + 2·(−1)] + b = [7.1, −1.3, −1.2]
    CHECK(y.at({0, 0}) == doctest::Approx(7.1).epsilon(1e-15));
    CHECK(y.at({0, 1}) == doctest::Approx(-1.3).epsilon(1e-15));
    CHECK(y.at({1, 2}) == doctest::Approx(-0.5 - 0.5 + 0.3).epsilon(1e-15));
    const ag::GradCheckReport report =
        ag::check_gradients([](const std::vector<Tensor>& v) { return ag::tanh(Linear(v[1], v[2])(v[0])); },
                            {Tensor({2, 2}, {0.3, -0.2, 0.9, 0.1}), Tensor({2, 3}, {0.5, -0.4, 0.3, 0.2, 0.7, -0.6}),
                             Tensor({3}, {0.05, -0.1, 0.2})});
    INFO(report.table());
    CHECK(report.ok());
    CHECK_THROWS_WITH_AS(layer(Tensor({1, 3}, {1.0, 2.0, 3.0})),
                         "Linear(2 -> 3): input [1, 3] should have 2 features in its last axis", std::invalid_argument);
}

TEST_CASE("TensorMLP and scalar MLP with the same seed: same weights, outputs and gradients") {
    const MLPOptions options{
        .hidden = Activation::Tanh, .output = Activation::Sigmoid, .init = Init::Xavier, .seed = 9};
    const MLP scalar(3, {4, 2}, options);
    const TensorMLP tensor(3, {4, 2}, options);
    const std::vector<NamedParameter> sp = scalar.named_parameters(), tp = tensor.named_parameters();
    REQUIRE(sp.size() == tp.size());
    for (std::size_t k = 0; k < sp.size(); ++k) {
        CHECK(sp[k].name() == tp[k].name());
        CHECK(sp[k].shape() == tp[k].shape());
        CHECK(sp[k].values() == tp[k].values());
    }
    const std::vector<double> rows{0.5, -1.0, 2.0, -0.3, 0.8, 0.1};
    ag::Scope scope;
    // Scalar: loss = Σ over two samples and two outputs of out²; tensor: the same.
    Value loss(0.0);
    std::vector<double> scalar_out;
    for (std::size_t i = 0; i < 2; ++i) {
        for (const Value& o : scalar(std::span<const double>(rows).subspan(3 * i, 3))) {
            scalar_out.push_back(o.data());
            loss = loss + o * o;
        }
    }
    loss.backward();
    const Tensor out = tensor(Tensor({2, 3}, std::span<const double>(rows)).set_requires_grad(false));
    ag::sum(out * out).backward();
    for (std::size_t i = 0; i < 4; ++i) CHECK(out.data()[i] == doctest::Approx(scalar_out[i]).epsilon(1e-14));
    // Gradients in named_parameters() layout: weight [in, out], bias [out].
    for (std::size_t k = 0; k < sp.size(); ++k) {
        const auto& values = std::get<std::vector<Value>>(sp[k].storage());
        const Tensor& t = std::get<Tensor>(tp[k].storage());
        for (std::size_t i = 0; i < values.size(); ++i)
            CHECK(t.grad()[i] == doctest::Approx(values[i].grad()).epsilon(1e-12));
    }
}

TEST_CASE("float32 TensorMLP agrees with float64 within float precision") {
    const MLPOptions options{.hidden = Activation::Relu, .init = Init::He, .seed = 4};
    const TensorMLP m64(5, {8, 3}, options);
    const TensorMLP32 m32(5, {8, 3}, options);
    ag::Scope scope;
    std::vector<double> x(20);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(static_cast<double>(i));
    const std::vector<float> xf(x.begin(), x.end());
    const Tensor y64 = m64(Tensor({4, 5}, std::span<const double>(x)));
    const ag::Tensor32 y32 = m32(ag::Tensor32({4, 5}, std::span<const float>(xf)));
    for (std::size_t i = 0; i < 12; ++i) CHECK(y32.data()[i] == doctest::Approx(y64.data()[i]).epsilon(1e-5).scale(1));
}

TEST_CASE("Sequential: modules in order, PyTorch-style names, printing, errors") {
    const Sequential seq(
        {Linear(2, 3, Init::Xavier, 1), Activation::Tanh, Linear(3, 1, Init::Xavier, 2), Activation::Sigmoid});
    CHECK(seq.n_parameters() == 13);
    const std::vector<NamedParameter> named = seq.named_parameters();
    REQUIRE(named.size() == 4);
    CHECK(named[0].name() == "0.weight");
    CHECK(named[3].name() == "2.bias");
    ag::Scope scope;
    const Tensor x({1, 2}, {0.4, -0.6});
    const auto& l0 = seq.modules()[0].get<Linear>();
    const auto& l2 = seq.modules()[2].get<Linear>();
    const double expected = ag::sigmoid(l2(ag::tanh(l0(x)))).item();
    CHECK(seq(x).item() == expected);
    CHECK(fmt::format("{}", seq) ==
          "Sequential(4 modules, 13 parameters, float64)\n"
          "  (0): Linear(2 -> 3): weight [2, 3], bias [3]\n"
          "  (1): tanh\n"
          "  (2): Linear(3 -> 1): weight [3, 1], bias [1]\n"
          "  (3): sigmoid");
    CHECK(fmt::format("{}", TensorMLP32(64, {128, 10})) ==
          "TensorMLP(64 -> 128 -> 10, 9610 parameters, float32)\n"
          "  (0): Linear(64 -> 128, relu): weight [64, 128], bias [128]\n"
          "  (1): Linear(128 -> 10, identity): weight [128, 10], bias [10]");
    CHECK_THROWS_WITH_AS(Sequential({Linear(2, 3), Linear(4, 1)}),
                         "Sequential: module 1 takes 4 inputs but module 0 gives 3 outputs", std::invalid_argument);
}

TEST_CASE("A 2-2-1 tensor network learns XOR to a loss below 0.01 (full batch)") {
    const TensorMLP model(2, {2, 1},
                          {.hidden = Activation::Tanh, .output = Activation::Sigmoid, .init = Init::Xavier, .seed = 3});
    const Dataset data = make_xor(4, 0.0, 0);
    const Tensor X = features_tensor(data), y = labels_tensor(data);
    Adam opt(model.parameters(), {.lr = 0.1});
    const History h = Trainer(quiet({.epochs = 500,
                                     .batch_size = 0,
                                     .loss = Loss::MSE,
                                     .on_epoch = [](const EpochStats& s) { return s.loss >= 0.01; }}))
                          .fit(model, opt, X, y);
    CHECK(h.epochs.back().loss < 0.01);
    CHECK(h.epochs.size() < 500);  // stopped early by the callback
    ag::Scope scope;
    const Tensor out = model(X);
    for (std::size_t i = 0; i < 4; ++i) CHECK((out.data()[i] > 0.5) == (data.labels[i] == 1.0));
}

TEST_CASE("Trainer: batch sizes set the number of updates and memory stays flat") {
    const Dataset data = make_moons(10, 0.1, 1);
    const Tensor X = features_tensor(data), y = labels_tensor(data);
    for (auto [batch, steps_per_epoch] :
         {std::pair<std::size_t, std::size_t>{1, 10}, {3, 4}, {0, 1}, {10, 1}, {50, 1}}) {
        CAPTURE(batch);
        const TensorMLP model(2, {4, 2}, {.seed = 1});
        SGD opt(model.parameters(), 0.1);
        const std::uint32_t tape_before = ag::tape().size();
        Trainer(quiet({.epochs = 3, .batch_size = batch})).fit(model, opt, X, y);
        CHECK(opt.steps() == 3 * steps_per_epoch);
        CHECK(ag::tape().size() == tape_before);
    }
}

TEST_CASE("Trainer learns two moons with a validation split and the same seed gives the same history") {
    const Dataset data = make_moons(200, 0.1, 2);
    const Tensor X = features_tensor(data), y = labels_tensor(data);
    auto train = [&] {
        const TensorMLP model(2, {16, 16, 2}, {.hidden = Activation::Relu, .init = Init::He, .seed = 5});
        Adam opt(model.parameters(), {.lr = 0.02});
        CosineLR schedule(opt, {.t_max = 60});
        return Trainer(
                   quiet(
                       {.epochs = 60, .batch_size = 16, .validation_fraction = 0.25, .seed = 7, .schedule = &schedule}))
            .fit(model, opt, X, y);
    };
    const History h = train();
    REQUIRE(h.epochs.size() == 60);
    CHECK(h.epochs.back().accuracy > 0.97);
    CHECK(h.epochs.back().val_accuracy > 0.95);
    CHECK(h.epochs.back().loss < h.epochs.front().loss);
    CHECK(h.epochs[0].lr == 0.02);
    CHECK(h.epochs[30].lr == doctest::Approx(0.01).epsilon(1e-12));  // cosine at half-way
    CHECK(train().csv() != "");
    const History again = train();
    for (std::size_t e = 0; e < 60; ++e) CHECK(again.epochs[e].loss == h.epochs[e].loss);
}

TEST_CASE("Trainer with explicit validation data, evaluate, hinge and BCE losses") {
    const Dataset data = make_circles(120, 0.05, 3, 0.5);
    const Dataset val = make_circles(60, 0.05, 4, 0.5);
    Dataset signed_data = data, signed_val = val;
    for (double& t : signed_data.labels) t = 2 * t - 1;
    for (double& t : signed_val.labels) t = 2 * t - 1;
    for (Loss loss : {Loss::BinaryCrossEntropy, Loss::Hinge}) {
        CAPTURE(std::string(loss == Loss::Hinge ? "hinge" : "binary cross-entropy"));
        const Dataset& d = loss == Loss::Hinge ? signed_data : data;
        const Dataset& v = loss == Loss::Hinge ? signed_val : val;
        const TensorMLP model(2, {16, 1}, {.hidden = Activation::Tanh, .init = Init::Xavier, .seed = 2});
        Adam opt(model.parameters(), {.lr = 0.05});
        const Trainer trainer(quiet({.epochs = 80, .batch_size = 20, .loss = loss}));
        const History h =
            trainer.fit(model, opt, features_tensor(d), labels_tensor(d), features_tensor(v), labels_tensor(v));
        CHECK(h.epochs.back().val_accuracy > 0.95);
        const Evaluation e = trainer.evaluate(model, features_tensor(v), labels_tensor(v));
        CHECK(e.accuracy == h.epochs.back().val_accuracy);
        CHECK(e.loss == doctest::Approx(h.epochs.back().val_loss).epsilon(1e-12));
    }
}

TEST_CASE("Trainer: history CSV, one progress line per epoch off a terminal, a bar when asked") {
    const Dataset data = make_xor(8, 0.05, 1);
    const Tensor X = features_tensor(data), y = labels_tensor(data);
    const TensorMLP model(2, {4, 2}, {.seed = 3});
    SGD opt(model.parameters(), 0.1);
    std::FILE* lines = std::tmpfile();
    REQUIRE(lines != nullptr);
    const History h =
        Trainer({.epochs = 3, .batch_size = 4, .output = lines}).fit(model, opt, X, y);  // Auto: not a tty
    const std::string out = read_file(lines);
    std::fclose(lines);
    CHECK(out.find("epoch 1/3: loss ") == 0);
    CHECK(out.find("epoch 3/3: loss ") != std::string::npos);
    CHECK(std::count(out.begin(), out.end(), '\n') == 3);
    CHECK(out.find('\r') == std::string::npos);
    CHECK(out.find("accuracy") != std::string::npos);

    // A bar when asked; off a terminal its width comes from COLUMNS.
    ::setenv("COLUMNS", "50", 1);
    std::FILE* bar = std::tmpfile();
    Trainer({.epochs = 2, .batch_size = 4, .progress = Progress::Bar, .output = bar}).fit(model, opt, X, y);
    const std::string drawn = read_file(bar);
    std::fclose(bar);
    ::unsetenv("COLUMNS");
    CHECK(drawn.find("\r\033[Kepoch 1/2 [") != std::string::npos);
    CHECK(drawn.find("########] 100% loss ") != std::string::npos);
    // Every redraw fits in 49 columns, so none wraps.
    std::size_t redraws = 0;
    for (std::size_t at = drawn.find("\r\033[K"); at != std::string::npos; at = drawn.find("\r\033[K", at + 1)) {
        const std::size_t end = std::min(drawn.find('\r', at + 1), drawn.find('\n', at));
        const std::string line = drawn.substr(at + 4, end - at - 4);
        CAPTURE(line);
        if (line.rfind("epoch 1/2:", 0) == 0 || line.rfind("epoch 2/2:", 0) == 0) continue;  // the epoch's summary
        ++redraws;
        CHECK(line.size() <= 49);
    }
    CHECK(redraws >= 2);

    const std::string csv = h.csv();
    CHECK(csv.find("epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds\n1,") == 0);
    CHECK(std::count(csv.begin(), csv.end(), '\n') == 4);
    CHECK(csv.find(fmt::format("\n2,{},{},,,0.1,", h.epochs[1].loss, h.epochs[1].accuracy)) != std::string::npos);
    const auto path = std::filesystem::path(TAPEGRAD_BINARY_DIR) / "test_nn_history.csv";
    h.write_csv(path);
    std::FILE* f = std::fopen(path.c_str(), "rb");
    REQUIRE(f != nullptr);
    CHECK(read_file(f) == csv);
    std::fclose(f);
}

TEST_CASE("Trainer errors name the problem") {
    const TensorMLP model(2, {2}, {.seed = 1});
    SGD opt(model.parameters(), 0.1);
    const Trainer trainer(quiet({.epochs = 1}));
    const Tensor X = Tensor::zeros({4, 2}).set_requires_grad(false);
    CHECK_THROWS_WITH_AS(trainer.fit(model, opt, X, Tensor::zeros({3})),
                         "Trainer::fit: X is [4, 2] but y is [3]: they need the same number of rows",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(
        trainer.fit(model, opt, X, Tensor({4}, {0.0, 1.0, 0.5, 1.0})),
        "Trainer::fit: cross-entropy loss: target 0.5 (element 2 of y) is not a class index (a whole number >= 0)",
        std::invalid_argument);
    CHECK_THROWS_WITH_AS(Trainer(quiet({.loss = Loss::Hinge})).fit(model, opt, X, Tensor({4}, {0.0, 1.0, 1.0, 1.0})),
                         "Trainer::fit: hinge loss: target 0 (element 0 of y) is not -1 or +1", std::invalid_argument);
    CHECK_THROWS_WITH_AS(Trainer(quiet({.validation_fraction = 1.0})).fit(model, opt, X, Tensor::zeros({4})),
                         "Trainer::fit: validation_fraction 1 is not in [0, 1)", std::invalid_argument);
    CHECK_THROWS_WITH_AS(
        trainer.fit(model, opt, X, Tensor({4}, {0.0, 1.0, 1e20, 1.0})),
        "Trainer::fit: cross-entropy loss: target 1e+20 (element 2 of y) is not a class index (a whole number >= 0)",
        std::invalid_argument);
    // A label beyond the model's outputs is caught by cross_entropy, naming the label.
    CHECK_THROWS_AS(trainer.fit(model, opt, X, Tensor({4}, {0.0, 1.0, 5.0, 1.0})), std::invalid_argument);
}

TEST_CASE("Trainer validates on every row of an explicit validation set with several target columns") {
    // y_val [n, 2]: the validation rows are X_val's rows, not y_val's element count.
    const TensorMLP model(3, {4, 2}, {.hidden = Activation::Tanh, .init = Init::Xavier, .seed = 2});
    Adam opt(model.parameters(), {.lr = 0.05});
    std::vector<double> xs, ys;
    for (int i = 0; i < 6; ++i) {
        xs.insert(xs.end(), {0.1 * i, -0.2 * i, 0.3});
        ys.insert(ys.end(), {0.05 * i, -0.05 * i});
    }
    const Tensor X = Tensor({6, 3}, xs).set_requires_grad(false), y = Tensor({6, 2}, ys).set_requires_grad(false);
    const Tensor X_val = Tensor({3, 3}, std::vector<double>(xs.begin(), xs.begin() + 9)).set_requires_grad(false);
    const Tensor y_val = Tensor({3, 2}, std::vector<double>(ys.begin(), ys.begin() + 6)).set_requires_grad(false);
    const History h =
        Trainer(quiet({.epochs = 3, .batch_size = 2, .loss = Loss::MSE})).fit(model, opt, X, y, X_val, y_val);
    REQUIRE(h.epochs.size() == 3);
    // The reported validation loss is the MSE of the model on those 3 rows.
    ag::Scope scope;
    const Tensor d = model(X_val) - y_val;
    CHECK(h.epochs.back().val_loss == doctest::Approx(ag::mean(d * d).item()).epsilon(1e-12));
}

TEST_CASE("The progress bar fits the terminal's width and shows elapsed time and ETA") {
    const detail::BatchProgress p{
        .epoch = 3, .epochs = 20, .done = 600, .total = 1200, .loss = 0.123456, .seconds = 4.5};
    // Wide: the whole line, a 30-cell bar.
    CHECK(detail::progress_line(p, 200) ==
          "epoch 3/20 [###############...............]  50% loss 0.1235 00:04<00:04 133 samples/s");
    // 80 columns: the bar narrows so that the line keeps one column free.
    const std::string at80 = detail::progress_line(p, 80);
    CHECK(at80 == "epoch 3/20 [###########............]  50% loss 0.1235 00:04<00:04 133 samples/s");
    CHECK(at80.size() == 79);
    // 50 columns: the speed goes, the bar shrinks, elapsed and ETA stay.
    CHECK(detail::progress_line(p, 50) == "epoch 3/20 [###....]  50% loss 0.1235 00:04<00:04");
    CHECK(detail::progress_line(p, 48) == "epoch 3/20 [##...]  50% loss 0.1235 00:04<00:04");
    // Narrower: no bar; then the text is cut at the width.
    CHECK(detail::progress_line(p, 47) == "epoch 3/20  50% loss 0.1235 00:04<00:04");
    CHECK(detail::progress_line(p, 40) == "epoch 3/20  50% loss 0.1235 00:04<00:04");
    CHECK(detail::progress_line(p, 20) == "epoch 3/20  50% los");
    CHECK(detail::progress_line(p, 1).size() <= 1);
    for (std::size_t columns = 1; columns <= 200; ++columns) {
        CAPTURE(columns);
        CHECK(detail::progress_line(p, columns).size() <= std::max<std::size_t>(columns - 1, 1));
    }
    // The ETA is the epoch's remaining rows at the speed so far; unknown before the first batch.
    CHECK(detail::progress_line({.epoch = 1, .epochs = 1, .done = 100, .total = 1000, .loss = 1, .seconds = 10}, 200)
              .find(" 00:10<01:30 ") != std::string::npos);
    CHECK(detail::progress_line({.epoch = 1, .epochs = 1, .done = 0, .total = 1000, .loss = 1, .seconds = 0}, 200)
              .find(" 00:00<? ") != std::string::npos);
    CHECK(detail::clock_time(59.9) == "00:59");
    CHECK(detail::clock_time(754) == "12:34");
    CHECK(detail::clock_time(3723) == "1:02:03");
    CHECK(detail::clock_time(-1) == "?");
}

TEST_CASE("The terminal width comes from the terminal, else COLUMNS, else 80") {
    std::FILE* file = std::tmpfile();  // not a terminal
    REQUIRE(file != nullptr);
    ::unsetenv("COLUMNS");
    CHECK(detail::terminal_columns(file) == 80);
    ::setenv("COLUMNS", "50", 1);
    CHECK(detail::terminal_columns(file) == 50);
    ::setenv("COLUMNS", "wide", 1);
    CHECK(detail::terminal_columns(file) == 80);
    ::setenv("COLUMNS", "0", 1);
    CHECK(detail::terminal_columns(file) == 80);
    ::unsetenv("COLUMNS");
    std::fclose(file);
}

TEST_CASE("Trainer refuses zero rows instead of reporting a NaN loss") {
    const TensorMLP model(2, {2}, {.seed = 1});
    SGD opt(model.parameters(), 0.1);
    const Trainer trainer(quiet({.epochs = 1, .loss = Loss::MSE}));
    const Tensor X0 = Tensor::zeros({0, 2}).set_requires_grad(false),
                 y0 = Tensor::zeros({0, 2}).set_requires_grad(false);
    const Tensor X = Tensor::zeros({4, 2}).set_requires_grad(false), y = Tensor::zeros({4, 2}).set_requires_grad(false);
    CHECK_THROWS_WITH_AS(trainer.evaluate(model, X0, y0), "Trainer::evaluate: X is [0, 2]: there are no rows",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(trainer.fit(model, opt, X0, y0), "Trainer::fit: X is [0, 2]: there are no rows",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(trainer.fit(model, opt, X, y, X0, y0),
                         "Trainer::fit (validation): X is [0, 2]: there are no rows", std::invalid_argument);
    // A validation fraction that holds out no row (round(0.1 · 4) = 0) is an error, not a run without validation.
    CHECK_THROWS_WITH_AS(
        Trainer(quiet({.epochs = 1, .loss = Loss::MSE, .validation_fraction = 0.1})).fit(model, opt, X, y),
        "Trainer::fit: validation_fraction 0.1 of 4 rows gives 4 training and 0 validation rows; each "
        "part needs at least one",
        std::invalid_argument);
    CHECK(trainer.evaluate(model, X, y).loss >= 0);
    CHECK(opt.steps() == 0);
}

TEST_CASE("Linear layers whose weight size overflows are refused before anything is allocated") {
    CHECK_THROWS_WITH_AS(Linear(std::size_t{1} << 62, 4),
                         "Linear(4611686018427387904 -> 4): a [4611686018427387904, 4] weight of float64 is more than "
                         "memory can address (at most 1152921504606846975 elements)",
                         std::length_error);
    CHECK_THROWS_AS(Linear(std::size_t{1} << 32, std::size_t{1} << 32), std::length_error);
    CHECK_THROWS_WITH_AS(Linear32(std::size_t{1} << 61, 8),
                         "Linear(2305843009213693952 -> 8): a [2305843009213693952, 8] weight of float32 is more than "
                         "memory can address (at most 2305843009213693951 elements)",
                         std::length_error);
    CHECK_THROWS_AS(Linear(std::numeric_limits<std::size_t>::max(), 1), std::length_error);
    CHECK_THROWS_AS(TensorMLP(std::size_t{1} << 62, {4}), std::length_error);
    CHECK_THROWS_AS(TensorMLP32(8, {std::size_t{1} << 61, 2}), std::length_error);
    // A shape given by hand whose sizes multiply past 64 bits.
    CHECK_THROWS_AS(NamedParameter("w", {std::size_t{1} << 32, std::size_t{1} << 32}, std::vector<Value>{}),
                    std::length_error);
    CHECK(NamedParameter("empty", {0, std::size_t{1} << 40}, std::vector<Value>{}).size() == 0);
}
