/*
 * civil.h - the proleptic Gregorian calendar as the readers of dates need it: the ISO stamp
 * reader (pullstore.c), binary COPY (copybin.c), the value encoders (mapping.c, family.c) and
 * TOML dates (toml.c). UTC only: no time zone of the process is involved.
 */
#ifndef GHLSYNC_CIVIL_H
#define GHLSYNC_CIVIL_H

#include <stdbool.h>
#include <stdint.h>

/* The n decimal digits at s (n <= 9) as *out; false at the first byte that is not a digit
 * (a NUL included, so a short string is never read past its end). */
bool cv_digits(const char *s, int n, int *out);
/* Days in month m (1-12) of year y. */
int cv_month_days(int64_t y, int m);
/* Days since 1970-01-01 of y-m-d (m 1-12, d 1-31; any year). */
int64_t cv_days_from_civil(int64_t y, int m, int d);
/* s starts with "YYYY-MM-DD" naming a real day of the years 1-9999 (what a date column takes);
 * its parts in *y, *m, *d when they are not NULL. A day that does not exist ("2024-02-30",
 * "0000-00-00") is false: PostgreSQL would refuse the whole write, so the encoders store such a
 * value as NULL with a warning. */
bool cv_date(const char *s, int *y, int *m, int *d);

#endif
