/*
 * b64.c - base64 and base64url encoding (see b64.h)
 */
#include "autoconfig.h"

#include "b64.h"

#include <limits.h>
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
