#ifndef AUTOSAM_CDNNL_SHIM_H
#define AUTOSAM_CDNNL_SHIM_H
/* oneDNN (Debian libdnnl-dev), used for the optional bfloat16 encoder path. */
#include <dnnl.h>

/* Debian's oneDNN runs its parallel regions on GNU OpenMP (DNNL_CPU_RUNTIME_OMP). Declared here
   because Swift's clang does not ship omp.h; the symbols are libgomp's. */
void omp_set_num_threads(int count);
int omp_get_max_threads(void);
#endif
