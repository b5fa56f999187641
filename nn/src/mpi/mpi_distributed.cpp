#include <nn/mpi.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <limits>
#include <stdexcept>

namespace ag::nn {

namespace {

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

void check(int code, const char* call) {
    if (code == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING] = {};
    int length = 0;
    MPI_Error_string(code, text, &length);
    throw std::runtime_error(fmt::format("MpiDistributed: {} failed: {}", call, text));
}

int count_of(std::size_t n, const char* call) {
    if (n > static_cast<std::size_t>(std::numeric_limits<int>::max()))
        throw std::length_error(fmt::format("MpiDistributed: {} of {} elements is more than MPI's int count", call, n));
    return static_cast<int>(n);
}

}  // namespace

// Marks the calling thread as waiting in a collective call for the watchdog.
class MpiDistributed::Waiting {
public:
    Waiting(MpiDistributed& d, const char* what) : d_(d) {
        d_.waiting_in_.store(what, std::memory_order_relaxed);
        d_.waiting_since_.store(now_ns(), std::memory_order_release);
    }
    ~Waiting() { d_.waiting_since_.store(0, std::memory_order_release); }
    Waiting(const Waiting&) = delete;
    Waiting& operator=(const Waiting&) = delete;

private:
    MpiDistributed& d_;
};

MpiDistributed::Setup MpiDistributed::setup(int* argc, char*** argv, MPI_Comm base, bool may_init) {
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (finalized) throw std::logic_error("MpiDistributed: MPI was already finalized");
    bool owns = false;
    if (!initialized) {
        if (!may_init) throw std::logic_error("MpiDistributed: given a communicator, but MPI is not initialized");
        int provided = 0;
        check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
        owns = true;
    }
    Setup s{MPI_COMM_NULL, 0, 1, owns};
    // Errors come back as codes (and become exceptions) instead of aborting inside MPI.
    check(MPI_Comm_dup(base, &s.comm), "MPI_Comm_dup");
    MPI_Comm_set_errhandler(s.comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(s.comm, &s.rank);
    MPI_Comm_size(s.comm, &s.size);
    return s;
}

MpiDistributed::MpiDistributed(int& argc, char**& argv, const MpiOptions& options)
    : MpiDistributed(setup(&argc, &argv, MPI_COMM_WORLD, true), options) {}

MpiDistributed::MpiDistributed(const MpiOptions& options)
    : MpiDistributed(setup(nullptr, nullptr, MPI_COMM_WORLD, true), options) {}

MpiDistributed::MpiDistributed(MPI_Comm comm, const MpiOptions& options)
    : MpiDistributed(setup(nullptr, nullptr, comm, false), options) {}

MpiDistributed::MpiDistributed(const Setup& s, const MpiOptions& options)
    : Distributed(s.rank, s.size, options.distributed), comm_(s.comm), owns_mpi_(s.owns_mpi), mpi_options_(options) {
    if (!(options.timeout_seconds >= 0) || !std::isfinite(options.timeout_seconds))
        throw std::invalid_argument(
            fmt::format("MpiDistributed: timeout_seconds {} is not a finite number >= 0", options.timeout_seconds));
    MPI_Query_thread(&thread_level_);
    requests_.reserve(64);
    if (options.timeout_seconds > 0) watchdog_ = std::thread([this] { watch(); });
}

MpiDistributed::~MpiDistributed() {
    if (watchdog_.joinable()) {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        wake_.notify_all();
        watchdog_.join();
    }
    if (std::uncaught_exceptions() > 0 && owns_mpi_) {
        // The other ranks may be waiting for this one in a collective call,
        // and MPI_Finalize would wait for them: end the job instead.
        std::fprintf(stderr, "tapegrad: rank %d of %d: leaving MPI while an exception unwinds; ending the job\n",
                     rank(), size());
        MPI_Abort(comm_, 1);
    }
    MPI_Comm_free(&comm_);
    if (owns_mpi_) {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!finalized) MPI_Finalize();
    }
}

void MpiDistributed::watch() {
    const auto timeout = std::chrono::duration<double>(mpi_options_.timeout_seconds);
    const auto period = std::min<std::chrono::duration<double>>(timeout / 4, std::chrono::seconds(1));
    std::unique_lock lock(mutex_);
    while (!stop_) {
        wake_.wait_for(lock, period);
        if (stop_) break;
        const std::int64_t since = waiting_since_.load(std::memory_order_acquire);
        if (since == 0) continue;
        const double waited = static_cast<double>(now_ns() - since) * 1e-9;
        if (waited <= mpi_options_.timeout_seconds) continue;
        std::fprintf(stderr,
                     "tapegrad: rank %d of %d: %s has waited %.1f s for the other ranks (timeout %g s): a rank has "
                     "stopped, hangs or was lost; ending the job\n",
                     rank(), size(), waiting_in_.load(std::memory_order_relaxed), waited, mpi_options_.timeout_seconds);
        std::fflush(stderr);
        if (thread_level_ >= MPI_THREAD_MULTIPLE) MPI_Abort(comm_, 1);
        std::_Exit(1);
    }
}

void MpiDistributed::abort(const std::string& message, int code) {
    std::fprintf(stderr, "tapegrad: rank %d of %d: %s\n", rank(), size(), message.c_str());
    std::fflush(stderr);
    MPI_Abort(comm_, code);
    std::_Exit(code);
}

void MpiDistributed::start_sum(std::span<double> data) {
    MPI_Request& r = requests_.emplace_back(MPI_REQUEST_NULL);
    check(MPI_Iallreduce(MPI_IN_PLACE, data.data(), count_of(data.size(), "MPI_Iallreduce"), MPI_DOUBLE, MPI_SUM, comm_,
                         &r),
          "MPI_Iallreduce");
}

void MpiDistributed::start_sum(std::span<float> data) {
    MPI_Request& r = requests_.emplace_back(MPI_REQUEST_NULL);
    check(MPI_Iallreduce(MPI_IN_PLACE, data.data(), count_of(data.size(), "MPI_Iallreduce"), MPI_FLOAT, MPI_SUM, comm_,
                         &r),
          "MPI_Iallreduce");
}

void MpiDistributed::wait_all() {
    Waiting waiting(*this, "a sum over the ranks (MPI_Iallreduce)");
    const int code = MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE);
    requests_.clear();
    check(code, "MPI_Waitall");
}

void MpiDistributed::broadcast(std::span<std::byte> data, int root) {
    Waiting waiting(*this, "a broadcast (MPI_Bcast)");
    check(MPI_Bcast(data.data(), count_of(data.size(), "MPI_Bcast"), MPI_BYTE, root, comm_), "MPI_Bcast");
}

}  // namespace ag::nn
