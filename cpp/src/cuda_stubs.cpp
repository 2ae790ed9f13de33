// fastconv::cuda in a build without CUDA (FASTCONV_CUDA=OFF or no nvcc): no devices, and every call
// that would need one throws NotCompiled, which the binding turns into a RuntimeError that says so.
#include "fastconv/cuda.hpp"

namespace fastconv::cuda {

bool compiled() { return false; }
int device_count() { return 0; }
std::string device_name(int) { throw NotCompiled(); }
void* allocate(std::size_t, int, Stream) { throw NotCompiled(); }
void release(void*, int, Stream) noexcept {}
void copy_to_device(void*, const void*, std::size_t, int, Stream) { throw NotCompiled(); }
void copy_to_host(void*, const void*, std::size_t, int, Stream) { throw NotCompiled(); }
void copy_strided(void*, const void*, std::size_t, const std::vector<int64_t>&, const std::vector<int64_t>&, int,
                  Stream) {
    throw NotCompiled();
}
void poison(void*, std::size_t, int, Stream) { throw NotCompiled(); }
void stream_wait(Stream, Stream, int) { throw NotCompiled(); }
void synchronize(int, Stream) { throw NotCompiled(); }
void run_conv(const ConvProblem&, Algo, const void*, const void*, const void*, void*, int, Stream, const Options&) {
    throw NotCompiled();
}
std::string selected_impl(const ConvProblem&, Algo, const Options&) { throw NotCompiled(); }
std::vector<std::pair<std::string, std::string>> implementations() { return {}; }
void unfold(const ConvProblem&, const void*, void*, int, Stream) { throw NotCompiled(); }
void fold(const ConvProblem&, const void*, void*, int, Stream) { throw NotCompiled(); }

}  // namespace fastconv::cuda
