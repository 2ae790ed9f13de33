// One process-wide pool of worker threads. parallel_for hands out task indices dynamically; results
// never depend on which thread runs a task (each task owns its outputs and sums in a fixed order),
// so output is bitwise identical for any thread count. Workers run a caller's tasks in the caller's
// floating-point mode (float_mode.hpp), so flush-to-zero set around a kernel reaches every thread.
//
// Nested or concurrent use runs inline: a parallel_for issued from inside a task, or while another
// caller (say a second Python thread) holds the pool, executes on the calling thread alone. That
// keeps many-threaded callers correct without oversubscribing the cores or deadlocking.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace fastconv {

class ThreadPool {
   public:
    static ThreadPool& instance();

    int num_threads();
    void set_num_threads(int num_threads);
    void parallel_for(int64_t num_tasks, const std::function<void(int64_t)>& body);

    ~ThreadPool();

   private:
    ThreadPool();
    void start_workers(int count);
    void stop_workers();
    void worker_loop(int64_t seen_generation);
    void run_tasks(int64_t generation);

    std::mutex run_mutex_;  // held by the caller that owns the pool for one parallel_for
    std::mutex state_mutex_;
    std::condition_variable work_ready_;
    std::condition_variable work_done_;
    std::vector<std::thread> workers_;
    int num_threads_ = 1;
    bool stopping_ = false;
    // Written under state_mutex_; atomic so that the brief spins before the condition-variable
    // waits can read them without it (the waits still decide under the mutex).
    std::atomic<int64_t> generation_{0};
    std::atomic<int> busy_workers_{0};

    const std::function<void(int64_t)>* body_ = nullptr;
    int64_t num_tasks_ = 0;
    int64_t next_task_ = 0;
    uint32_t float_mode_ = 0;  // the submitter's MXCSR control bits, adopted by workers (float_mode.hpp)
    std::exception_ptr error_;
};

inline void parallel_for(int64_t num_tasks, const std::function<void(int64_t)>& body) {
    ThreadPool::instance().parallel_for(num_tasks, body);
}

}  // namespace fastconv
