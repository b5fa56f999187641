#include <nn/serialize.hpp>

#include <fmt/format.h>
#include <zlib.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <map>
#include <random>
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

// A file descriptor, closed when it goes out of scope.
class Fd {
public:
    explicit Fd(int fd) noexcept : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const noexcept { return fd_; }
    // Closes now, reporting close's error (a delayed write error on some file systems).
    int close() noexcept {
        const int r = ::close(fd_);
        fd_ = -1;
        return r;
    }

private:
    int fd_;
};

bool write_all(int fd, const unsigned char* p, std::size_t n) {
    while (n > 0) {
        const ssize_t k = ::write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k == 0) errno = EIO;
        if (k <= 0) return false;
        p += k;
        n -= static_cast<std::size_t>(k);
    }
    return true;
}

// Reads n bytes at `offset`; fewer only at the end of the file. -1 on error.
ssize_t read_at(int fd, unsigned char* p, std::size_t n, std::uint64_t offset) {
    std::size_t got = 0;
    while (got < n) {
        const ssize_t k = ::pread(fd, p + got, n - got, static_cast<off_t>(offset + got));
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -1;
        if (k == 0) break;
        got += static_cast<std::size_t>(k);
    }
    return static_cast<ssize_t>(got);
}

// A new, empty file beside `path` with a name no one else uses: created with
// O_EXCL, so it is never an existing file or a link planted at that name,
// and unique (process id, a counter, random bits), so concurrent saves to
// one path, from threads or processes, each write their own file.
int create_temporary(const std::filesystem::path& path, std::filesystem::path& tmp) {
    static std::atomic<std::uint64_t> counter{0};
    static const std::uint64_t salt = [] {
        std::random_device device;
        return (std::uint64_t{device()} << 32) ^ device();
    }();
    const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    // A short stem keeps the name under NAME_MAX whatever the target's length.
    const std::string stem = path.filename().string().substr(0, 64);
    for (int attempt = 0;; ++attempt) {
        tmp = dir / fmt::format(".{}.{}-{}-{:016x}.tmp", stem, ::getpid(), counter++, salt ^ std::uint64_t(attempt));
        const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST || attempt == 99) return fd;
    }
}

// The bytes save() writes for these parameters, without values: names,
// ranks and dimensions, then 8 bytes a value. Used by load() to tell a file
// that cannot be this model's by its size alone.
std::uint64_t payload_size_of(const std::vector<NamedParameter>& parameters) {
    std::uint64_t n = 4;
    for (const NamedParameter& p : parameters) n += 4 + p.name().size() + 4 + 8 * p.shape().size() + 8 * p.size();
    return n;
}

// Entries named "@..." are a checkpoint's training state (nn/checkpoint.hpp):
// when one is missing on either side, say what the file or the call lacks.
std::string state_hint(const std::string& name, bool in_file) {
    if (name.empty() || name[0] != '@') return "";
    return in_file ? " (training state of a checkpoint: load_checkpoint reads it, given an optimizer of the kind "
                     "named and a schedule when the file has one)"
                   : " (training state: the file is not a checkpoint of this optimizer kind and schedule)";
}

const char* file_type(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

}  // namespace

void save(const std::vector<NamedParameter>& parameters, const std::filesystem::path& path) {
    std::set<std::string> seen;
    Writer payload;
    payload.u32(static_cast<std::uint32_t>(parameters.size()));
    for (const NamedParameter& p : parameters) {
        if (!seen.insert(p.name()).second)
            throw std::invalid_argument(
                fmt::format("save: '{}': two parameters are named '{}'", path.string(), p.name()));
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

    // Written in full and flushed to disk under a name of its own, then
    // renamed over `path` in one step: a reader, or a crash, sees the old
    // file or the new one, never a part.
    std::filesystem::path tmp;
    Fd fd(create_temporary(path, tmp));
    if (fd.get() < 0)
        throw std::runtime_error(fmt::format("save: cannot create a temporary file '{}' for '{}': {}", tmp.string(),
                                             path.string(), std::strerror(errno)));
    const bool written = write_all(fd.get(), file.bytes.data(), file.bytes.size()) && ::fsync(fd.get()) == 0;
    const int write_errno = errno;
    if (fd.close() != 0 || !written) {
        const int e = written ? errno : write_errno;
        ::unlink(tmp.c_str());
        throw std::runtime_error(fmt::format("save: writing '{}' failed: {}", tmp.string(), std::strerror(e)));
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int e = errno;
        ::unlink(tmp.c_str());
        throw std::runtime_error(
            fmt::format("save: cannot rename '{}' to '{}': {}", tmp.string(), path.string(), std::strerror(e)));
    }
    // The rename is durable once the directory is synced. Best effort: some
    // file systems cannot sync a directory, and the file itself is complete.
    const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir_fd.get() >= 0) (void)::fsync(dir_fd.get());
}

