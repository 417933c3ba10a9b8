/*
 * The pure decisions behind the geo_anomaly rule (analyzers/geo_anomaly.c):
 * great-circle distance, the impossible-travel test, the new-country test
 * and the allowed-country check. No store access; the tests table-drive
 * these with known numbers.
 */
#ifndef BW_ANA_GEO_ANOMALY_H
#define BW_ANA_GEO_ANOMALY_H

#include <jansson.h>
#include <stdint.h>

#define GEO_EARTH_RADIUS_KM 6371.0
/* Half the Earth's circumference: no two places are farther apart. */
#define GEO_MAX_DISTANCE_KM 20037.0
/* Sessions in [now - GEO_LOOKBACK, now) are judged (a fixed 24h for now). */
#define GEO_LOOKBACK 86400LL
/* Cap on how far before the lookback a previous session is looked for. */
#define GEO_MAX_TRAVEL_BACK (7LL * 86400)

/*
 * Great-circle distance in km between two points given in decimal degrees,
 * by the haversine formula on a sphere of GEO_EARTH_RADIUS_KM. Symmetric;
 * 0 for the same point; at most GEO_MAX_DISTANCE_KM (rounding aside).
 */
double ana_geo_haversine_km(double lat1, double lon1, double lat2, double lon2);

/*
 * 1 when travelling dist_km in gap_s seconds is impossible: the pair is at
 * least min_distance_km apart (closer pairs are ignored: geo-IP noise) and
 * either gap_s <= 0 or the speed is strictly ABOVE max_speed_kmh (exactly
 * max_speed_kmh is possible, as the issue says "above"). *speed_kmh (may be
 * NULL) gets dist_km / hours, or NAN when gap_s <= 0. Non-finite inputs
 * give 0 (nothing to judge).
 */
int ana_geo_travel_impossible(double dist_km, int64_t gap_s, double max_speed_kmh,
                              double min_distance_km, double *speed_kmh);

/*
 * How far before the lookback to look for an actor's previous session:
 * the time the longest possible trip (GEO_MAX_DISTANCE_KM) takes at
 * max_speed_kmh, rounded up to whole seconds and capped at
 * GEO_MAX_TRAVEL_BACK (an earlier previous session can never make an
 * impossible pair). max_speed_kmh <= 0 gives the cap.
 */
int64_t ana_geo_travel_back(double max_speed_kmh);

/*
 * 1 when a country is new for an actor at now: first_in_country (when the
 * actor was first seen there) lies in [now - lookback, now], and the
 * actor's own history is at least learning old at that moment
 * (first_seen_user <= first_in_country - learning). A younger actor is
 * still learning and nothing is new for it.
 */
int ana_geo_new_country(int64_t now, int64_t lookback, int64_t learning, int64_t first_in_country,
                        int64_t first_seen_user);

/*
 * 1 when country is allowed: allowed is absent, not an array or empty (no
 * check configured), or lists country (ISO codes, compared without regard
 * to case). 0 otherwise, including a NULL or empty country when a list is
 * configured.
 */
int ana_geo_country_allowed(const json_t *allowed, const char *country);

#endif
