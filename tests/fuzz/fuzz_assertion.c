/*
 * fuzz_assertion.c - libFuzzer target: the federated credential's token
 * file (assertion_read: the file as read, the JWT split, base64url
 * decoding through b64_url_decode, the JSON header and payload, exp, nbf,
 * iat and aud as a string or an array) and assertion_stale
 *
 * The input is written as the file (mode 0600, owned by us) of an account
 * expecting the default audience, read at a fixed "now". Checks, besides
 * memory safety: a message is NUL-terminated and bounded; a token accepted
 * has exp more than ASSERTION_MIN_LEFT_S ahead and is the file's one line
 * as it was; no message quotes a part of the token (24 characters of a
 * base64url run of the input), but for the audience it names.
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assertion.h"
#include "config.h"
#include "secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1800000000LL

static char file[64];

/* b64url_char - a character of the base64url alphabet */
static int b64url_char(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/*
 * quotes_token - whether msg holds 24 characters of a base64url run of the
 * input (longer than any word of the messages themselves)
 */
static int quotes_token(const char *msg, const uint8_t *data, size_t size)
{
    size_t i = 0;

    while (i < size) {
        size_t j = i;
        char piece[25];

        while (j < size && b64url_char(data[j]))
            j++;
        if (j - i >= 24) {
            memcpy(piece, data + i, 24);
            piece[24] = '\0';
            if (strstr(msg, piece) != NULL)
                return 1;
        }
        i = j + 1;
    }
    return 0;
}

/* remove_file - the scratch token file goes when the fuzzer exits */
static void remove_file(void)
{
    unlink(file);
}

/* LLVMFuzzerTestOneInput - one token file */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct account_conf a;
    struct assertion_info info;
    char err[1024];
    char *jwt = NULL;
    FILE *fp;
    int rc;

    if (size > ASSERTION_MAX + 16)
        return 0;
    if (file[0] == '\0') {
        snprintf(file, sizeof(file), "/tmp/fuzz_assertion.%ld", (long)getpid());
        atexit(remove_file);
    }
    fp = fopen(file, "w");
    if (fp == NULL)
        return 0;
    fwrite(data, 1, size, fp);
    fclose(fp);
    chmod(file, 0600);
    memset(&a, 0, sizeof(a));
    a.name = "fuzz";
    a.client_assertion_file = file;
    a.assertion_audience = "api://AzureADTokenExchange";
    a.daemon_uid = geteuid();
    memset(err, 'x', sizeof(err));
    rc = assertion_read(&a, NOW, &jwt, &info, err, sizeof(err));
    if (rc == 0) {
        if (jwt == NULL || info.exp <= NOW + ASSERTION_MIN_LEFT_S || strchr(jwt, '\n') != NULL ||
            memcmp(jwt, data, strlen(jwt)) != 0)
            abort();
        (void)assertion_stale(&info, NOW);
    } else {
        if (jwt != NULL || memchr(err, '\0', sizeof(err)) == NULL)
            abort();
        /* The audience is quoted on purpose: what the token holds instead. */
        if (strstr(err, "audience (aud) is") == NULL && quotes_token(err, data, size))
            abort();
    }
    secret_free(jwt);
    return 0;
}
