// The few Fortran BLAS/LAPACK entry points the CPU backend uses, declared here so the
// library links against OpenBLAS alone (no LAPACKE, no cblas header needed).
#pragma once

extern "C" {
void sgemm_(const char *transa, const char *transb, const int *m, const int *n, const int *k,
            const float *alpha, const float *a, const int *lda, const float *b, const int *ldb,
            const float *beta, float *c, const int *ldc);
void ssyrk_(const char *uplo, const char *trans, const int *n, const int *k, const float *alpha,
            const float *a, const int *lda, const float *beta, float *c, const int *ldc);
void strmm_(const char *side, const char *uplo, const char *transa, const char *diag,
            const int *m, const int *n, const float *alpha, const float *a, const int *lda,
            float *b, const int *ldb);
void spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info);
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void dtrtri_(const char *uplo, const char *diag, const int *n, double *a, const int *lda,
             int *info);
void strtri_(const char *uplo, const char *diag, const int *n, float *a, const int *lda,
             int *info);
// OpenBLAS extension (present in every OpenBLAS build).
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
}
