// im2col and col2im over visit_tap: the column matrix of one image (or a slice of its output
// positions, so callers can keep the buffer within a cache-sized budget).
#include "im2col.hpp"

#include <algorithm>
#include <vector>

#include "layout.hpp"

namespace fastconv {
namespace {

// One run of visit_tap: positions [pos, pos + count) read x[offset + j * stride] of a channel, or
// padding when stride is 0.
struct Run {
    int64_t pos, count, offset, stride;
};

// Every tap's runs over [begin, end), in tap order; tap t's are runs[first[t] .. first[t + 1]).
// They are the same for every channel, so the index arithmetic (a strided 1x1 layer's runs are
// 14 positions long) is done once per call instead of once per channel: per channel it was two
// thirds of resnet_1x1_s2's im2col.
struct TapRuns {
    std::vector<Run> runs;
    std::vector<size_t> first;
};

TapRuns tap_runs(const ConvProblem& p, int64_t begin, int64_t end) {
    TapRuns t;
    for_each_tap(p, [&](int64_t kd, int64_t kh, int64_t kw, int64_t) {
        t.first.push_back(t.runs.size());
        visit_tap(
            p, kd, kh, kw, begin, end, [&](int64_t pos, int64_t count) { t.runs.push_back({pos, count, 0, 0}); },
            [&](int64_t pos, int64_t count, int64_t offset, int64_t stride) {
                t.runs.push_back({pos, count, offset, stride});
            });
    });
    t.first.push_back(t.runs.size());
    return t;
}

}  // namespace

template <typename T>
void im2col(const ConvProblem& p, const T* x, int64_t channels, int64_t begin, int64_t end, T* columns,
            int64_t ld) {
    if (begin >= end) return;
    const int64_t in_spatial = p.in_spatial();
    const int64_t taps = p.kernel_spatial();
    const TapRuns t = tap_runs(p, begin, end);
    for (int64_t c = 0; c < channels; ++c) {
        const T* x_channel = x + c * in_spatial;
        for (int64_t tap = 0; tap < taps; ++tap) {
            T* row = columns + (c * taps + tap) * ld;
            for (size_t r = t.first[tap]; r < t.first[tap + 1]; ++r) {
                const Run& run = t.runs[r];
                const T* src = x_channel + run.offset;
                T* dst = row + (run.pos - begin);
                if (run.stride == 0) std::fill_n(dst, run.count, T(0));
                else copy_strided(src, run.stride, run.count, dst);
            }
        }
    }
}

template <typename T>
void col2im_add(const ConvProblem& p, const T* columns, int64_t ld, int64_t channels, int64_t begin,
                int64_t end, T* x) {
    if (begin >= end) return;
    const int64_t in_spatial = p.in_spatial();
    const int64_t taps = p.kernel_spatial();
    const TapRuns t = tap_runs(p, begin, end);
    for (int64_t c = 0; c < channels; ++c) {
        T* x_channel = x + c * in_spatial;
        for (int64_t tap = 0; tap < taps; ++tap) {
            const T* row = columns + (c * taps + tap) * ld;
            for (size_t r = t.first[tap]; r < t.first[tap + 1]; ++r) {
                const Run& run = t.runs[r];
                if (run.stride == 0) continue;
                const T* src = row + (run.pos - begin);
                T* dst = x_channel + run.offset;
                for (int64_t j = 0; j < run.count; ++j) dst[j * run.stride] += src[j];
            }
        }
    }
}

template void im2col<float>(const ConvProblem&, const float*, int64_t, int64_t, int64_t, float*, int64_t);
template void im2col<double>(const ConvProblem&, const double*, int64_t, int64_t, int64_t, double*, int64_t);
template void col2im_add<float>(const ConvProblem&, const float*, int64_t, int64_t, int64_t, int64_t, float*);
template void col2im_add<double>(const ConvProblem&, const double*, int64_t, int64_t, int64_t, int64_t, double*);

}  // namespace fastconv
