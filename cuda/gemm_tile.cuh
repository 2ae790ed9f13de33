// The tiled GEMM main loop every GEMM-shaped kernel of fastconv runs (im2col + GEMM, the 1x1 path,
// GEMM + col2im and the implicit GEMM): C (M x N) = A (M x K) * B (K x N), batched over blockIdx.z.
// Where the operands come from and where C goes are template functors (CUTLASS's iterators and
// epilogues in miniature), so "implicit" only means an A loader that gathers from the activation
// instead of reading a column buffer.
//
// Orientation: M runs over output pixels (contiguous in NCHW memory), N over output channels, so
// A tiles are loaded along M with 128-bit loads where the operand is dense and aligned, and the
// epilogue writes runs of consecutive pixels.
//
// SIMT kernel, CUDA cores (float compute for float32/float16/bfloat16 storage, and float64): a block of 256 threads owns a BM x BN tile of C;
// each thread a TM x TN register tile (float: 128 x 64 block, 8 x 4 per thread = 32 accumulators
// plus 12 operand registers, which leaves room for the loaders' state under the 255-register cap at
// 2 blocks/SM; double: 64 x 64, 4 x 4). K advances BK = 8 at a time through two shared-memory
// buffers: the global loads of tile k+1 are in flight (in registers) while tile k is multiplied,
// then stored into the other buffer, so one __syncthreads per K step suffices.
//
// Split-K (cuda_plan.hpp's split_k_plan): a launch with too few tiles to fill the GPU also splits
// K over blockIdx.z (z = batch * splits + split); each block writes its partial tile to a
// workspace through PartialEpilogue, and split_k_reduce_kernel sums the partials in split order
// and hands the sum to the real epilogue. The reduction order of every output element is fixed by
// the problem (no atomics): results are bitwise identical run to run.
//
// TF32 kernel (float32 opt-in, allow_tf32): the same loaders and tiles, operands rounded to TF32
// when stored to shared memory, 8 warps each computing 32 x 32 of C with wmma m16n16k8 tensor-core
// fragments accumulating in float32; the accumulators go through shared memory (column-major, so
// the epilogue reads consecutive pixels without bank conflicts) to the same epilogue functor.
#pragma once

#include <mma.h>

#include <type_traits>

#include "common.cuh"

namespace fastconv::cuda {

template <typename T>
struct TileShape;
template <>
struct TileShape<float> {
    static constexpr int BM = 128, BN = 64, BK = 8, TM = 8, TN = 4;
};
template <>
struct TileShape<double> {
    static constexpr int BM = 64, BN = 64, BK = 8, TM = 4, TN = 4;
};
inline constexpr int kGemmThreads = 256;

// The offset of batch entry z = outer * inner_count + inner: outer * outer_stride + inner * inner_stride.
struct BatchStride {
    int inner_count = 1;
    int64_t outer_stride = 0;
    int64_t inner_stride = 0;
    __device__ int64_t offset(int z) const {
        return int64_t(z / inner_count) * outer_stride + int64_t(z % inner_count) * inner_stride;
    }
};

// Loaders read storage type S (float, double, __half, __nv_bfloat16) and hand the main loop values
// of compute_t<S> (half-precision operands are widened to float as they are loaded); epilogues
// narrow back. The main loop itself only ever sees float or double.

// A operand read from a dense matrix stored K-major: element (m, k) at ptr[batch + k * ld + m]
// (a column buffer, or an NCHW image whose pixels are the M rows). Vector loads (float and double
// storage) need ld and every batch offset to be multiples of the vector width and ptr 16-byte
// aligned (checked on the host).
template <typename S>
struct DenseA {
    using T = compute_t<S>;
    const S* ptr;
    int64_t ld;
    BatchStride batch;
    int M, K;
    bool vector_ok;
    const S* base = nullptr;
    int m_first = 0;

    __device__ void begin(int z, int first) {
        base = ptr + batch.offset(z);
        m_first = first;
    }
    template <int P>
    __device__ void load(int k, T (&v)[P]) const {
        static_assert(P * sizeof(T) == 16, "one 128-bit group of compute values per thread and K step");
        const S* p = base + int64_t(k) * ld + m_first;
        if constexpr (std::is_same_v<S, float>) {
            if (k < K && vector_ok && m_first + P <= M) {
                const float4 q = __ldg(reinterpret_cast<const float4*>(p));
                v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
                return;
            }
        } else if constexpr (std::is_same_v<S, double>) {
            if (k < K && vector_ok && m_first + P <= M) {
                const double2 q = __ldg(reinterpret_cast<const double2*>(p));
                v[0] = q.x, v[1] = q.y;
                return;
            }
        }
#pragma unroll
        for (int j = 0; j < P; ++j) v[j] = (k < K && m_first + j < M) ? load_compute(p + j) : T(0);
    }
};

// B operand with element (k, n) at ptr[batch + k * k_stride + n * n_stride]: the weights, read
// either K-contiguous (forward: row kout of W) or N-contiguous (transposed: W itself).
template <typename S, bool kContiguousK>
struct StridedB {
    using T = compute_t<S>;
    static constexpr bool contiguous_k = kContiguousK;
    const S* ptr;
    int64_t k_stride, n_stride;
    BatchStride batch;
    int K, N;
    const S* base = nullptr;

