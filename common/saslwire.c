/*
 * saslwire.c - XOAUTH2 and OAUTHBEARER client responses (see saslwire.h)
 */
#include "autoconfig.h"

#include "saslwire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* saslwire_token_ok - b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
int saslwire_token_ok(const char *token, size_t len)
{
    size_t i = 0;

    if (len == 0 || len > SASLWIRE_MAX_TOKEN)
        return 0;
    while (i < len) {
        unsigned char c = (unsigned char)token[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            strchr("-._~+/", c) != NULL) {
            if (c == '\0')
                return 0;
            i++;
            continue;
        }
        break;
    }
    if (i == 0)
        return 0;
    while (i < len && token[i] == '=')
        i++;
    return i == len;
}

/* saslwire_login_ok - a login that cannot break either wire format */
int saslwire_login_ok(const char *login, size_t len)
{
    size_t i;

    if (len == 0 || len > SASLWIRE_MAX_LOGIN)
        return 0;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)login[i];

        if (c <= ' ' || c >= 0x7f || c == ',' || c == '=')
            return 0;
    }
    return 1;
}

/* saslwire_xoauth2 - build the XOAUTH2 initial response */
int saslwire_xoauth2(const char *login, const char *token, char *out, size_t outsize,
                     size_t *outlen)
{
    int n;

    *outlen = 0;
    if (!saslwire_login_ok(login, strlen(login)) || !saslwire_token_ok(token, strlen(token)))
        return -1;
    n = snprintf(out, outsize, "user=%s\001auth=Bearer %s\001\001", login, token);
    if (n < 0 || (size_t)n >= outsize)
        return -1;
    *outlen = (size_t)n;
    return 0;
}

/* saslwire_oauthbearer - build the OAUTHBEARER initial response */
int saslwire_oauthbearer(const char *login, const char *host, unsigned port, const char *token,
                         char *out, size_t outsize, size_t *outlen)
{
    char hostpart[300] = "";
    char portpart[20] = "";
    int n;

    *outlen = 0;
    if (!saslwire_login_ok(login, strlen(login)) || !saslwire_token_ok(token, strlen(token)))
        return -1;
    if (host != NULL && *host != '\0') {
        if (!saslwire_login_ok(host, strlen(host)) || strlen(host) > 255)
            return -1;
        snprintf(hostpart, sizeof(hostpart), "host=%s\001", host);
    }
    if (port > 0 && port < 65536)
        snprintf(portpart, sizeof(portpart), "port=%u\001", port);
    n = snprintf(out, outsize, "n,a=%s,\001%s%sauth=Bearer %s\001\001", login, hostpart, portpart,
                 token);
    if (n < 0 || (size_t)n >= outsize)
        return -1;
    *outlen = (size_t)n;
    return 0;
}
