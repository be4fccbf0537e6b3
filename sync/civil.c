/* civil.c - see civil.h. */
#include "civil.h"

#include <stddef.h>

bool cv_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

int cv_month_days(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

int64_t cv_days_from_civil(int64_t y, int m, int d)
{
    /* Howard Hinnant's days-from-civil, for UTC without the process time zone */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

bool cv_date(const char *s, int *y, int *m, int *d)
{
    int yy, mm, dd;
    if (!cv_digits(s, 4, &yy) || s[4] != '-' || !cv_digits(s + 5, 2, &mm) || s[7] != '-' ||
        !cv_digits(s + 8, 2, &dd) || yy < 1 || mm < 1 || mm > 12 || dd < 1 ||
        dd > cv_month_days(yy, mm))
        return false;
    if (y)
        *y = yy;
    if (m)
        *m = mm;
    if (d)
        *d = dd;
    return true;
}
