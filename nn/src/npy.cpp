#include <nn/npy.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <variant>

namespace ag::nn {

namespace {

constexpr char kMagic[] = "\x93NUMPY";  // 6 bytes and the terminating NUL

std::string shape_tuple(const std::vector<std::size_t>& shape) {
    if (shape.size() == 1) return fmt::format("({},)", shape[0]);
    return fmt::format("({})", fmt::join(shape, ", "));
}

template <class T>
std::string bytes_of(const std::vector<std::size_t>& shape, std::span<const T> values, const char* descr) {
    std::string header =
        fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr, shape_tuple(shape));
    // Padded with spaces and a final '\n' so that the data starts at a multiple of 64 (as NumPy pads).
    const std::size_t prelude = 10;  // magic, version, u16 length
    const std::size_t total = (prelude + header.size() + 1 + 63) / 64 * 64;
    header.append(total - prelude - header.size() - 1, ' ');
    header.push_back('\n');
    std::string out(kMagic, 6);
    out.push_back('\x01');
    out.push_back('\x00');
    out.push_back(static_cast<char>(header.size() & 0xff));
    out.push_back(static_cast<char>(header.size() >> 8));
    out += header;
    using Bits = std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t>;
    out.reserve(out.size() + values.size() * sizeof(T));
    for (const T v : values) {
        const Bits bits = std::bit_cast<Bits>(v);
        for (std::size_t b = 0; b < sizeof(T); ++b) out.push_back(static_cast<char>((bits >> (8 * b)) & 0xff));
    }
    return out;
}

void check_file_name(const std::string& name) {
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
        name.find('\0') != std::string::npos)
        throw std::invalid_argument(fmt::format(
            "export_npy/import_npy: the parameter name '{}' cannot be a file name (empty, '.', '..', or with "
            "'/' or NUL)",
            name));
}

// A parsed .npy file.
struct Array {
    bool f8 = true;  // '<f8', else '<f4'
    std::vector<std::size_t> shape;
    std::vector<double> values;
};

[[noreturn]] void corrupted(const std::filesystem::path& path, const std::string& what) {
    throw LoadError(LoadErrorKind::Corrupted, fmt::format("import_npy: '{}': {}", path.string(), what));
}

// The value of 'key' in the header dict: the text after "'key':" up to the next ',' at depth 0 or '}'.
std::optional<std::string> header_field(const std::string& header, const std::string& key) {
    std::size_t at = header.find("'" + key + "'");
    if (at == std::string::npos) at = header.find("\"" + key + "\"");
    if (at == std::string::npos) return std::nullopt;
    at = header.find(':', at);
    if (at == std::string::npos) return std::nullopt;
    ++at;
    int depth = 0;
    std::size_t end = at;
    for (; end < header.size(); ++end) {
        const char c = header[end];
        if (c == '(') ++depth;
        if (c == ')') --depth;
        if ((c == ',' && depth == 0) || c == '}') break;
    }
    std::string v = header.substr(at, end - at);
    const auto first = v.find_first_not_of(" \t");
    const auto last = v.find_last_not_of(" \t");
    return first == std::string::npos ? std::string() : v.substr(first, last - first + 1);
}

