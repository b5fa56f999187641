#pragma once
// Ranks as threads of one process, for testing ag::nn::Distributed without
// MPI: each thread has its own tape, so each holds its own model, as a
// process would. Sums are computed by rank 0 in rank order and written to
// every rank's buffer, so every rank gets the same bits, as from MPI.
#include <nn/distributed.hpp>

#include <barrier>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <thread>
#include <variant>
#include <vector>

namespace tests {

class ThreadRanks;

class ThreadRank final : public ag::nn::Distributed {
public:
    ThreadRank(ThreadRanks& group, int rank, int size, ag::nn::DistributedOptions options)
        : Distributed(rank, size, options), group_(group) {}

protected:
    void start_sum(std::span<double> data) override { pending_.emplace_back(data); }
    void start_sum(std::span<float> data) override { pending_.emplace_back(data); }
    void wait_all() override;
    void broadcast(std::span<std::byte> data, int root) override;

private:
    friend class ThreadRanks;
    ThreadRanks& group_;
    std::vector<std::variant<std::span<double>, std::span<float>>> pending_;
    std::span<std::byte> bytes_;
};

class ThreadRanks {
public:
    explicit ThreadRanks(int size) : size_(size), barrier_(size) {}
    // Runs body(rank) on `size` threads, each with its own ThreadRank; the
    // first exception of each thread is kept in errors()[rank].
    void run(const std::function<void(ThreadRank&)>& body, ag::nn::DistributedOptions options = {}) {
        ranks_.clear();
        errors_.assign(static_cast<std::size_t>(size_), nullptr);
        for (int r = 0; r < size_; ++r) ranks_.push_back(std::make_unique<ThreadRank>(*this, r, size_, options));
        std::vector<std::thread> threads;
        for (int r = 0; r < size_; ++r)
            threads.emplace_back([&, r] {
                try {
                    body(*ranks_[static_cast<std::size_t>(r)]);
                } catch (...) {
                    errors_[static_cast<std::size_t>(r)] = std::current_exception();
                }
            });
        for (std::thread& t : threads) t.join();
    }
    const std::vector<std::exception_ptr>& errors() const { return errors_; }

private:
    friend class ThreadRank;
    template <class T>
    void sum(std::size_t k) {
        auto& first = std::get<std::span<T>>(ranks_[0]->pending_[k]);
        for (std::size_t i = 0; i < first.size(); ++i) {
            T s = first[i];
            for (int r = 1; r < size_; ++r) {
                const auto& other = std::get<std::span<T>>(ranks_[static_cast<std::size_t>(r)]->pending_[k]);
                if (other.size() != first.size()) throw std::logic_error("ThreadRanks: sums of different sizes");
                s += other[i];
            }
            for (int r = 0; r < size_; ++r)
                std::get<std::span<T>>(ranks_[static_cast<std::size_t>(r)]->pending_[k])[i] = s;
        }
    }

    int size_;
    std::barrier<> barrier_;
    std::vector<std::unique_ptr<ThreadRank>> ranks_;
    std::vector<std::exception_ptr> errors_;
};

inline void ThreadRank::wait_all() {
    group_.barrier_.arrive_and_wait();  // every rank has started its sums
    if (rank() == 0)
        for (std::size_t k = 0; k < pending_.size(); ++k) {
            if (std::holds_alternative<std::span<double>>(pending_[k]))
                group_.sum<double>(k);
            else
                group_.sum<float>(k);
        }
    group_.barrier_.arrive_and_wait();  // rank 0 wrote every result
    pending_.clear();
}

inline void ThreadRank::broadcast(std::span<std::byte> data, int root) {
    bytes_ = data;
    group_.barrier_.arrive_and_wait();
    const std::span<std::byte> from = group_.ranks_[static_cast<std::size_t>(root)]->bytes_;
    if (rank() != root) std::memcpy(data.data(), from.data(), std::min(from.size(), data.size()));
    group_.barrier_.arrive_and_wait();
}

}  // namespace tests
