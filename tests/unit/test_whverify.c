/* Unit tests of the webhook signature check (whverify.h) and payload reading (whevent.h): keys
 * generated here with OpenSSL, signatures over exact bytes, the legacy RSA fallback only with a
 * legacy key, and the hint each documented payload shape carries. */
#include "test.h"
#include "whevent.h"
#include "whverify.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

static EVP_PKEY *keygen(int type)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(type, NULL);
    EVP_PKEY *k = NULL;
    if (c && EVP_PKEY_keygen_init(c) == 1 &&
        (type != EVP_PKEY_RSA || EVP_PKEY_CTX_set_rsa_keygen_bits(c, 2048) == 1))
        EVP_PKEY_keygen(c, &k);
    EVP_PKEY_CTX_free(c);
    return k;
}

static char *pub_b64(EVP_PKEY *k)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k, &der);
    char *s = n > 0 ? wh_b64_encode(der, (size_t)n) : NULL;
    OPENSSL_free(der);
    return s;
}

static char *sign(EVP_PKEY *k, const EVP_MD *md, const char *body)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    size_t n = 0;
    unsigned char *sig = NULL;
    char *out = NULL;
    if (c && EVP_DigestSignInit(c, NULL, md, NULL, k) == 1 &&
        EVP_DigestSign(c, NULL, &n, (const unsigned char *)body, strlen(body)) == 1 &&
        (sig = malloc(n)) &&
        EVP_DigestSign(c, sig, &n, (const unsigned char *)body, strlen(body)) == 1)
        out = wh_b64_encode(sig, n);
    free(sig);
    EVP_MD_CTX_free(c);
    return out;
}

static void base64_round_trip(void)
{
    const char *s = "any carnal pleas";
    for (size_t n = 0; n <= strlen(s); n++) {
        char *e = wh_b64_encode(s, n);
        size_t len = 99;
        unsigned char *d = wh_b64_decode(e, &len);
        TEST_REQUIRE(d != NULL);
        TEST_EQ_INT(len, n);
        TEST_CHECK(memcmp(d, s, n) == 0);
        free(d);
        free(e);
    }
    size_t len;
    unsigned char *d = wh_b64_decode("YW55\n IGNh", &len); /* whitespace, no padding */
    TEST_REQUIRE(d != NULL);
    TEST_EQ_INT(len, 6);
    TEST_CHECK(memcmp(d, "any ca", 6) == 0);
    free(d);
    TEST_CHECK(wh_b64_decode("not*base64", &len) == NULL);
}

static void ed25519_and_legacy(void)
{
    EVP_PKEY *ed = keygen(EVP_PKEY_ED25519), *other = keygen(EVP_PKEY_ED25519);
    EVP_PKEY *rsa = keygen(EVP_PKEY_RSA);
    TEST_REQUIRE(ed && other && rsa);
    char *edp = pub_b64(ed), *rsap = pub_b64(rsa);
    const char *body = "{\"type\":\"ContactUpdate\",\"id\":\"c1\"}";
    char *good = sign(ed, NULL, body), *wrong = sign(other, NULL, body);
    char *legacy = sign(rsa, EVP_sha256(), body);

    wh_keys *k = NULL;
    gs_err e = {0};
    TEST_REQUIRE(wh_keys_new(edp, NULL, &k, &e) == 0);
    TEST_EQ_INT(wh_verify(k, good, NULL, body, strlen(body)), WH_SIG_OK);
    TEST_EQ_INT(wh_verify(k, wrong, NULL, body, strlen(body)), WH_SIG_BAD);
    TEST_EQ_INT(wh_verify(k, good, NULL, body, strlen(body) - 1), WH_SIG_BAD);
    TEST_EQ_INT(wh_verify(k, "%%%", NULL, body, strlen(body)), WH_SIG_BAD);
    /* no legacy key: the RSA header alone is no signature */
    TEST_EQ_INT(wh_verify(k, NULL, legacy, body, strlen(body)), WH_SIG_MISSING);
    TEST_CHECK(!wh_keys_accepts(k, NULL, legacy));
    TEST_CHECK(wh_keys_accepts(k, good, NULL));
    wh_keys_free(k);

    /* PEM form, and a legacy key: the fallback is used only without x-ghl-signature */
    char pem[1024];
    snprintf(pem, sizeof pem, "-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----\n", edp);
    TEST_REQUIRE(wh_keys_new(pem, rsap, &k, &e) == 0);
    TEST_EQ_INT(wh_verify(k, NULL, legacy, body, strlen(body)), WH_SIG_OK);
    TEST_EQ_INT(wh_verify(k, wrong, legacy, body, strlen(body)), WH_SIG_BAD);
    TEST_EQ_INT(wh_verify(k, NULL, good, body, strlen(body)), WH_SIG_BAD);
    TEST_CHECK(wh_keys_accepts(k, NULL, legacy));
    wh_keys_free(k);

    /* keys of the wrong kind are configuration errors */
    TEST_EQ_INT(wh_keys_new(rsap, NULL, &k, &e), GS_ECONFIG);
    TEST_CHECK(strstr(e.msg, "not an Ed25519 key") != NULL);
    TEST_EQ_INT(wh_keys_new("garbage", NULL, &k, &e), GS_ECONFIG);
    TEST_EQ_INT(wh_keys_new(edp, edp, &k, &e), GS_ECONFIG);
    free(edp);
    free(rsap);
    free(good);
    free(wrong);
    free(legacy);
    EVP_PKEY_free(ed);
    EVP_PKEY_free(other);
    EVP_PKEY_free(rsa);
}

