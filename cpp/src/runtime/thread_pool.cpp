// Condition-variable thread pool. The default size is the number of CPUs this process may run on,
// or FASTCONV_NUM_THREADS.
//
// Before sleeping, a worker done with its tasks (and a caller waiting for its workers) spins for at
// most kSpin: a convolution's parallel phases come microseconds apart, back-to-back calls tens of
// microseconds apart (the Python layer's own time), and a futex wake-up costs tens of microseconds
// in a VM, a tenth of a small layer. On Zen 3, 15 us (against none: resnet_3x3_7 NCHW 1.64 ->
// 1.46 ms at 2 threads, minima of alternated processes) was as good as 50, which cost the stem 8%
// there; on the 2-core AVX-512 Xeon VM 15 us was too short for the gap between back-to-back calls
// (medians at 2 threads, 15 -> 200 us: depthwise_3x3 channels-last 0.275 -> 0.203 ms,
// resnet_1x1_s2 channels-last 0.250 -> 0.191, dcgan_up_16 channels-last 0.289 -> 0.246, the stem
// and the rest unchanged). 200 us is not measured on Zen 3. The bound keeps the cores free soon
// after a call for torch's threads and anything else (OpenMP runtimes spin for milliseconds).
#include "runtime/thread_pool.hpp"

#include <chrono>
#include <cstdlib>
#include <string>

#include "fastconv/errors.hpp"
#include "runtime/float_mode.hpp"

#if defined(__linux__)
#include <sched.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace fastconv {
namespace {

thread_local bool inside_task = false;

constexpr auto kSpin = std::chrono::microseconds(200);

// Returns once done() holds or kSpin has passed, whichever comes first.
template <typename Done>
void spin_until(Done done) {
    const auto limit = std::chrono::steady_clock::now() + kSpin;
    do {
        for (int i = 0; i < 64; ++i) {
            if (done()) return;
#if defined(__x86_64__) || defined(__i386__)
            _mm_pause();
#elif defined(__aarch64__)
            asm volatile("yield");
#endif
        }
    } while (std::chrono::steady_clock::now() < limit);
}

int default_thread_count() {
    if (const char* env = std::getenv("FASTCONV_NUM_THREADS")) {
        char* end = nullptr;
        long value = std::strtol(env, &end, 10);
        if (end != env && *end == '\0' && value >= 1 && value <= 1024) return static_cast<int>(value);
    }
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        int count = CPU_COUNT(&set);
        if (count >= 1) return count;
    }
#endif
    unsigned hw = std::thread::hardware_concurrency();
    return hw == 0 ? 1 : static_cast<int>(hw);
}

}  // namespace

ThreadPool& ThreadPool::instance() {
    // Leaked on purpose: joining threads from a static destructor at interpreter exit can deadlock.
    static ThreadPool* pool = new ThreadPool();
    return *pool;
}

ThreadPool::ThreadPool() { start_workers(default_thread_count() - 1); }

ThreadPool::~ThreadPool() { stop_workers(); }

int ThreadPool::num_threads() {
    std::lock_guard<std::mutex> lock(state_mutex_);
    return num_threads_;
}

void ThreadPool::set_num_threads(int num_threads) {
    if (num_threads < 1 || num_threads > 1024)
        throw InvalidArgument("set_num_threads: num_threads must be between 1 and 1024, got " +
                              std::to_string(num_threads));
    std::lock_guard<std::mutex> run_lock(run_mutex_);  // waits for a running parallel_for
    stop_workers();
    start_workers(num_threads - 1);
}

void ThreadPool::start_workers(int count) {
    {
        std::lock_guard<std::mutex> lock(state_mutex_);
        stopping_ = false;
        num_threads_ = count + 1;
    }
    int64_t generation = generation_;
    for (int i = 0; i < count; ++i) workers_.emplace_back([this, generation] { worker_loop(generation); });
}

void ThreadPool::stop_workers() {
    {
        std::lock_guard<std::mutex> lock(state_mutex_);
        stopping_ = true;
    }
    work_ready_.notify_all();
    for (auto& worker : workers_) worker.join();
    workers_.clear();
}

// A worker takes tasks only from the job it registered on, never the next call's: the H200
// machine's 16-core Xeon once caught workers that woke for one call running the next one's tasks
// under the floating-point mode adopted for the last (flush-to-zero after the caller's mode was
// back to gradual underflow).
void ThreadPool::run_tasks(Job& job) {
    while (!job.failed.load(std::memory_order_relaxed)) {
        const int64_t task = job.next_task.fetch_add(1, std::memory_order_relaxed);
        if (task >= job.num_tasks) return;
        try {
            (*job.body)(task);
        } catch (...) {
            std::lock_guard<std::mutex> lock(state_mutex_);
            if (!job.error) job.error = std::current_exception();
            job.failed.store(true, std::memory_order_relaxed);
        }
    }
}

void ThreadPool::worker_loop(int64_t seen_generation) {
    inside_task = true;
    for (;;) {
        spin_until([&] { return generation_.load(std::memory_order_acquire) != seen_generation; });
        Job* job;
        {
            std::unique_lock<std::mutex> lock(state_mutex_);
            work_ready_.wait(lock, [&] { return stopping_ || generation_ != seen_generation; });
            if (stopping_) return;
            seen_generation = generation_;
            job = job_;
            if (job == nullptr) continue;  // woke too late: that call has returned
            ++busy_workers_;
        }
        {
            // The submitting thread's floating-point mode (flush-to-zero in kernels), then ours again.
            ScopedFloatMode scope(job->float_mode);
            run_tasks(*job);
        }
        {
            std::lock_guard<std::mutex> lock(state_mutex_);
            --busy_workers_;
        }
        work_done_.notify_all();
    }
}

void ThreadPool::parallel_for(int64_t num_tasks, const std::function<void(int64_t)>& body) {
    if (num_tasks <= 0) return;
    std::unique_lock<std::mutex> run_lock(run_mutex_, std::defer_lock);
    if (num_tasks == 1 || inside_task || !run_lock.try_lock() || workers_.empty()) {
        for (int64_t task = 0; task < num_tasks; ++task) body(task);
        return;
    }
    Job job(body, num_tasks, float_mode());
    {
        std::lock_guard<std::mutex> lock(state_mutex_);
        job_ = &job;
        ++generation_;
    }
    work_ready_.notify_all();
    inside_task = true;
    run_tasks(job);
    inside_task = false;
    spin_until([&] { return busy_workers_.load(std::memory_order_acquire) == 0; });
    {
        std::unique_lock<std::mutex> lock(state_mutex_);
        // Workers that woke late find no tasks left and leave at once, so this wait is short.
        work_done_.wait(lock, [&] { return busy_workers_ == 0; });
        job_ = nullptr;
    }
    if (job.error) std::rethrow_exception(job.error);
}

}  // namespace fastconv
