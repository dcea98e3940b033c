#ifndef AUTOSAM_CBLAS_SHIM_H
#define AUTOSAM_CBLAS_SHIM_H
#include <cblas.h>

/* Exported by libopenblas but not declared in Debian's cblas.h (PLATFORM.md). */
char *openblas_get_corename(void);
/* DYNAMIC_ARCH kernel-table selection: quit clears the table, init selects it again and honours
   OPENBLAS_CORETYPE. Used once, before any BLAS work, when OpenBLAS misdetects the CPU. */
void gotoblas_dynamic_init(void);
void gotoblas_dynamic_quit(void);
/* Environment and thread pool: read_env re-reads OPENBLAS_* variables (OPENBLAS_THREAD_TIMEOUT among
   them), shutdown joins the worker threads, init starts them again with the timeout read. */
void openblas_read_env(void);
int blas_thread_shutdown_(void);
int blas_thread_init(void);
#endif
