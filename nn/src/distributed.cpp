#include <nn/distributed.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <type_traits>

namespace ag::nn {

namespace {

// Summed with every reduction: this rank's weight, whether its step failed,
// and its rank number when it did (which names the failing rank when only
// one failed).
constexpr std::size_t tail_size = 3;
// A failing rank's message, as sent to the others (longer ones are cut).
constexpr std::size_t message_bytes = 1024;

std::string message_of(std::exception_ptr error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
        return "an exception not derived from std::exception";
    }
}

class Stopwatch {
public:
    explicit Stopwatch(double& total) : total_(total), start_(std::chrono::steady_clock::now()) {}
    ~Stopwatch() { total_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }
    Stopwatch(const Stopwatch&) = delete;
    Stopwatch& operator=(const Stopwatch&) = delete;

private:
    double& total_;
    std::chrono::steady_clock::time_point start_;
};

// FNV-1a over bytes.
std::uint64_t hash_bytes(std::uint64_t h, const void* p, std::size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

}  // namespace

Distributed::Distributed(int rank, int size, DistributedOptions options) : rank_(rank), size_(size), options_(options) {
    if (size < 1 || rank < 0 || rank >= size)
        throw std::invalid_argument(fmt::format("Distributed: rank {} of {} ranks", rank, size));
    if (options_.bucket_bytes < sizeof(double))
        throw std::invalid_argument(
            fmt::format("Distributed: bucket_bytes {} is smaller than one value (8 bytes)", options_.bucket_bytes));
}

Shard Distributed::shard(std::size_t n, int rank) const noexcept {
    const auto r = static_cast<unsigned __int128>(rank), R = static_cast<unsigned __int128>(size_);
    return {static_cast<std::size_t>(n * r / R), static_cast<std::size_t>(n * (r + 1) / R)};
}

void Distributed::average_gradients(const ParameterList& parameters, double weight, std::exception_ptr local_error) {
    constexpr const char* who = "average_gradients";
    if (!local_error && !(weight >= 0.0 && std::isfinite(weight)))
        local_error = std::make_exception_ptr(
            std::invalid_argument(fmt::format("{}: weight {} is not a finite number >= 0", who, weight)));
    if (size_ == 1) {  // the mean of one: the gradients as they are, bit for bit
        if (local_error) std::rethrow_exception(local_error);
        if (weight == 0)
            throw std::invalid_argument(
                fmt::format("{}: every rank's weight is 0 (no rank had rows), so there is no mean", who));
        ++comm_calls_;
        return;
    }
    std::size_t n64 = 0, n32 = 0;
    parameters.for_each_grad(
        [&](auto* g, std::size_t n) { (std::is_same_v<std::remove_pointer_t<decltype(g)>, float> ? n32 : n64) += n; });
    if (packed64_.size() != n64 + tail_size || packed32_.size() != n32) {
        // A new parameter list: the ranks must agree on its sizes before
        // reductions of those sizes start (else MPI would mix them).
        const double sizes[] = {static_cast<double>(n64), static_cast<double>(n32)};
        if (!agree(sizes))
            throw std::invalid_argument(fmt::format(
                "{}: the ranks' parameter lists differ in size (this rank, {}: {} float64 and {} float32 scalars)", who,
                rank_, n64, n32));
        packed64_.resize(n64 + tail_size);
        packed32_.resize(n32);
    }

    // Each bucket starts as soon as it is packed; the next is packed meanwhile.
    const bool contributes = !local_error && weight > 0.0;
    const std::size_t bucket64 = std::max<std::size_t>(options_.bucket_bytes / sizeof(double), tail_size);
    const std::size_t bucket32 = std::max<std::size_t>(options_.bucket_bytes / sizeof(float), 1);
    std::size_t k64 = 0, k32 = 0, started64 = 0, started32 = 0;
    auto start_full_buckets = [&] {
        for (; k64 - started64 >= bucket64; started64 += bucket64)
            start_sum(std::span<double>(packed64_).subspan(started64, bucket64));
        for (; k32 - started32 >= bucket32; started32 += bucket32)
            start_sum(std::span<float>(packed32_).subspan(started32, bucket32));
    };
    Stopwatch timer(comm_seconds_);
    parameters.for_each_grad([&](auto* g, std::size_t n) {
        using T = std::remove_pointer_t<decltype(g)>;
        T* out;
        if constexpr (std::is_same_v<T, float>)
            out = packed32_.data() + k32;
        else
            out = packed64_.data() + k64;
        if (contributes)
            for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<T>(static_cast<double>(g[i]) * weight);
        else
            std::fill_n(out, n, T(0));
        (std::is_same_v<T, float> ? k32 : k64) += n;
        start_full_buckets();
    });
    packed64_[k64++] = contributes ? weight : 0.0;
    packed64_[k64++] = local_error ? 1.0 : 0.0;
    packed64_[k64++] = local_error ? static_cast<double>(rank_) : 0.0;
    start_full_buckets();
    if (k64 > started64) start_sum(std::span<double>(packed64_).subspan(started64, k64 - started64));
    if (k32 > started32) start_sum(std::span<float>(packed32_).subspan(started32, k32 - started32));
    wait_all();
    ++comm_calls_;

    const double* tail = packed64_.data() + n64;
    if (tail[1] != 0) fail(who, static_cast<int>(tail[1]), tail[2], local_error);
    const double total = tail[0];
    if (total == 0)
        throw std::invalid_argument(
            fmt::format("{}: every rank's weight is 0 (no rank had rows), so there is no mean", who));
    k64 = k32 = 0;
    parameters.for_each_grad([&](auto* g, std::size_t n) {
        using T = std::remove_pointer_t<decltype(g)>;
        if constexpr (std::is_same_v<T, float>) {
            for (std::size_t i = 0; i < n; ++i)
                g[i] = static_cast<float>(static_cast<double>(packed32_[k32++]) / total);
        } else {
            for (std::size_t i = 0; i < n; ++i) g[i] = packed64_[k64++] / total;
        }
    });
}

void Distributed::sum(std::span<double> values, std::exception_ptr local_error) {
    std::vector<double> buffer(values.size() + tail_size);
    std::copy(values.begin(), values.end(), buffer.begin());
    const std::size_t n = values.size();
    buffer[n] = 0;
    buffer[n + 1] = local_error ? 1.0 : 0.0;
    buffer[n + 2] = local_error ? static_cast<double>(rank_) : 0.0;
    sum_timed(buffer);
    if (buffer[n + 1] != 0) fail("sum", static_cast<int>(buffer[n + 1]), buffer[n + 2], local_error);
    std::copy_n(buffer.begin(), n, values.begin());
}

void Distributed::sum_timed(std::span<double> data) {
    Stopwatch timer(comm_seconds_);
    for (std::size_t start = 0; start < data.size(); start += options_.bucket_bytes / sizeof(double))
        start_sum(data.subspan(start, std::min(options_.bucket_bytes / sizeof(double), data.size() - start)));
    wait_all();
    ++comm_calls_;
}

void Distributed::fail(const char* who, int failed, double failed_rank_sum, std::exception_ptr local_error) {
    // Which rank to name: the only one, else the lowest (one more sum, on
    // this path only).
    int first = static_cast<int>(failed_rank_sum);
    if (failed > 1) {
        std::vector<double> flags(static_cast<std::size_t>(size_));
        flags[static_cast<std::size_t>(rank_)] = local_error ? 1.0 : 0.0;
        sum_timed(flags);
        first = static_cast<int>(std::find(flags.begin(), flags.end(), 1.0) - flags.begin());
    }
    std::vector<std::byte> message(message_bytes);
    if (rank_ == first) {
        const std::string text = message_of(local_error);
        std::memcpy(message.data(), text.data(), std::min(text.size(), message_bytes - 1));
    }
    {
        Stopwatch timer(comm_seconds_);
        broadcast(message, first);
    }
    if (local_error) std::rethrow_exception(local_error);
    const std::string text(reinterpret_cast<const char*>(message.data()));
    throw DistributedError(first, fmt::format("{}: rank {} of {} failed: {}{}; every rank stops", who, first, size_,
                                              text, failed > 1 ? fmt::format(" ({} ranks failed)", failed) : ""));
}

bool Distributed::agree(std::span<const double> values) {
    std::vector<double> root(values.begin(), values.end());
    {
        Stopwatch timer(comm_seconds_);
        broadcast(std::as_writable_bytes(std::span<double>(root)), 0);
    }
    const bool same = std::equal(root.begin(), root.end(), values.begin(), values.end(),
                                 [](double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; });
    double differ[] = {same ? 0.0 : 1.0};
    sum_timed(differ);
    return differ[0] == 0;
}

bool Distributed::agree(const ParameterList& parameters) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    parameters.for_each_block([&](auto* p, const auto*, std::size_t n) { h = hash_bytes(h, p, n * sizeof(*p)); });
    const double halves[] = {static_cast<double>(h >> 32), static_cast<double>(h & 0xffffffffULL)};
    return agree(halves);
}

void Distributed::broadcast_parameters(const ParameterList& parameters, int root) {
    if (root < 0 || root >= size_)
        throw std::invalid_argument(fmt::format("broadcast_parameters: root {} is not a rank of {}", root, size_));
    // float32 values widen to double exactly and come back unchanged.
    std::vector<double> values;
    parameters.for_each_block([&](auto* p, const auto*, std::size_t n) { values.insert(values.end(), p, p + n); });
    {
        Stopwatch timer(comm_seconds_);
        broadcast(std::as_writable_bytes(std::span<double>(values)), root);
    }
    std::size_t k = 0;
    parameters.for_each_block([&](auto* p, const auto*, std::size_t n) {
        using T = std::remove_pointer_t<decltype(p)>;
        for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<T>(values[k++]);
    });
}

}  // namespace ag::nn