namespace {

// What is wrong with a file whose payload (P bytes, header checked) is
// larger than the model's: it cannot be this model's file, and is not read
// in full. The parameter headers are read one by one from the file, up to
// one more than the model has, to name the first that differs.
[[noreturn]] void describe_larger_file(int fd, const std::vector<NamedParameter>& parameters, std::uint64_t P,
                                       const std::string& path) {
    std::uint64_t at = 0;  // offset in the payload
    auto corrupted = [&](const char* what) -> LoadError {
        return LoadError(LoadErrorKind::Corrupted,
                         fmt::format("load: '{}': corrupted file: {} runs past the end of the payload (offset {})",
                                     path, what, header_size + at));
    };
    auto read = [&](std::size_t n, const char* what) {
        if (n > P - at) throw corrupted(what);
        std::vector<unsigned char> b(n);
        if (read_at(fd, b.data(), n, header_size + at) != static_cast<ssize_t>(n))
            throw LoadError(LoadErrorKind::Truncated,
                            fmt::format("load: '{}': truncated file: it shrank while read", path));
        at += n;
        return b;
    };
    auto uint = [&](int bytes, const char* what) {
        return little_endian(read(static_cast<std::size_t>(bytes), what).data(), bytes);
    };
    std::map<std::string, const NamedParameter*> model;
    std::size_t longest_name = 0;
    for (const NamedParameter& p : parameters) {
        model.emplace(p.name(), &p);
        longest_name = std::max(longest_name, p.name().size());
    }
    std::set<std::string> in_file;
    const std::uint64_t count = uint(4, "the parameter count");
    for (std::uint64_t k = 0; k < count && k <= parameters.size(); ++k) {
        const auto name_length = static_cast<std::size_t>(uint(4, "a name length"));
        if (name_length > longest_name) {  // not read: it could be gigabytes; its first byte tells training state
            const bool state = name_length > 0 && read(1, "a name")[0] == '@';
            throw LoadError(LoadErrorKind::WrongArchitecture,
                            fmt::format("load: '{}': wrong architecture: the file's parameter #{} has a name of {} "
                                        "bytes, longer than any of the model's{}",
                                        path, k + 1, name_length, state ? state_hint("@", true) : ""));
        }
        const std::vector<unsigned char> name_bytes = read(name_length, "a name");
        const std::string name(name_bytes.begin(), name_bytes.end());
        const std::uint64_t rank = uint(4, "a rank");
        if (rank > (P - at) / 8) throw corrupted("a shape");
        std::vector<std::size_t> shape;
        std::uint64_t numel = 1;
        for (std::uint64_t d = 0; d < rank; ++d) {
            const std::uint64_t dim = uint(8, "a dimension");
            if (dim != 0 && numel > P / dim)
                throw LoadError(
                    LoadErrorKind::Corrupted,
                    fmt::format("load: '{}': corrupted file: parameter '{}' has a shape larger than the file", path,
                                name));
            numel *= dim;
            shape.push_back(static_cast<std::size_t>(dim));
        }
        if (numel > (P - at) / 8) throw corrupted("the values");
        at += numel * 8;
        const auto it = model.find(name);
        if (it == model.end())
            throw LoadError(
                LoadErrorKind::WrongArchitecture,
                fmt::format("load: '{}': wrong architecture: the file's parameter '{}' {} is not in the model{}", path,
                            name, shape_string(shape), state_hint(name, true)));
        if (shape != it->second->shape())
            throw LoadError(LoadErrorKind::WrongArchitecture,
                            fmt::format("load: '{}': wrong architecture: '{}' is {} in the file but {} in the model",
                                        path, name, shape_string(shape), shape_string(it->second->shape())));
        if (!in_file.insert(name).second)
            throw LoadError(LoadErrorKind::Corrupted,
                            fmt::format("load: '{}': corrupted file: a parameter name repeats", path));
    }
    for (const NamedParameter& p : parameters)
        if (!in_file.count(p.name()))
            throw LoadError(
                LoadErrorKind::WrongArchitecture,
                fmt::format("load: '{}': wrong architecture: the model's parameter '{}' {} is not in the file{}", path,
                            p.name(), shape_string(p.shape()), state_hint(p.name(), false)));
    throw LoadError(LoadErrorKind::Corrupted,
                    fmt::format("load: '{}': corrupted file: the header announces {} bytes of parameters, the model's "
                                "parameters take {}",
                                path, P, payload_size_of(parameters)));
}

}  // namespace