    __device__ void begin(int z) { base = ptr + batch.offset(z); }
    __device__ T load(int k, int n) const {
        return (k < K && n < N) ? load_compute(base + int64_t(k) * k_stride + int64_t(n) * n_stride) : T(0);
    }
};

// C element (m, n) to ptr[batch + n * ld + m] (+ bias[bias_batch + n]): channel n, pixel m.
template <typename S>
struct ChannelsEpilogue {
    using T = compute_t<S>;
    S* ptr;
    int64_t ld;
    BatchStride batch;
    const S* bias;  // may be null
    BatchStride bias_batch;
    S* base = nullptr;
    const S* bias_base = nullptr;

    __device__ void begin(int z) {
        base = ptr + batch.offset(z);
        bias_base = bias ? bias + bias_batch.offset(z) : nullptr;
    }
    __device__ void store(int m, int n, T value) const {
        base[int64_t(n) * ld + m] = from_compute<S>(bias_base ? value + to_compute(bias_base[n]) : value);
    }
};

// A split's partial C, in compute type, at ws[(z * N + n) * M + m] for z = batch * splits + split.
template <typename T>
struct PartialEpilogue {
    T* ws;
    int M, N;
    T* base = nullptr;

    __device__ void begin(int z) { base = ws + int64_t(z) * N * M; }
    __device__ void store(int m, int n, T value) const { base[int64_t(n) * M + m] = value; }
};

// One thread per element of C (m fastest, so the partials and NCHW outputs are read and written
// coalesced): the splits' partials summed in split order, then the launch's own epilogue.
template <typename T, typename Epilogue>
__global__ void split_k_reduce_kernel(const T* ws, Epilogue epilogue, int M, int N, int batches, int splits) {
    const int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (e >= int64_t(batches) * N * M) return;
    const int m = int(e % M), n = int(e / M % N), z = int(e / M / N);
    const T* partial = ws + (int64_t(z) * splits * N + n) * M + m;
    T sum = partial[0];
    for (int s = 1; s < splits; ++s) sum += partial[int64_t(s) * N * M];
    Epilogue out = epilogue;
    out.begin(z);
    out.store(m, n, sum);
}

// The K range of this block: split blockIdx.z % splits of K, k_chunk wide (a multiple of BK).
struct KRange {
    int begin, tiles;
};
template <int BK>
__device__ KRange k_range_of_block(int K, int splits, int k_chunk) {
    const int begin = (blockIdx.z % splits) * k_chunk;
    const int end = min(K, begin + k_chunk);
    return {begin, end > begin ? (end - begin + BK - 1) / BK : 0};
}

template <typename T, typename ALoader, typename BLoader, typename Epilogue>
__global__ void __launch_bounds__(kGemmThreads) gemm_tile_kernel(ALoader a, BLoader b, Epilogue epilogue, int M, int N,
                                                                  int K, int splits, int k_chunk) {
    using S = TileShape<T>;
    constexpr int BM = S::BM, BN = S::BN, BK = S::BK, TM = S::TM, TN = S::TN;
    constexpr int A_PER = BM * BK / kGemmThreads, B_PER = BK * BN / kGemmThreads;
    static_assert((BM / TM) * (BN / TN) == kGemmThreads, "one register tile per thread");
    __shared__ __align__(16) T As[2][BK][BM];
    __shared__ __align__(16) T Bs[2][BK][BN];

    const int t = threadIdx.x, z = blockIdx.z / splits;
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
    const int a_k = t / (BM / A_PER), a_m = (t % (BM / A_PER)) * A_PER;
    const KRange range = k_range_of_block<BK>(K, splits, k_chunk);
    a.begin(z, m0 + a_m);
    b.begin(z);
    epilogue.begin(blockIdx.z);

    T a_reg[A_PER], b_reg[B_PER];
    auto b_coord = [&](int j, int& kk, int& nn) {
        const int e = t * B_PER + j;
        if constexpr (BLoader::contiguous_k) kk = e % BK, nn = e / BK;
        else kk = e / BN, nn = e % BN;
    };
    auto fetch = [&](int k0) {
        a.load(k0 + a_k, a_reg);
#pragma unroll
        for (int j = 0; j < B_PER; ++j) {
            int kk, nn;
            b_coord(j, kk, nn);
            b_reg[j] = b.load(k0 + kk, n0 + nn);
        }
    };
    auto stash = [&](int buffer) {
        // 16 bytes per thread in one store: conflict-free, where A_PER scalar stores would not be.
        if constexpr (std::is_same_v<T, float>)
            *reinterpret_cast<float4*>(&As[buffer][a_k][a_m]) = make_float4(a_reg[0], a_reg[1], a_reg[2], a_reg[3]);
        else
            *reinterpret_cast<double2*>(&As[buffer][a_k][a_m]) = make_double2(a_reg[0], a_reg[1]);
#pragma unroll
        for (int j = 0; j < B_PER; ++j) {
            int kk, nn;
            b_coord(j, kk, nn);
            Bs[buffer][kk][nn] = b_reg[j];
        }
    };

    const int tx = t % (BN / TN), ty = t / (BN / TN);
    T acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = T(0);

    const int k_tiles = range.tiles;
    if (k_tiles > 0) {
        fetch(range.begin);
        stash(0);
    }
    __syncthreads();
    for (int kt = 0; kt < k_tiles; ++kt) {
        const int buffer = kt & 1;
        if (kt + 1 < k_tiles) fetch(range.begin + (kt + 1) * BK);
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            T av[TM], bv[TN];
#pragma unroll
            for (int i = 0; i < TM; ++i) av[i] = As[buffer][kk][ty * TM + i];
#pragma unroll
            for (int j = 0; j < TN; ++j) bv[j] = Bs[buffer][kk][tx * TN + j];
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
        }
        if (kt + 1 < k_tiles) stash(buffer ^ 1);
        __syncthreads();
    }
#pragma unroll
    for (int j = 0; j < TN; ++j)
#pragma unroll
        for (int i = 0; i < TM; ++i) {
            const int m = m0 + ty * TM + i, n = n0 + tx * TN + j;
            if (m < M && n < N) epilogue.store(m, n, acc[i][j]);
        }
}

