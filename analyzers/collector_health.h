/*
 * The decision of the collector_health rule (analyzers/collector_health.c),
 * pure so the tests can table it: given a source's "health/<account>"
 * record, is its collector failing or its data stale at a given time.
 */
#ifndef BW_ANA_COLLECTOR_HEALTH_H
#define BW_ANA_COLLECTOR_HEALTH_H

#include <jansson.h>
#include <stdint.h>

struct ana_health_verdict {
    int failing;          /* failures >= failing_cycles */
    int stale;            /* see ana_health_judge */
    long long failures;   /* consecutive failed cycles */
    long long cycles;     /* cycles run */
    int64_t last_data;    /* end of the latest bucket holding data; 0 = never */
    int64_t last_success; /* 0 = never */
    double stale_hours;   /* (now - last_data) / 1h, NAN when never */
};

/*
 * Judges a health record (JSON {"failures","cycles","last_attempt",
 * "last_success","last_error","last_data"}, numbers in unix seconds) at
 * now. Failing when failures >= failing_cycles (exactly at the count
 * fires). Stale when last_data is present and now - last_data >
 * max_staleness (strictly: exactly max_staleness old is not stale yet), or
 * when last_data is absent although cycles > 0 (the source never produced
 * data). A record that is not an object judges healthy. Fills *v.
 */
void ana_health_judge(const json_t *health, int64_t now, long long failing_cycles,
                      int64_t max_staleness, struct ana_health_verdict *v);

#endif
