/*
 * secret.c - wiped secrets (see secret.h)
 */
#include "autoconfig.h"

#include "secret.h"

#include <stdlib.h>
#include <string.h>

/* secret_free - wipe and free */
void secret_free(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}