template <typename ALoader, typename BLoader, typename Epilogue>
__global__ void __launch_bounds__(kGemmThreads) gemm_tile_tf32_kernel(ALoader a, BLoader b, Epilogue epilogue, int M,
                                                                       int N, int K, int splits, int k_chunk) {
    namespace wmma = nvcuda::wmma;
    using S = TileShape<float>;
    constexpr int BM = S::BM, BN = S::BN, BK = S::BK;
    constexpr int A_PER = BM * BK / kGemmThreads, B_PER = BK * BN / kGemmThreads;
    static_assert(BK == 8 && BM == 128 && BN == 64, "8 warps of 32 x 32, one m16n16k8 step per K tile");
    __shared__ __align__(32) float As[2][BK][BM];
    __shared__ __align__(32) float Bs[2][BK][BN];
    __shared__ __align__(32) float Cs[BN][BM];

    const int t = threadIdx.x, z = blockIdx.z / splits, warp = t / 32;
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
    const int a_k = t / (BM / A_PER), a_m = (t % (BM / A_PER)) * A_PER;
    const int wm = (warp % 4) * 32, wn = (warp / 4) * 32;
    const KRange range = k_range_of_block<BK>(K, splits, k_chunk);
    a.begin(z, m0 + a_m);
    b.begin(z);
    epilogue.begin(blockIdx.z);

    float a_reg[A_PER], b_reg[B_PER];
    auto b_coord = [&](int j, int& kk, int& nn) {
        const int e = t * B_PER + j;
        if constexpr (BLoader::contiguous_k) kk = e % BK, nn = e / BK;
        else kk = e / BN, nn = e % BN;
    };
    auto fetch = [&](int k0) {
        a.load(k0 + a_k, a_reg);
#pragma unroll
        for (int j = 0; j < B_PER; ++j) {
            int kk, nn;
            b_coord(j, kk, nn);
            b_reg[j] = b.load(k0 + kk, n0 + nn);
        }
    };
    auto stash = [&](int buffer) {
#pragma unroll
        for (int j = 0; j < A_PER; ++j) As[buffer][a_k][a_m + j] = wmma::__float_to_tf32(a_reg[j]);
#pragma unroll
        for (int j = 0; j < B_PER; ++j) {
            int kk, nn;
            b_coord(j, kk, nn);
            Bs[buffer][kk][nn] = wmma::__float_to_tf32(b_reg[j]);
        }
    };

    wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[2][2];
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

    const int k_tiles = range.tiles;
    if (k_tiles > 0) {
        fetch(range.begin);
        stash(0);
    }
    __syncthreads();
    for (int kt = 0; kt < k_tiles; ++kt) {
        const int buffer = kt & 1;
        if (kt + 1 < k_tiles) fetch(range.begin + (kt + 1) * BK);
        // As[k][m] is A column-major with ld BM; Bs[k][n] is B row-major with ld BN.
        wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::col_major> fa[2];
        wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fb[2];
#pragma unroll
        for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(fa[i], &As[buffer][0][wm + i * 16], BM);
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(fb[j], &Bs[buffer][0][wn + j * 16], BN);
#pragma unroll
        for (int i = 0; i < 2; ++i)
#pragma unroll
            for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
        if (kt + 1 < k_tiles) stash(buffer ^ 1);
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j)
            wmma::store_matrix_sync(&Cs[wn + j * 16][wm + i * 16], acc[i][j], BM, wmma::mem_col_major);
    __syncthreads();
    for (int e = t; e < BM * BN; e += kGemmThreads) {
        const int m = e % BM, n = e / BM;
        if (m0 + m < M && n0 + n < N) epilogue.store(m0 + m, n0 + n, Cs[n][m]);
    }
}

