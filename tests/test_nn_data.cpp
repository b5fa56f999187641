// Data: the CSV reader (plain and gzip, header, label column, errors with
// line and column), standardization, stratified split, synthetic sets.
#include "tests/scratch_dir.hpp"
#include <nn/nn.hpp>

#include <doctest/doctest.h>
#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numbers>

using namespace ag::nn;

namespace {
std::string write_text(const std::string& name, const std::string& text) {
    const auto p = scratch_path(name);
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
}
std::string write_gzip(const std::string& name, const std::string& text) {
    const auto p = scratch_path(name);
    gzFile f = gzopen(p.c_str(), "wb");
    REQUIRE(f != nullptr);
    REQUIRE(gzwrite(f, text.data(), static_cast<unsigned>(text.size())) == static_cast<int>(text.size()));
    gzclose(f);
    return p.string();
}
}  // namespace

TEST_CASE("CSV: header detected, last column is the label, gzip read like plain text") {
    const std::string text =
        "150,4,setosa,versicolor,virginica\n5.1,3.5,1.4,0.2,0\n 6.2 ,2.9,4.3,1.3,1\r\n7.7,3.0,6.1,2.3,2\n\n";
    for (const std::string& path : {write_text("iris_like.csv", text), write_gzip("iris_like.csv.gz", text)}) {
        CAPTURE(path);
        const Dataset d = read_csv(path);
        CHECK(d.size() == 3);
        CHECK(d.n_features == 4);
        CHECK(d.features == std::vector<double>{5.1, 3.5, 1.4, 0.2, 6.2, 2.9, 4.3, 1.3, 7.7, 3.0, 6.1, 2.3});
        CHECK(d.labels == std::vector<double>{0, 1, 2});
        CHECK(d.column_names.at(2) == "setosa");
        CHECK(d.n_classes() == 3);
        CHECK(d.row(1)[0] == 6.2);
    }
    // No header, label in the first column, semicolons; a purely numeric first line is data.
    const Dataset d = parse_csv("1;0.5;-2e3\n0;1.5;+4\n", {.label_column = 0, .delimiter = ';'});
    CHECK(d.labels == std::vector<double>{1, 0});
    CHECK(d.features == std::vector<double>{0.5, -2000, 1.5, 4});
    CHECK(d.column_names.empty());
    // No label column at all; a forced header.
    const Dataset u = parse_csv("a,b\n1,2\n", {.header = Header::Yes, .label_column = std::nullopt});
    CHECK(u.n_features == 2);
    CHECK(u.labels.empty());
    CHECK(u.features == std::vector<double>{1, 2});
}

