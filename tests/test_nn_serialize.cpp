// save/load: bit-exact round trips, the scalar/tensor shared layout, and a
// distinct error for each kind of bad file, with the model left untouched.
#include "tests/scratch_dir.hpp"
#include <nn/nn.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <zlib.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

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
    for (const NamedParameter& p : a.named_parameters())
        payload += 4 + p.name().size() + 4 + 8 * p.shape().size() + 8 * p.size();
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
    CHECK(b[8] == 1);               // version 1, little-endian
    CHECK(b[12] == b.size() - 28);  // payload size
    CHECK(b[24] == 2);              // two parameters
    CHECK(b[28] == 6);              // name length of "weight"
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
    CHECK(tensor(ag::Tensor({1, 2}, std::span<const double>(x))).item() ==
          doctest::Approx(scalar(x)[0].data()).epsilon(1e-15));
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
        for (std::size_t keep :
             {std::size_t{0}, std::size_t{10}, std::size_t{23}, bytes.size() / 2, bytes.size() - 1}) {
            CAPTURE(keep);
            write_bytes(bad,
                        std::vector<unsigned char>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(keep)));
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
        expect_load_error(model, bad, LoadErrorKind::UnsupportedVersion,
                          "unsupported version 2 (this build reads version 1)");
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
    CHECK_THROWS_WITH_AS(
        save(std::vector<NamedParameter>{NamedParameter("w", w), NamedParameter("w", w)}, scratch_path("dup.tgp")),
        doctest::Contains("two parameters are named 'w'"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(save(MLP(1, {1}), scratch_path("no_such_dir") / "x.tgp"),
                         doctest::Contains("save: cannot create"), std::runtime_error);
}

namespace {
// The names in a directory, sorted, one space between them.
std::string listing(const std::filesystem::path& dir) {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir))
        names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return fmt::format("{}", fmt::join(names, " "));
}
std::string text_of(const std::filesystem::path& p) {
    const std::vector<unsigned char> b = read_bytes(p);
    return std::string(b.begin(), b.end());
}
}  // namespace

TEST_CASE("save does not write through a link planted at a temporary file's name, and leaves no temporary file") {
    const auto dir = scratch_path("planted");
    std::filesystem::create_directories(dir);
    const auto victim = scratch_path("victim.txt");
    write_bytes(victim, {'k', 'e', 'e', 'p'});
    const auto path = dir / "model.tgp";
    std::filesystem::create_symlink(victim, path.string() + ".tmp");  // the name save() used to write to
    const MLP model(2, {3, 1}, {.seed = 31});
    save(model, path);
    CHECK(text_of(victim) == "keep");
    CHECK(std::filesystem::is_symlink(path.string() + ".tmp"));  // someone else's file: left alone
    CHECK(!std::filesystem::is_symlink(path));
    const MLP loaded(2, {3, 1}, {.seed = 32});
    load(loaded, path);
    CHECK(bits(loaded) == bits(model));
    CHECK(listing(dir) == "model.tgp model.tgp.tmp");
    // A save that fails at the rename (the target is a directory) removes its temporary file.
    const auto taken = dir / "taken";
    std::filesystem::create_directories(taken / "inside");
    CHECK_THROWS_WITH_AS(save(model, taken), doctest::Contains("save: cannot rename"), std::runtime_error);
    CHECK(listing(dir) == "model.tgp model.tgp.tmp taken");
}

