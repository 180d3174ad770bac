/*
 * b64.c - base64 and base64url encoding (see b64.h)
 */
#include "autoconfig.h"

#include "b64.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>

/* b64_std - padded standard base64 */
char *b64_std(const unsigned char *data, size_t len)
{
    size_t cap;
    char *out;

    if (len > (size_t)INT_MAX / 4 * 3)
        return NULL;
    cap = 4 * ((len + 2) / 3) + 1;
    out = malloc(cap);
    if (out == NULL)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

/* b64_url - base64 with '-' and '_' for '+' and '/', padding dropped */
char *b64_url(const unsigned char *data, size_t len)
{
    char *out = b64_std(data, len);
    size_t n;
    size_t i;

    if (out == NULL)
        return NULL;
    n = 4 * ((len + 2) / 3);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (i = 0; i < n; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
    return out;
}

/* b64_url_decode - decode unpadded base64url; *out malloc'd with a NUL after *outlen bytes */
int b64_url_decode(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
    char *std = NULL;
    unsigned char *buf = NULL;
    size_t padded = (len + 3) / 4 * 4;
    size_t i;
    int n;
    int rc = -1;

    *out = NULL;
    *outlen = 0;
    if (len == 0 || len % 4 == 1 || len > (size_t)INT_MAX / 2)
        return -1;
    std = malloc(padded + 1);
    buf = malloc(padded / 4 * 3 + 1);
    if (std == NULL || buf == NULL)
        goto out;
    for (i = 0; i < len; i++) {
        char c = in[i];

        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            goto out;
        std[i] = c;
    }
    for (; i < padded; i++)
        std[i] = '=';
    std[padded] = '\0';
    n = EVP_DecodeBlock(buf, (const unsigned char *)std, (int)padded);
    if (n < 0)
        goto out;
    /* EVP_DecodeBlock counts the padding as zero bytes: drop them. */
    *outlen = (size_t)n - (padded - len);
    buf[*outlen] = '\0';
    *out = buf;
    buf = NULL;
    rc = 0;
out:
    if (std != NULL) {
        OPENSSL_cleanse(std, padded + 1);
        free(std);
    }
    if (buf != NULL) {
        OPENSSL_cleanse(buf, padded / 4 * 3 + 1);
        free(buf);
    }
    return rc;
}
