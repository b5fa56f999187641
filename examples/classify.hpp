#pragma once
// Examples 6 and 7: a classifier on a CSV data set with the nn module's
// pieces, in the order a user writes them:
//   read the CSV -> stratified split -> standardize with the training
//   statistics -> TensorMLP -> Adam -> Trainer (mini-batches, epochs),
//   validating on the test part after each epoch -> confusion matrix.
// The test part only ever feeds the curves and the final figures; nothing
// is chosen by looking at it.
#include <nn/nn.hpp>
#include <nn/tensor_models.hpp>
#include <nn/trainer.hpp>

#include <autograd/autograd.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace examples {

struct ClassifierSetup {
    std::string name;  // "digits"
    std::string path;  // the CSV (or .csv.gz); last column is the label
    double test_fraction = 0.25;
    std::vector<std::size_t> hidden = {128};                   // hidden layer sizes
    ag::nn::Activation activation = ag::nn::Activation::Relu;  // of the hidden layers
    double lr = 1e-3;
    double weight_decay = 0.0;     // Adam's L2 term
    bool cosine_schedule = false;  // lr from `lr` down to 0 over the epochs (CosineLR)
    std::size_t epochs = 20;
    std::size_t batch_size = 32;
    std::uint64_t seed = 1;  // split, weights and shuffles
    ag::nn::Progress progress = ag::nn::Progress::Off;
    ag::nn::Distributed* distributed = nullptr;  // data-parallel across MPI ranks (digits_distributed)
};

struct ClassifierFigures {
    ClassifierSetup setup;
    std::size_t rows = 0, features = 0, classes = 0;
    std::size_t train_rows = 0, test_rows = 0;
    std::vector<std::size_t> train_per_class, test_per_class;
    std::size_t parameters = 0;
    std::string model;        // the model as printed by fmt
    ag::nn::History history;  // val_* are the test part's figures
    double train_seconds = 0;
    double test_accuracy = 0, test_loss = 0;
    // confusion[true][predicted], counts over the test part.
    std::vector<std::vector<std::size_t>> confusion;
    std::vector<double> final_parameters;  // the trained model's values, in named_parameters() order
};

// Reads a labelled CSV (last column the label). The iris and wine files
// start with sklearn's line "n_samples,n_features,class names...", whose
// field count differs from the rows'; ag::nn::read_csv takes a header's
// field count as the row length, so for plain files that line is dropped
// here and the rest handed to ag::nn::parse_csv.
inline std::vector<std::size_t> class_counts(const ag::nn::Dataset& d, std::size_t classes) {
    std::vector<std::size_t> n(classes);
    for (double y : d.labels) ++n[static_cast<std::size_t>(y)];
    return n;
}

inline ClassifierFigures train_classifier(const ClassifierSetup& setup) {
    ClassifierFigures r;
    r.setup = setup;
    const ag::nn::Dataset data = ag::nn::read_csv(setup.path);
    r.rows = data.size();
    r.features = data.n_features;
    r.classes = data.n_classes();

    auto [train, test] = ag::nn::train_test_split(data, setup.test_fraction, setup.seed, /*stratify=*/true);
    const ag::nn::Standardizer scale(train);
    scale.transform(train);
    scale.transform(test);
    r.train_rows = train.size();
    r.test_rows = test.size();
    r.train_per_class = class_counts(train, r.classes);
    r.test_per_class = class_counts(test, r.classes);

    ag::Scope scope;  // frees the model and the data tensors on return
    const ag::Tensor X = ag::nn::features_tensor(train), y = ag::nn::labels_tensor(train);
    const ag::Tensor X_test = ag::nn::features_tensor(test), y_test = ag::nn::labels_tensor(test);
    std::vector<std::size_t> sizes = setup.hidden;
    sizes.push_back(r.classes);
    const ag::nn::TensorMLP model(r.features, sizes,
                                  {.hidden = setup.activation, .init = ag::nn::Init::He, .seed = setup.seed});
    r.parameters = model.n_parameters();
    r.model = fmt::format("{}", model);
    ag::nn::Adam adam(model.parameters(), {.lr = setup.lr, .weight_decay = setup.weight_decay});
    ag::nn::CosineLR cosine(adam, {.t_max = setup.epochs});
    const ag::nn::Trainer trainer({.epochs = setup.epochs,
                                   .batch_size = setup.batch_size,
                                   .loss = ag::nn::Loss::CrossEntropy,
                                   .seed = setup.seed,
                                   .schedule = setup.cosine_schedule ? &cosine : nullptr,
                                   .progress = setup.progress,
                                   .distributed = setup.distributed});

    const auto start = std::chrono::steady_clock::now();
    r.history = trainer.fit(model, adam, X, y, X_test, y_test);
    r.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    const ag::nn::Evaluation e = trainer.evaluate(model, X_test, y_test);
    r.test_loss = e.loss;
    r.test_accuracy = e.accuracy;
    for (const ag::nn::NamedParameter& p : model.named_parameters())
        for (double x : p.values()) r.final_parameters.push_back(x);

    r.confusion.assign(r.classes, std::vector<std::size_t>(r.classes));
    ag::NoGrad no_grad;
    const std::vector<double> logits = model(X_test).to_vector();
    for (std::size_t i = 0; i < test.size(); ++i) {
        std::size_t best = 0;
        for (std::size_t c = 1; c < r.classes; ++c)
            if (logits[i * r.classes + c] > logits[i * r.classes + best]) best = c;
        ++r.confusion[static_cast<std::size_t>(test.labels[i])][best];
    }
    return r;
}