TEST_CASE("CSV errors name the file, line and column") {
    CHECK_THROWS_WITH_AS(parse_csv("1,2,3\n4,5\n", {}, "ragged.csv"),
                         "read_csv: ragged.csv: line 2 has 2 fields, expected 3 (as on line 1)", std::invalid_argument);
    CHECK_THROWS_WITH_AS(parse_csv("x,y,label\n1,2,0\n3,4,1,9\n", {}, "ragged.csv"),
                         "read_csv: ragged.csv: line 3 has 4 fields, expected 3 (as on line 2)", std::invalid_argument);
    // sklearn's header line has its own field count; the rows must agree with each other.
    const Dataset wine_like = parse_csv("178,13,class_0,class_1,class_2\n1,2,3,0\n4,5,6,2\n", {}, "wine.csv");
    CHECK(wine_like.n_features == 3);
    CHECK(wine_like.labels == std::vector<double>{0, 2});
    CHECK(wine_like.column_names.size() == 5);
    CHECK_THROWS_WITH_AS(parse_csv("1,2,0\n3,abc,1\n", {}, "bad.csv"),
                         "read_csv: bad.csv: line 2, column 2: 'abc' is not a number", std::invalid_argument);
    CHECK_THROWS_WITH_AS(parse_csv("1,2,0\n3,,1\n", {}, "bad.csv"),
                         "read_csv: bad.csv: line 2, column 2: '' is not a number", std::invalid_argument);
    CHECK_THROWS_WITH_AS(parse_csv("1,2,0\n3,4.5.6,1\n", {}, "bad.csv"),
                         "read_csv: bad.csv: line 2, column 2: '4.5.6' is not a number", std::invalid_argument);
    // With Header::No, a word on line 1 is an error, not a header.
    CHECK_THROWS_WITH_AS(parse_csv("a,1\n", {.header = Header::No}, "h.csv"),
                         "read_csv: h.csv: line 1, column 1: 'a' is not a number", std::invalid_argument);
    CHECK_THROWS_WITH_AS(parse_csv("1,2\n", {.label_column = 5}, "l.csv"),
                         "read_csv: l.csv: label column 5 does not exist (line 1 has 2 columns)",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(parse_csv("x,y\n", {}, "empty.csv"), "read_csv: empty.csv: no data rows",
                         std::invalid_argument);
    const std::string missing = scratch_path("no_such_file.csv").string();
    CHECK_THROWS_WITH_AS(read_csv(missing), fmt::format("read_csv: cannot open '{}': no such file", missing).c_str(),
                         std::runtime_error);
    const std::string on_disk = write_text("ragged_on_disk.csv", "1,2\n3\n");
    CHECK_THROWS_WITH_AS(read_csv(on_disk),
                         fmt::format("read_csv: {}: line 2 has 1 fields, expected 2 (as on line 1)", on_disk).c_str(),
                         std::invalid_argument);
    // A gzip file cut short: zlib reports it, and so do we.
    std::string text;
    for (int i = 0; i < 2000; ++i) text += fmt::format("{},{},{}\n", i, i * 0.5, i % 3);
    const std::string gz = write_gzip("cut.csv.gz", text);
    std::filesystem::resize_file(gz, std::filesystem::file_size(gz) / 2);
    CHECK_THROWS_WITH_AS(read_csv(gz), doctest::Contains("corrupt or truncated gzip data"), std::runtime_error);
}

TEST_CASE("Standardizer: training statistics, population sd, constant columns") {
    Dataset train = parse_csv("1,10,5,0\n2,20,5,1\n3,60,5,0\n", {});
    Dataset test = parse_csv("4,30,7,1\n", {});
    const Standardizer s(train);
    CHECK(s.mean() == std::vector<double>{2, 30, 5});
    CHECK(s.scale()[0] == doctest::Approx(std::sqrt(2.0 / 3)).epsilon(1e-15));
    CHECK(s.scale()[1] == doctest::Approx(std::sqrt(1400.0 / 3)).epsilon(1e-15));
    CHECK(s.scale()[2] == 1.0);  // constant column: scale 1, not a division by zero
    s.transform(train);
    s.transform(test);
    double m = 0, v = 0;
    for (std::size_t i = 0; i < 3; ++i) m += train.feature(i, 1);
    for (std::size_t i = 0; i < 3; ++i) v += train.feature(i, 1) * train.feature(i, 1);
    CHECK(std::abs(m) < 1e-14);
    CHECK(v / 3 == doctest::Approx(1.0).epsilon(1e-14));
    CHECK(test.feature(0, 0) == doctest::Approx(2 / std::sqrt(2.0 / 3)).epsilon(1e-15));  // uses train's statistics
    CHECK(test.feature(0, 2) == 2.0);
    CHECK(train.labels == std::vector<double>{0, 1, 0});  // labels untouched
    Dataset wrong = parse_csv("1,2\n", {});
    CHECK_THROWS_WITH_AS(s.transform(wrong), "Standardizer::transform: data has 1 features, fitted on 3",
                         std::invalid_argument);
}

TEST_CASE("Stratified train/test split keeps class proportions and every row once") {
    Dataset d;
    d.n_features = 1;
    for (int i = 0; i < 200; ++i) {
        d.features.push_back(i);
        d.labels.push_back(i < 120 ? 0 : (i < 180 ? 1 : 2));  // 120 / 60 / 20
    }
    const auto [train, test] = train_test_split(d, 0.25, 7);
    CHECK(test.size() == 50);
    CHECK(train.size() == 150);
    std::map<double, int> test_counts;
    for (double y : test.labels) ++test_counts[y];
    CHECK(test_counts[0] == 30);
    CHECK(test_counts[1] == 15);
    CHECK(test_counts[2] == 5);
    std::vector<int> seen(200, 0);
    for (const Dataset* part : {&train, &test})
        for (std::size_t i = 0; i < part->size(); ++i) {
            const int row = static_cast<int>(part->feature(i, 0));
            ++seen[static_cast<std::size_t>(row)];
            CHECK(part->labels[i] == d.labels[static_cast<std::size_t>(row)]);  // labels travel with their rows
        }
    for (int c : seen) CHECK(c == 1);
    // Seeded: the same seed gives the same split, another seed another.
    CHECK(train_test_split(d, 0.25, 7).test.features == test.features);
    CHECK(train_test_split(d, 0.25, 8).test.features != test.features);
    CHECK_THROWS_WITH_AS(train_test_split(d, 1.0, 1), "train_test_split: test_fraction 1 is not in (0, 1)",
                         std::invalid_argument);
}

TEST_CASE("make_moons: sklearn's layout, noise, seeds") {
    const Dataset d = make_moons(100, 0.0, 1);
    REQUIRE(d.size() == 100);
    int outer = 0;
    for (std::size_t i = 0; i < d.size(); ++i) {
        const double x = d.feature(i, 0), y = d.feature(i, 1);
        if (d.labels[i] == 0) {  // x = cos t, y = sin t
            ++outer;
            CHECK(x * x + y * y == doctest::Approx(1.0).epsilon(1e-14));
            CHECK(y >= -1e-15);
        } else {  // x = 1 − cos t, y = 0.5 − sin t
            CHECK((1 - x) * (1 - x) + (0.5 - y) * (0.5 - y) == doctest::Approx(1.0).epsilon(1e-14));
            CHECK(y <= 0.5 + 1e-15);
        }
    }
    CHECK(outer == 50);
    // The endpoints t = 0 and t = π are present: (1, 0), (−1, 0), (0, 0.5), (2, 0.5).
    auto has = [&](double x, double y, double label) {
        for (std::size_t i = 0; i < d.size(); ++i)
            if (std::abs(d.feature(i, 0) - x) < 1e-12 && std::abs(d.feature(i, 1) - y) < 1e-12 && d.labels[i] == label)
                return true;
        return false;
    };
    CHECK(has(1, 0, 0));
    CHECK(has(-1, 0, 0));
    CHECK(has(0, 0.5, 1));
    CHECK(has(2, 0.5, 1));
    // Noise: the residuals from the clean curves have standard deviation ≈ noise.
    const Dataset noisy = make_moons(2000, 0.1, 3);
    CHECK(noisy.features != make_moons(2000, 0.1, 4).features);
    CHECK(noisy.features == make_moons(2000, 0.1, 3).features);
    double mean_x = 0;
    for (std::size_t i = 0; i < noisy.size(); ++i) mean_x += noisy.feature(i, 0);
    CHECK(mean_x / 2000 == doctest::Approx(0.5).epsilon(0.02));  // the two moons are centred at x = 0.5
}

TEST_CASE("make_circles, make_spirals, make_xor") {
    const Dataset c = make_circles(100, 0.0, 2, 0.5);
    for (std::size_t i = 0; i < c.size(); ++i) {
        const double r = std::hypot(c.feature(i, 0), c.feature(i, 1));
        CHECK(r == doctest::Approx(c.labels[i] == 0 ? 1.0 : 0.5).epsilon(1e-14));
    }
    const Dataset s = make_spirals(300, 0.0, 3, 3);
    CHECK(s.size() == 300);
    CHECK(s.n_classes() == 3);
    for (std::size_t i = 0; i < s.size(); ++i) {
        // Without noise, θ = 4j + 4r: the point (r sin θ, r cos θ) satisfies it.
        const double r = std::hypot(s.feature(i, 0), s.feature(i, 1));
        const double theta = 4 * s.labels[i] + 4 * r;
        CHECK(s.feature(i, 0) == doctest::Approx(r * std::sin(theta)).epsilon(1e-12).scale(1e-12));
        CHECK(s.feature(i, 1) == doctest::Approx(r * std::cos(theta)).epsilon(1e-12).scale(1e-12));
    }
    const Dataset x = make_xor(4, 0.0, 0);
    CHECK(x.features == std::vector<double>{0, 0, 0, 1, 1, 0, 1, 1});
    CHECK(x.labels == std::vector<double>{0, 1, 1, 0});
    CHECK(make_xor(8, 0.1, 5).features == make_xor(8, 0.1, 5).features);
    CHECK(make_xor(8, 0.1, 5).labels == std::vector<double>{0, 1, 1, 0, 0, 1, 1, 0});
    CHECK_THROWS_AS(make_moons(10, -1.0, 0), std::invalid_argument);
}

TEST_CASE("Datasets become tensors that need no gradient") {
    const Dataset d = make_xor(4, 0.0, 0);
    const ag::Tensor X = features_tensor(d);
    const ag::Tensor32 y = labels_tensor<float>(d);
    CHECK(X.shape() == ag::Shape{4, 2});
    CHECK(X.at({2, 0}) == 1.0);
    CHECK(!X.requires_grad());
    CHECK(y.to_vector() == std::vector<float>{0, 1, 1, 0});
    CHECK(d.class_labels() == std::vector<std::int64_t>{0, 1, 1, 0});
    Dataset bad = d;
    bad.labels[2] = 0.5;
    CHECK_THROWS_WITH_AS(bad.class_labels(),
                         "class labels: row 2 has label 0.5, not a class index (a whole number >= 0)",
                         std::invalid_argument);
}

TEST_CASE("train_test_split stratifies only by class indices: regression targets split at random") {
    // 2000 rows whose real-valued targets are all distinct: stratifying by
    // value would make 2000 classes of one row and a test part of none.
    Dataset d;
    d.n_features = 1;
    for (int i = 0; i < 2000; ++i) {
        d.features.push_back(i);
        d.labels.push_back(0.5 * i + 0.25);
    }
    const auto [train, test] = train_test_split(d, 0.25, 3);
    CHECK(test.size() == 500);
    CHECK(train.size() == 1500);
    // The same rows as an explicit random split, and each label still travels with its row.
    CHECK(test.features == train_test_split(d, 0.25, 3, /*stratify=*/false).test.features);
    for (std::size_t i = 0; i < test.size(); ++i) CHECK(test.labels[i] == 0.5 * test.feature(i, 0) + 0.25);
    // No labels at all: nothing to stratify by, a random split too.
    Dataset unlabelled = d;
    unlabelled.labels.clear();
    CHECK(train_test_split(unlabelled, 0.25, 3).test.features == test.features);
    Dataset half_labelled = d;
    half_labelled.labels.resize(1000);
    CHECK_THROWS_WITH_AS(train_test_split(half_labelled, 0.25, 3),
                         "train_test_split: the data set has 1000 labels for 2000 rows", std::invalid_argument);
}

TEST_CASE("train_test_split refuses a stratified split with a class of one row, and an empty part") {
    // Whole-number targets that are really a regression (ages, counts) look
    // like class indices; most "classes" then have one row.
    Dataset d;
    d.n_features = 1;
    for (int i = 0; i < 2000; ++i) {
        d.features.push_back(i);
        d.labels.push_back(i < 10 ? 0 : i);
    }
    CHECK_THROWS_WITH_AS(train_test_split(d, 0.25, 1),
                         "train_test_split: class 10 has only 1 row; a stratified split needs at least 2 rows of each "
                         "class (for whole-number regression targets, or to keep a rare class, pass stratify = false)",
                         std::invalid_argument);
    CHECK(train_test_split(d, 0.25, 1, /*stratify=*/false).test.size() == 500);
    // round(0.1 · 3) = 0 rows for test.
    Dataset three;
    three.n_features = 1;
    three.features = {1, 2, 3};
    three.labels = {0.5, 1.5, 2.5};
    CHECK_THROWS_WITH_AS(train_test_split(three, 0.1, 1),
                         "train_test_split: test_fraction 0.1 of 3 rows gives 3 training and 0 test rows; each part "
                         "needs at least one",
                         std::invalid_argument);
    CHECK(train_test_split(three, 0.4, 1).test.size() == 1);
}

TEST_CASE("CSV: quoted fields lose their quotes, keep their delimiters, and quoted numbers are numbers") {
    const Dataset d = parse_csv(
        "\"sepal length\",\"width, cm\",\"say \"\"hi\"\"\",\"label\"\n"
        "\"5.1\",3.5,\"1.4\",0\n 2 , \"3\" ,4,1\n");
    CHECK(d.column_names == std::vector<std::string>{"sepal length", "width, cm", "say \"hi\"", "label"});
    CHECK(d.features == std::vector<double>{5.1, 3.5, 1.4, 2, 3, 4});
    CHECK(d.labels == std::vector<double>{0, 1});
    const Dataset semi = parse_csv("\"a\";\"b\"\n1;0\n", {.delimiter = ';'});
    CHECK(semi.column_names == std::vector<std::string>{"a", "b"});
    CHECK_THROWS_WITH_AS(
        parse_csv("\"a,b\n1,2\n", {}, "q.csv"),
        "read_csv: q.csv: line 1, column 1: a quoted field is not closed (quoted fields cannot span lines)",
        std::invalid_argument);
    CHECK_THROWS_WITH_AS(parse_csv("a,\"b\"x,c\n1,2,3\n", {}, "q.csv"),
                         "read_csv: q.csv: line 1, column 2: 'x' follows the closing quote of a quoted field",
                         std::invalid_argument);
}

TEST_CASE("CSV: a file separated by another delimiter gets an error that names it") {
    CHECK_THROWS_WITH_AS(parse_csv("x;y;label\n1;2;0\n3;4;1\n", {}, "semi.csv"),
                         "read_csv: semi.csv: line 2 has only the label column; no features are left (the line "
                         "contains ';': if the file is separated by ';', set CsvOptions::delimiter = ';')",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(parse_csv("1\t2\t0\n", {.header = Header::No}, "tabs.csv"),
                         "read_csv: tabs.csv: line 1 has only the label column; no features are left (the line "
                         "contains '\\t': if the file is separated by '\\t', set CsvOptions::delimiter = '\\t')",
                         std::invalid_argument);
    // Without a label column the first field is not a number; with decimal commas the fields split wrongly.
    CHECK_THROWS_WITH_AS(parse_csv("1;2;0\n", {.header = Header::No, .label_column = std::nullopt}, "semi.csv"),
                         "read_csv: semi.csv: line 1, column 1: '1;2;0' is not a number (the line contains ';': if "
                         "the file is separated by ';', set CsvOptions::delimiter = ';')",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(parse_csv("a;b;label\n1,5;2,25;0\n", {}, "euro.csv"),
                         "read_csv: euro.csv: line 2, column 2: '5;2' is not a number (the line contains ';': if the "
                         "file is separated by ';', set CsvOptions::delimiter = ';')",
                         std::invalid_argument);
    // The hint only when another delimiter is there: a ragged comma file gets none.
    CHECK_THROWS_WITH_AS(parse_csv("1,2,3\n4,5\n", {}, "ragged.csv"),
                         "read_csv: ragged.csv: line 2 has 2 fields, expected 3 (as on line 1)", std::invalid_argument);
    // A header and nothing else that splits: the header is the only line.
    CHECK_THROWS_WITH_AS(parse_csv("a;b;label\n", {}, "semi.csv"),
                         "read_csv: semi.csv: no data rows (the line contains ';': if the file is separated by ';', "
                         "set CsvOptions::delimiter = ';')",
                         std::invalid_argument);
    CHECK(parse_csv("1;2;0\n", {.delimiter = ';'}).features == std::vector<double>{1, 2});
}