Array read_npy(const std::filesystem::path& path, std::size_t expected_numel) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
        throw LoadError(LoadErrorKind::Missing, fmt::format("import_npy: '{}': no such file", path.string()));
    const auto file_size = std::filesystem::file_size(path, ec);
    std::ifstream in(path, std::ios::binary);
    if (ec || !in)
        throw LoadError(LoadErrorKind::Missing,
                        fmt::format("import_npy: '{}': cannot be read ({})", path.string(), std::strerror(errno)));
    char prelude[12] = {};
    in.read(prelude, 8);
    if (in.gcount() < 8 || std::memcmp(prelude, kMagic, 6) != 0)
        corrupted(path, "not a .npy file (no \\x93NUMPY magic)");
    const int major = static_cast<unsigned char>(prelude[6]);
    if (major < 1 || major > 3)
        throw LoadError(LoadErrorKind::UnsupportedVersion,
                        fmt::format("import_npy: '{}': .npy format version {}.{}; 1.0, 2.0 and 3.0 are read",
                                    path.string(), major, static_cast<unsigned char>(prelude[7])));
    const std::size_t length_bytes = major == 1 ? 2 : 4;
    in.read(prelude + 8, static_cast<std::streamsize>(length_bytes));
    if (static_cast<std::size_t>(in.gcount()) < length_bytes) corrupted(path, "the file ends inside its header");
    std::size_t header_length = 0;
    for (std::size_t b = 0; b < length_bytes; ++b)
        header_length |= static_cast<std::size_t>(static_cast<unsigned char>(prelude[8 + b])) << (8 * b);
    const std::size_t data_start = 8 + length_bytes + header_length;
    if (data_start > file_size) corrupted(path, "the file ends inside its header");
    std::string header(header_length, '\0');
    in.read(header.data(), static_cast<std::streamsize>(header_length));

    Array a;
    const auto descr = header_field(header, "descr");
    const auto fortran = header_field(header, "fortran_order");
    const auto shape = header_field(header, "shape");
    if (!descr || !fortran || !shape)
        corrupted(path, fmt::format("a header without descr, fortran_order or shape: {}", header));
    if (*descr == "'<f8'" || *descr == "\"<f8\"")
        a.f8 = true;
    else if (*descr == "'<f4'" || *descr == "\"<f4\"")
        a.f8 = false;
    else
        throw LoadError(LoadErrorKind::WrongArchitecture,
                        fmt::format("import_npy: '{}': dtype {}; float64 ('<f8') or float32 ('<f4') is read "
                                    "(convert with arr.astype(np.float64))",
                                    path.string(), *descr));
    if (*fortran != "False")
        throw LoadError(LoadErrorKind::WrongArchitecture,
                        fmt::format("import_npy: '{}': a Fortran-order array; save it in C order "
                                    "(np.ascontiguousarray)",
                                    path.string()));
    // "(3, 2)", "(3,)", "()"
    const std::string& s = *shape;
    if (s.size() < 2 || s.front() != '(' || s.back() != ')') corrupted(path, fmt::format("shape {} is not a tuple", s));
    std::size_t numel = 1;
    for (std::size_t at = 1; at + 1 < s.size();) {
        while (at + 1 < s.size() && (s[at] == ' ' || s[at] == ',')) ++at;
        if (at + 1 >= s.size()) break;
        std::size_t end = at, dim = 0;
        while (end + 1 < s.size() && s[end] >= '0' && s[end] <= '9') {
            if (dim > (std::size_t{1} << 48)) corrupted(path, fmt::format("shape {} is too large", s));
            dim = dim * 10 + static_cast<std::size_t>(s[end] - '0');
            ++end;
        }
        if (end == at) corrupted(path, fmt::format("shape {} is not a tuple of sizes", s));
        a.shape.push_back(dim);
        if (dim != 0 && numel > (std::size_t{1} << 48) / dim) corrupted(path, fmt::format("shape {} is too large", s));
        numel *= dim;
        at = end;
    }
    if (numel != expected_numel) {
        a.values.clear();
        return a;  // the caller reports the shape; nothing more is read
    }
    const std::size_t item = a.f8 ? 8 : 4;
    if (file_size - data_start != numel * item)
        throw LoadError(file_size - data_start < numel * item ? LoadErrorKind::Truncated : LoadErrorKind::Corrupted,
                        fmt::format("import_npy: '{}': {} bytes of data for shape {} of {}-byte values, which need {}",
                                    path.string(), file_size - data_start, s, item, numel * item));
    std::string data(numel * item, '\0');
    in.read(data.data(), static_cast<std::streamsize>(data.size()));
    if (static_cast<std::size_t>(in.gcount()) != data.size()) corrupted(path, "could not read the data");
    a.values.resize(numel);
    for (std::size_t k = 0; k < numel; ++k) {
        std::uint64_t bits = 0;
        for (std::size_t b = 0; b < item; ++b)
            bits |= static_cast<std::uint64_t>(static_cast<unsigned char>(data[k * item + b])) << (8 * b);
        a.values[k] = a.f8 ? std::bit_cast<double>(bits)
                           : static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(bits)));
    }
    return a;
}

}  // namespace

std::string npy_bytes(const std::vector<std::size_t>& shape, std::span<const double> values) {
    return bytes_of(shape, values, "<f8");
}
std::string npy_bytes(const std::vector<std::size_t>& shape, std::span<const float> values) {
    return bytes_of(shape, values, "<f4");
}

void export_npy(const std::vector<NamedParameter>& parameters, const std::filesystem::path& directory) {
    for (const NamedParameter& p : parameters) check_file_name(p.name());
    std::error_code ec;
    std::filesystem::create_directories(directory, ec);
    if (ec)
        throw std::runtime_error(
            fmt::format("export_npy: cannot create the directory '{}': {}", directory.string(), ec.message()));
    for (const NamedParameter& p : parameters) {
        std::string bytes;
        if (const auto* t32 = std::get_if<Tensor32>(&p.storage())) {
            bytes = npy_bytes(p.shape(), std::span<const float>(t32->data()));
        } else {
            const std::vector<double> v = p.values();
            bytes = npy_bytes(p.shape(), std::span<const double>(v));
        }
        const std::filesystem::path path = directory / (p.name() + ".npy");
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        out.close();
        if (!out)
            throw std::runtime_error(
                fmt::format("export_npy: cannot write '{}': {}", path.string(), std::strerror(errno)));
    }
}

void import_npy(const std::vector<NamedParameter>& parameters, const std::filesystem::path& directory) {
    for (const NamedParameter& p : parameters) check_file_name(p.name());
    std::vector<std::vector<double>> values;
    values.reserve(parameters.size());
    for (const NamedParameter& p : parameters) {
        const std::filesystem::path path = directory / (p.name() + ".npy");
        Array a = read_npy(path, p.size());
        if (a.shape != p.shape()) {
            const bool transposed = a.shape.size() == 2 && p.shape().size() == 2 && a.shape[0] == p.shape()[1] &&
                                    a.shape[1] == p.shape()[0];
            throw LoadError(LoadErrorKind::WrongArchitecture,
                            fmt::format("import_npy: '{}': shape {}, but parameter '{}' is {}{}", path.string(),
                                        shape_string(a.shape), p.name(), shape_string(p.shape()),
                                        transposed ? " (the transpose: a PyTorch Linear weight is [out, in], "
                                                     "tapegrad's [in, out]; save w.T)"
                                                   : ""));
        }
        values.push_back(std::move(a.values));
    }
    for (std::size_t i = 0; i < parameters.size(); ++i) parameters[i].set_values(values[i]);
}

}  // namespace ag::nn
