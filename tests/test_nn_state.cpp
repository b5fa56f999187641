// State beside the parameters: the Standardizer saved and loaded with the
// model and applied to one row; a model's parameters as NumPy .npy files
// (bytes against the format, read back by NumPy when it is installed, and
// files NumPy wrote read in).
#include "tests/scratch_dir.hpp"

#include <nn/nn.hpp>

#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using ag::Tensor;
using namespace ag::nn;

namespace {
std::vector<double> values_of(const std::vector<NamedParameter>& ps) {
    std::vector<double> v;
    for (const NamedParameter& p : ps)
        for (double x : p.values()) v.push_back(x);
    return v;
}
std::string file_bytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
template <class F>
void expect_load_error(F f, LoadErrorKind kind, const std::string& text) {
    try {
        f();
        FAIL("no LoadError");
    } catch (const LoadError& e) {
        CHECK(e.kind() == kind);
        CHECK_MESSAGE(std::string(e.what()).find(text) != std::string::npos, e.what());
    }
}
// Whether /usr/bin/python3 can import numpy (the NumPy checks run only then).
bool have_numpy() { return std::system("/usr/bin/python3 -c 'import numpy' > /dev/null 2>&1") == 0; }
}  // namespace

TEST_CASE("Standardizer: one row as the data set's rows, and its errors") {
    const Dataset data =
        parse_csv("1,10,0\n3,30,1\n5,20,0\n");  // feature 0: mean 3, σ √(8/3); feature 1: mean 20, σ √(200/3)
    const Standardizer scaler(data);
    const std::vector<double> row = {5.0, 20.0};
    const std::vector<double> t = scaler.transform_row(row);
    CHECK(t[0] == doctest::Approx(2.0 / std::sqrt(8.0 / 3.0)).epsilon(1e-15));
    CHECK(t[1] == 0.0);
    const Dataset all = scaler.transformed(data);
    CHECK(t[0] == all.feature(2, 0));  // the same numbers as the set's third row
    CHECK(t[1] == all.feature(2, 1));
    std::vector<double> in_place = row;
    scaler.transform(std::span<double>(in_place));
    CHECK(in_place == t);
    const std::vector<double> short_row = {1.0};
    CHECK_THROWS_WITH_AS(scaler.transform_row(short_row),
                         "Standardizer::transform: the row has 1 values, fitted on 2 features", std::invalid_argument);
    const Standardizer identity(3);
    CHECK(identity.transform_row(std::vector<double>{1.0, -2.0, 3.5}) == std::vector<double>{1.0, -2.0, 3.5});
}

TEST_CASE("Standardizer saved and loaded with the model: the same predictions for a new row") {
    const Dataset data = make_moons(50, 0.1, 4);
    Dataset shifted = data;  // features far from 0, so that the standardizer matters
    for (double& x : shifted.features) x = 100.0 + 7.0 * x;
    const Standardizer scaler(shifted);
    const TensorMLP model(2, {5, 2}, {.seed = 2});
    const auto path = scratch_path("with_scaler.bin");
    save(model, scaler, path);

    const TensorMLP fresh(2, {5, 2}, {.seed = 99});
    Standardizer loaded(2);
    load(fresh, loaded, path);
    CHECK(loaded.mean() == scaler.mean());
    CHECK(loaded.scale() == scaler.scale());
    CHECK(values_of(fresh.named_parameters()) == values_of(model.named_parameters()));
    const std::vector<double> raw = {103.5, 96.0};
    ag::Scope scope;
    const std::vector<double> a = scaler.transform_row(raw), b = loaded.transform_row(raw);
    const Tensor pa = model(Tensor({1, 2}, {a[0], a[1]})), pb = fresh(Tensor({1, 2}, {b[0], b[1]}));
    CHECK(pa.data()[0] == pb.data()[0]);
    CHECK(pa.data()[1] == pb.data()[1]);

    // The file holds the model's entries then the standardizer's.
    Standardizer empty;
    CHECK_THROWS_WITH_AS(load(fresh, empty, path),
                         ("load: '" + path.string() +
                          "': the Standardizer to load into is empty; make it with "
                          "Standardizer(n_features)")
                             .c_str(),
                         std::invalid_argument);
    Standardizer three(3);
    expect_load_error([&] { load(fresh, three, path); }, LoadErrorKind::WrongArchitecture, "standardizer.mean");
    // A model file without a standardizer.
    const auto bare = scratch_path("bare.bin");
    save(model, bare);
    expect_load_error([&] { load(fresh, loaded, bare); }, LoadErrorKind::WrongArchitecture, "standardizer.mean");
    // A scale of 0 (a hand-made file) is refused, and nothing changes.
    std::vector<double> mean = {1.0, 2.0}, zero_scale = {1.0, 0.0};
    std::vector<NamedParameter> entries = model.named_parameters();
    entries.emplace_back("standardizer.mean", std::vector<std::size_t>{2}, std::span<double>(mean));
    entries.emplace_back("standardizer.scale", std::vector<std::size_t>{2}, std::span<double>(zero_scale));
    const auto bad = scratch_path("bad_scale.bin");
    save(entries, bad);
    const TensorMLP untouched(2, {5, 2}, {.seed = 7});
    const std::vector<double> before = values_of(untouched.named_parameters());
    expect_load_error([&] { load(untouched, loaded, bad); }, LoadErrorKind::Corrupted,
                      "feature 1 of the standardizer has mean 2 and scale 0");
    CHECK(values_of(untouched.named_parameters()) == before);
    CHECK(loaded.scale() == scaler.scale());
}

