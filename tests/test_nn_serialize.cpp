// save/load: bit-exact round trips, the scalar/tensor shared layout, and a
// distinct error for each kind of bad file, with the model left untouched.
#include "tests/scratch_dir.hpp"
#include <nn/nn.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <zlib.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>

using namespace ag::nn;

namespace {
std::vector<unsigned char> read_bytes(const std::filesystem::path& p) {
    std::vector<unsigned char> b(std::filesystem::file_size(p));
    std::FILE* f = std::fopen(p.c_str(), "rb");
    REQUIRE(f != nullptr);
    REQUIRE(std::fread(b.data(), 1, b.size(), f) == b.size());
    std::fclose(f);
    return b;
}
void write_bytes(const std::filesystem::path& p, const std::vector<unsigned char>& b) {
    std::FILE* f = std::fopen(p.c_str(), "wb");
    REQUIRE(f != nullptr);
    if (!b.empty()) REQUIRE(std::fwrite(b.data(), 1, b.size(), f) == b.size());
    std::fclose(f);
}
// Every parameter's bits, to compare models exactly (NaN included).
template <class Model>
std::vector<std::uint64_t> bits(const Model& m) {
    std::vector<std::uint64_t> out;
    for (const NamedParameter& p : m.named_parameters())
        for (double x : p.values()) out.push_back(std::bit_cast<std::uint64_t>(x));
    return out;
}
void put_u32(std::vector<unsigned char>& b, std::size_t at, std::uint32_t x) {
    for (int i = 0; i < 4; ++i) b[at + static_cast<std::size_t>(i)] = static_cast<unsigned char>(x >> (8 * i));
}
std::uint32_t crc_of(const std::vector<unsigned char>& b, std::size_t from, std::size_t n) {
    return static_cast<std::uint32_t>(crc32(crc32(0L, Z_NULL, 0), b.data() + from, static_cast<uInt>(n)));
}
// Expects load() to throw a LoadError of `kind` whose message contains `text`, and the model unchanged.
template <class Model>
void expect_load_error(const Model& m, const std::filesystem::path& p, LoadErrorKind kind, const std::string& text) {
    const auto before = bits(m);
    try {
        load(m, p);
        FAIL("load did not throw");
    } catch (const LoadError& e) {
        CHECK(e.kind() == kind);
        CHECK_MESSAGE(std::string(e.what()).find(text) != std::string::npos, std::string(e.what()));
    }
    CHECK(bits(m) == before);
}
}  // namespace

TEST_CASE("save then load round-trips bit-exactly (scalar, float64 and float32 tensors, odd values)") {
    const auto path = scratch_path("roundtrip.tgp");
    const MLP a(3, {5, 2}, {.init = Init::He, .seed = 1});
    const MLP b(3, {5, 2}, {.init = Init::He, .seed = 2});
    // Values that a text format or a careless conversion would not keep.
    a.layer(0).neuron(0).set_bias(-0.0);
    a.layer(0).neuron(1).set_bias(std::numeric_limits<double>::denorm_min());
    a.layer(0).neuron(2).set_bias(1.0 / 3.0);
    a.layer(1).neuron(0).set_bias(std::numeric_limits<double>::quiet_NaN());
    a.layer(1).neuron(1).set_bias(-std::numeric_limits<double>::infinity());
    save(a, path);
    CHECK(bits(b) != bits(a));
    load(b, path);
    CHECK(bits(b) == bits(a));
    CHECK(!std::filesystem::exists(path.string() + ".tmp"));
    // File size: 24-byte header + payload + 4-byte checksum.
    std::size_t payload = 4;
    for (const NamedParameter& p : a.named_parameters()) payload += 4 + p.name().size() + 4 + 8 * p.shape().size() + 8 * p.size();
    CHECK(std::filesystem::file_size(path) == 24 + payload + 4);

    const TensorMLP32 f(4, {6, 3}, {.init = Init::Xavier, .seed = 3});
    const TensorMLP32 g(4, {6, 3}, {.init = Init::Xavier, .seed = 4});
    save(f, path);  // overwrites the earlier file
    load(g, path);
    CHECK(bits(g) == bits(f));
    const Sequential s({Linear(2, 3, Init::Uniform, 5), Activation::Relu, Linear(3, 1, Init::Uniform, 6)});
    const Sequential t({Linear(2, 3, Init::Uniform, 7), Activation::Relu, Linear(3, 1, Init::Uniform, 8)});
    save(s, path);
    load(t, path);
    CHECK(bits(t) == bits(s));
}

