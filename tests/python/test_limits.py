# Size limits: every size is int64 and overflow-checked, and a layer whose output, workspace or
# input copy would not fit in memory fails with a clear error before anything is allocated. The
# shapes here have ~2^31 to ~2^63 elements, yet nothing large is ever allocated: inputs are tiny
# (a huge stride makes a huge transposed output), empty (batch 0 with huge spatial extents) or
# zero-strided broadcast views, so the tests run in milliseconds and would crash or hang, not
# pass, if a check were missing.
import numpy as np
import pytest

import fastconv
from fastconv import _core

F32 = np.float32
ONE_1D = np.ones((1, 1, 2), F32)
W_1D = np.ones((1, 1, 1), F32)


def test_memory_limit_is_sane():
    assert 2**26 < _core.memory_limit_bytes() < 2**62


@pytest.mark.parametrize("stride, error, pattern", [
    # 2^60 + 1 elements of 4 bytes: fits int64, not the machine.
    (2**60, MemoryError, r"^conv_transpose1d: the output would need 4611686018427387908 bytes .* more than this machine's memory"),
    # 2^61 + 1 elements: the byte count overflows int64.
    (2**61, ValueError, r"^conv_transpose1d: array size in bytes overflows a 64-bit integer"),
    # 2^62 + 1 elements: the element count itself is past 2^62; bytes overflow.
    (2**62, ValueError, r"^conv_transpose1d: array size in bytes overflows"),
    (2**63 - 1, ValueError, r"^conv_transpose1d: .*overflows a 64-bit integer"),
])
def test_huge_transposed_outputs_fail_before_allocating(stride, error, pattern):
    with pytest.raises(error, match=pattern):
        fastconv.conv_transpose1d(ONE_1D, W_1D, stride=stride)


