/*
 * clientauth.c - client secret or certificate assertion (see clientauth.h)
 *
 * Diagnostics: every error names the account and the file or setting, and
 * the fix: chmod, a missing passphrase file, a key that does not match the
 * certificate, an expired certificate.
 */
#include "autoconfig.h"

#include "clientauth.h"

#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "assertion.h"
#include "b64.h"
#include "clock.h"
#include "regfile.h"
#include "secret.h"
#include "state.h"

#define PASSPHRASE_MAX 1024

/* clientauth_clear - wipe and free */
void clientauth_clear(struct clientauth *ca)
{
    secret_free(ca->secret);
    secret_free(ca->assertion);
    ca->secret = NULL;
    ca->assertion = NULL;
}

/* no_prompt - OpenSSL's passphrase callback: the passphrase file, never the terminal */
static int no_prompt(char *buf, int size, int rwflag, void *u)
{
    const char *pass = u;
    size_t len;

    (void)rwflag;
    if (pass == NULL)
        return 0;
    len = strlen(pass);
    if (len > (size_t)size)
        return 0;
    memcpy(buf, pass, len);
    return (int)len;
}

/* load_cert - the first certificate in client_certificate_file */
static X509 *load_cert(const struct account_conf *acct, char *err, size_t errsize)
{
    struct stat st;
    char why[600];
    int fd = regfile_open(acct->client_certificate_file, &st, why, sizeof(why));
    BIO *bio;
    X509 *cert = NULL;

    if (fd < 0) {
        snprintf(err, errsize, "account %s: client_certificate_file: %s", acct->name, why);
        return NULL;
    }
    bio = BIO_new_fd(fd, BIO_CLOSE);
    if (bio == NULL) {
        close(fd);
        snprintf(err, errsize, "out of memory");
        ERR_clear_error();
        return NULL;
    }
    cert = PEM_read_bio_X509(bio, NULL, no_prompt, NULL);
    BIO_free(bio);
    if (cert == NULL)
        snprintf(err, errsize,
                 "account %s: client_certificate_file %s holds no PEM certificate "
                 "(-----BEGIN CERTIFICATE-----)",
                 acct->name, acct->client_certificate_file);
    ERR_clear_error();
    return cert;
}

/* load_key - the private key, decrypted with the passphrase file when there is one */
static EVP_PKEY *load_key(const struct account_conf *acct, char *err, size_t errsize)
{
    char *pem = NULL;
    char *pass = NULL;
    EVP_PKEY *key = NULL;
    BIO *bio = NULL;

    if (config_secret_file_read(acct, "client_key_file", acct->client_key_file, CONFIG_KEY_MAX, 0,
                                &pem, err, errsize) < 0 ||
        config_secret_file_read(acct, "client_key_passphrase_file",
                                acct->client_key_passphrase_file, PASSPHRASE_MAX, 1, &pass, err,
                                errsize) < 0)
        goto out;
    bio = BIO_new_mem_buf(pem, (int)strlen(pem));
    if (bio == NULL) {
        snprintf(err, errsize, "out of memory");
        goto out;
    }
    key = PEM_read_bio_PrivateKey(bio, NULL, no_prompt, pass);
    if (key == NULL) {
        if (strstr(pem, "ENCRYPTED") != NULL && pass == NULL)
            snprintf(err, errsize,
                     "account %s: client_key_file %s is encrypted: put its passphrase in a file "
                     "(mode 0600) named by client_key_passphrase_file",
                     acct->name, acct->client_key_file);
        else if (strstr(pem, "ENCRYPTED") != NULL)
            snprintf(err, errsize,
                     "account %s: cannot decrypt client_key_file %s with the passphrase in %s",
                     acct->name, acct->client_key_file, acct->client_key_passphrase_file);
        else
            snprintf(err, errsize,
                     "account %s: client_key_file %s holds no PEM private key (-----BEGIN "
                     "PRIVATE KEY-----)",
                     acct->name, acct->client_key_file);
    } else if (EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
        snprintf(err, errsize,
                 "account %s: client_key_file %s is not an RSA key: Entra signs certificate "
                 "credentials with RSA (PS256 or RS256)",
                 acct->name, acct->client_key_file);
        EVP_PKEY_free(key);
        key = NULL;
    }
    ERR_clear_error();
out:
    BIO_free(bio);
    secret_free(pem);
    secret_free(pass);
    return key;
}

