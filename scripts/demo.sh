#!/bin/sh
# make demo: starts the bundled provider simulator with a month of history
# (and a few planted anomalies), runs one full collector cycle against it
# (`byokwatch run --once`, a 35-day backfill of OpenAI and Anthropic), then
# shows what was collected with `byokwatch query`, and stops the simulator.
set -eu
cd "$(dirname "$0")/.."
BIN=build/byokwatch
SIM=build/bw-sim
DEMO=build/demo
rm -rf "$DEMO"
mkdir -p "$DEMO"
NOW=$(date -u +%Y-%m-%dT%H:00:00Z)
WEEK_AGO=$(date -u -d "$NOW - 7 days" +%Y-%m-%dT%H:00:00Z)

"$SIM" --port 0 --now "$NOW" --days 40 --scenario demo \
    --openai-key sk-admin-demo-0001 --anthropic-key sk-ant-admin01-demo-0002 \
    >"$DEMO/sim.out" 2>"$DEMO/sim.log" &
SIM_PID=$!
# a webhook receiver standing in for a SIEM: it checks each alert's signature
build/bw-recv --port 0 --hmac-secret demo-hmac-secret >"$DEMO/recv.out" 2>"$DEMO/recv.log" &
RECV_PID=$!
trap 'kill "$SIM_PID" "$RECV_PID" 2>/dev/null || true' EXIT INT TERM
i=0
until grep -q '^listening ' "$DEMO/sim.out" 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -gt 100 ]; then echo "demo: the simulator did not start" >&2; exit 1; fi
    sleep 0.05
done
PORT=$(sed -n 's/^listening //p' "$DEMO/sim.out")
i=0
until grep -q '^listening ' "$DEMO/recv.out" 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -gt 100 ]; then echo "demo: the webhook receiver did not start" >&2; exit 1; fi
    sleep 0.05
done
RECV_PORT=$(sed -n 's/^listening //p' "$DEMO/recv.out")

umask 077
cat >"$DEMO/byokwatch.json" <<JSON
{
  "data_dir": "$DEMO/data",
  "log_level": "info",
  "prices": "conf/prices.json",
  "providers": [
    {"type": "openai", "name": "acme-openai", "base_url": "http://127.0.0.1:$PORT/v1",
     "admin_key_env": "DEMO_OPENAI_ADMIN_KEY", "backfill": "35d"},
    {"type": "anthropic", "name": "acme-claude", "base_url": "http://127.0.0.1:$PORT",
     "admin_key_env": "DEMO_ANTHROPIC_ADMIN_KEY", "backfill": "35d"}
  ],
  "business_units": {
    "Engineering": {"projects": ["proj_eng", "wrkspc_01Eng"]},
    "Marketing":   {"projects": ["proj_mkt", "wrkspc_01Mkt"]},
    "Data":        {"projects": ["proj_data"]}
  },
  "rules": [
    {"type": "spend_spike", "name": "key-spend-spike", "window": "1d", "baseline": "14d",
     "threshold": 1.5, "min_spend_usd": 5, "group_by": ["provider", "api_key_id"],
     "severity": "critical"},
    {"type": "spend_threshold", "name": "provider-over-1000-a-day", "window": "1d",
     "threshold_usd": 1000},
    {"type": "budget_forecast", "name": "monthly-budgets",
     "budgets": [{"scope": {"provider": "openai"}, "monthly_usd": 3000},
                 {"scope": {"provider": "anthropic"}, "monthly_usd": 6000}]},
    {"type": "unexpected_model", "name": "model-allowlist",
     "allow": {"openai": ["gpt-4o*", "text-embedding-3-*"], "anthropic": ["claude-*"]}},
    {"type": "new_entity", "name": "new-keys-and-users"},
    {"type": "auth_failures", "name": "failed-logins", "window": "6h", "threshold": 5,
     "severity": "critical"},
    {"type": "geo_anomaly", "name": "geo", "allowed_countries": ["US", "GB", "SE"],
     "severity": "critical"},
    {"type": "rate_limited", "name": "rate-limited"},
    {"type": "key_age", "name": "rotation-90d", "max_age": "90d", "severity": "info"},
    {"type": "cost_drift", "name": "billed-vs-estimated", "max_drift_pct": 15},
    {"type": "collector_health", "name": "collector-health"}
  ],
  "sinks": [
    {"type": "webhook", "name": "siem", "url": "http://127.0.0.1:$RECV_PORT/byokwatch",
     "hmac_secret_env": "DEMO_HMAC_SECRET"}
  ],
  "report": {"schedule": "mon 09:00", "out_dir": "$DEMO/reports", "sinks": ["siem"]}
}
JSON
export DEMO_OPENAI_ADMIN_KEY=sk-admin-demo-0001
export DEMO_ANTHROPIC_ADMIN_KEY=sk-ant-admin01-demo-0002
export DEMO_HMAC_SECRET=demo-hmac-secret

