/*
 * cmd_certificate.c - oauth2-token-helper new-certificate: the next
 *                     certificate and key for a rollover
 *
 * SYNOPSIS
 *     oauth2-token-helper [-c FILE] new-certificate ACCOUNT [--days DAYS] [--bits 2048|3072]
 *                                                           [--force]
 *
 * DESCRIPTION
 *     Makes an RSA key and a self-signed certificate with OpenSSL's library
 *     (no openssl command is run) and writes them where the account's
 *     next_client_certificate_file and next_client_key_file say (or, for an
 *     account whose client_certificate_file does not exist yet, there: its
 *     first certificate). Each file is written to a temporary name beside
 *     it and renamed into place, so the daemon never reads half a file.
 *     Then it prints what to upload to the app registration: the
 *     certificate's path, its SHA-1 thumbprint as Entra shows it, its
 *     expiry, and the steps of the rollover.
 *
 * DIAGNOSTICS
 *     Exit 78, with the fix, when the account names no place for the pair
 *     or a file is there already (without --force); 75 when OpenSSL fails.
 *
 * SECURITY
 *     The key is created 0600 and the certificate 0640, both owned by the
 *     daemon's user when run as root, before a byte is written; the key
 *     never appears in any output. Nothing is overwritten without --force.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "config.h"

#define CERT_DAYS_DEFAULT 365
#define CERT_DAYS_MAX 1095 /* Entra shows certificates of up to three years without fuss */

/* make_cert - a self-signed certificate for key, valid for days from now; NULL on failure */
static X509 *make_cert(EVP_PKEY *key, const char *account, long days)
{
    X509 *cert = X509_new();
    X509_NAME *name = NULL;
    ASN1_INTEGER *serial = NULL;
    BIGNUM *bn = BN_new();
    unsigned char rnd[16];
    char cn[64];

    if (cert == NULL || bn == NULL || RAND_bytes(rnd, sizeof(rnd)) != 1)
        goto fail;
    rnd[0] &= 0x7f; /* a positive serial */
    if (BN_bin2bn(rnd, sizeof(rnd), bn) == NULL)
        goto fail;
    serial = BN_to_ASN1_INTEGER(bn, NULL);
    name = X509_NAME_new();
    snprintf(cn, sizeof(cn), "oauth2-token-helper %.40s", account);
    if (serial == NULL || name == NULL || X509_set_version(cert, 2) != 1 ||
        X509_set_serialNumber(cert, serial) != 1 ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                   0) != 1 ||
        X509_set_subject_name(cert, name) != 1 || X509_set_issuer_name(cert, name) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(cert), 0) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(cert), days * 86400L) == NULL ||
        X509_set_pubkey(cert, key) != 1 || X509_sign(cert, key, EVP_sha256()) <= 0)
        goto fail;
    X509_NAME_free(name);
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    return cert;
fail:
    X509_NAME_free(name);
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    X509_free(cert);
    return NULL;
}

/*
 * write_pem - write the key (is_key) or certificate to path through a
 * temporary file created with mode and owner, renamed into place
 */
static int write_pem(const char *path, EVP_PKEY *key, X509 *cert, mode_t mode, uid_t uid, gid_t gid)
{
    char tmp[4096];
    int fd;
    BIO *bio = NULL;
    int ok = 0;

    if (snprintf(tmp, sizeof(tmp), "%s.newXXXXXX", path) >= (int)sizeof(tmp)) {
        fprintf(stderr, "oauth2-token-helper: %s: the path is too long\n", path);
        return -1;
    }
    fd = mkstemp(tmp);
    if (fd < 0) {
        fprintf(stderr,
                "oauth2-token-helper: cannot create a file beside %s: %s; fix: create its "
                "directory, writable by root\n",
                path, strerror(errno));
        return -1;
    }
    if (fchmod(fd, mode) < 0 || (uid != (uid_t)-1 && fchown(fd, uid, gid) < 0)) {
        fprintf(stderr, "oauth2-token-helper: %s: %s\n", tmp, strerror(errno));
        goto out;
    }
    bio = BIO_new_fd(fd, BIO_NOCLOSE);
    if (bio == NULL)
        goto out;
    ok = key != NULL ? PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)
                     : PEM_write_bio_X509(bio, cert);
    if (ok != 1 || BIO_flush(bio) != 1 || fsync(fd) < 0) {
        ok = 0;
        fprintf(stderr, "oauth2-token-helper: cannot write %s\n", tmp);
        goto out;
    }
    if (rename(tmp, path) < 0) {
        ok = 0;
        fprintf(stderr, "oauth2-token-helper: cannot rename %s to %s: %s\n", tmp, path,
                strerror(errno));
    }
out:
    BIO_free(bio);
    close(fd);
    if (ok != 1)
        unlink(tmp);
    ERR_clear_error();
    return ok == 1 ? 0 : -1;
}