def test_output_just_past_memory_is_refused_by_name():
    # ~2^31 elements per side of a 2-D transposed output: 2^62 elements in all.
    x = np.ones((1, 1, 2, 2), F32)
    with pytest.raises((MemoryError, ValueError), match=r"^conv_transpose2d: (the output|.*overflows)"):
        fastconv.conv_transpose2d(x, np.ones((1, 1, 1, 1), F32), stride=2**31)
    # Memory exceeded but int64 fine: 2^33 float32 elements = 32 GiB, more than the CI machine has.
    limit = _core.memory_limit_bytes()
    side = int((limit // 4) ** 0.5) + 2
    with pytest.raises(MemoryError, match=r"^conv2d: the output would need \d+ bytes"):
        fastconv.conv2d(np.ones((1, 1, 1, 1), F32), np.ones((1, 1, 1, 1), F32), padding=side // 2)


def test_empty_batch_with_extents_near_2_to_31_and_2_to_63():
    # Batch 0: nothing to compute, but every size is derived and checked; the result is empty.
    x = np.empty((0, 1, 2**31 + 3), F32)  # no memory: 0 elements
    y = fastconv.conv1d(x, np.ones((2, 1, 3), F32), padding=1)
    assert y.shape == (0, 2, 2**31 + 3)
    x = np.empty((0, 2**20, 2**20, 2**20), F32)  # 2^60 elements per image
    y = fastconv.conv2d(x, np.ones((1, 2**20, 1, 1), F32), stride=2**19)
    assert y.shape == (0, 1, 2, 2)
    # The weight alone would have 2^62 * 4 bytes if it existed: refused while sizing the columns.
    with pytest.raises(ValueError, match=r"^algorithms: .*overflows a 64-bit integer"):
        fastconv.algorithms("conv1d", (1, 2**40, 2**22), (1, 2**40, 2**22))


def test_algorithms_sizes_layers_past_2_to_31_elements_without_running_them():
    info = fastconv.algorithms("conv2d", (1, 64, 2**14, 2**14), (64, 64, 3, 3), padding=1)
    assert info["selected"]  # 2^34 input elements: sized in int64, nothing allocated


@pytest.mark.parametrize("call, pattern", [
    (lambda: fastconv.conv2d(np.ones((1, 1, 4, 4), F32), np.ones((1, 1, 1, 1), F32), stride=2**63),
     r"^conv2d: stride must be less than 2\*\*63, got 9223372036854775808$"),
    (lambda: fastconv.conv2d(np.ones((1, 1, 4, 4), F32), np.ones((1, 1, 1, 1), F32), padding=((0, 2**64), 0)),
     r"^conv2d: padding must be less than 2\*\*63"),
    (lambda: fastconv.conv1d(np.ones((1, 1, 4), F32), np.ones((1, 1, 5), F32), padding="same", dilation=2**62 + 1),
     r"^conv1d: padding must be less than 2\*\*63, got 'same'"),
    (lambda: fastconv.conv1d(np.ones((1, 1, 4), F32), np.ones((1, 1, 1), F32), groups=2**63),
     r"^conv1d: groups must be less than 2\*\*63"),
    (lambda: fastconv.conv_output_size(2**70, 3), r"^conv_output_size: input_size must be less than 2\*\*63"),
    (lambda: fastconv.conv_transpose_output_size(4, 3, output_padding=2**63), r"^conv_transpose_output_size: output_padding must be less"),
    (lambda: fastconv.unfold(np.ones((1, 1, 4, 4), F32), 2, stride=2**64), r"^unfold: stride must be less than 2\*\*63"),
    (lambda: fastconv.algorithms("conv1d", (1, 1, 2**63), (1, 1, 1)), r"^algorithms: input_shape must be less than 2\*\*63"),
    (lambda: fastconv.set_num_threads(2**40), r"^set_num_threads: num_threads must be between 1 and 1024"),
])
def test_ints_past_int64_are_refused_by_name(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_transposed_padding_near_2_to_63_does_not_wrap_around():
    # (2 - 1) * 2 + 1 - (2^63 - 1) - (2^63 - 1) once wrapped around to 5: a silently wrong shape.
    with pytest.raises(ValueError, match=r"^conv_transpose1d: spatial dimension 0: padding too large"):
        fastconv.conv_transpose1d(ONE_1D, W_1D, stride=2, padding=2**63 - 1)
    with pytest.raises(ValueError, match=r"^conv_transpose_output_size: padding too large"):
        fastconv.conv_transpose_output_size(2, 1, stride=2, padding=2**63 - 1)


def test_huge_padding_with_huge_stride_is_computed_not_allocated():
    # Output 3x4, almost all padding: the padded-plane (depthwise) and width-padded (igemm) copies
    # must not be sized by the padding (2^40 rows of zeros, or an overflowing 2^61).
    x = np.arange(16, dtype=F32).reshape(1, 1, 4, 4)
    for exponent in (40, 61):
        big = 2**exponent
        y = fastconv.conv2d(x, np.ones((1, 1, 1, 1), F32), stride=(big, 1), padding=((big, big), (0, 0)))
        np.testing.assert_array_equal(y[0, 0], [[0] * 4, x[0, 0, big - big], [0] * 4])
        x3 = np.ones((1, 3, 8, 8), F32)
        y = fastconv.conv2d(x3, np.ones((8, 3, 3, 3), F32), stride=big, padding=big)
        expected = fastconv.conv2d(x3, np.ones((8, 3, 3, 3), F32), stride=big, padding=big, algo="reference")
        np.testing.assert_array_equal(y, expected)


def test_broadcast_input_larger_than_memory_is_refused_before_copying():
    x = np.broadcast_to(F32(1), (1, 8, 2**17, 2**17))  # 512 GiB if copied
    with pytest.raises(MemoryError, match=r"^conv2d: input needs a C-contiguous copy of 549755813888 bytes"):
        fastconv.conv2d(x, np.ones((1, 8, 1, 1), F32))