TEST_CASE("Two processes saving one path at once each succeed, and a reader only ever sees a whole file") {
    const auto path = scratch_path("shared.tgp");
    const TensorMLP a(8, {64, 16}, {.seed = 41}), b(8, {64, 16}, {.seed = 42});
    const TensorMLP reader(8, {64, 16}, {.seed = 43});
    save(a, path);
    const std::vector<std::uint64_t> bits_a = bits(a), bits_b = bits(b);
    REQUIRE(bits_a != bits_b);
    constexpr int saves = 300;
    std::vector<pid_t> writers;
    for (const TensorMLP* m : {&a, &b}) {
        const pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {  // a writer: no doctest in here, only an exit code
            int status = 0;
            try {
                for (int k = 0; k < saves; ++k) save(*m, path);
            } catch (const std::exception& e) {
                std::fprintf(stderr, "writer %d: %s\n", static_cast<int>(::getpid()), e.what());
                status = 1;
            }
            std::_Exit(status);
        }
        writers.push_back(pid);
    }
    int loads = 0, whole = 0, failures = 0;
    std::string first_failure;
    std::vector<int> statuses(writers.size(), -1);
    std::size_t finished = 0;
    auto running = [&] {
        for (std::size_t w = 0; w < writers.size(); ++w) {
            int status = 0;
            if (statuses[w] == -1 && ::waitpid(writers[w], &status, WNOHANG) == writers[w]) {
                statuses[w] = status;
                ++finished;
            }
        }
        return finished < writers.size();
    };
    while (running() || loads < 10) {
        ++loads;
        try {
            load(reader, path);
            const std::vector<std::uint64_t> got = bits(reader);
            whole += got == bits_a || got == bits_b ? 1 : 0;
        } catch (const LoadError& e) {
            if (failures++ == 0) first_failure = e.what();
        }
    }
    for (const int status : statuses) {
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    }
    INFO("first failed load: ", first_failure);
    CHECK(failures == 0);
    CHECK(whole == loads);
    // Nothing left behind but the file.
    CHECK(listing(scratch_dir()).find(".tmp") == std::string::npos);
}

TEST_CASE("load refuses what is not a regular file before reading it") {
    const MLP model(2, {3, 1}, {.seed = 51});
    // /dev/zero would be read forever, a FIFO would block at open.
    expect_load_error(model, "/dev/zero", LoadErrorKind::Missing,
                      "load: '/dev/zero': not a regular file (a character device), so not a parameter file");
    const auto fifo = scratch_path("fifo.tgp");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    expect_load_error(model, fifo, LoadErrorKind::Missing, "not a regular file (a FIFO)");
    expect_load_error(model, scratch_dir(), LoadErrorKind::Missing, "not a regular file (a directory)");
}

TEST_CASE("load checks the header against the file's size and the model's before reading the rest") {
    const MLP model(2, {3, 1}, {.seed = 61});
    const auto before = bits(model);
    // A sparse 3 GiB file: zeros are not a header.
    const auto sparse = scratch_path("sparse.tgp");
    constexpr std::uint64_t size = std::uint64_t{3} << 30;
    {
        std::filesystem::path p = sparse;
        write_bytes(p, {});
        std::filesystem::resize_file(p, size);
    }
    expect_load_error(model, sparse, LoadErrorKind::Corrupted, "does not start with \"TAPEGRAD\"");
    // The same file behind a valid header that announces all of it: its
    // payload cannot be this model's (a few hundred bytes), so it is not read;
    // the first parameter record (zeros: no parameters) says why.
    std::vector<unsigned char> header(24);
    for (std::size_t i = 0; i < 8; ++i) header[i] = static_cast<unsigned char>("TAPEGRAD"[i]);
    put_u32(header, 8, 1);
    const std::uint64_t payload = size - 28;
    put_u32(header, 12, static_cast<std::uint32_t>(payload));
    put_u32(header, 16, static_cast<std::uint32_t>(payload >> 32));
    put_u32(header, 20, crc_of(header, 0, 20));
    {
        std::FILE* f = std::fopen(sparse.c_str(), "r+b");
        REQUIRE(f != nullptr);
        REQUIRE(std::fwrite(header.data(), 1, header.size(), f) == header.size());
        std::fclose(f);
    }
    REQUIRE(std::filesystem::file_size(sparse) == size);
    expect_load_error(model, sparse, LoadErrorKind::WrongArchitecture,
                      "wrong architecture: the model's parameter 'layers.0.weight' [2, 3] is not in the file");
    // A first parameter whose name would take 1 GiB is not read either.
    std::vector<unsigned char> record(8);
    put_u32(record, 0, 1);
    put_u32(record, 4, 1u << 30);
    {
        std::FILE* f = std::fopen(sparse.c_str(), "r+b");
        REQUIRE(f != nullptr);
        REQUIRE(std::fseek(f, 24, SEEK_SET) == 0);
        REQUIRE(std::fwrite(record.data(), 1, record.size(), f) == record.size());
        std::fclose(f);
    }
    expect_load_error(model, sparse, LoadErrorKind::WrongArchitecture,
                      "wrong architecture: the file's parameter #1 has a name of 1073741824 bytes, longer than any of "
                      "the model's");
    CHECK(bits(model) == before);
    std::filesystem::remove(sparse);
}
