/* whverify.c - see whverify.h. */
#include "whverify.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

struct wh_keys {
    EVP_PKEY *ed;  /* Ed25519 */
    EVP_PKEY *rsa; /* legacy; NULL = off */
};

unsigned char *wh_b64_decode(const char *s, size_t *len)
{
    size_t n = strlen(s);
    char *clean = malloc(n + 4);
    if (!clean)
        return NULL;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\n' && s[i] != '\r' && s[i] != '\t')
            clean[m++] = s[i];
    while (m % 4) /* EVP_DecodeBlock wants whole quanta */
        clean[m++] = '=';
    clean[m] = '\0';
    unsigned char *out = malloc(m / 4 * 3 + 1);
    int r = out ? EVP_DecodeBlock(out, (const unsigned char *)clean, (int)m) : -1;
    if (r < 0) {
        free(clean);
        free(out);
        return NULL;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes */
    size_t pad = 0;
    for (size_t i = m; i > 0 && clean[i - 1] == '=' && pad < 2; i--)
        pad++;
    free(clean);
    *len = (size_t)r - pad;
    return out;
}

char *wh_b64_encode(const void *p, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, p, (int)len);
    return out;
}

static EVP_PKEY *load_key(const char *text, int want, const char *what, gs_err *e)
{
    char *pem = NULL;
    if (!strstr(text, "-----BEGIN")) {
        /* the base64 body on one line: wrap it (PEM readers want lines of at most 64) */
        size_t n = strlen(text);
        pem = malloc(n + n / 64 + 64);
        if (!pem) {
            gs_err_set(e, GS_ENOMEM, "out of memory");
            return NULL;
        }
        size_t k = (size_t)sprintf(pem, "-----BEGIN PUBLIC KEY-----\n");
        for (size_t i = 0; i < n; i += 64) {
            size_t c = n - i < 64 ? n - i : 64;
            memcpy(pem + k, text + i, c);
            k += c;
            pem[k++] = '\n';
        }
        strcpy(pem + k, "-----END PUBLIC KEY-----\n");
    }
    BIO *b = BIO_new_mem_buf(pem ? pem : text, -1);
    EVP_PKEY *k = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    free(pem);
    if (!k) {
        gs_err_set(e, GS_ECONFIG, "%s: not a PEM public key (SubjectPublicKeyInfo)", what);
        return NULL;
    }
    if (EVP_PKEY_base_id(k) != want) {
        EVP_PKEY_free(k);
        gs_err_set(e, GS_ECONFIG, "%s: not an %s key", what,
                   want == EVP_PKEY_ED25519 ? "Ed25519" : "RSA");
        return NULL;
    }
    return k;
}

int wh_keys_new(const char *ed25519_pem, const char *rsa_pem, wh_keys **out, gs_err *e)
{
    *out = NULL;
    wh_keys *k = calloc(1, sizeof *k);
    if (!k)
        return gs_err_set(e, GS_ENOMEM, "out of memory");
    k->ed = load_key(ed25519_pem ? ed25519_pem : "", EVP_PKEY_ED25519, "[webhooks] public_key", e);
    if (k->ed && rsa_pem)
        k->rsa = load_key(rsa_pem, EVP_PKEY_RSA, "[webhooks] legacy_public_key", e);
    if (!k->ed || (rsa_pem && !k->rsa)) {
        wh_keys_free(k);
        return e->code;
    }
    *out = k;
    return 0;
}

void wh_keys_free(wh_keys *k)
{
    if (!k)
        return;
    EVP_PKEY_free(k->ed);
    EVP_PKEY_free(k->rsa);
    free(k);
}

int wh_keys_accepts(const wh_keys *k, const char *ghl_sig, const char *wh_sig)
{
    return (ghl_sig && *ghl_sig) || (k->rsa && wh_sig && *wh_sig);
}

static enum wh_sig_result check(EVP_PKEY *key, const EVP_MD *md, const char *sig64,
                                const void *body, size_t len)
{
    size_t slen = 0;
    unsigned char *sig = wh_b64_decode(sig64, &slen);
    if (!sig)
        return WH_SIG_BAD;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, md, NULL, key) == 1 &&
             EVP_DigestVerify(ctx, sig, slen, body, len) == 1;
    EVP_MD_CTX_free(ctx);
    free(sig);
    return ok ? WH_SIG_OK : WH_SIG_BAD;
}

enum wh_sig_result wh_verify(const wh_keys *k, const char *ghl_sig, const char *wh_sig,
                             const void *body, size_t len)
{
    if (ghl_sig && *ghl_sig) /* Ed25519 signs the message itself: no digest */
        return check(k->ed, NULL, ghl_sig, body, len);
    if (k->rsa && wh_sig && *wh_sig)
        return check(k->rsa, EVP_sha256(), wh_sig, body, len);
    return WH_SIG_MISSING;
}
