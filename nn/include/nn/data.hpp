#pragma once
// Data sets: a CSV reader (plain or gzip), standardization, a train/test
// split (stratified by class), and seeded synthetic sets.
//
//     auto data = ag::nn::read_csv("digits.csv.gz");           // last column = label
//     auto [train, test] = ag::nn::train_test_split(data, 0.25, /*seed=*/1);
//     ag::nn::Standardizer scale(train);                       // statistics of train only
//     scale.transform(train); scale.transform(test);
//     auto X = ag::nn::features_tensor(train);                 // [n, d], needs no gradient
//     auto y = ag::nn::labels_tensor(train);                   // [n]
//
// Choices:
//   - labels are numbers (class indices 0, 1, ... for classification,
//     or any value for regression); text labels are not read;
//   - the CSV header, by default, is detected: line 1 is a header when one
//     of its fields is not a number (Header::Auto); Header::Yes / No force it.
//     The first data row sets the number of columns; a header may have
//     another count (sklearn's "150,4,setosa,versicolor,virginica" line);
//   - fields may be quoted as in RFC 4180 ("a,b", "say ""hi"""); the quotes
//     are not part of the field, so "x","y" names the columns x and y.
//     A quoted field cannot span lines;
//   - when a line does not split as expected and holds another common
//     delimiter (, ; tab |), the error says so: a ';' file read with ','
//     is the usual cause;
//   - every file goes through zlib's gzread, which reads gzip and plain
//     files alike, so "x.csv.gz" and "x.csv" need nothing different;
//   - standardization divides by the population standard deviation (as
//     sklearn's StandardScaler); a constant column gets scale 1, not a
//     division by zero;
//   - the synthetic sets are labelled 0, 1, ... (for micrograd's ±1 hinge
//     labels use 2·y − 1); moons, circles and spirals come shuffled (as
//     sklearn's default), xor in corner order.
#include <nn/parameters.hpp>

#include <autograd/tensor.hpp>

#include <cstddef>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ag::nn {

// A label usable as a class index: a whole number >= 0 (bounded, so that it
// converts to an integer exactly).
inline bool is_class_index(double y) { return y >= 0 && y == std::floor(y) && y <= 1e15; }

struct Dataset {
    std::size_t n_features = 0;
    std::vector<double> features;           // row-major, size() rows of n_features
    std::vector<double> labels;             // one per row (empty when the data has none)
    std::vector<std::string> column_names;  // from a CSV header, else empty

    std::size_t size() const noexcept { return n_features == 0 ? 0 : features.size() / n_features; }
    std::span<const double> row(std::size_t i) const { return {features.data() + i * n_features, n_features}; }
    double feature(std::size_t i, std::size_t j) const { return features[i * n_features + j]; }
    // The labels as class indices; throws std::invalid_argument naming the
    // first row whose label is not a whole number >= 0.
    std::vector<std::int64_t> class_labels() const;
    // 1 + the largest class label.
    std::size_t n_classes() const;
    // The given rows, in that order.
    Dataset subset(std::span<const std::size_t> rows) const;
};

// ------------------------------------------------------------------- CSV ---

enum class Header { Auto, Yes, No };

struct CsvOptions {
    Header header = Header::Auto;
    // The column holding the label: an index, negative counting from the end
    // (-1: the last column); std::nullopt when every column is a feature.
    std::optional<int> label_column = -1;
    char delimiter = ',';
};

// Reads a CSV file of numbers (gzip-compressed or plain). Throws
// std::runtime_error for a missing/unreadable file or corrupt gzip data, and
// std::invalid_argument for a ragged row or a field that is not a number,
// naming the file, line and column.
Dataset read_csv(const std::string& path, const CsvOptions& options = {});
// The same from text in memory; `source` names it in errors.
Dataset parse_csv(std::string_view text, const CsvOptions& options = {}, std::string_view source = "<text>");

// ------------------------------------------------------ standardization ---

// Per-feature mean and standard deviation of a training set, applied as
// (x − mean) / scale to any set (training, validation, test) or to one row
// (a new sample at prediction time).
//
// It is saved and loaded with the model (sklearn's pipeline, as one file):
//     ag::nn::save(model, scaler, "model.bin");
//     ...
//     ag::nn::Standardizer scaler(n_features);   // the right size, to load into
//     ag::nn::load(model, scaler, "model.bin");
// The file is save()'s (nn/serialize.hpp): the model's parameters, then
// "standardizer.mean" and "standardizer.scale", [n_features] each. load()
// checks everything (also that every scale is a finite number > 0 and every
// mean finite) before it changes the model or the standardizer.
class Standardizer {
public:
    Standardizer() = default;
    explicit Standardizer(const Dataset& train);
    // n_features features of mean 0 and scale 1 (the identity): one to load() into.
    explicit Standardizer(std::size_t n_features) : mean_(n_features, 0.0), scale_(n_features, 1.0) {}
    void transform(Dataset& data) const;
    Dataset transformed(Dataset data) const {
        transform(data);
        return data;
    }
    // One row of n_features values, in place or as a copy; std::invalid_argument
    // when its size is not n_features.
    void transform(std::span<double> row) const;
    std::vector<double> transform_row(std::span<const double> row) const;
    std::size_t n_features() const noexcept { return mean_.size(); }
    const std::vector<double>& mean() const noexcept { return mean_; }
    const std::vector<double>& scale() const noexcept { return scale_; }
    // The statistics as the entries "<prefix>mean" and "<prefix>scale",
    // views of this object's numbers (for save()/load() of your own lists).
    std::vector<NamedParameter> named_parameters(const std::string& prefix = "standardizer.");

private:
    std::vector<double> mean_, scale_;
};

