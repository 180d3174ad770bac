/*
 * explain.h - the one table of setup failures the identity platforms and
 *             mail servers report, each with its meaning and its fix
 *
 * SYNOPSIS
 *     const struct explain *explain_aadsts(long code);
 *     const struct explain *explain_smtp(const char *reply);
 *     const struct explain *explain_oauth(const char *error, const char *desc);
 *
 * DESCRIPTION
 *     Entra's AADSTS codes (from error_codes, never the description text),
 *     SMTP replies (by reply code and enhanced status, plus a word of the
 *     text where Exchange reuses a code, as for 430 4.2.0 STOREDRV), and
 *     OAuth errors of providers without numeric codes (Google: the
 *     "error" member and a fixed part of error_description). Each entry
 *     says what happened ("what"), what a person does about it ("fix"),
 *     both together ("text", "WHAT; fix: FIX"), and whether it may pass by
 *     itself ("transient"). The daemon's log (through tokenresp.c), status,
 *     test (smtptest.c), authorize and config-check all read this table.
 *
 * SECURITY
 *     The table is static text; lookups only compare. Nothing here holds or
 *     prints a token or a secret.
 */
#ifndef OAUTH2_EXPLAIN_H
#define OAUTH2_EXPLAIN_H

#include <stddef.h>

typedef enum {
    EXPLAIN_AADSTS, /* Entra error_codes */
    EXPLAIN_SMTP,   /* an SMTP reply line */
    EXPLAIN_OAUTH,  /* a provider's OAuth error without a numeric code (Google) */
} explain_kind;

struct explain {
    explain_kind kind;
    long code;            /* EXPLAIN_AADSTS: the number */
    const char *prefix;   /* EXPLAIN_SMTP: the reply's start; EXPLAIN_OAUTH: the "error" */
    const char *contains; /* also required in the reply or description, or NULL */
    int transient;        /* 1: may pass by itself (retry); 0: needs a person */
    const char *what;     /* what happened, one line */
    const char *fix;      /* what a person does, one line */
    const char *text;     /* "WHAT; fix: FIX" */
};

/* explain_aadsts - the entry for an AADSTS code, or NULL */
const struct explain *explain_aadsts(long code);

/* explain_smtp - the entry for an SMTP reply line ("535 5.7.139 ..."), or NULL */
const struct explain *explain_smtp(const char *reply);

/* explain_oauth - the entry for an OAuth error and its description (either may be NULL), or NULL */
const struct explain *explain_oauth(const char *error, const char *desc);

/* explain_entry - the table's i'th entry, NULL past the end (for the tests) */
const struct explain *explain_entry(size_t i);

#endif