/* print_upload - what to upload to the app registration, and the next steps */
static void print_upload(const struct config *cfg, const struct account_conf *a, X509 *cert,
                         const char *cert_path, const char *key_path, int next)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    char day[32];
    struct tm tm;
    unsigned int i;

    memset(&tm, 0, sizeof(tm));
    hex[0] = '\0';
    if (X509_digest(cert, EVP_sha1(), md, &mdlen) == 1)
        for (i = 0; i < mdlen; i++)
            snprintf(hex + 2 * i, sizeof(hex) - 2 * i, "%02X", md[i]);
    if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1)
        strftime(day, sizeof(day), "%Y-%m-%d %H:%M UTC", &tm);
    else
        snprintf(day, sizeof(day), "(unknown)");
    printf("account %s: new certificate and key written\n"
           "  certificate: %s (upload this file)\n"
           "  key:         %s (stays on this host, mode 0600)\n"
           "  thumbprint:  %s (SHA-1, as Entra shows it)\n"
           "  expires:     %s\n"
           "\n"
           "Next steps:\n"
           "  1. Microsoft Entra admin center > App registrations > the app (client ID %s) >\n"
           "     Certificates & secrets > Certificates > Upload certificate: %s.\n"
           "     Check that the thumbprint Entra shows is %s.\n",
           a->name, cert_path, key_path, hex, day, a->client_id, cert_path, hex);
    if (next)
        printf("  2. Reload the daemon (systemctl reload oauth2-token-helper): it signs with the\n"
               "     newer pair, and falls back to the other at once while Entra does not know\n"
               "     it yet (AADSTS700027). oauth2-token-helper status %s shows both.\n"
               "  3. Once the old certificate is no longer needed, delete it in Entra, point\n"
               "     client_certificate_file and client_key_file at the new pair in %s and\n"
               "     make the following one later with: oauth2-token-helper new-certificate %s\n",
               a->name, cfg->path, a->name);
    else
        printf("  2. Start (or reload) the daemon: systemctl reload oauth2-token-helper.\n");
}

/* cmd_new_certificate - make the account's next certificate and key */
helper_result cmd_new_certificate(const char *file, int argc, char **argv)
{
    struct config *cfg = NULL;
    const struct account_conf *a = NULL;
    const char *name = NULL;
    const char *cert_path;
    const char *key_path;
    struct stat st;
    long days = CERT_DAYS_DEFAULT;
    long bits = 2048;
    int force = 0;
    int next;
    uid_t uid = (uid_t)-1;
    gid_t gid = (gid_t)-1;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    helper_result rc;
    int i;

    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--force") == 0) {
            force = 1;
        } else if (strcmp(argv[i], "--days") == 0 && i + 1 < argc) {
            days = cli_parse_number(argv[++i], 1, CERT_DAYS_MAX);
            if (days < 0)
                return cli_usage();
        } else if (strcmp(argv[i], "--bits") == 0 && i + 1 < argc) {
            bits = cli_parse_number(argv[++i], 2048, 3072);
            if (bits != 2048 && bits != 3072)
                return cli_usage();
        } else if (argv[i][0] != '-' && name == NULL) {
            name = argv[i];
        } else {
            return cli_usage();
        }
    }
    if (name == NULL)
        return cli_usage();
    rc = cli_load_account(file, name, &cfg, &a);
    if (rc != RESULT_OK)
        return rc;
    next = a->next_client_certificate_file[0] != '\0';
    cert_path = next ? a->next_client_certificate_file : a->client_certificate_file;
    key_path = next ? a->next_client_key_file : a->client_key_file;
    rc = RESULT_CONFIG;
    if (cert_path[0] == '\0' || (!next && stat(cert_path, &st) == 0 && !force)) {
        fprintf(stderr,
                "oauth2-token-helper: account %s: no place for a new certificate: %s; fix: add "
                "next_client_certificate_file = PATH and next_client_key_file = PATH to "
                "[account %s] in %s, then run this again\n",
                a->name,
                cert_path[0] == '\0' ? "it names no client_certificate_file"
                                     : "client_certificate_file exists and is in use",
                a->name, cfg->path);
        goto out;
    }
    if (!force && (stat(cert_path, &st) == 0 || stat(key_path, &st) == 0)) {
        fprintf(stderr,
                "oauth2-token-helper: account %s: %s already exists; not overwritten; fix: "
                "add --force to replace %s and %s (only while the certificate is not uploaded "
                "or in use)\n",
                a->name, stat(cert_path, &st) == 0 ? cert_path : key_path, cert_path, key_path);
        goto out;
    }
    if (geteuid() == 0 && cfg->daemon_uid != 0 && cfg->daemon_uid != (uid_t)-1) {
        struct passwd *pw = getpwuid(cfg->daemon_uid);

        uid = cfg->daemon_uid;
        gid = pw != NULL ? pw->pw_gid : (gid_t)-1;
    }
    key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
    cert = key != NULL ? make_cert(key, a->name, days) : NULL;
    if (cert == NULL) {
        fprintf(stderr,
                "oauth2-token-helper: account %s: cannot make an RSA key and "
                "certificate (OpenSSL failed)\n",
                a->name);
        rc = RESULT_TEMPORARY;
        goto out;
    }
    if (write_pem(key_path, key, NULL, 0600, uid, gid) < 0 ||
        write_pem(cert_path, NULL, cert, 0640, uid, gid) < 0)
        goto out;
    print_upload(cfg, a, cert, cert_path, key_path, next);
    rc = RESULT_OK;
out:
    ERR_clear_error();
    EVP_PKEY_free(key);
    X509_free(cert);
    config_free(cfg);
    return rc;
}
