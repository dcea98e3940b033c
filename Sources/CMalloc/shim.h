// glibc heap tuning (mallopt): Tensors/HeapPolicy.swift.
#include <malloc.h>