/* cert_not_after - a certificate's expiry as unix time, 0 when unreadable */
static long long cert_not_after(const X509 *cert)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1)
        return 0;
    return (long long)timegm(&tm);
}

/* load_pair - certificate and key that belong together and are current at now */
static int load_pair(const struct account_conf *acct, long long now, X509 **cert, EVP_PKEY **key,
                     char *err, size_t errsize)
{
    long long not_after;

    *key = NULL;
    *cert = load_cert(acct, err, errsize);
    if (*cert == NULL)
        return -1;
    *key = load_key(acct, err, errsize);
    if (*key == NULL)
        goto fail;
    if (X509_check_private_key(*cert, *key) != 1) {
        snprintf(err, errsize,
                 "account %s: client_key_file %s is not the key of client_certificate_file %s",
                 acct->name, acct->client_key_file, acct->client_certificate_file);
        ERR_clear_error();
        goto fail;
    }
    not_after = cert_not_after(*cert);
    if (not_after != 0 && not_after <= now) {
        char day[32];
        time_t t = (time_t)not_after;
        struct tm tm;

        gmtime_r(&t, &tm);
        strftime(day, sizeof(day), "%Y-%m-%d", &tm);
        snprintf(err, errsize,
                 "account %s: client_certificate_file %s expired on %s: make a new certificate, "
                 "upload it under Certificates & secrets and replace the certificate and key "
                 "files",
                 acct->name, acct->client_certificate_file, day);
        goto fail;
    }
    return 0;
fail:
    EVP_PKEY_free(*key);
    X509_free(*cert);
    *key = NULL;
    *cert = NULL;
    return -1;
}

/* thumbprint - base64url(SHA-256(DER)) of a certificate */
static char *thumbprint(X509 *cert)
{
    unsigned char *der = NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int len = i2d_X509(cert, &der);
    char *out = NULL;

    if (len > 0 && EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL) == 1)
        out = b64_url(md, mdlen);
    OPENSSL_free(der);
    return out;
}

/* new_guid - a random (version 4) GUID for jti */
static int new_guid(char *out, size_t outsize)
{
    unsigned char b[16];

    if (RAND_bytes(b, sizeof(b)) != 1)
        return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, outsize, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return 0;
}

/* json_part - base64url of a JSON object's compact text */
static char *json_part(json_object *obj)
{
    const char *text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE);

    return text != NULL ? b64_url((const unsigned char *)text, strlen(text)) : NULL;
}

/* signing_input - "b64url(header).b64url(claims)" */
static char *signing_input(const struct account_conf *acct, X509 *cert, long long now)
{
    json_object *hdr = json_object_new_object();
    json_object *claims = json_object_new_object();
    char *x5t = thumbprint(cert);
    char *h = NULL;
    char *c = NULL;
    char *out = NULL;
    char jti[40];
    size_t len;

    if (hdr == NULL || claims == NULL || x5t == NULL || new_guid(jti, sizeof(jti)) < 0)
        goto out;
    json_object_object_add(hdr, "alg", json_object_new_string(acct->assertion_alg));
    json_object_object_add(hdr, "typ", json_object_new_string("JWT"));
    json_object_object_add(hdr, "x5t#S256", json_object_new_string(x5t));
    json_object_object_add(claims, "aud", json_object_new_string(acct->endpoint));
    json_object_object_add(claims, "iss", json_object_new_string(acct->client_id));
    json_object_object_add(claims, "sub", json_object_new_string(acct->client_id));
    json_object_object_add(claims, "jti", json_object_new_string(jti));
    json_object_object_add(claims, "nbf", json_object_new_int64(now));
    json_object_object_add(claims, "iat", json_object_new_int64(now));
    json_object_object_add(claims, "exp", json_object_new_int64(now + CLIENTAUTH_LIFETIME_S));
    h = json_part(hdr);
    c = json_part(claims);
    if (h == NULL || c == NULL)
        goto out;
    len = strlen(h) + 1 + strlen(c) + 1;
    out = malloc(len);
    if (out != NULL)
        snprintf(out, len, "%s.%s", h, c);
out:
    json_object_put(hdr);
    json_object_put(claims);
    free(x5t);
    free(h);
    free(c);
    return out;
}

