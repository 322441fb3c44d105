/* The same program, compiled as C++ (the header's extern "C" block and its C++ cleanliness). */
#include "headertest.c"
