/*
 * svcacct.c - Google service accounts: the JWT bearer grant (see svcacct.h)
 *
 * Diagnostics: a missing, unreadable or lax file (config_secret_file_read's
 * messages), text that is not JSON, a JSON file that is not a service
 * account key (an OAuth client's client_secret.json is the usual mix-up),
 * a key that does not load, and a token_uri on a host that is not Google's:
 * each names the account, the file and the fix.
 */
#include "autoconfig.h"

#include "svcacct.h"

#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clientauth.h"
#include "jsonwipe.h"
#include "secret.h"

/* The hosts a key file's token_uri may name (Google's token endpoints). */
static const char *const google_hosts[] = {"oauth2.googleapis.com", "accounts.google.com",
                                           "www.googleapis.com"};

struct key {
    json_object *json;        /* the parsed file, wiped by jsonwipe_put */
    const char *client_email; /* point into json */
    const char *private_key;
    const char *key_id;
    const char *client_id;
    const char *token_uri;
};

/* member - a non-empty string member of obj, or NULL */
static const char *member(json_object *obj, const char *name)
{
    json_object *v = NULL;

    if (!json_object_object_get_ex(obj, name, &v) || !json_object_is_type(v, json_type_string) ||
        json_object_get_string_len(v) == 0)
        return NULL;
    return json_object_get_string(v);
}

/* key_load - read and parse service_account_file; -1 with err */
static int key_load(const struct account_conf *acct, struct key *k, char *err, size_t errsize)
{
    char *text = NULL;
    const char *type;
    const char *missing = NULL;

    memset(k, 0, sizeof(*k));
    if (config_secret_file_read(acct, "service_account_file", acct->service_account_file,
                                CONFIG_KEY_MAX, 0, &text, err, errsize) < 0)
        return -1;
    if (text == NULL) {
        snprintf(err, errsize,
                 "account %s: service_account_file is not set; fix: name the "
                 "service account's JSON key file",
                 acct->name);
        return -1;
    }
    k->json = jsonwipe_parse(text, strlen(text));
    secret_free(text);
    if (k->json == NULL || !json_object_is_type(k->json, json_type_object)) {
        snprintf(err, errsize,
                 "account %s: service_account_file %s is not JSON; fix: download the key again "
                 "(Google Cloud console > IAM & Admin > Service accounts > the account > Keys > "
                 "Add key > JSON) and copy the file unchanged",
                 acct->name, acct->service_account_file);
        goto fail;
    }
    type = member(k->json, "type");
    if (type == NULL || strcmp(type, "service_account") != 0) {
        snprintf(err, errsize,
                 "account %s: service_account_file %s is not a service account key (its \"type\" "
                 "is %s%.40s%s; an OAuth client's client_secret.json is not one); fix: download "
                 "a JSON key of the service account (IAM & Admin > Service accounts > Keys)",
                 acct->name, acct->service_account_file, type ? "\"" : "", type ? type : "missing",
                 type ? "\"" : "");
        goto fail;
    }
    k->client_email = member(k->json, "client_email");
    k->private_key = member(k->json, "private_key");
    k->key_id = member(k->json, "private_key_id");
    k->client_id = member(k->json, "client_id");
    k->token_uri = member(k->json, "token_uri");
    if (k->client_email == NULL)
        missing = "client_email";
    else if (k->private_key == NULL)
        missing = "private_key";
    else if (k->key_id == NULL)
        missing = "private_key_id";
    if (missing != NULL) {
        snprintf(err, errsize,
                 "account %s: service_account_file %s has no %s; fix: download the JSON key "
                 "again and copy the file unchanged",
                 acct->name, acct->service_account_file, missing);
        goto fail;
    }
    return 0;
fail:
    jsonwipe_put(k->json);
    memset(k, 0, sizeof(*k));
    return -1;
}

/* key_free - wipe and release */
static void key_free(struct key *k)
{
    jsonwipe_put(k->json);
    memset(k, 0, sizeof(*k));
}

/* host_is_google - whether an https URL's host is one of Google's token hosts */
static int host_is_google(const char *url)
{
    const char *host = url + 8;
    size_t len = strcspn(host, "/:?#");
    size_t i;

    if (strncmp(url, "https://", 8) != 0 || strpbrk(url, " \t\r\n") != NULL)
        return 0;
    for (i = 0; i < sizeof(google_hosts) / sizeof(google_hosts[0]); i++)
        if (len == strlen(google_hosts[i]) && strncmp(host, google_hosts[i], len) == 0 &&
            (host[len] == '/' || host[len] == '\0'))
            return 1;
    return 0;
}

/* token_url - where to send the grant (see svcacct.h); NULL with err */
static const char *token_url(const struct account_conf *acct, const struct key *k, char *err,
                             size_t errsize)
{
    if (acct->token_endpoint[0] != '\0' || k->token_uri == NULL)
        return acct->endpoint;
    if (strcmp(k->token_uri, acct->endpoint) == 0 || host_is_google(k->token_uri))
        return k->token_uri;
    snprintf(err, errsize,
             "account %s: service_account_file %s names token_uri on a host that is not "
             "Google's; fix: use the key file as Google issued it, or set token_endpoint",
             acct->name, acct->service_account_file);
    return NULL;
}

