/*
 * test_clientauth.c - JWT client assertions: header, claims, signature
 * (PS256 and RS256) checked here with OpenSSL, encrypted keys, and every
 * way a certificate credential can be wrong. Keys and certificates are
 * made with the openssl command; without it the test is skipped.
 */
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cfgload.h"
#include "b64.h"
#include "clientauth.h"
#include "config.h"
#include "secret.h"
#include "state.h"
#include "tap.h"

/* sh - run a shell command in dir with umask 077; 0 on success */
static int sh(const char *what)
{
    char cmd[2048];

    snprintf(cmd, sizeof(cmd), "cd %s && umask 077 && %s", dir, what);
    return system(cmd);
}

/* b64url_decode - decode unpadded base64url into a malloc'd buffer */
static unsigned char *b64url_decode(const char *in, size_t inlen, size_t *outlen)
{
    size_t padded = (inlen + 3) / 4 * 4;
    char *tmp = calloc(1, padded + 1);
    unsigned char *out = calloc(1, padded + 1);
    size_t i;
    int n;

    for (i = 0; i < inlen; i++)
        tmp[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
    for (; i < padded; i++)
        tmp[i] = '=';
    n = EVP_DecodeBlock(out, (unsigned char *)tmp, (int)padded);
    free(tmp);
    if (n < 0) {
        free(out);
        return NULL;
    }
    *outlen = (size_t)n - (padded - inlen);
    return out;
}

/* part_json - a JWT part as a JSON object */
static json_object *part_json(const char *p, size_t len)
{
    size_t n;
    unsigned char *raw = b64url_decode(p, len, &n);
    json_object *o;

    if (raw == NULL)
        return NULL;
    raw[n] = '\0';
    o = json_tokener_parse((char *)raw);
    free(raw);
    return o;
}

/* str_of - a string member or "" */
static const char *str_of(json_object *o, const char *key)
{
    json_object *v;

    if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return "";
    return json_object_get_string(v);
}

/* int_of - an integer member or -1 */
static long long int_of(json_object *o, const char *key)
{
    json_object *v;

    if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
        !json_object_is_type(v, json_type_int))
        return -1;
    return json_object_get_int64(v);
}

/* verify - the signature of jwt with the certificate's key */
static int verify(const char *jwt, const char *cert_file, int pss)
{
    const char *dot2 = strrchr(jwt, '.');
    FILE *fp = fopen(cert_file, "r");
    X509 *cert = fp ? PEM_read_X509(fp, NULL, NULL, NULL) : NULL;
    EVP_PKEY *key = cert ? X509_get_pubkey(cert) : NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char *sig;
    size_t siglen = 0;
    int good = 0;

    if (fp)
        fclose(fp);
    sig = dot2 ? b64url_decode(dot2 + 1, strlen(dot2 + 1), &siglen) : NULL;
    if (key && sig && EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, key) == 1 &&
        (!pss || (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
                  EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0)))
        good = EVP_DigestVerify(md, sig, siglen, (const unsigned char *)jwt,
                                (size_t)(dot2 - jwt)) == 1;
    free(sig);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    X509_free(cert);
    return good;
}

/* cert_x5t - base64url(SHA-256(DER)) computed here, independently */
static char *cert_x5t(const char *cert_file)
{
    FILE *fp = fopen(cert_file, "r");
    X509 *cert = fp ? PEM_read_X509(fp, NULL, NULL, NULL) : NULL;
    unsigned char md[32];
    unsigned int mdlen = 0;

    if (fp)
        fclose(fp);
    if (cert == NULL || X509_digest(cert, EVP_sha256(), md, &mdlen) != 1) {
        X509_free(cert);
        return NULL;
    }
    X509_free(cert);
    return b64_url(md, mdlen);
}

