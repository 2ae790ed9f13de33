// Exception types of the C++ API. The Python binding maps InvalidArgument to ValueError,
// UnsupportedType to TypeError and OutOfMemory to MemoryError, so one message serves both languages;
// it names the argument, the value received and what was expected.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace fastconv {

class InvalidArgument : public std::invalid_argument {
   public:
    using std::invalid_argument::invalid_argument;
};

class UnsupportedType : public std::invalid_argument {
   public:
    using std::invalid_argument::invalid_argument;
};

// An array or workspace larger than this machine's memory, refused before allocating it (a lazy
// allocation that large would otherwise succeed and get the process killed when touched).
class OutOfMemory : public std::runtime_error {
   public:
    using std::runtime_error::runtime_error;
};

// Overflow-checked int64 arithmetic for sizes; `what` names the quantity in the error message.
int64_t checked_mul(int64_t a, int64_t b, const char* what);
int64_t checked_add(int64_t a, int64_t b, const char* what);

}  // namespace fastconv
