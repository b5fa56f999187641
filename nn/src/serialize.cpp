#include <nn/serialize.hpp>

#include <fmt/format.h>
#include <zlib.h>

#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

namespace ag::nn {

const char* to_string(LoadErrorKind kind) noexcept {
    switch (kind) {
        case LoadErrorKind::Missing: return "missing file";
        case LoadErrorKind::Truncated: return "truncated file";
        case LoadErrorKind::Corrupted: return "corrupted file";
        case LoadErrorKind::UnsupportedVersion: return "unsupported version";
        case LoadErrorKind::WrongArchitecture: return "wrong architecture";
    }
    return "?";
}

namespace {

constexpr char magic[8] = {'T', 'A', 'P', 'E', 'G', 'R', 'A', 'D'};
constexpr std::uint32_t version = 1;
constexpr std::size_t header_size = 24;  // magic, version, payload size, header CRC

std::uint32_t crc(const unsigned char* p, std::size_t n) {
    uLong c = crc32(0L, Z_NULL, 0);
    // zlib takes uInt lengths: feed large buffers in pieces.
    while (n > 0) {
        const auto chunk = static_cast<uInt>(std::min<std::size_t>(n, 1u << 30));
        c = crc32(c, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return static_cast<std::uint32_t>(c);
}

// Little-endian encoding, independent of the machine's byte order.
struct Writer {
    std::vector<unsigned char> bytes;
    void u32(std::uint32_t x) {
        for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<unsigned char>(x >> (8 * i)));
    }
    void u64(std::uint64_t x) {
        for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<unsigned char>(x >> (8 * i)));
    }
    void f64(double x) { u64(std::bit_cast<std::uint64_t>(x)); }
    void raw(const void* p, std::size_t n) {
        const auto* b = static_cast<const unsigned char*>(p);
        bytes.insert(bytes.end(), b, b + n);
    }
};

// The inverse of Writer's encoding: `bytes` bytes at p, least significant first.
std::uint64_t little_endian(const unsigned char* p, int bytes) {
    std::uint64_t x = 0;
    for (int i = 0; i < bytes; ++i) x |= std::uint64_t{p[i]} << (8 * i);
    return x;
}

// Bounds-checked decoding of a payload whose checksum passed; running off
// the end means the writer and the contents disagree.
struct Reader {
    const unsigned char* p;
    std::size_t n, at = 0;
    const std::string& path;
    void need(std::size_t k, const char* what) const {
        if (k > n - at)
            throw LoadError(LoadErrorKind::Corrupted,
                            fmt::format("load: '{}': corrupted file: {} runs past the end of the payload (offset {})",
                                        path, what, header_size + at));
    }
    std::uint64_t uint(int bytes, const char* what) {
        need(static_cast<std::size_t>(bytes), what);
        const std::uint64_t x = little_endian(p + at, bytes);
        at += static_cast<std::size_t>(bytes);
        return x;
    }
    std::uint32_t u32(const char* what) { return static_cast<std::uint32_t>(uint(4, what)); }
    std::uint64_t u64(const char* what) { return uint(8, what); }
    double f64(const char* what) { return std::bit_cast<double>(uint(8, what)); }
};

struct StoredParameter {
    std::string name;
    std::vector<std::size_t> shape;
    std::vector<double> values;
};

}  // namespace

void save(const std::vector<NamedParameter>& parameters, const std::filesystem::path& path) {
    std::set<std::string> seen;
    Writer payload;
    payload.u32(static_cast<std::uint32_t>(parameters.size()));
    for (const NamedParameter& p : parameters) {
        if (!seen.insert(p.name()).second)
            throw std::invalid_argument(fmt::format("save: '{}': two parameters are named '{}'", path.string(), p.name()));
        payload.u32(static_cast<std::uint32_t>(p.name().size()));
        payload.raw(p.name().data(), p.name().size());
        payload.u32(static_cast<std::uint32_t>(p.shape().size()));
        for (std::size_t d : p.shape()) payload.u64(d);
        for (double x : p.values()) payload.f64(x);
    }
    Writer file;
    file.raw(magic, sizeof magic);
    file.u32(version);
    file.u64(payload.bytes.size());
    file.u32(crc(file.bytes.data(), file.bytes.size()));
    file.raw(payload.bytes.data(), payload.bytes.size());
    file.u32(crc(payload.bytes.data(), payload.bytes.size()));

    const std::filesystem::path tmp = path.string() + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (f == nullptr)
        throw std::runtime_error(fmt::format("save: cannot create '{}': {}", tmp.string(), std::strerror(errno)));
    const bool written = std::fwrite(file.bytes.data(), 1, file.bytes.size(), f) == file.bytes.size() &&
                         std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
    const int write_errno = errno;
    if (std::fclose(f) != 0 || !written) {
        std::filesystem::remove(tmp);
        throw std::runtime_error(fmt::format("save: writing '{}' failed: {}", tmp.string(), std::strerror(write_errno)));
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::filesystem::remove(tmp);
        throw std::runtime_error(fmt::format("save: cannot rename '{}' to '{}': {}", tmp.string(), path.string(), ec.message()));
    }
}

void load(const std::vector<NamedParameter>& parameters, const std::filesystem::path& path_) {
    const std::string path = path_.string();
    std::FILE* in = std::fopen(path_.c_str(), "rb");
    if (in == nullptr) {
        std::error_code ec;
        const bool exists = std::filesystem::exists(path_, ec);
        throw LoadError(LoadErrorKind::Missing, exists ? fmt::format("load: '{}': cannot open the file", path)
                                                       : fmt::format("load: '{}': missing file (no such file)", path));
    }
    std::vector<unsigned char> bytes;
    unsigned char buffer[1 << 16];
    std::size_t got;
    while ((got = std::fread(buffer, 1, sizeof buffer, in)) > 0) bytes.insert(bytes.end(), buffer, buffer + got);
    const bool read_error = std::ferror(in) != 0;
    std::fclose(in);
    if (read_error) throw LoadError(LoadErrorKind::Missing, fmt::format("load: '{}': cannot read the file", path));

    // --- header ---
    if (bytes.size() < header_size)
        throw LoadError(LoadErrorKind::Truncated, fmt::format("load: '{}': truncated file: {} bytes, shorter than the "
                                                              "{}-byte header",
                                                              path, bytes.size(), header_size));
    if (std::memcmp(bytes.data(), magic, sizeof magic) != 0)
        throw LoadError(LoadErrorKind::Corrupted,
                        fmt::format("load: '{}': corrupted file: it does not start with \"TAPEGRAD\" (not a tapegrad "
                                    "parameter file, or damaged)",
                                    path));
    if (crc(bytes.data(), 20) != little_endian(bytes.data() + 20, 4))
        throw LoadError(LoadErrorKind::Corrupted, fmt::format("load: '{}': corrupted file: header checksum mismatch", path));
    const auto file_version = static_cast<std::uint32_t>(little_endian(bytes.data() + 8, 4));
    if (file_version != version)
        throw LoadError(LoadErrorKind::UnsupportedVersion,
                        fmt::format("load: '{}': unsupported version {} (this build reads version {})", path,
                                    file_version, version));
    const std::uint64_t payload_size = little_endian(bytes.data() + 12, 8);
    const std::uint64_t expected = header_size + payload_size + 4;
    if (payload_size > bytes.size() || bytes.size() < expected)
        throw LoadError(LoadErrorKind::Truncated,
                        fmt::format("load: '{}': truncated file: {} bytes, the header announces {}", path, bytes.size(),
                                    expected));
    if (bytes.size() > expected)
        throw LoadError(LoadErrorKind::Corrupted,
                        fmt::format("load: '{}': corrupted file: {} bytes after the end announced by the header", path,
                                    bytes.size() - expected));
    const unsigned char* payload = bytes.data() + header_size;
    if (crc(payload, payload_size) != little_endian(payload + payload_size, 4))
        throw LoadError(LoadErrorKind::Corrupted, fmt::format("load: '{}': corrupted file: checksum mismatch", path));

    // --- payload ---
    Reader r{payload, payload_size, 0, path};
    std::vector<StoredParameter> stored;  // in file order
    std::map<std::string, std::size_t> by_name;
    const std::uint32_t count = r.u32("the parameter count");
    for (std::uint32_t k = 0; k < count; ++k) {
        const std::uint32_t name_length = r.u32("a name length");
        r.need(name_length, "a name");
        StoredParameter sp;
        sp.name.assign(reinterpret_cast<const char*>(payload + r.at), name_length);
        r.at += name_length;
        const std::string& name = sp.name;
        const std::uint32_t rank = r.u32("a rank");
        std::uint64_t numel = 1;
        for (std::uint32_t d = 0; d < rank; ++d) {
            const std::uint64_t dim = r.u64("a dimension");
            if (dim != 0 && numel > payload_size / dim)
                throw LoadError(LoadErrorKind::Corrupted,
                                fmt::format("load: '{}': corrupted file: parameter '{}' has a shape larger than the file",
                                            path, name));
            numel *= dim;
            sp.shape.push_back(static_cast<std::size_t>(dim));
        }
        r.need(numel * 8, "the values");
        sp.values.reserve(numel);
        for (std::uint64_t i = 0; i < numel; ++i) sp.values.push_back(r.f64("a value"));
        if (!by_name.emplace(name, stored.size()).second)
            throw LoadError(LoadErrorKind::Corrupted, fmt::format("load: '{}': corrupted file: a parameter name repeats", path));
        stored.push_back(std::move(sp));
    }
    if (r.at != payload_size)
        throw LoadError(LoadErrorKind::Corrupted,
                        fmt::format("load: '{}': corrupted file: {} unread payload bytes", path, payload_size - r.at));

    // --- architecture: the same names and shapes ---
    for (const NamedParameter& p : parameters) {
        const auto it = by_name.find(p.name());
        if (it == by_name.end())
            throw LoadError(LoadErrorKind::WrongArchitecture,
                            fmt::format("load: '{}': wrong architecture: the model's parameter '{}' {} is not in the file",
                                        path, p.name(), shape_string(p.shape())));
        const StoredParameter& sp = stored[it->second];
        if (sp.shape != p.shape())
            throw LoadError(LoadErrorKind::WrongArchitecture,
                            fmt::format("load: '{}': wrong architecture: '{}' is {} in the file but {} in the model",
                                        path, p.name(), shape_string(sp.shape), shape_string(p.shape())));
    }
    if (stored.size() != parameters.size()) {
        std::set<std::string> model_names;
        for (const NamedParameter& p : parameters) model_names.insert(p.name());
        for (const StoredParameter& sp : stored)
            if (!model_names.count(sp.name))
                throw LoadError(LoadErrorKind::WrongArchitecture,
                                fmt::format("load: '{}': wrong architecture: the file's parameter '{}' {} is not in the "
                                            "model",
                                            path, sp.name, shape_string(sp.shape)));
    }
    // Reading every parameter first checks its handles, so that a stale one
    // throws before anything is written.
    for (const NamedParameter& p : parameters) (void)p.values();
    for (const NamedParameter& p : parameters) p.set_values(stored[by_name.at(p.name())].values);
}

}  // namespace ag::nn