static void test_assertion(const char *account, const char *cert, int pss)
{
    char text[8192];
    struct config *cfg;
    char *jwt = NULL;
    char *jwt2 = NULL;
    const char *dot1;
    const char *dot2;
    json_object *hdr = NULL;
    json_object *claims = NULL;
    json_object *claims2 = NULL;
    char *x5t = NULL;
    char certp[4200];
    regex_t guid;
    long long now = (long long)time(NULL);

    snprintf(certp, sizeof(certp), "%s/%s", dir, cert);
    snprintf(text, sizeof(text),
             "[account %s]\nclient_id = 6731de76-14a6-49ae-97bc-6eba6914391e\n"
             "grant = client_credentials\ntenant = contoso.com\nlogin = relay@contoso.com\n"
             "client_certificate_file = %s/%s.pem\nclient_key_file = %s/%s.key\n%s%s%s\n",
             account, dir, pss ? "app" : "enc", dir, pss ? "app" : "enc",
             pss ? "" : "assertion_alg = RS256\nclient_key_passphrase_file = ", pss ? "" : dir,
             pss ? "" : "/enc.pass");
    cfg = load(text);
    ok(cfg != NULL, "%s: config loads (%s)", account, err);
    if (cfg == NULL)
        return;
    ok(clientauth_assertion(&cfg->accounts[0], now, &jwt, err, sizeof(err)) == 0 && jwt != NULL,
       "%s: an assertion is signed (%s)", account, jwt ? "" : err);
    if (jwt == NULL)
        goto out;
    dot1 = strchr(jwt, '.');
    dot2 = strrchr(jwt, '.');
    ok(dot1 && dot2 > dot1 &&
           strspn(jwt, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                       "0123456789-_.") == strlen(jwt),
       "%s: three base64url parts", account);
    hdr = part_json(jwt, (size_t)(dot1 - jwt));
    claims = part_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    x5t = cert_x5t(certp);
    ok(strcmp(str_of(hdr, "alg"), pss ? "PS256" : "RS256") == 0 &&
           strcmp(str_of(hdr, "typ"), "JWT") == 0,
       "%s: header alg %s, typ JWT", account, pss ? "PS256" : "RS256");
    ok(x5t && strcmp(str_of(hdr, "x5t#S256"), x5t) == 0,
       "%s: header x5t#S256 is base64url(SHA-256(certificate DER))", account);
    ok(strcmp(str_of(claims, "aud"),
              "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token") == 0,
       "%s: aud is the token endpoint", account);
    ok(strcmp(str_of(claims, "iss"), "6731de76-14a6-49ae-97bc-6eba6914391e") == 0 &&
           strcmp(str_of(claims, "sub"), "6731de76-14a6-49ae-97bc-6eba6914391e") == 0,
       "%s: iss = sub = client_id", account);
    ok(int_of(claims, "nbf") == now && int_of(claims, "iat") == now &&
           int_of(claims, "exp") > now && int_of(claims, "exp") - now <= 600,
       "%s: nbf = iat = now, exp within 10 minutes (%lld s)", account, int_of(claims, "exp") - now);
    regcomp(&guid, "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
            REG_EXTENDED | REG_NOSUB);
    ok(regexec(&guid, str_of(claims, "jti"), 0, NULL, 0) == 0, "%s: jti is a random GUID (%s)",
       account, str_of(claims, "jti"));
    regfree(&guid);
    ok(verify(jwt, certp, pss), "%s: the signature verifies with the certificate's key (%s)",
       account, pss ? "RSASSA-PSS, SHA-256, 32-byte salt" : "PKCS#1 v1.5, SHA-256");
    ok(!verify(jwt, certp, !pss), "%s: and not as the other algorithm", account);
    if (clientauth_assertion(&cfg->accounts[0], now, &jwt2, err, sizeof(err)) == 0) {
        const char *d1 = strchr(jwt2, '.');

        claims2 = part_json(d1 + 1, (size_t)(strrchr(jwt2, '.') - d1 - 1));
    }
    ok(claims2 && strcmp(str_of(claims, "jti"), str_of(claims2, "jti")) != 0,
       "%s: every assertion has its own jti", account);
out:
    json_object_put(hdr);
    json_object_put(claims);
    json_object_put(claims2);
    free(x5t);
    secret_free(jwt);
    secret_free(jwt2);
    config_free(cfg);
}

/* assertion_fails - building an assertion for this account section fails with want */
static void assertion_fails(const char *section, long long when, const char *want, const char *what)
{
    char text[8192];
    struct config *cfg;
    char *jwt = NULL;

    snprintf(text, sizeof(text),
             "[account x]\nclient_id = 6731de76-14a6-49ae-97bc-6eba6914391e\ngrant = "
             "client_credentials\ntenant = contoso.com\n"
             "login = relay@contoso.com\n%s",
             section);
    cfg = load(text);
    if (cfg == NULL) {
        ok(0, "%s: config loads (%s)", what, err);
        return;
    }
    err[0] = '\0';
    ok(clientauth_assertion(&cfg->accounts[0], when, &jwt, err, sizeof(err)) < 0 && jwt == NULL &&
           strstr(err, want) != NULL,
       "%s: \"%s\"", what, err);
    config_free(cfg);
}

