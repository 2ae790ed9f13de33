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
    // One parallel_for call, on its caller's stack. Tasks are claimed with one atomic increment
    // (a mutex per claim was 3% of the RGB stem's samples at 2 threads on Zen 5); a worker reaches
    // the job only through job_, under state_mutex_, counted in busy_workers_, and the caller
    // returns only once that count is back to zero, so the job outlives every worker using it.
    struct Job {
        Job(const std::function<void(int64_t)>& body, int64_t num_tasks, uint32_t float_mode)
            : body(&body), num_tasks(num_tasks), float_mode(float_mode) {}
        const std::function<void(int64_t)>* body;
        int64_t num_tasks;
        uint32_t float_mode;  // the caller's MXCSR control bits, adopted by workers (float_mode.hpp)
        std::atomic<int64_t> next_task{0};
        std::atomic<bool> failed{false};
        std::exception_ptr error;  // the first task's exception, written under state_mutex_
    };

    ThreadPool();
    void start_workers(int count);
    void stop_workers();
    void worker_loop(int64_t seen_generation);
    void run_tasks(Job& job);

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
    Job* job_ = nullptr;  // the running call's, under state_mutex_; null between calls
};

inline void parallel_for(int64_t num_tasks, const std::function<void(int64_t)>& body) {
    ThreadPool::instance().parallel_for(num_tasks, body);
}

}  // namespace fastconv
