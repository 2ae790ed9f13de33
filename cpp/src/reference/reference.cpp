// The ground truth: plain nested loops straight from the definition, one output element at a time,
// summed in double (long double would buy nothing measurable at test sizes). No SIMD, no blocking,
// no shared code with the fast paths beyond ConvProblem, so a bug in the index mapping used by the
// fast paths cannot hide in the reference too. The transposed op is written as a gather (each
// output element finds the inputs that reach it), the fast paths scatter: two different derivations.
#include "registry.hpp"

namespace fastconv {
namespace {

// Offset of element (n, c, spatial position s) of an activation with C channels and S positions.
int64_t activation_offset(Layout layout, int64_t n, int64_t c, int64_t s, int64_t C, int64_t S) {
    return layout == Layout::channels_first ? (n * C + c) * S + s : (n * S + s) * C + c;
}

template <typename T>
void reference_forward(const ConvProblem& p, const ConvArgs& args) {
    const T* x = static_cast<const T*>(args.src);
    const T* w = static_cast<const T*>(args.weight);
    const T* bias = static_cast<const T*>(args.bias);
    T* y = static_cast<T*>(args.dst);
    const Dims& I = p.in_size;
    const Dims& O = p.out_size;
    const Dims& R = p.kernel;
    const int64_t Cg = p.in_channels_per_group(), Kg = p.out_channels_per_group();
    for (int64_t n = 0; n < p.batch; ++n)
        for (int64_t k = 0; k < p.out_channels; ++k)
            for (int64_t od = 0; od < O[0]; ++od)
                for (int64_t oh = 0; oh < O[1]; ++oh)
                    for (int64_t ow = 0; ow < O[2]; ++ow) {
                        double acc = bias ? static_cast<double>(bias[k]) : 0.0;
                        const int64_t g = k / Kg;
                        for (int64_t cl = 0; cl < Cg; ++cl)
                            for (int64_t kd = 0; kd < R[0]; ++kd)
                                for (int64_t kh = 0; kh < R[1]; ++kh)
                                    for (int64_t kw = 0; kw < R[2]; ++kw) {
                                        const int64_t id = od * p.stride[0] - p.pad_before[0] + kd * p.dilation[0];
                                        const int64_t ih = oh * p.stride[1] - p.pad_before[1] + kh * p.dilation[1];
                                        const int64_t iw = ow * p.stride[2] - p.pad_before[2] + kw * p.dilation[2];
                                        if (id < 0 || id >= I[0] || ih < 0 || ih >= I[1] || iw < 0 || iw >= I[2])
                                            continue;
                                        const int64_t c = g * Cg + cl;
                                        const T xv = x[activation_offset(p.layout, n, c, (id * I[1] + ih) * I[2] + iw,
                                                                          p.in_channels, p.in_spatial())];
                                        const T wv = w[(((k * Cg + cl) * R[0] + kd) * R[1] + kh) * R[2] + kw];
                                        acc += static_cast<double>(wv) * static_cast<double>(xv);
                                    }
                        y[activation_offset(p.layout, n, k, (od * O[1] + oh) * O[2] + ow, p.out_channels, p.out_spatial())] =
                            static_cast<T>(acc);
                    }
}

// The output position o whose tap r reaches input position i, or -1 when none does.
int64_t source_output(int64_t i, int64_t r, int64_t stride, int64_t dilation, int64_t pad_before, int64_t out) {
    const int64_t t = i + pad_before - r * dilation;
    if (t < 0 || t % stride != 0) return -1;
    const int64_t o = t / stride;
    return o < out ? o : -1;
}

template <typename T>
void reference_transposed(const ConvProblem& p, const ConvArgs& args) {
    const T* y = static_cast<const T*>(args.src);
    const T* w = static_cast<const T*>(args.weight);
    const T* bias = static_cast<const T*>(args.bias);
    T* x = static_cast<T*>(args.dst);
    const Dims& I = p.in_size;
    const Dims& O = p.out_size;
    const Dims& R = p.kernel;
    const int64_t Cg = p.in_channels_per_group(), Kg = p.out_channels_per_group();
    for (int64_t n = 0; n < p.batch; ++n)
        for (int64_t c = 0; c < p.in_channels; ++c)
            for (int64_t id = 0; id < I[0]; ++id)
                for (int64_t ih = 0; ih < I[1]; ++ih)
                    for (int64_t iw = 0; iw < I[2]; ++iw) {
                        double acc = bias ? static_cast<double>(bias[c]) : 0.0;
                        const int64_t g = c / Cg, cl = c % Cg;
                        for (int64_t kl = 0; kl < Kg; ++kl)
                            for (int64_t kd = 0; kd < R[0]; ++kd)
                                for (int64_t kh = 0; kh < R[1]; ++kh)
                                    for (int64_t kw = 0; kw < R[2]; ++kw) {
                                        const int64_t od = source_output(id, kd, p.stride[0], p.dilation[0], p.pad_before[0], O[0]);
                                        const int64_t oh = source_output(ih, kh, p.stride[1], p.dilation[1], p.pad_before[1], O[1]);
                                        const int64_t ow = source_output(iw, kw, p.stride[2], p.dilation[2], p.pad_before[2], O[2]);
                                        if (od < 0 || oh < 0 || ow < 0) continue;
                                        const int64_t k = g * Kg + kl;
                                        const T yv = y[activation_offset(p.layout, n, k, (od * O[1] + oh) * O[2] + ow,
                                                                          p.out_channels, p.out_spatial())];
                                        const T wv = w[(((k * Cg + cl) * R[0] + kd) * R[1] + kh) * R[2] + kw];
                                        acc += static_cast<double>(wv) * static_cast<double>(yv);
                                    }
                        x[activation_offset(p.layout, n, c, (id * I[1] + ih) * I[2] + iw, p.in_channels, p.in_spatial())] =
                            static_cast<T>(acc);
                    }
}

void run_reference(const ConvProblem& p, const ConvArgs& args) {
    if (p.kind == ConvKind::forward) {
        p.dtype == DType::f32 ? reference_forward<float>(p, args) : reference_forward<double>(p, args);
    } else {
        p.dtype == DType::f32 ? reference_transposed<float>(p, args) : reference_transposed<double>(p, args);
    }
}

std::string accepts_everything(const ConvProblem&) { return {}; }

}  // namespace

const ConvImpl reference_impl{"reference", Algo::reference, accepts_everything, run_reference};

}  // namespace fastconv