// The examples' set-ups; `data_dir` holds the CSV files. Chosen among a few
// standard recipes for being reliable over split seeds, not for one seed's
// figure (examples/README.md gives the spread over seeds).
inline ClassifierSetup digits_setup(const std::string& data_dir) {
    return {.name = "digits",
            .path = data_dir + "/digits.csv.gz",
            .hidden = {128},
            .lr = 1e-2,
            .weight_decay = 1e-3,
            .cosine_schedule = true,
            .epochs = 20,
            .batch_size = 32,
            .seed = 1};
}
inline ClassifierSetup iris_setup(const std::string& data_dir) {
    return {.name = "iris",
            .path = data_dir + "/iris.csv",
            .hidden = {16},
            .activation = ag::nn::Activation::Tanh,
            .lr = 1e-2,
            .epochs = 100,
            .batch_size = 16,
            .seed = 1};
}
inline ClassifierSetup wine_setup(const std::string& data_dir) {
    return {.name = "wine",
            .path = data_dir + "/wine_data.csv",
            .hidden = {16},
            .activation = ag::nn::Activation::Tanh,
            .lr = 1e-2,
            .epochs = 50,
            .batch_size = 16,
            .seed = 1};
}

// Test accuracy over several stratified splits (seeds first_seed, ...): on
// a test part of 39 (iris) or 45 (wine) rows one error is worth 2 to 3
// points, so one split says little; the mean over splits says more.
struct RepeatedSplits {
    std::vector<std::uint64_t> seeds;
    std::vector<double> test_accuracy;
    double mean = 0, min = 1, max = 0;
};
inline RepeatedSplits repeated_splits(ClassifierSetup setup, std::size_t splits, std::uint64_t first_seed = 1) {
    RepeatedSplits r;
    for (std::size_t k = 0; k < splits; ++k) {
        setup.seed = first_seed + k;
        setup.progress = ag::nn::Progress::Off;
        const double a = train_classifier(setup).test_accuracy;
        r.seeds.push_back(setup.seed);
        r.test_accuracy.push_back(a);
        r.mean += a / static_cast<double>(splits);
        r.min = std::min(r.min, a);
        r.max = std::max(r.max, a);
    }
    return r;
}

// The diagonal of the confusion matrix over its total: the test accuracy,
// counted independently of the trainer.
inline double confusion_accuracy(const std::vector<std::vector<std::size_t>>& confusion) {
    std::size_t right = 0, all = 0;
    for (std::size_t t = 0; t < confusion.size(); ++t)
        for (std::size_t p = 0; p < confusion[t].size(); ++p) {
            all += confusion[t][p];
            if (t == p) right += confusion[t][p];
        }
    return all == 0 ? 0.0 : static_cast<double>(right) / static_cast<double>(all);
}

}  // namespace examples