// One launch of the SIMT or the TF32 kernel over `grid`, writing through `out`.
template <typename T, typename ALoader, typename BLoader, typename Out>
void launch_gemm_tiles(const ALoader& a, const BLoader& b, const Out& out, int M, int N, int K, dim3 grid, int splits,
                       int k_chunk, cudaStream_t stream, bool tf32) {
    if constexpr (std::is_same_v<T, float>) {
        if (tf32) {
            gemm_tile_tf32_kernel<<<grid, kGemmThreads, 0, stream>>>(a, b, out, M, N, K, splits, k_chunk);
            CUDA_CHECK_LAUNCH();
            return;
        }
    }
    gemm_tile_kernel<T><<<grid, kGemmThreads, 0, stream>>>(a, b, out, M, N, K, splits, k_chunk);
    CUDA_CHECK_LAUNCH();
}

// Launches C = A * B over `batches` (blockIdx.z) in compute type T; tf32 selects the tensor-core
// kernel for float compute (float32 inputs rounded to TF32; float16/bfloat16 inputs, which TF32
// represents exactly, so their products are exact and accumulate in float32). With few tiles the
// product is split over K (see the header comment) through a stream-ordered workspace.
template <typename T, typename ALoader, typename BLoader, typename Epilogue>
void launch_gemm(const ALoader& a, const BLoader& b, const Epilogue& epilogue, int M, int N, int K, int batches,
                 cudaStream_t stream, bool tf32) {
    using S = TileShape<T>;
    if (M <= 0 || N <= 0 || batches <= 0) return;
    if (batches > 65535 || (N + S::BN - 1) / S::BN > 65535)
        throw InvalidArgument("cuda: GEMM grid exceeds 65535 batches or column tiles");
    const int m_tiles = (M + S::BM - 1) / S::BM, n_tiles = (N + S::BN - 1) / S::BN;
    const SplitK split = split_k_plan(int64_t(m_tiles) * n_tiles * batches, batches, K, S::BK,
                                      int64_t(M) * N * batches * int64_t(sizeof(T)), kWorkspaceCapBytes);
    if (split.splits == 1) {
        launch_gemm_tiles<T>(a, b, epilogue, M, N, K, dim3(m_tiles, n_tiles, batches), 1, K, stream, tf32);
        return;
    }
    const Workspace partials(std::size_t(split.splits) * batches * M * N * sizeof(T), stream);
    const PartialEpilogue<T> partial{partials.as<T>(), M, N};
    launch_gemm_tiles<T>(a, b, partial, M, N, K, dim3(m_tiles, n_tiles, batches * split.splits), split.splits,
                         int(split.k_chunk), stream, tf32);
    const int64_t elements = int64_t(batches) * N * M;
    split_k_reduce_kernel<T><<<blocks_for(elements, 256), 256, 0, stream>>>(partials.as<T>(), epilogue, M, N, batches,
                                                                            split.splits);
    CUDA_CHECK_LAUNCH();
}

// Whether a DenseA over `ptr` with leading dimension `ld` and these batch strides may use 16-byte loads.
template <typename T>
bool dense_vector_ok(const T* ptr, int64_t ld, const BatchStride& batch) {
    constexpr int64_t width = 16 / sizeof(T);
    return reinterpret_cast<std::uintptr_t>(ptr) % 16 == 0 && ld % width == 0 && batch.outer_stride % width == 0 &&
           batch.inner_stride % width == 0;
}

}  // namespace fastconv::cuda
