/*
 * test_assertion.c - the federated credential's token file (assertion.c):
 * what is accepted (a JWT for assertion_audience, aud a string or an
 * array, exp ahead), every way it is refused with a message that names the
 * file and never quotes the token, the staleness rule, and
 * b64_url_decode
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "assertion.h"
#include "b64.h"
#include "cfgload.h"
#include "config.h"
#include "secret.h"
#include "tap.h"

static long long now;

/* part - base64url of a text */
static char *part(const char *text)
{
    return b64_url((const unsigned char *)text, strlen(text));
}

/* write_token - header.payload.sig into dir/tok, mode 0600 */
static void write_token(const char *header, const char *payload, const char *sig)
{
    char file[4200];
    char *h = header != NULL ? part(header) : NULL;
    char *p = payload != NULL ? part(payload) : NULL;
    FILE *fp;

    snprintf(file, sizeof(file), "%s/tok", dir);
    fp = fopen(file, "w");
    if (fp == NULL)
        return;
    fprintf(fp, "%s.%s.%s\n", h ? h : "", p ? p : "", sig);
    fclose(fp);
    chmod(file, 0600);
    free(h);
    free(p);
}

/* account - a config whose one account reads dir/tok */
static struct config *account(const char *extra)
{
    char text[8192];

    snprintf(text, sizeof(text),
             "[account x]\nclient_id = 6731de76-14a6-49ae-97bc-6eba6914391e\n"
             "grant = client_credentials\ntenant = contoso.com\nlogin = relay@contoso.com\n"
             "client_assertion_file = %s/tok\n%s",
             dir, extra);
    return load(text);
}

/* verdict - assertion_read on the current token; 0 or -1, message in err */
static int verdict(const char *extra, struct assertion_info *info)
{
    struct config *cfg = account(extra);
    char *jwt = NULL;
    int rc;

    if (cfg == NULL)
        return -2;
    err[0] = '\0';
    rc = assertion_read(&cfg->accounts[0], now, &jwt, info, err, sizeof(err));
    if (rc == 0 && (jwt == NULL || strchr(jwt, '\n') != NULL))
        rc = -3;
    secret_free(jwt);
    config_free(cfg);
    return rc;
}

/* refused - the token is refused with want in the message, which quotes no part of it */
static void refused(const char *header, const char *payload, const char *sig, const char *want,
                    const char *what)
{
    struct assertion_info info;
    char *p = payload != NULL ? part(payload) : NULL;
    int rc;

    write_token(header, payload, sig);
    rc = verdict("", &info);
    ok(rc == -1 && strstr(err, want) != NULL && strstr(err, "fix") != NULL &&
           strstr(err, "/tok") != NULL && (p == NULL || strlen(p) < 8 || strstr(err, p) == NULL),
       "%s: refused (%s)", what, err);
    free(p);
}

static void test_accepted(void)
{
    struct assertion_info info;
    char payload[512];

    snprintf(payload, sizeof(payload),
             "{\"iss\":\"https://k8s\",\"sub\":\"system:serviceaccount:mail:postfix\","
             "\"aud\":\"api://AzureADTokenExchange\",\"iat\":%lld,\"exp\":%lld}",
             now - 60, now + 3540);
    write_token("{\"alg\":\"RS256\",\"kid\":\"k\"}", payload, "c2ln");
    ok(verdict("", &info) == 0 && info.exp == now + 3540 && info.iat == now - 60 && info.mtime > 0,
       "a token for api://AzureADTokenExchange is accepted, exp and iat read (%s)", err);
    ok(!assertion_stale(&info, now), "a fresh token is not stale");
    ok(assertion_stale(&info, now + 3540 - 500), "less than 15%% of its life left: stale");
    snprintf(payload, sizeof(payload),
             "{\"aud\":[\"other\",\"api://Custom\"],\"exp\":%lld,\"nbf\":%lld}", now + 600,
             now + 100);
    write_token("{\"alg\":\"RS256\"}", payload, "c2ln");
    ok(verdict("assertion_audience = api://Custom\n", &info) == 0 && info.iat == info.mtime,
       "aud as an array holding assertion_audience, nbf within the skew; no iat: the mtime "
       "(%s)",
       err);
    ok(verdict("", &info) == -1 && strstr(err, "\"other\", \"api://Custom\"") != NULL,
       "the default audience is not in that array: refused, naming what it holds (%s)", err);
}