TEST_CASE("The file layout is the documented one") {
    const auto path = scratch_path("layout.tgp");
    const Linear layer({{1.5}, {-2.0}}, {0.25});  // weight [2, 1], bias [1]
    save(layer, path);
    const std::vector<unsigned char> b = read_bytes(path);
    CHECK(std::string(b.begin(), b.begin() + 8) == "TAPEGRAD");
    CHECK(b[8] == 1);   // version 1, little-endian
    CHECK(b[12] == b.size() - 28);  // payload size
    CHECK(b[24] == 2);  // two parameters
    CHECK(b[28] == 6);  // name length of "weight"
    CHECK(std::string(b.begin() + 32, b.begin() + 38) == "weight");
    CHECK(b[38] == 2);  // rank 2
    CHECK(b[42] == 2);  // dims 2,
    CHECK(b[50] == 1);  //      1
    double first = 0;
    std::uint64_t u = 0;
    for (int i = 0; i < 8; ++i) u |= std::uint64_t{b[58 + static_cast<std::size_t>(i)]} << (8 * i);
    first = std::bit_cast<double>(u);
    CHECK(first == 1.5);
    CHECK(crc_of(b, 24, b.size() - 28) == (b[b.size() - 4] | b[b.size() - 3] << 8 | b[b.size() - 2] << 16 |
                                            static_cast<std::uint32_t>(b[b.size() - 1]) << 24));
}

TEST_CASE("A scalar MLP's file loads into the tensor MLP of the same sizes, and back") {
    const auto path = scratch_path("cross.tgp");
    const MLP scalar(2, {3, 1}, {.hidden = Activation::Tanh, .seed = 11});
    const TensorMLP tensor(2, {3, 1}, {.hidden = Activation::Tanh, .seed = 12});
    save(scalar, path);
    load(tensor, path);
    ag::Scope scope;
    const std::vector<double> x{0.7, -0.2};
    CHECK(tensor(ag::Tensor({1, 2}, std::span<const double>(x))).item() == doctest::Approx(scalar(x)[0].data()).epsilon(1e-15));
    const TensorMLP other(2, {3, 1}, {.seed = 13});
    save(other, path);
    load(scalar, path);
    CHECK(bits(scalar) == bits(other));
}