echo "== byokwatch demo: simulator on 127.0.0.1:$PORT, now = $NOW"
"$BIN" check-config --config "$DEMO/byokwatch.json"
echo
echo "== byokwatch run --once (35-day backfill of both providers, every rule, deliveries)"
start=$(date +%s.%N)
if ! "$BIN" run --config "$DEMO/byokwatch.json" --once --now "$NOW" 2>"$DEMO/run.log"; then
    echo "demo: the collector cycle failed; see $DEMO/run.log" >&2
    tail -n 20 "$DEMO/run.log" >&2
    exit 1
fi
end=$(date +%s.%N)
grep -E 'event=(collector.cycle_done|analysis.done)' "$DEMO/run.log" | sed 's/^ts=[^ ]* //'
echo "the signed webhook sink delivered: $(curl -s "http://127.0.0.1:$RECV_PORT/_recv/stats" |
    sed -n 's/.*"ok": *\([0-9]*\).*"good_signatures": *\([0-9]*\).*/\1 alerts, \2 with a valid signature/p')"
awk -v a="$start" -v b="$end" 'BEGIN { printf "collector cycle took %.2f s\n", b - a }'

q() { "$BIN" query --config "$DEMO/byokwatch.json" --now "$NOW" "$@"; }
sum_by() { # sums the value column of query csv output per group; $1 = value format
    awk -F, -v fmt="${1:-%14.2f}" 'NR > 1 { k = $2; for (i = 3; i < NF; i++) k = k "," ($i == "" ? "(none)" : $i); s[k] += $NF }
             END { for (k in s) printf "  %-44s " fmt "\n", k, s[k] }' | sort
}
echo
echo "== Billed spend per provider and day, last 7 days (USD)"
q --metric cost_usd --group-by provider --step 1d --from "$WEEK_AGO"
echo
echo "== Estimated spend per provider and model, last 7 days (USD)"
q --metric est_cost_usd --group-by provider,model --step 1d --from "$WEEK_AGO" --format csv | sum_by
echo
echo "== Input tokens per provider and model, last 7 days"
q --metric input_tokens --group-by provider,model --step 1d --from "$WEEK_AGO" --format csv | sum_by %14d
echo
echo "== Input tokens per API key, last 24 hours (note key_eng_ci)"
q --metric input_tokens --group-by provider,api_key_id --step 1h \
    --from "$(date -u -d "$NOW - 1 day" +%Y-%m-%dT%H:00:00Z)" --format csv | sum_by %14d
echo
echo "== Usage no price is known for (unpriced tokens, last 7 days)"
q --metric unpriced_tokens --group-by provider,model --step 1d --from "$WEEK_AGO" --format csv \
    | sum_by %14d | grep . || echo "  (none: every model used has a price)"
echo
echo "== Alerts the rules raised (byokwatch alerts)"
"$BIN" alerts --config "$DEMO/byokwatch.json"
echo
echo "Data directory: $DEMO/data   log: $DEMO/run.log"
echo "Full alerts with root causes: $BIN alerts --config $DEMO/byokwatch.json --format json"
echo
STEM=$(sed -n 's/.*event=report.written week=[^ ]* files=\([^ ]*\)\.\*.*/\1/p' "$DEMO/run.log" | tail -n 1)
if [ -z "$STEM" ]; then
    echo "demo: the weekly report was not written; see $DEMO/run.log" >&2
    exit 1
fi
echo "== The weekly report (schedule \"mon 09:00\": the last complete ISO week), headline:"
sed -n '1,/^## By provider/p' "$STEM.md" | sed '$d'
echo "Weekly report written: $STEM.md  $STEM.html  $STEM.csv  $STEM.json"
echo "(open $STEM.html in a browser: one self-contained file with charts)"
