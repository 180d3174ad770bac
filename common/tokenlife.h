/*
 * tokenlife.h - the least lifetime an access token must have left to be used
 *
 * The daemon serves no token with this little left, not even while its
 * refreshes fail (helper/cache.c), and the plugin uses no token it kept
 * from an earlier login with this little left when the daemon cannot be
 * reached (plugin/plugin.c). One definition, so that the plugin can never
 * be more lenient than the daemon: a token this close to its expiry may
 * expire between the SMTP AUTH and the server checking it.
 */
#ifndef OAUTH2_TOKENLIFE_H
#define OAUTH2_TOKENLIFE_H

/* Seconds: a token is used only while it has MORE than this left. */
#define OAUTH2_TOKEN_MIN_REMAINING_S 30

#endif
