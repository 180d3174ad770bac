/*
 * secret.h - secrets in malloc'd strings, wiped before they are freed
 *
 * Refresh tokens, access tokens, client secrets, passphrases and PKCE
 * verifiers live in NUL-terminated malloc'd strings; whoever owns one
 * releases it with secret_free(), never plain free(), so the bytes do not
 * linger in freed heap (or a core dump).
 */
#ifndef OAUTH2_SECRET_H
#define OAUTH2_SECRET_H

/* secret_free - wipe a NUL-terminated secret and free it; NULL is fine */
void secret_free(char *s);

#endif
