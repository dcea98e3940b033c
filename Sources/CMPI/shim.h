#ifndef AUTOSAM_CMPI_SHIM_H
#define AUTOSAM_CMPI_SHIM_H
#include <mpi.h>

/* OpenMPI defines its handles as macros over addresses of globals, which Swift cannot import.
   These accessors expose them as functions. */
static inline MPI_Comm autosam_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm autosam_mpi_comm_null(void) { return MPI_COMM_NULL; }
static inline MPI_Datatype autosam_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype autosam_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype autosam_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype autosam_mpi_uint8(void) { return MPI_UINT8_T; }
static inline MPI_Datatype autosam_mpi_char(void) { return MPI_CHAR; }
static inline MPI_Op autosam_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op autosam_mpi_max(void) { return MPI_MAX; }
static inline MPI_Op autosam_mpi_min(void) { return MPI_MIN; }
static inline void *autosam_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline int autosam_mpi_success(void) { return MPI_SUCCESS; }
static inline int autosam_mpi_undefined(void) { return MPI_UNDEFINED; }
static inline int autosam_mpi_any_source(void) { return MPI_ANY_SOURCE; }
static inline MPI_Status *autosam_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Errhandler autosam_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
#endif
