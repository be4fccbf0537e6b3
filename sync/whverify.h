/*
 * whverify.h - webhook signatures: HighLevel signs the raw body of every webhook.
 *
 *   x-ghl-signature   Ed25519 over the raw body bytes, base64 (the current scheme);
 *   x-wh-signature    RSA-SHA256 (PKCS#1 v1.5) over the raw body, base64 (legacy, deprecated
 *                     by HighLevel on 2026-07-01; highlevel-crm.md 5.3).
 * The bytes verified are the bytes received (never a re-serialisation of the parsed JSON: the
 * SDK's JSON.stringify(req.body) check breaks on any key order or number spelling difference).
 *
 * Policy (wh_verify): x-ghl-signature, when present, decides alone: a bad one is never rescued
 * by the legacy header. x-wh-signature is looked at only when x-ghl-signature is absent AND a
 * legacy key is configured ([webhooks] legacy_public_key); without one the legacy header is
 * refused like a missing signature. So the fallback is off by default, and switching it on is
 * giving the key.
 *
 * Keys: SubjectPublicKeyInfo PEM ("-----BEGIN PUBLIC KEY-----"), or the base64 body of one on
 * a single line (what the simulator prints). Crypto is OpenSSL libcrypto (EVP_PKEY_ED25519 with
 * EVP_DigestVerify and a NULL digest; RSA with SHA-256).
 *
 * Threading: a wh_keys is read-only after creation; any thread. Memory: owned by the caller.
 */
#ifndef GHLSYNC_WHVERIFY_H
#define GHLSYNC_WHVERIFY_H
#include "err.h"
#include <stddef.h>

typedef struct wh_keys wh_keys;

/* ed25519_pem required; rsa_pem NULL = no legacy fallback. */
int wh_keys_new(const char *ed25519_pem, const char *rsa_pem, wh_keys **out, gs_err *e);
void wh_keys_free(wh_keys *k);
/* True when a header of this request could be verified (the listener refuses the others
 * before reading the body). */
int wh_keys_accepts(const wh_keys *k, const char *ghl_sig, const char *wh_sig);

enum wh_sig_result { WH_SIG_OK = 0, WH_SIG_MISSING, WH_SIG_BAD };
/* Either header may be NULL. */
enum wh_sig_result wh_verify(const wh_keys *k, const char *ghl_sig, const char *wh_sig,
                             const void *body, size_t len);

/* Base64 (standard alphabet, padding optional, whitespace ignored) -> bytes; malloc'd, NULL on
 * bad input. */
unsigned char *wh_b64_decode(const char *s, size_t *len);
/* bytes -> base64 text (malloc'd, NUL-terminated). */
char *wh_b64_encode(const void *p, size_t len);
#endif