TEST_CASE("export_npy: one .npy per parameter, bytes as the format says") {
    const Linear layer({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}, {0.5, -0.25, 1e-300});
    const auto dir = scratch_path("npy_linear");
    export_npy(layer, dir);
    const std::string w = file_bytes(dir / "weight.npy");
    // magic, version 1.0, header length (little-endian u16), the header padded with spaces and '\n' so that
    // the data starts at a multiple of 64 (here 128: 10 + 59 header characters + '\n' is past 64), data.
    REQUIRE(w.size() == 128 + 6 * 8);
    CHECK(w.substr(0, 6) == std::string("\x93NUMPY", 6));
    CHECK(w[6] == 1);
    CHECK(w[7] == 0);
    CHECK(static_cast<unsigned char>(w[8]) + 256 * static_cast<unsigned char>(w[9]) == 128 - 10);
    const std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }";
    CHECK(w.substr(10, header.size()) == header);
    CHECK(w.substr(10 + header.size(), 128 - 10 - header.size() - 1) == std::string(128 - 10 - header.size() - 1, ' '));
    CHECK(w[127] == '\n');
    for (std::size_t k = 0; k < 6; ++k) {
        double v;
        std::memcpy(&v, w.data() + 128 + 8 * k, 8);  // x86-64 is little-endian, as the file
        CHECK(v == static_cast<double>(k + 1));
    }
    const std::string b = file_bytes(dir / "bias.npy");
    CHECK(b.find("'shape': (3,), }") != std::string::npos);  // a one-axis shape is written (3,)
    double last;
    std::memcpy(&last, b.data() + b.size() - 8, 8);
    CHECK(last == 1e-300);

    // float32 tensors as '<f4', the data after a 64-byte-aligned header.
    const Linear32 small({{0.1}}, {0.2});
    const auto dir32 = scratch_path("npy_f32");
    export_npy(small, dir32);
    const std::string w32 = file_bytes(dir32 / "weight.npy");
    CHECK(w32.find("'descr': '<f4'") != std::string::npos);
    REQUIRE(w32.size() == 128 + 4);
    float f;
    std::memcpy(&f, w32.data() + 128, 4);
    CHECK(f == 0.1f);
    // A scalar's shape is (); an empty array has no data.
    const std::vector<double> one = {2.5};
    const std::string scalar = npy_bytes({}, std::span<const double>(one));
    CHECK(scalar.find("'shape': (), }") != std::string::npos);
    CHECK(scalar.size() == 128 + 8);
    // Names that cannot be file names are refused before anything is written.
    std::vector<double> buffer = {1.0};
    const std::vector<NamedParameter> bad = {NamedParameter("a/b", {1}, std::span<double>(buffer))};
    CHECK_THROWS_WITH_AS(export_npy(bad, scratch_path("never")),
                         "export_npy/import_npy: the parameter name 'a/b' cannot be a file name (empty, '.', '..', or "
                         "with '/' or NUL)",
                         std::invalid_argument);
    CHECK_FALSE(std::filesystem::exists(scratch_path("never")));
}

