#ifndef AUTOSAM_CBLAS_SHIM_H
#define AUTOSAM_CBLAS_SHIM_H
#include <cblas.h>

/* Exported by libopenblas but not declared in Debian's cblas.h (PLATFORM.md). */
char *openblas_get_corename(void);
/* DYNAMIC_ARCH kernel-table selection: quit clears the table, init selects it again and honours
   OPENBLAS_CORETYPE. Used once, before any BLAS work, when OpenBLAS misdetects the CPU. */
void gotoblas_dynamic_init(void);
void gotoblas_dynamic_quit(void);
#endif