/* sign - base64url of the signature over input: alg PS256 or RS256 (the one signer of JWTs) */
static char *sign(const char *alg, EVP_PKEY *key, const char *input)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char *sig = NULL;
    size_t siglen = 0;
    char *out = NULL;

    if (md == NULL || EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, key) != 1)
        goto out;
    if (strcmp(alg, "PS256") == 0 &&
        (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0))
        goto out;
    if (EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)input, strlen(input)) != 1)
        goto out;
    sig = malloc(siglen);
    if (sig == NULL ||
        EVP_DigestSign(md, sig, &siglen, (const unsigned char *)input, strlen(input)) != 1)
        goto out;
    out = b64_url(sig, siglen);
out:
    free(sig);
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    return out;
}

/* clientauth_assertion - sign an assertion for acct issued at now */
int clientauth_assertion(const struct account_conf *acct, long long now, char **jwt, char *err,
                         size_t errsize)
{
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    char *input = NULL;
    char *sig = NULL;
    size_t len;
    int rc = -1;

    *jwt = NULL;
    if (load_pair(acct, now, &cert, &key, err, errsize) < 0)
        return -1;
    input = signing_input(acct, cert, now);
    sig = input != NULL ? sign(acct->assertion_alg, key, input) : NULL;
    if (sig == NULL) {
        snprintf(err, errsize, "account %s: cannot sign the client assertion with %s", acct->name,
                 acct->client_key_file);
        goto out;
    }
    len = strlen(input) + 1 + strlen(sig) + 1;
    *jwt = malloc(len);
    if (*jwt == NULL) {
        snprintf(err, errsize, "out of memory");
        goto out;
    }
    snprintf(*jwt, len, "%s.%s", input, sig);
    rc = 0;
out:
    free(input);
    free(sig);
    EVP_PKEY_free(key);
    X509_free(cert);
    return rc;
}

/* clientauth_load - secret, fresh assertion, or nothing */
int clientauth_load(const struct account_conf *acct, struct clientauth *ca, char *err,
                    size_t errsize)
{
    memset(ca, 0, sizeof(*ca));
    if (acct->client_assertion_file[0] != '\0')
        return assertion_read(acct, clock_wall_s(), &ca->assertion, NULL, err, errsize);
    if (clientauth_has_next(acct))
        return clientauth_load_pair(acct, clientauth_pick_pair(acct, clock_wall_s()), ca, err,
                                    errsize);
    if (acct->client_certificate_file[0] != '\0')
        return clientauth_assertion(acct, clock_wall_s(), &ca->assertion, err, errsize);
    return config_secret_read(acct, &ca->secret, err, errsize);
}

/* clientauth_check - certificate and key load, match and are current */
int clientauth_check(const struct account_conf *acct, long long *not_after, char *err,
                     size_t errsize)
{
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;

    *not_after = 0;
    if (acct->client_certificate_file[0] == '\0')
        return 0;
    if (load_pair(acct, clock_wall_s(), &cert, &key, err, errsize) < 0)
        return -1;
    *not_after = cert_not_after(cert);
    EVP_PKEY_free(key);
    X509_free(cert);
    return 0;
}

/* clientauth_cert_expiry - notAfter of the certificate */
long long clientauth_cert_expiry(const struct account_conf *acct)
{
    char err[256];
    X509 *cert;
    long long t;

    if (acct->client_certificate_file[0] == '\0')
        return 0;
    cert = load_cert(acct, err, sizeof(err));
    if (cert == NULL)
        return 0;
    t = cert_not_after(cert);
    X509_free(cert);
    return t;
}