TEST_CASE("Each kind of bad file has its own error, and the model is left untouched") {
    const MLP model(2, {3, 1}, {.seed = 21});
    const MLP donor(2, {3, 1}, {.seed = 22});
    const auto good = scratch_path("good.tgp");
    save(donor, good);
    const std::vector<unsigned char> bytes = read_bytes(good);
    const auto bad = scratch_path("bad.tgp");

    SUBCASE("missing") {
        expect_load_error(model, scratch_path("does_not_exist.tgp"), LoadErrorKind::Missing, "missing file");
    }
    SUBCASE("truncated inside the header, inside the payload, and without its checksum") {
        for (std::size_t keep : {std::size_t{0}, std::size_t{10}, std::size_t{23}, bytes.size() / 2, bytes.size() - 1}) {
            CAPTURE(keep);
            write_bytes(bad, std::vector<unsigned char>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(keep)));
            expect_load_error(model, bad, LoadErrorKind::Truncated, "truncated file");
        }
    }
    SUBCASE("corrupted: a flipped payload bit, a damaged header, trailing bytes, not a tapegrad file") {
        std::vector<unsigned char> flipped = bytes;
        flipped[bytes.size() - 20] ^= 0x10;  // inside the last value
        write_bytes(bad, flipped);
        expect_load_error(model, bad, LoadErrorKind::Corrupted, "corrupted file: checksum mismatch");
        std::vector<unsigned char> header = bytes;
        header[13] ^= 0x01;  // the payload size
        write_bytes(bad, header);
        expect_load_error(model, bad, LoadErrorKind::Corrupted, "header checksum mismatch");
        std::vector<unsigned char> longer = bytes;
        longer.push_back(0);
        write_bytes(bad, longer);
        expect_load_error(model, bad, LoadErrorKind::Corrupted, "1 bytes after the end");
        std::vector<unsigned char> text(40, 'x');
        write_bytes(bad, text);
        expect_load_error(model, bad, LoadErrorKind::Corrupted, "does not start with \"TAPEGRAD\"");
    }
    SUBCASE("unsupported version") {
        std::vector<unsigned char> v2 = bytes;
        put_u32(v2, 8, 2);
        put_u32(v2, 20, crc_of(v2, 0, 20));
        write_bytes(bad, v2);
        expect_load_error(model, bad, LoadErrorKind::UnsupportedVersion, "unsupported version 2 (this build reads version 1)");
        // Every byte of the field counts, least significant first.
        put_u32(v2, 8, 0x04030201);
        put_u32(v2, 20, crc_of(v2, 0, 20));
        write_bytes(bad, v2);
        expect_load_error(model, bad, LoadErrorKind::UnsupportedVersion,
                          "unsupported version 67305985 (this build reads version 1)");
    }
    SUBCASE("a payload size that needs all 64 bits of its field") {
        std::vector<unsigned char> huge = bytes;
        const std::uint64_t size = bytes.size() - 28 + 0x0807060504000000;
        put_u32(huge, 12, static_cast<std::uint32_t>(size));
        put_u32(huge, 16, static_cast<std::uint32_t>(size >> 32));
        put_u32(huge, 20, crc_of(huge, 0, 20));
        write_bytes(bad, huge);
        expect_load_error(model, bad, LoadErrorKind::Truncated,
                          fmt::format("truncated file: {} bytes, the header announces {}", bytes.size(), size + 28));
    }
    SUBCASE("wrong architecture: another shape, another name, a parameter too many") {
        save(MLP(2, {4, 1}, {.seed = 1}), bad);
        expect_load_error(model, bad, LoadErrorKind::WrongArchitecture,
                          "wrong architecture: 'layers.0.weight' is [2, 4] in the file but [2, 3] in the model");
        save(Sequential({Linear(2, 3), Activation::Relu, Linear(3, 1)}), bad);
        expect_load_error(model, bad, LoadErrorKind::WrongArchitecture,
                          "wrong architecture: the model's parameter 'layers.0.weight' [2, 3] is not in the file");
        save(MLP(2, {3, 1, 1}, {.seed = 1}), bad);
        expect_load_error(model, bad, LoadErrorKind::WrongArchitecture,
                          "wrong architecture: the file's parameter 'layers.2.weight' [1, 1] is not in the model");
    }
    load(model, good);  // and a good file still loads
    CHECK(bits(model) == bits(donor));
}

TEST_CASE("save errors: duplicate names, unwritable path") {
    const ag::Tensor w = ag::Tensor::zeros({2});
    CHECK_THROWS_WITH_AS(save(std::vector<NamedParameter>{NamedParameter("w", w), NamedParameter("w", w)}, scratch_path("dup.tgp")),
                         doctest::Contains("two parameters are named 'w'"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(save(MLP(1, {1}), scratch_path("no_such_dir") / "x.tgp"), doctest::Contains("save: cannot create"),
                         std::runtime_error);
}