static void test_failures(void)
{
    char s[4096];
    long long now = (long long)time(NULL);

    snprintf(s, sizeof(s), "client_certificate_file = %s/enc.pem\nclient_key_file = %s/enc.key\n",
             dir, dir);
    assertion_fails(s, now, "is encrypted: put its passphrase",
                    "an encrypted key without a passphrase file (never a terminal prompt)");
    snprintf(s, sizeof(s),
             "client_certificate_file = %s/enc.pem\nclient_key_file = %s/enc.key\n"
             "client_key_passphrase_file = %s/wrong.pass\n",
             dir, dir, dir);
    assertion_fails(s, now, "cannot decrypt", "a wrong passphrase");
    snprintf(s, sizeof(s),
             "client_certificate_file = %s/app.pem\nclient_key_file = %s/enc.key\n"
             "client_key_passphrase_file = %s/enc.pass\n",
             dir, dir, dir);
    assertion_fails(s, now, "is not the key of", "a key that belongs to another certificate");
    snprintf(s, sizeof(s), "client_certificate_file = %s/app.pem\nclient_key_file = %s/app.key\n",
             dir, dir);
    assertion_fails(s, now + 400 * 86400LL, "expired on", "an expired certificate");
    snprintf(s, sizeof(s), "client_certificate_file = %s/ec.pem\nclient_key_file = %s/ec.key\n",
             dir, dir);
    assertion_fails(s, now, "not an RSA key", "an EC key");
    snprintf(s, sizeof(s), "client_certificate_file = %s/app.key\nclient_key_file = %s/app.key\n",
             dir, dir);
    assertion_fails(s, now, "holds no PEM certificate", "a key where the certificate belongs");
    snprintf(s, sizeof(s), "client_certificate_file = %s/app.pem\nclient_key_file = %s/lax.key\n",
             dir, dir);
    assertion_fails(s, now, "chmod 600", "a key file readable by others");
    snprintf(s, sizeof(s), "client_certificate_file = %s/app.pem\nclient_key_file = %s/app.pem\n",
             dir, dir);
    assertion_fails(s, now, "holds no PEM private key", "a certificate where the key belongs");
}

static void test_check(void)
{
    char text[8192];
    struct config *cfg;
    long long not_after = 0;
    struct clientauth ca;

    snprintf(text, sizeof(text),
             "[account x]\nclient_id = 6731de76-14a6-49ae-97bc-6eba6914391e\ngrant = "
             "client_credentials\ntenant = contoso.com\n"
             "login = relay@contoso.com\nclient_certificate_file = %s/app.pem\n"
             "client_key_file = %s/app.key\n",
             dir, dir);
    cfg = load(text);
    if (cfg == NULL) {
        ok(0, "config loads (%s)", err);
        return;
    }
    ok(clientauth_check(&cfg->accounts[0], &not_after, err, sizeof(err)) == 0 &&
           not_after > (long long)time(NULL) + 360 * 86400LL &&
           not_after == clientauth_cert_expiry(&cfg->accounts[0]),
       "config-check: certificate and key match; expiry known");
    ok(clientauth_load(&cfg->accounts[0], &ca, err, sizeof(err)) == 0 && ca.assertion != NULL &&
           ca.secret == NULL,
       "a certificate account authenticates with an assertion, no secret");
    clientauth_clear(&ca);
    ok(ca.assertion == NULL, "clientauth_clear forgets it");
    config_free(cfg);
}

int main(void)
{
    if (system("openssl version >/dev/null 2>&1") != 0) {
        skip_check("certificate accounts", "openssl command not found (Debian package openssl)");
        return done_testing();
    }
    if (cfgload_setup() < 0)
        return 1;
    if (sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout app.key -out app.pem -days 365 "
           "-subj /CN=relay-app 2>/dev/null") != 0 ||
        sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -aes-128-cbc "
           "-pass pass:'s3cret pass' -out enc.key 2>/dev/null && openssl req -x509 -new "
           "-key enc.key -passin pass:'s3cret pass' -out enc.pem -days 30 -subj /CN=enc "
           "2>/dev/null") != 0 ||
        sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
           "-keyout ec.key -out ec.pem -days 30 -subj /CN=ec 2>/dev/null") != 0 ||
        sh("printf 's3cret pass\\n' > enc.pass && printf 'wrong\\n' > wrong.pass && "
           "cp app.key lax.key && chmod 644 lax.key") != 0) {
        printf("Bail out! cannot make test keys with openssl\n");
        return 1;
    }
    test_assertion("ps256", "app.pem", 1);
    test_assertion("rs256-encrypted", "enc.pem", 0);
    test_failures();
    test_check();
    sh("rm -f *.pem *.key *.pass");
    cfgload_cleanup();
    return done_testing();
}