TEST_CASE("import_npy: round trip, and every wrong file named, with the model unchanged") {
    const Sequential model({Linear(2, 3, Init::Xavier, 1), Activation::Relu, Linear(3, 1, Init::Xavier, 2)});
    const auto dir = scratch_path("npy_round");
    export_npy(model, dir);
    const Sequential other({Linear(2, 3, Init::Xavier, 5), Activation::Relu, Linear(3, 1, Init::Xavier, 6)});
    const std::vector<double> before = values_of(other.named_parameters());
    import_npy(other, dir);
    CHECK(values_of(other.named_parameters()) == values_of(model.named_parameters()));

    const Sequential victim({Linear(2, 3, Init::Xavier, 5), Activation::Relu, Linear(3, 1, Init::Xavier, 6)});
    auto check_unchanged = [&] { CHECK(values_of(victim.named_parameters()) == before); };
    // A transposed weight (PyTorch's layout).
    const std::vector<double> six(6, 1.0);
    std::ofstream(dir / "0.weight.npy", std::ios::binary) << npy_bytes({3, 2}, std::span<const double>(six));
    expect_load_error([&] { import_npy(victim, dir); }, LoadErrorKind::WrongArchitecture,
                      "shape [3, 2], but parameter '0.weight' is [2, 3] (the transpose: a PyTorch Linear weight is "
                      "[out, in], tapegrad's [in, out]; save w.T)");
    check_unchanged();
    // Cut short.
    std::string full = npy_bytes({2, 3}, std::span<const double>(six));
    std::ofstream(dir / "0.weight.npy", std::ios::binary) << full.substr(0, full.size() - 3);
    expect_load_error([&] { import_npy(victim, dir); }, LoadErrorKind::Truncated, "45 bytes of data for shape (2, 3)");
    check_unchanged();
    // Another dtype.
    std::string ints = full;
    ints.replace(ints.find("<f8"), 3, "<i8");
    std::ofstream(dir / "0.weight.npy", std::ios::binary) << ints;
    expect_load_error([&] { import_npy(victim, dir); }, LoadErrorKind::WrongArchitecture, "dtype '<i8'");
    // Fortran order.
    std::string fortran = full;
    fortran.replace(fortran.find("False"), 5, "True ");
    std::ofstream(dir / "0.weight.npy", std::ios::binary) << fortran;
    expect_load_error([&] { import_npy(victim, dir); }, LoadErrorKind::WrongArchitecture, "a Fortran-order array");
    // Not a .npy file; a missing file.
    std::ofstream(dir / "0.weight.npy", std::ios::binary) << "hello";
    expect_load_error([&] { import_npy(victim, dir); }, LoadErrorKind::Corrupted, "not a .npy file");
    std::filesystem::remove(dir / "0.weight.npy");
    expect_load_error([&] { import_npy(victim, dir); }, LoadErrorKind::Missing, "0.weight.npy': no such file");
    check_unchanged();
}

TEST_CASE("NumPy reads the exported files, and import_npy reads what NumPy wrote") {
    if (!have_numpy()) {
        MESSAGE("skipped: /usr/bin/python3 cannot import numpy");
        return;
    }
    const Linear layer({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}, {0.5, -0.25, 1e-300});
    const Linear32 layer32({{0.1, 0.2}}, {0.3, 0.4});
    const auto dir = scratch_path("npy_numpy");
    export_npy(layer, dir / "f8");
    export_npy(layer32, dir / "f4");
    const auto out = dir / "numpy.txt";
    const std::string script =
        "import numpy as np, sys\n"
        "d = sys.argv[1]\n"
        "with open(sys.argv[2], 'w') as f:\n"
        "    for name in ['f8/weight', 'f8/bias', 'f4/weight', 'f4/bias']:\n"
        "        a = np.load(d + '/' + name + '.npy')\n"
        "        f.write('%s %s %s %s\\n' % (name, a.dtype.str, a.shape, ' '.join(repr(float(x)) for x in "
        "a.ravel())))\n"
        "np.save(d + '/in/0.weight.npy', np.arange(6, dtype=np.float32).reshape(2, 3) / 8)\n"
        "np.save(d + '/in/0.bias.npy', np.array([0.1, 0.2, 0.3]))\n"
        "np.save(d + '/in/2.weight.npy', np.array([[1e-3], [2e-3], [3e-3]]))\n"
        "np.save(d + '/in/2.bias.npy', np.array([-7.5], dtype=np.float32))\n";
    std::filesystem::create_directories(dir / "in");
    std::ofstream(dir / "check.py") << script;
    const std::string command =
        "/usr/bin/python3 '" + (dir / "check.py").string() + "' '" + dir.string() + "' '" + out.string() + "'";
    REQUIRE(std::system(command.c_str()) == 0);
    std::ifstream in(out);
    std::stringstream text;
    text << in.rdbuf();
    CHECK(text.str() ==
          "f8/weight <f8 (2, 3) 1.0 2.0 3.0 4.0 5.0 6.0\n"
          "f8/bias <f8 (3,) 0.5 -0.25 1e-300\n"
          "f4/weight <f4 (1, 2) 0.10000000149011612 0.20000000298023224\n"  // 0.1f, 0.2f exactly
          "f4/bias <f4 (2,) 0.30000001192092896 0.4000000059604645\n");
    // What np.save wrote (with its own header padding), '<f4' into float64 and '<f8' as is.
    const Sequential model({Linear(2, 3), Activation::Relu, Linear(3, 1)});
    import_npy(model, dir / "in");
    const std::vector<double> v = values_of(model.named_parameters());
    CHECK(v == std::vector<double>{0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.1, 0.2, 0.3, 1e-3, 2e-3, 3e-3, -7.5});
}
