/* numtext.c - integers and short decimals as text (numtext.h says why). */
#include "numtext.h"

#include <math.h>

size_t nt_int(long long v, char *buf)
{
    char t[24];
    size_t n = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do
        t[n++] = (char)('0' + u % 10);
    while ((u /= 10) > 0);
    if (v < 0)
        t[n++] = '-';
    size_t k = 0;
    while (n > 0)
        buf[k++] = t[--n];
    buf[k] = '\0';
    return k;
}

/* The first k with m / 10^k == |d| (m = |d| * 10^k rounded). m and 10^k are exact doubles and
 * the division rounds correctly, so the text m.10^-k reads back as d. It is within half an ulp
 * of d, far inside half a step of the 15-digit grid, so it is also what %.15g prints; the
 * smallest k leaves no trailing zero, as %g drops them. */
bool nt_decimal15(double d, char *buf, size_t len)
{
    static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,
                                 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19};
    double a = fabs(d);
    if (!(a >= 1e-4 && a < 1e15) || a == floor(a) || len < 24)
        return false;
    for (int k = 1; k <= 19; k++) {
        double sc = a * p10[k];
        if (sc >= 1e15)
            return false;
        double m = nearbyint(sc);
        if (m / p10[k] != a)
            continue;
        unsigned long long um = (unsigned long long)m, div = 1;
        for (int i = 0; i < k; i++)
            div *= 10;
        unsigned long long fp = um % div;
        size_t o = 0;
        if (d < 0)
            buf[o++] = '-';
        o += nt_int((long long)(um / div), buf + o);
        buf[o++] = '.';
        for (int i = k - 1; i >= 0; i--, fp /= 10)
            buf[o + (size_t)i] = (char)('0' + fp % 10);
        buf[o + (size_t)k] = '\0';
        return true;
    }
    return false;
}