void load(const std::vector<NamedParameter>& parameters, const std::filesystem::path& path_) {
    const std::string path = path_.string();
    // O_NONBLOCK: opening a FIFO would otherwise wait for a writer.
    Fd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (fd.get() < 0) {
        const int e = errno;
        throw LoadError(LoadErrorKind::Missing,
                        e == ENOENT ? fmt::format("load: '{}': missing file (no such file)", path)
                                    : fmt::format("load: '{}': cannot open the file: {}", path, std::strerror(e)));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0)
        throw LoadError(LoadErrorKind::Missing,
                        fmt::format("load: '{}': cannot read the file: {}", path, std::strerror(errno)));
    // A device or FIFO (/dev/zero) could be read forever.
    if (!S_ISREG(st.st_mode))
        throw LoadError(
            LoadErrorKind::Missing,
            fmt::format("load: '{}': not a regular file ({}), so not a parameter file", path, file_type(st.st_mode)));
    const auto file_size = static_cast<std::uint64_t>(st.st_size);

    // --- header, checked against the file's size before the rest is read ---
    if (file_size < header_size)
        throw LoadError(LoadErrorKind::Truncated, fmt::format("load: '{}': truncated file: {} bytes, shorter than the "
                                                              "{}-byte header",
                                                              path, file_size, header_size));
    unsigned char header[header_size];
    const ssize_t got = read_at(fd.get(), header, header_size, 0);
    if (got < 0)
        throw LoadError(LoadErrorKind::Missing,
                        fmt::format("load: '{}': cannot read the file: {}", path, std::strerror(errno)));
    if (got != static_cast<ssize_t>(header_size))
        throw LoadError(LoadErrorKind::Truncated,
                        fmt::format("load: '{}': truncated file: it shrank while read", path));
    if (std::memcmp(header, magic, sizeof magic) != 0)
        throw LoadError(LoadErrorKind::Corrupted,
                        fmt::format("load: '{}': corrupted file: it does not start with \"TAPEGRAD\" (not a tapegrad "
                                    "parameter file, or damaged)",
                                    path));
    if (crc(header, 20) != little_endian(header + 20, 4))
        throw LoadError(LoadErrorKind::Corrupted,
                        fmt::format("load: '{}': corrupted file: header checksum mismatch", path));
    const auto file_version = static_cast<std::uint32_t>(little_endian(header + 8, 4));
    if (file_version != version)
        throw LoadError(LoadErrorKind::UnsupportedVersion,
                        fmt::format("load: '{}': unsupported version {} (this build reads version {})", path,
                                    file_version, version));
    const std::uint64_t payload_size = little_endian(header + 12, 8);
    if (payload_size > file_size || file_size - payload_size < header_size + 4)
        throw LoadError(LoadErrorKind::Truncated,
                        fmt::format("load: '{}': truncated file: {} bytes, the header announces {}", path, file_size,
                                    static_cast<unsigned __int128>(payload_size) + header_size + 4));
    if (file_size - payload_size > header_size + 4)
        throw LoadError(LoadErrorKind::Corrupted,
                        fmt::format("load: '{}': corrupted file: {} bytes after the end announced by the header", path,
                                    file_size - payload_size - header_size - 4));
    // A file this model can load holds exactly its parameters: a larger
    // one is not read in full (a 3 GiB file, for a model of a few kB).
    if (payload_size > payload_size_of(parameters)) describe_larger_file(fd.get(), parameters, payload_size, path);

    std::vector<unsigned char> bytes(static_cast<std::size_t>(payload_size) + 4);
    if (read_at(fd.get(), bytes.data(), bytes.size(), header_size) != static_cast<ssize_t>(bytes.size()))
        throw LoadError(LoadErrorKind::Truncated,
                        fmt::format("load: '{}': truncated file: it shrank while read", path));
    fd.close();
    const unsigned char* payload = bytes.data();
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
                throw LoadError(
                    LoadErrorKind::Corrupted,
                    fmt::format("load: '{}': corrupted file: parameter '{}' has a shape larger than the file", path,
                                name));
            numel *= dim;
            sp.shape.push_back(static_cast<std::size_t>(dim));
        }
        r.need(numel * 8, "the values");
        sp.values.reserve(numel);
        for (std::uint64_t i = 0; i < numel; ++i) sp.values.push_back(r.f64("a value"));
        if (!by_name.emplace(name, stored.size()).second)
            throw LoadError(LoadErrorKind::Corrupted,
                            fmt::format("load: '{}': corrupted file: a parameter name repeats", path));
        stored.push_back(std::move(sp));
    }
    if (r.at != payload_size)
        throw LoadError(LoadErrorKind::Corrupted,
                        fmt::format("load: '{}': corrupted file: {} unread payload bytes", path, payload_size - r.at));

    // --- architecture: the same names and shapes ---
    for (const NamedParameter& p : parameters) {
        const auto it = by_name.find(p.name());
        if (it == by_name.end())
            throw LoadError(
                LoadErrorKind::WrongArchitecture,
                fmt::format("load: '{}': wrong architecture: the model's parameter '{}' {} is not in the file{}", path,
                            p.name(), shape_string(p.shape()), state_hint(p.name(), false)));
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
                throw LoadError(
                    LoadErrorKind::WrongArchitecture,
                    fmt::format("load: '{}': wrong architecture: the file's parameter '{}' {} is not in the "
                                "model{}",
                                path, sp.name, shape_string(sp.shape), state_hint(sp.name, true)));
    }
    // Reading every parameter first checks its handles, so that a stale one
    // throws before anything is written.
    for (const NamedParameter& p : parameters) (void)p.values();
    for (const NamedParameter& p : parameters) p.set_values(stored[by_name.at(p.name())].values);
}

}  // namespace ag::nn
