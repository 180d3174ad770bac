/*
 * fuzz_jwt.c - libFuzzer target: the JWT client assertion (RFC 7523) the
 * helper signs for certificate credentials, and its base64url encoder
 * (b64_url, clientauth_assertion)
 *
 * Input: a flags byte (PS256 or RS256), then the client_id and the token
 * endpoint, split at the first 0xff byte: the two config values that end
 * up inside the assertion's JSON. A test certificate and key are made once
 * at start-up. Checks, besides memory safety: base64url output uses only
 * its alphabet, has no padding, and decodes back to the input; every
 * assertion has three base64url parts, a header naming the algorithm and
 * the certificate's thumbprint, claims whose iss, sub and aud are exactly
 * the client_id and endpoint (no value can break out of its JSON string),
 * a lifetime of CLIENTAUTH_LIFETIME_S, and a signature that verifies with
 * the certificate's key.
 */
#include "autoconfig.h"

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "b64.h"
#include "clientauth.h"
#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char cert_file[128];
static char key_file[128];
static EVP_PKEY *pubkey;

/* b64url_decode - reference decoder for the checks; its length, or -1 */
static long b64url_decode(const char *in, size_t len, unsigned char *out, size_t outsize)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned long acc = 0;
    int bits = 0;
    size_t n = 0;
    size_t i;

    if (len % 4 == 1)
        return -1;
    for (i = 0; i < len; i++) {
        const char *p = memchr(alphabet, in[i], 64);

        if (p == NULL || in[i] == '\0')
            return -1;
        acc = (acc << 6) | (unsigned long)(p - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n >= outsize)
                return -1;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)n;
}

/* LLVMFuzzerInitialize - a self-signed certificate and its key, mode 0600 */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char dir[] = "/tmp/fuzz_jwt.XXXXXX";
    char cmd[512];
    FILE *fp;
    X509 *cert;

    (void)argc;
    (void)argv;
    if (mkdtemp(dir) == NULL)
        abort();
    snprintf(cert_file, sizeof(cert_file), "%s/cert.pem", dir);
    snprintf(key_file, sizeof(key_file), "%s/key.pem", dir);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=fuzz "
             "-keyout %s -out %s 2>/dev/null",
             key_file, cert_file);
    if (system(cmd) != 0 || chmod(key_file, 0600) < 0)
        abort();
    fp = fopen(cert_file, "r");
    cert = fp != NULL ? PEM_read_X509(fp, NULL, NULL, NULL) : NULL;
    if (cert == NULL)
        abort();
    fclose(fp);
    pubkey = X509_get_pubkey(cert);
    X509_free(cert);
    return 0;
}

/* check_b64url - the encoder's output for data */
static void check_b64url(const uint8_t *data, size_t size)
{
    char *enc = b64_url(data, size);
    unsigned char *dec;
    size_t len;
    long n;

    if (enc == NULL)
        abort();
    len = strlen(enc);
    if (len != (size * 4 + 2) / 3)
        abort();
    dec = malloc(size + 1);
    n = b64url_decode(enc, len, dec, size + 1);
    if (n != (long)size || memcmp(dec, data, size) != 0)
        abort();
    free(dec);
    free(enc);
}

/* part_json - decode one base64url part and parse it as a JSON object */
static json_object *part_json(const char *p, size_t len)
{
    unsigned char *buf = malloc(len + 1);
    json_object *obj;
    long n = b64url_decode(p, len, buf, len + 1);

    if (n < 0)
        abort();
    buf[n] = '\0';
    if (memchr(buf, '\0', (size_t)n) != NULL)
        abort();
    obj = json_tokener_parse((const char *)buf);
    free(buf);
    if (obj == NULL || !json_object_is_type(obj, json_type_object))
        abort();
    return obj;
}

/* str_field - a string member, or abort */
static const char *str_field(json_object *obj, const char *key)
{
    json_object *v;

    if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
        abort();
    return json_object_get_string(v);
}

/* check_signature - the signature over "header.claims" verifies with the certificate's key */
static void check_signature(const char *jwt, size_t input_len, const char *sig, int pss)
{
    size_t sl = strlen(sig);
    unsigned char *raw = malloc(sl + 1);
    long n = b64url_decode(sig, sl, raw, sl + 1);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;

    if (n <= 0 || md == NULL || EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, pubkey) != 1)
        abort();
    if (pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
                EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0))
        abort();
    if (EVP_DigestVerify(md, raw, (size_t)n, (const unsigned char *)jwt, input_len) != 1)
        abort();
    EVP_MD_CTX_free(md);
    free(raw);
}

/* LLVMFuzzerTestOneInput - one assertion */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct account_conf acct;
    char client_id[512];
    char endpoint[512];
    char err[512];
    char *jwt = NULL;
    const uint8_t *cut;
    const char *dot1;
    const char *dot2;
    json_object *hdr;
    json_object *claims;
    json_object *v;
    long long now = (long long)time(NULL);
    size_t a;
    size_t b;
    int pss;

    check_b64url(data, size);
    if (size < 1 || size > 1000)
        return 0;
    pss = !(data[0] & 1);
    data++;
    size--;
    cut = memchr(data, 0xff, size);
    a = cut != NULL ? (size_t)(cut - data) : size;
    b = cut != NULL ? size - a - 1 : 0;
    if (a == 0 || a >= sizeof(client_id) || b >= sizeof(endpoint) ||
        memchr(data, '\0', size) != NULL)
        return 0;
    memcpy(client_id, data, a);
    client_id[a] = '\0';
    snprintf(endpoint, sizeof(endpoint), "https://%.*s", (int)b,
             cut != NULL ? (const char *)cut + 1 : "");
    memset(&acct, 0, sizeof(acct));
    acct.name = (char *)"fuzz";
    acct.client_id = client_id;
    acct.endpoint = endpoint;
    acct.client_certificate_file = cert_file;
    acct.client_key_file = key_file;
    acct.client_key_passphrase_file = (char *)"";
    acct.assertion_alg = (char *)(pss ? "PS256" : "RS256");
    if (clientauth_assertion(&acct, now, &jwt, err, sizeof(err)) < 0)
        abort(); /* the certificate and key are good: signing must work */
    dot1 = strchr(jwt, '.');
    dot2 = dot1 != NULL ? strchr(dot1 + 1, '.') : NULL;
    if (dot2 == NULL || strchr(dot2 + 1, '.') != NULL)
        abort();
    hdr = part_json(jwt, (size_t)(dot1 - jwt));
    claims = part_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (strcmp(str_field(hdr, "alg"), acct.assertion_alg) != 0 ||
        strcmp(str_field(hdr, "typ"), "JWT") != 0 || strlen(str_field(hdr, "x5t#S256")) != 43)
        abort();
    if (strcmp(str_field(claims, "iss"), client_id) != 0 ||
        strcmp(str_field(claims, "sub"), client_id) != 0 ||
        strcmp(str_field(claims, "aud"), endpoint) != 0 || strlen(str_field(claims, "jti")) != 36)
        abort();
    if (!json_object_object_get_ex(claims, "exp", &v) ||
        json_object_get_int64(v) != now + CLIENTAUTH_LIFETIME_S ||
        !json_object_object_get_ex(claims, "nbf", &v) || json_object_get_int64(v) != now)
        abort();
    check_signature(jwt, (size_t)(dot2 - jwt), dot2 + 1, pss);
    json_object_put(hdr);
    json_object_put(claims);
    free(jwt);
    return 0;
}