static void test_refused(void)
{
    char p[512];
    const char *hdr = "{\"alg\":\"RS256\"}";
    char file[4200];

    snprintf(p, sizeof(p), "{\"aud\":\"api://AzureADTokenExchange\",\"exp\":%lld}", now - 5);
    refused(hdr, p, "c2ln", "the token expired", "an expired token");
    snprintf(p, sizeof(p), "{\"aud\":\"api://AzureADTokenExchange\",\"exp\":%lld}", now + 20);
    refused(hdr, p, "c2ln", "the token expires", "a token with 20 seconds left");
    refused(hdr, "{\"aud\":\"api://AzureADTokenExchange\"}", "c2ln", "no expiry",
            "a token without exp");
    refused(hdr, "{\"aud\":\"api://AzureADTokenExchange\",\"exp\":\"soon\"}", "c2ln", "no expiry",
            "exp a string");
    snprintf(p, sizeof(p), "{\"aud\":\"api://AzureADTokenExchange\",\"exp\":%lld,\"nbf\":%lld}",
             now + 3600, now + 1200);
    refused(hdr, p, "c2ln", "not valid before", "nbf 20 minutes ahead");
    snprintf(p, sizeof(p), "{\"aud\":\"api://Other\",\"exp\":%lld}", now + 3600);
    refused(hdr, p, "c2ln", "audience (aud) is \"api://Other\"", "another audience");
    snprintf(p, sizeof(p), "{\"exp\":%lld}", now + 3600);
    refused(hdr, p, "c2ln", "audience (aud) is none", "no audience");
    refused("{\"typ\":\"JWT\"}", p, "c2ln", "does not hold a JWT", "a header without alg");
    refused("not json", p, "c2ln", "does not hold a JWT", "a header that is not JSON");
    refused(hdr, "{\"exp\":1} trailing", "c2ln", "its payload is not base64url JSON",
            "a payload with trailing garbage");
    refused(hdr, "[1,2]", "c2ln", "its payload", "a payload that is not an object");
    refused(hdr, p, "", "does not hold a JWT", "no signature part");
    refused(hdr, p, "c2ln.more", "does not hold a JWT", "four parts");
    snprintf(file, sizeof(file), "%s/tok", dir);
    {
        FILE *fp = fopen(file, "w");

        fputs("eyJh+GciOiJSUzI1NiJ9.e30.c2ln\n", fp);
        fclose(fp);
    }
    ok(verdict("", NULL) == -1 && strstr(err, "header is not base64url JSON") != NULL,
       "a character outside base64url: refused (%s)", err);
    unlink(file);
    ok(verdict("", NULL) == -1 && strstr(err, "is missing; fix: mount") != NULL,
       "a missing file: refused, naming the fix (%s)", err);
    write_token(hdr, p, "c2ln");
    chmod(file, 0644);
    ok(verdict("", NULL) == -1 && strstr(err, "chmod 600") != NULL,
       "a file open to others: refused like a secret (%s)", err);
    unlink(file);
}

static void test_decode(void)
{
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\xfd"};
    unsigned char *out = NULL;
    size_t n = 0;
    size_t i;
    int good = 1;

    for (i = 1; i < sizeof(in) / sizeof(in[0]); i++) {
        char *e = b64_url((const unsigned char *)in[i], strlen(in[i]));

        if (e == NULL || b64_url_decode(e, strlen(e), &out, &n) < 0 || n != strlen(in[i]) ||
            memcmp(out, in[i], n) != 0 || out[n] != '\0')
            good = 0;
        free(e);
        free(out);
        out = NULL;
    }
    ok(good, "b64_url_decode undoes b64_url for lengths 1 to 6 and high bytes");
    ok(b64_url_decode("Zm9vYg==", 8, &out, &n) < 0 && out == NULL, "padding is refused");
    ok(b64_url_decode("Zm9vY", 5, &out, &n) < 0, "an impossible length is refused");
    ok(b64_url_decode("Zm 9v", 5, &out, &n) < 0 && b64_url_decode("Zm+v", 4, &out, &n) < 0,
       "characters outside base64url are refused");
}

int main(void)
{
    now = (long long)time(NULL);
    if (cfgload_setup() < 0)
        return 1;
    test_accepted();
    test_refused();
    test_decode();
    {
        char file[4200];

        snprintf(file, sizeof(file), "%s/tok", dir);
        unlink(file);
    }
    cfgload_cleanup();
    return done_testing();
}
