/*
 * agency.h - agency (company) OAuth: the company's own pair, the discovery of the locations
 * with the app installed, and the service that re-checks them while `ghlsync run` runs.
 *
 * The company pair is an oa_token of a client location of its own (E->agency, keyed
 * "agency:<companyId>" in ghlsync.oauth_tokens and in the rate scheduler), refreshed with
 * user_type=Company and mirrored to [agency] refresh_token_file like a location's. It is sent
 * only to the two agency routes: GET /oauth/installedLocations (here) and POST
 * /oauth/locationToken (oauth.c, oa_token_set_minter). Each agency location has its own pair,
 * minted on first use and kept in ghlsync.oauth_tokens under its location id.
 *
 * Discovery (agency_list_installed): GET /oauth/installedLocations?companyId&appId&
 * isInstalled=true&skip&limit ([agency] discovery_page_size), page after page until `count` ids (or
 * a short page) are in; the ids are returned in a heap array (no fixed limit).
 *
 * The re-check (service "agency", `run` only, with locations = "installed"): every
 * [agency] discovery_interval. A location that is no longer installed is stopped
 * (engine_location.uninstalled, held = false: its workers park, its rows stay) with a log line;
 * one installed again is resumed. A location installed since the start is added while running
 * (engine.h engine_location_add: its token minted, its schemas fetched and applied off the loop,
 * then it joins the services and the leases) and logged agency.new_location "started syncing"
 * once it has joined; the other locations never pause for it. One whose add fails (minting,
 * listing, a definition, the DDL) is logged agency.new_location_failed and tried again at the
 * next re-check.
 *
 * Loop thread only.
 */
#ifndef GHLSYNC_AGENCY_H
#define GHLSYNC_AGENCY_H

#include "err.h"

#include <stddef.h>

struct engine;

/* ids: heap array of heap strings (caller frees with agency_ids_free), sorted, no duplicates.
 * rc 0 or GS_EIO with msg. */
typedef void (*agency_list_cb)(struct engine *E, int rc, char **ids, size_t n, const char *msg,
                               void *ud);
int agency_list_installed(struct engine *E, agency_list_cb cb, void *ud, gs_err *e);
void agency_ids_free(char **ids, size_t n);

/* Start-up (engine_open, before the locations are built): discover the installed locations
 * and append the new ones to the configuration (cfg_location_add_agency). Runs the loop until
 * the listing ends. 0, or GS_EIO when the listing failed. */
int agency_discover_at_start(struct engine *E, gs_err *e);

int agency_service_start(struct engine *E, void **state, gs_err *e);
void agency_service_stop(void *state);

#endif
