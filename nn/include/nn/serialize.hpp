#pragma once
// save(model, path) / load(model, path): a model's named parameters in a
// small binary file.
//
// Format, version 1 (every integer little-endian; doubles are IEEE-754
// binary64, little-endian, whatever the machine):
//   offset  size  field
//        0     8  magic "TAPEGRAD"
//        8     4  u32 format version (1)
//       12     8  u64 payload size P in bytes
//       20     4  u32 CRC-32 (zlib) of bytes 0..19, so a damaged size field
//                 reads as corruption, not as truncation
//       24     P  payload:
//                   u32 parameter count
//                   per parameter, in the model's named_parameters() order:
//                     u32 name length L, then L bytes of name (UTF-8)
//                     u32 rank R, then R × u64 dimensions
//                     (product of dimensions) × f64 values, row-major
//   24 + P     4  u32 CRC-32 of the payload
// The file is exactly 28 + P bytes. float32 tensors are stored widened to
// double, which is exact, so every model round-trips bit for bit.
//
// load() checks the whole file before touching the model: on any error the
// model is unchanged and a LoadError says which kind it is. It refuses what
// is not a regular file (a directory, /dev/zero, a FIFO) before reading,
// and checks the header against the file's size before reading the rest; a
// file larger than the model's parameters (which cannot be its file) is not
// read in full, only the parameter headers that tell what differs.
// save() writes a new temporary file beside `path`, created exclusively
// under a unique name (so never through a file or link planted there, and
// never shared by two saves), flushes it to disk and renames it over
// `path`: a reader or a crash sees the old file or the new one, never part
// of one, and of two processes saving one path at once, each succeeds and
// the last rename wins.
//
// Models: anything with named_parameters() (MLP, Layer, TensorMLP,
// Sequential, Linear), or a vector of NamedParameter. Names and shapes must
// match exactly (in any order); a scalar MLP and a tensor MLP of the same
// sizes share one layout, so either loads the other's file.
#include <nn/parameters.hpp>

#include <filesystem>
#include <stdexcept>
#include <vector>

namespace ag::nn {

enum class LoadErrorKind {
    Missing,             // no regular file at that path (none, a directory or device), or it cannot be read
    Truncated,           // the file ends before its header says it should
    Corrupted,           // bad magic, checksum mismatch, trailing bytes, inconsistent contents
    UnsupportedVersion,  // a format version this build does not read
    WrongArchitecture,   // names or shapes differ from the model's
};
const char* to_string(LoadErrorKind kind) noexcept;

class LoadError : public std::runtime_error {
public:
    LoadError(LoadErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
    LoadErrorKind kind() const noexcept { return kind_; }

private:
    LoadErrorKind kind_;
};

void save(const std::vector<NamedParameter>& parameters, const std::filesystem::path& path);
void load(const std::vector<NamedParameter>& parameters, const std::filesystem::path& path);

template <class Model>
requires requires(const Model& m) { m.named_parameters(); }
void save(const Model& model, const std::filesystem::path& path) { save(model.named_parameters(), path); }
template <class Model>
requires requires(const Model& m) { m.named_parameters(); }
void load(const Model& model, const std::filesystem::path& path) { load(model.named_parameters(), path); }

}  // namespace ag::nn