static int parse(const char *s, wh_event *ev, const char **why)
{
    return wh_event_parse(s, strlen(s), ev, why);
}

static void payloads(void)
{
    wh_event ev;
    const char *why = NULL;
    TEST_EQ_INT(parse("{\"type\":\"ContactDndUpdate\",\"locationId\":\"L\",\"id\":\"c1\","
                      "\"webhookId\":\"w1\",\"timestamp\":\"2026-01-02T03:04:05Z\","
                      "\"firstName\":\"x\"}",
                      &ev, &why),
                0);
    TEST_EQ_INT(ev.kind, WH_K_CONTACT);
    TEST_EQ_STR(ev.object_key, "contact");
    TEST_EQ_STR(ev.record_id, "c1");
    TEST_CHECK(!ev.is_delete);
    TEST_EQ_INT(ev.ts_ms, 1767323045000LL);
    wh_event_free(&ev);

    TEST_EQ_INT(parse("{\"type\":\"RecordDelete\",\"locationId\":\"L\",\"id\":\"r1\","
                      "\"webhookId\":\"w2\",\"timestamp\":1767323045123,"
                      "\"properties\":[{\"key\":\"name\",\"valueString\":\"a\"}]}",
                      &ev, &why),
                0);
    TEST_EQ_INT(ev.kind, WH_K_RECORD);
    TEST_CHECK(ev.object_key == NULL); /* the documented payload has none */
    TEST_CHECK(ev.is_delete);
    TEST_EQ_INT(ev.ts_ms, 1767323045123LL);
    wh_event_free(&ev);

    TEST_EQ_INT(parse("{\"type\":\"RecordUpdate\",\"locationId\":\"L\",\"id\":\"r1\","
                      "\"schemaKey\":\"custom_objects.pet\",\"webhookId\":\"w3\","
                      "\"timestamp\":1}",
                      &ev, &why),
                0);
    TEST_EQ_STR(ev.object_key, "custom_objects.pet");
    wh_event_free(&ev);

    TEST_EQ_INT(parse("{\"type\":\"RelationCreate\",\"locationId\":\"L\",\"id\":\"rel1\","
                      "\"firstRecordId\":\"a\",\"secondRecordId\":\"b\",\"associationId\":\"x\","
                      "\"webhookId\":\"w4\",\"timestamp\":1}",
                      &ev, &why),
                0);
    TEST_EQ_INT(ev.kind, WH_K_RELATION);
    TEST_CHECK(ev.detail && strstr(ev.detail, "\"firstRecordId\":\"a\""));
    wh_event_free(&ev);

    TEST_EQ_INT(parse("{\"type\":\"OpportunityStageUpdate\",\"locationId\":\"L\",\"id\":\"o1\","
                      "\"webhookId\":\"w5\",\"timestamp\":1}",
                      &ev, &why),
                0);
    TEST_EQ_STR(ev.object_key, "opportunity");
    wh_event_free(&ev);

    TEST_EQ_INT(parse("{\"type\":\"NoteCreate\",\"locationId\":\"L\",\"webhookId\":\"w6\","
                      "\"timestamp\":1}",
                      &ev, &why),
                0);
    TEST_EQ_INT(ev.kind, WH_K_OTHER);
    wh_event_free(&ev);

    TEST_EQ_INT(parse("{\"type\":\"AssociationDelete\",\"locationId\":\"L\",\"id\":\"a1\","
                      "\"key\":\"k\",\"webhookId\":\"w7\",\"timestamp\":1}",
                      &ev, &why),
                0);
    TEST_EQ_INT(ev.kind, WH_K_ASSOCIATION);
    TEST_EQ_STR(ev.record_id, "a1");
    TEST_CHECK(ev.is_delete);
    wh_event_free(&ev);

    TEST_EQ_INT(parse("[1]", &ev, &why), -1);
    TEST_EQ_STR(why, "not a JSON object");
    TEST_EQ_INT(parse("{\"type\":\"ContactUpdate\",\"locationId\":\"L\",\"id\":\"c\","
                      "\"timestamp\":1}",
                      &ev, &why),
                -1);
    TEST_EQ_STR(why, "no webhookId");
    TEST_EQ_INT(parse("{\"type\":\"ContactUpdate\",\"locationId\":\"L\",\"id\":\"c\","
                      "\"webhookId\":\"w\"}",
                      &ev, &why),
                -1);
    TEST_EQ_STR(why, "no timestamp");
    TEST_EQ_INT(parse("{\"type\":\"ContactUpdate\",\"locationId\":\"L\",\"webhookId\":\"w\","
                      "\"timestamp\":1}",
                      &ev, &why),
                -1);
    TEST_EQ_STR(why, "no id");
}

int main(void)
{
    TEST_RUN(base64_round_trip);
    TEST_RUN(ed25519_and_legacy);
    TEST_RUN(payloads);
    return test_done();
}