/* private_key - the PEM key of the file, RSA only; NULL with err */
static EVP_PKEY *private_key(const struct account_conf *acct, const struct key *k, char *err,
                             size_t errsize)
{
    BIO *bio = BIO_new_mem_buf(k->private_key, (int)strlen(k->private_key));
    EVP_PKEY *key = NULL;

    if (bio != NULL)
        key = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
    BIO_free(bio);
    ERR_clear_error();
    if (key != NULL && EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    if (key == NULL)
        snprintf(err, errsize,
                 "account %s: service_account_file %s: private_key is not an RSA key in PEM; "
                 "fix: download the JSON key again and copy the file unchanged",
                 acct->name, acct->service_account_file);
    return key;
}

/* sign_assertion - the JWT for the key at now, for url */
static char *sign_assertion(const struct account_conf *acct, const struct key *k, EVP_PKEY *key,
                            const char *url, long long now)
{
    json_object *hdr = json_object_new_object();
    json_object *claims = json_object_new_object();
    char *jwt = NULL;

    if (hdr == NULL || claims == NULL)
        goto out;
    json_object_object_add(hdr, "alg", json_object_new_string("RS256"));
    json_object_object_add(hdr, "typ", json_object_new_string("JWT"));
    json_object_object_add(hdr, "kid", json_object_new_string(k->key_id));
    json_object_object_add(claims, "iss", json_object_new_string(k->client_email));
    json_object_object_add(claims, "sub", json_object_new_string(acct->login));
    json_object_object_add(claims, "aud", json_object_new_string(url));
    json_object_object_add(claims, "scope", json_object_new_string(acct->scope));
    json_object_object_add(claims, "iat", json_object_new_int64(now));
    json_object_object_add(claims, "exp", json_object_new_int64(now + SVCACCT_LIFETIME_S));
    if (clientauth_jwt("RS256", key, hdr, claims, &jwt) < 0)
        jwt = NULL;
out:
    json_object_put(hdr);
    json_object_put(claims);
    return jwt;
}

/* svcacct_assertion - the signed JWT for acct at now and the URL it is for */
int svcacct_assertion(const struct account_conf *acct, long long now, char **jwt, char **url,
                      char *err, size_t errsize)
{
    struct key k;
    EVP_PKEY *key = NULL;
    const char *to;
    int rc = -1;

    *jwt = NULL;
    *url = NULL;
    if (key_load(acct, &k, err, errsize) < 0)
        return -1;
    to = token_url(acct, &k, err, errsize);
    if (to == NULL)
        goto out;
    key = private_key(acct, &k, err, errsize);
    if (key == NULL)
        goto out;
    *jwt = sign_assertion(acct, &k, key, to, now);
    *url = strdup(to);
    if (*jwt == NULL || *url == NULL) {
        snprintf(err, errsize, "account %s: cannot sign the JWT with service_account_file %s",
                 acct->name, acct->service_account_file);
        secret_free(*jwt);
        free(*url);
        *jwt = NULL;
        *url = NULL;
        goto out;
    }
    rc = 0;
out:
    EVP_PKEY_free(key);
    key_free(&k);
    return rc;
}

/* svcacct_request - the grant's request: assertion and grant_type to the token URL */
struct http_request *svcacct_request(const struct account_conf *acct, long long now, char *err,
                                     size_t errsize)
{
    struct http_param p[2];
    struct http_request *req;
    char *jwt = NULL;
    char *url = NULL;

    if (svcacct_assertion(acct, now, &jwt, &url, err, errsize) < 0)
        return NULL;
    p[0] = (struct http_param){"grant_type", SVCACCT_GRANT};
    p[1] = (struct http_param){"assertion", jwt};
    req = http_request_new(acct, url, p, 2);
    if (req == NULL)
        snprintf(err, errsize, "out of memory");
    secret_free(jwt);
    free(url);
    return req;
}

/* svcacct_check - the key file is a usable service account key */
int svcacct_check(const struct account_conf *acct, struct svcacct_info *info, char *err,
                  size_t errsize)
{
    struct key k;
    EVP_PKEY *key = NULL;
    const char *to;
    char *jwt = NULL;
    int rc = -1;

    memset(info, 0, sizeof(*info));
    if (key_load(acct, &k, err, errsize) < 0)
        return -1;
    snprintf(info->client_email, sizeof(info->client_email), "%s", k.client_email);
    snprintf(info->client_id, sizeof(info->client_id), "%s", k.client_id ? k.client_id : "");
    snprintf(info->key_id, sizeof(info->key_id), "%s", k.key_id);
    to = token_url(acct, &k, err, errsize);
    if (to == NULL)
        goto out;
    snprintf(info->token_url, sizeof(info->token_url), "%s", to);
    key = private_key(acct, &k, err, errsize);
    if (key == NULL)
        goto out;
    jwt = sign_assertion(acct, &k, key, to, 0);
    if (jwt == NULL) {
        snprintf(err, errsize, "account %s: cannot sign with service_account_file %s", acct->name,
                 acct->service_account_file);
        goto out;
    }
    rc = 0;
out:
    secret_free(jwt);
    EVP_PKEY_free(key);
    key_free(&k);
    return rc;
}