void save(const std::vector<NamedParameter>& model, const Standardizer& standardizer,
          const std::filesystem::path& path);
void load(const std::vector<NamedParameter>& model, Standardizer& standardizer, const std::filesystem::path& path);

template <class Model>
requires requires(const Model& m) { m.named_parameters(); }
void save(const Model& model, const Standardizer& standardizer, const std::filesystem::path& path) {
    save(model.named_parameters(), standardizer, path);
}
template <class Model>
requires requires(const Model& m) { m.named_parameters(); }
void load(const Model& model, Standardizer& standardizer, const std::filesystem::path& path) {
    load(model.named_parameters(), standardizer, path);
}

// ---------------------------------------------------------------- split ---

struct Split {
    Dataset train, test;
};

// Shuffles (seeded) and splits off round(test_fraction · n) rows for test.
// Stratified when the labels are class indices (whole numbers >= 0): each
// class keeps its proportion in both parts (per class,
// round(test_fraction · n_class) rows go to test), and every class needs at
// least 2 rows. Labels that are not class indices (regression targets), or
// no labels, or stratify = false: one random split, as sklearn's default.
// Throws std::invalid_argument when either part would be empty.
Split train_test_split(const Dataset& data, double test_fraction, std::uint64_t seed, bool stratify = true);

namespace detail {
struct RowSplit {
    std::vector<std::size_t> kept, held_out;
};
// The stratified split under train_test_split and the trainer's validation
// split: rows 0..n−1 grouped by keys[i] (one group when `keys` is empty),
// groups in increasing key order, each shuffled by `rng` and its first
// round(fraction · group size) rows held out. Both callers draw from `rng`
// in this order, so one seed gives both the same rows.
RowSplit stratified_split(std::size_t n, std::span<const double> keys, double fraction, Rng& rng);
}  // namespace detail

// ------------------------------------------------------------ synthetic ---

// Two interleaving half circles (sklearn.datasets.make_moons): n/2 points
// (rounded down) of x = cos t, y = sin t (label 0) and the rest on
// x = 1 − cos t, y = 0.5 − sin t (label 1), t evenly in [0, π]; shuffled,
// then Gaussian noise of standard deviation `noise` on each coordinate.
Dataset make_moons(std::size_t n_samples, double noise, std::uint64_t seed);
// A large circle (label 0) around a smaller one of radius `factor` (label 1)
// (sklearn.datasets.make_circles), t evenly in [0, 2π) excluding 2π.
Dataset make_circles(std::size_t n_samples, double noise, std::uint64_t seed, double factor = 0.8);
// n_classes interleaved spiral arms (the CS231n set): class j has radius
// r = 0..1 and angle 4j + 4r plus N(0, noise) noise; point (r sin θ, r cos θ).
Dataset make_spirals(std::size_t n_samples, double noise, std::uint64_t seed, std::size_t n_classes = 3);
// XOR: points cycle through the corners (0,0), (0,1), (1,0), (1,1) with
// labels 0, 1, 1, 0, plus Gaussian noise; make_xor(4, 0, seed) is the
// truth table itself. (Not named `xor`: that is a C++ keyword.)
Dataset make_xor(std::size_t n_samples, double noise, std::uint64_t seed);

// ---------------------------------------------------------- to tensors ---

// The features as a [size, n_features] tensor that needs no gradient.
template <class T = double>
BasicTensor<T> features_tensor(const Dataset& data) {
    std::vector<T> v(data.features.begin(), data.features.end());
    return BasicTensor<T>(Shape{static_cast<std::int64_t>(data.size()), static_cast<std::int64_t>(data.n_features)},
                          std::span<const T>(v))
        .set_requires_grad(false);
}
// The labels as a [size] tensor that needs no gradient.
template <class T = double>
BasicTensor<T> labels_tensor(const Dataset& data) {
    std::vector<T> v(data.labels.begin(), data.labels.end());
    return BasicTensor<T>(Shape{static_cast<std::int64_t>(v.size())}, std::span<const T>(v)).set_requires_grad(false);
}

}  // namespace ag::nn