/* clientauth_jwt - "header.claims.signature" signed with key: json_part and sign, as above */
int clientauth_jwt(const char *alg, EVP_PKEY *key, json_object *header, json_object *claims,
                   char **jwt)
{
    char *h = json_part(header);
    char *c = json_part(claims);
    char *input = NULL;
    char *sig = NULL;
    size_t len;
    int rc = -1;

    *jwt = NULL;
    if (h == NULL || c == NULL)
        goto out;
    len = strlen(h) + 1 + strlen(c) + 1;
    input = malloc(len);
    if (input == NULL)
        goto out;
    snprintf(input, len, "%s.%s", h, c);
    sig = sign(alg, key, input);
    if (sig == NULL)
        goto out;
    len = strlen(input) + 1 + strlen(sig) + 1;
    *jwt = malloc(len);
    if (*jwt == NULL)
        goto out;
    snprintf(*jwt, len, "%s.%s", input, sig);
    rc = 0;
out:
    free(h);
    free(c);
    free(input);
    free(sig);
    return rc;
}

/* next_view - acct with its next certificate pair in place of the current one */
static struct account_conf next_view(const struct account_conf *acct)
{
    struct account_conf alt = *acct;

    alt.client_certificate_file = acct->next_client_certificate_file;
    alt.client_key_file = acct->next_client_key_file;
    return alt;
}

/* clientauth_has_next - whether acct names a next certificate pair */
int clientauth_has_next(const struct account_conf *acct)
{
    return acct->next_client_certificate_file != NULL &&
           acct->next_client_certificate_file[0] != '\0' &&
           acct->client_certificate_file[0] != '\0';
}

/* pair_not_before - notBefore of a usable pair (loads, matches, current), -1 when unusable */
static long long pair_not_before(const struct account_conf *acct, long long now)
{
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    struct tm tm;
    char err[600];
    long long t = -1;

    if (load_pair(acct, now, &cert, &key, err, sizeof(err)) < 0)
        return -1;
    memset(&tm, 0, sizeof(tm));
    t = ASN1_TIME_to_tm(X509_get0_notBefore(cert), &tm) == 1 ? (long long)timegm(&tm) : 0;
    if (t > now)
        t = -1; /* not valid yet */
    EVP_PKEY_free(key);
    X509_free(cert);
    return t;
}

/* clientauth_pick_pair - the newest usable pair: 1 (next) when its notBefore is later, else 0 */
int clientauth_pick_pair(const struct account_conf *acct, long long now)
{
    struct account_conf alt;
    long long cur;
    long long next;

    if (!clientauth_has_next(acct))
        return 0;
    alt = next_view(acct);
    cur = pair_not_before(acct, now);
    next = pair_not_before(&alt, now);
    return next >= 0 && next >= cur ? 1 : 0;
}

/* clientauth_load_pair - a fresh assertion signed with pair 0 (current) or 1 (next) */
int clientauth_load_pair(const struct account_conf *acct, int pair, struct clientauth *ca,
                         char *err, size_t errsize)
{
    struct account_conf alt;

    memset(ca, 0, sizeof(*ca));
    if (pair == 0 || !clientauth_has_next(acct))
        return clientauth_assertion(acct, clock_wall_s(), &ca->assertion, err, errsize);
    alt = next_view(acct);
    if (clientauth_assertion(&alt, clock_wall_s(), &ca->assertion, err, errsize) == 0)
        return 0;
    /* Name the setting the admin wrote, not the one we borrowed. */
    if (strlen(err) + 40 < errsize)
        snprintf(err + strlen(err), errsize - strlen(err),
                 " (the next pair: next_client_certificate_file, next_client_key_file)");
    return -1;
}

/* clientauth_next_cert_expiry - notAfter of next_client_certificate_file; 0 when none or unreadable
 */
long long clientauth_next_cert_expiry(const struct account_conf *acct)
{
    struct account_conf alt;

    if (!clientauth_has_next(acct))
        return 0;
    alt = next_view(acct);
    return clientauth_cert_expiry(&alt);
}

/* clientauth_check_next - for config-check: the next pair as clientauth_check does the current */
int clientauth_check_next(const struct account_conf *acct, long long *not_after, char *err,
                          size_t errsize)
{
    struct account_conf alt;

    *not_after = 0;
    if (!clientauth_has_next(acct))
        return 0;
    alt = next_view(acct);
    if (clientauth_check(&alt, not_after, err, errsize) == 0)
        return 0;
    if (strlen(err) + 40 < errsize)
        snprintf(err + strlen(err), errsize - strlen(err),
                 " (the next pair: next_client_certificate_file, next_client_key_file)");
    return -1;
}
